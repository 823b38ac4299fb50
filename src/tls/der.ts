// The few ASN.1 DER encodings a certificate signing request needs (X.690): enough to build one
// without node-forge, so the proxy never loads forge (~7 MB of resident memory per pod).
// Every function returns a complete TLV (tag, length, value).

/** A TLV with `tag` around `parts`. */
export function tlv(tag: number, ...parts: Buffer[]): Buffer {
  const body = parts.length === 1 ? parts[0] : Buffer.concat(parts)
  return Buffer.concat([Buffer.from([tag]), derLength(body.length), body])
}

/** X.690 8.1.3: short form below 128, else 0x80 | count of length bytes, big-endian. */
export function derLength(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n])
  const bytes: number[] = []
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff)
  return Buffer.from([0x80 | bytes.length, ...bytes])
}

export const sequence = (...parts: Buffer[]): Buffer => tlv(0x30, ...parts)
export const set = (...parts: Buffer[]): Buffer => tlv(0x31, ...parts)
export const nullValue = (): Buffer => Buffer.from([0x05, 0x00])
export const utf8String = (s: string): Buffer => tlv(0x0c, Buffer.from(s, 'utf8'))
export const octetString = (b: Buffer): Buffer => tlv(0x04, b)
/** A BIT STRING of whole bytes (no unused bits). */
export const bitString = (b: Buffer): Buffer => tlv(0x03, Buffer.from([0]), b)

/** A non-negative INTEGER small enough for a JavaScript number. */
export function integer(n: number): Buffer {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`DER integer ${n} is not a small non-negative integer`)
  const bytes: number[] = []
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff)
  if (bytes.length === 0 || bytes[0] & 0x80) bytes.unshift(0)
  return tlv(0x02, Buffer.from(bytes))
}

/** An OBJECT IDENTIFIER from its dotted form (X.690 8.19). */
export function oid(dotted: string): Buffer {
  const arcs = dotted.split('.').map(Number)
  if (arcs.length < 2 || arcs.some((a) => !Number.isSafeInteger(a) || a < 0)) throw new RangeError(`bad OID ${dotted}`)
  const out: number[] = []
  const push = (v: number): void => {
    const group = [v & 0x7f]
    for (let x = Math.floor(v / 128); x > 0; x = Math.floor(x / 128)) group.unshift(0x80 | (x & 0x7f))
    out.push(...group)
  }
  push(arcs[0] * 40 + arcs[1])
  for (const a of arcs.slice(2)) push(a)
  return tlv(0x06, Buffer.from(out))
}

/** A context-specific tag: [n] IMPLICIT (primitive) or, with `constructed`, around other TLVs. */
export function contextTag(n: number, constructed: boolean, ...parts: Buffer[]): Buffer {
  return tlv(0x80 | (constructed ? 0x20 : 0) | n, ...parts)
}
