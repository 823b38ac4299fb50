// A raw HTTP/2 client for attack tests: frames written by hand (the preface, SETTINGS, HEADERS
// with a static-table HPACK block, RST_STREAM), and what the server sent back counted.
import net from 'node:net'

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1')
export const HEADERS = 1
export const RST_STREAM = 3
export const SETTINGS = 4
export const PING = 6
export const GOAWAY = 7
export const CONTINUATION = 9
/** END_STREAM | END_HEADERS */
export const END = 5
export const ENHANCE_YOUR_CALM = 11

export function frame(type: number, flags: number, stream: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const h = Buffer.alloc(9)
  h.writeUIntBE(payload.length, 0, 3)
  h[3] = type
  h[4] = flags
  h.writeUInt32BE(stream & 0x7fffffff, 5)
  return Buffer.concat([h, payload])
}

/** A GET's header block: :method GET, :scheme http (indexed), :path and :authority (literal, not indexed). */
export function getBlock(authority: string, path = '/'): Buffer {
  const a = Buffer.from(authority, 'latin1')
  const p = Buffer.from(path, 'latin1')
  return Buffer.concat([Buffer.from([0x82, 0x86, 0x04, p.length]), p, Buffer.from([0x01, a.length]), a])
}

/** HEADERS (a whole GET) on stream `id`. */
export function get(id: number, authority: string): Buffer {
  return frame(HEADERS, END, id, getBlock(authority))
}

export function rst(id: number, code = 8): Buffer {
  const b = Buffer.alloc(4)
  b.writeUInt32BE(code)
  return frame(RST_STREAM, 0, id, b)
}

export interface Seen {
  goaway?: {last: number, code: number}
  resets: number
  headers: number
}

/**
 * Connects, sends the preface and SETTINGS (and acknowledges the server's), then writes each
 * chunk on its own turn of the event loop; resolves with what came back once the server closes
 * the connection (or after `guardMs`, then closing it).
 */
/**
 * Sends `chunks` on a new HTTP/2 connection, one write each a turn apart (with `withPreface`,
 * the preface and the first chunk go in one write), and reports what the server sent back.
 */
export function h2Attack(port: number, chunks: Buffer[], guardMs = 20_000, withPreface = false): Promise<Seen> {
  const seen: Seen = {resets: 0, headers: 0}
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1')
    const guard = setTimeout(() => sock.destroy(), guardMs)
    let buf = Buffer.alloc(0)
    sock.on('data', (c: Buffer) => {
      buf = Buffer.concat([buf, c])
      while (buf.length >= 9) {
        const len = buf.readUIntBE(0, 3)
        if (buf.length < 9 + len) break
        const type = buf[3]
        const payload = buf.subarray(9, 9 + len)
        if (type === SETTINGS && (buf[4] & 1) === 0) sock.write(frame(SETTINGS, 1, 0))
        // (the first GOAWAY is the server's decision; a later one only repeats or closes)
        if (type === GOAWAY) seen.goaway ??= {last: payload.readUInt32BE(0), code: payload.readUInt32BE(4)}
        if (type === RST_STREAM) seen.resets++
        if (type === HEADERS) seen.headers++
        buf = buf.subarray(9 + len)
      }
    })
    sock.on('error', () => {})
    sock.on('close', () => {
      clearTimeout(guard)
      resolve(seen)
    })
    sock.on('connect', () => {
      let i = 0
      sock.write(Buffer.concat([PREFACE, frame(SETTINGS, 0, 0), ...(withPreface && chunks.length > 0 ? [chunks[i++]] : [])]))
      const next = (): void => {
        if (sock.destroyed || i >= chunks.length) return
        sock.write(chunks[i++])
        setImmediate(next)
      }
      setImmediate(next)
    })
  })
}
