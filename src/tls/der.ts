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

/** An INTEGER from big-endian magnitude bytes (e.g. a random serial), made positive and minimal. */
export function integerBytes(magnitude: Buffer): Buffer {
  let i = 0
  while (i < magnitude.length - 1 && magnitude[i] === 0) i++
  const bytes = magnitude.subarray(i)
  return tlv(0x02, bytes.length === 0 ? Buffer.from([0]) : bytes[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), bytes]) : bytes)
}

export const booleanValue = (v: boolean): Buffer => Buffer.from([0x01, 0x01, v ? 0xff : 0x00])
export const ia5String = (s: string): Buffer => tlv(0x16, Buffer.from(s, 'ascii'))

/**
 * A certificate time (RFC 5280 4.1.2.5): UTCTime (YYMMDDHHMMSSZ) for 1950-2049, else
 * GeneralizedTime (YYYYMMDDHHMMSSZ); whole seconds, UTC.
 */
export function certificateTime(d: Date): Buffer {
  const y = d.getUTCFullYear()
  if (!Number.isFinite(y) || y < 0 || y > 9999) throw new RangeError(`certificate time ${String(d)} is out of range`)
  const two = (n: number) => String(n).padStart(2, '0')
  const rest = `${two(d.getUTCMonth() + 1)}${two(d.getUTCDate())}${two(d.getUTCHours())}${two(d.getUTCMinutes())}${two(d.getUTCSeconds())}Z`
  if (y >= 1950 && y < 2050) return tlv(0x17, Buffer.from(`${two(y % 100)}${rest}`, 'ascii'))
  return tlv(0x18, Buffer.from(`${String(y).padStart(4, '0')}${rest}`, 'ascii'))
}

/**
 * A named BIT STRING (X.690 11.2.2: trailing zero bits removed) with bits[i] set when bit i
 * (0 = the most significant bit of the first byte) is named.
 */
export function namedBits(bits: readonly number[]): Buffer {
  if (bits.length === 0) return Buffer.from([0x03, 0x01, 0x00])
  const highest = Math.max(...bits)
  const bytes = Buffer.alloc(Math.floor(highest / 8) + 1)
  for (const b of bits) bytes[Math.floor(b / 8)]! |= 0x80 >> b % 8
  const unused = 7 - (highest % 8)
  return tlv(0x03, Buffer.from([unused]), bytes)
}

/** One TLV read from DER: its tag, where its value starts and ends, and the whole encoding. */
export interface DerNode {
  tag: number
  /** The value (contents octets). */
  value: Buffer
  /** The whole TLV. */
  raw: Buffer
}

/** Reads the TLV at `offset`; throws on anything that is not definite-length DER inside `buf`. */
export function readTlv(buf: Buffer, offset = 0): DerNode {
  if (offset + 2 > buf.length) throw new Error('DER: truncated')
  const tag = buf[offset]!
  if ((tag & 0x1f) === 0x1f) throw new Error('DER: multi-byte tags are not supported')
  let len = buf[offset + 1]!
  let header = 2
  if (len & 0x80) {
    const n = len & 0x7f
    if (n === 0 || n > 4) throw new Error('DER: indefinite or oversized length')
    if (offset + 2 + n > buf.length) throw new Error('DER: truncated length')
    len = 0
    for (let i = 0; i < n; i++) len = len * 256 + buf[offset + 2 + i]!
    header += n
  }
  const end = offset + header + len
  if (end > buf.length) throw new Error('DER: value runs past the end')
  return {tag, value: buf.subarray(offset + header, end), raw: buf.subarray(offset, end)}
}

/** The TLVs inside a constructed value, in order. */
export function children(value: Buffer): DerNode[] {
  const out: DerNode[] = []
  for (let at = 0; at < value.length; ) {
    const node = readTlv(value, at)
    out.push(node)
    at += node.raw.length
  }
  return out
}

/** The dotted form of an OBJECT IDENTIFIER's value. */
export function oidString(value: Buffer): string {
  const arcs: number[] = []
  let v = 0
  for (const byte of value) {
    v = v * 128 + (byte & 0x7f)
    if (!(byte & 0x80)) {
      if (arcs.length === 0) arcs.push(v < 80 ? Math.floor(v / 40) : 2, v < 80 ? v % 40 : v - 80)
      else arcs.push(v)
      v = 0
    }
  }
  return arcs.join('.')
}
