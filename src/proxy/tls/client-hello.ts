// Reads the server name (SNI) from a TLS ClientHello, so the inbound side terminates only TLS
// meant for this proxy (SNI = its identity) and passes an application's own TLS through.
import type {Duplex} from 'node:stream'

/** Largest first record we wait for (a ClientHello fits in one 16 KiB record). */
const MAX_RECORD = 5 + 16 * 1024

/** Keeps reading until the first TLS record is complete (bounded in size and time). */
export function readFirstRecord(socket: Duplex, head: Buffer, timeoutMs: number): Promise<Buffer> {
  const need = (b: Buffer): number => (b.length < 5 ? 5 : Math.min(MAX_RECORD, 5 + b.readUInt16BE(3)))
  if (head.length >= need(head)) return Promise.resolve(head)
  return new Promise((resolve) => {
    let buf = head
    const done = (): void => {
      clearTimeout(timer)
      socket.off('data', onData)
      socket.off('end', done)
      socket.pause()
      resolve(buf)
    }
    const onData = (c: Buffer): void => {
      buf = Buffer.concat([buf, c])
      if (buf.length >= need(buf)) done()
    }
    const timer = setTimeout(done, timeoutMs)
    socket.on('data', onData)
    socket.on('end', done)
    socket.resume()
  })
}

/** The SNI host name of a ClientHello record, or undefined (none, or not parseable). */
export function serverName(rec: Buffer): string | undefined {
  try {
    if (rec[0] !== 0x16 || rec[5] !== 0x01) return undefined
    let p = 5 + 4 + 2 + 32 // record header, handshake header, version, random
    p += 1 + rec[p] // session id
    p += 2 + rec.readUInt16BE(p) // cipher suites
    p += 1 + rec[p] // compression methods
    const end = Math.min(rec.length, p + 2 + rec.readUInt16BE(p))
    p += 2
    while (p + 4 <= end) {
      const type = rec.readUInt16BE(p)
      const len = rec.readUInt16BE(p + 2)
      p += 4
      if (type === 0) {
        // server_name list: length(2), then entries of type(1) length(2) name
        let q = p + 2
        while (q + 3 <= p + len) {
          const nameType = rec[q]
          const nameLen = rec.readUInt16BE(q + 1)
          if (nameType === 0) return rec.toString('latin1', q + 3, q + 3 + nameLen)
          q += 3 + nameLen
        }
        return undefined
      }
      p += len
    }
  } catch {
    return undefined
  }
  return undefined
}
