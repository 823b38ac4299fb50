// Reading a request body with a bound, for every small HTTP(S) server mesh runs (the proxy's
// admin server, certify, the injector webhook): never buffer more than `max` bytes.
import type {IncomingMessage} from 'node:http'

/**
 * The whole body, or undefined when it is (or declares itself) larger than `max` bytes; an
 * oversized body is drained, not buffered, so the caller can still answer 413.
 */
export function readBoundedBody(req: IncomingMessage, max: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? 0)
    if (declared > max) {
      req.resume()
      resolve(undefined)
      return
    }
    const chunks: Buffer[] = []
    let size = 0
    const onData = (c: Buffer): void => {
      size += c.length
      if (size > max) {
        req.off('data', onData)
        req.resume()
        resolve(undefined)
        return
      }
      chunks.push(c)
    }
    req.on('data', onData)
    req.on('end', () => resolve(Buffer.concat(chunks)))
    req.on('error', reject)
  })
}
