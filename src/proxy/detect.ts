// Protocol detection: read just enough of a new connection to tell TLS, the HTTP/2 preface and
// an HTTP/1.x request line from anything else, then hand the bytes back. Bounded in time (after
// the timeout the connection is opaque: server-first protocols send nothing) and in size.
import type {Duplex} from 'node:stream'

export type Protocol = 'tls' | 'h2' | 'http1' | 'opaque'

export interface Detected {
  protocol: Protocol
  /** Bytes read during detection; the caller hands them on (unshift, or to the HTTP/2 session). */
  head: Buffer
  /** Set when the peer closed or errored before anything could be told. */
  closed?: boolean
}

const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1')
const METHODS = new Set(['GET', 'POST', 'PUT', 'DELETE', 'HEAD', 'OPTIONS', 'PATCH', 'CONNECT', 'TRACE'])
/** An HTTP/1 request line longer than this is handed to the HTTP parser, which answers 414/431. */
const MAX_LINE = 16 * 1024
const REQUEST_LINE = /^[A-Z]+ \S+ HTTP\/\d\.\d$/

/** Decides from the bytes so far, or returns undefined when more are needed. */
export function classify(buf: Buffer): Protocol | undefined {
  const n = buf.length
  if (n === 0) return undefined
  if (buf[0] === 0x16) {
    if (n < 2) return undefined
    return buf[1] === 0x03 ? 'tls' : 'opaque'
  }
  if (buf[0] === 0x50 /* P */) {
    const m = Math.min(n, H2_PREFACE.length)
    if (buf.compare(H2_PREFACE, 0, m, 0, m) === 0) return m === H2_PREFACE.length ? 'h2' : undefined
  }
  // An HTTP/1 request starts with a known method and a space; the line must end in HTTP/1.x.
  const sp = buf.indexOf(0x20)
  const methodEnd = sp === -1 ? Math.min(n, 8) : sp
  for (let i = 0; i < methodEnd; i++) {
    const c = buf[i]
    if (c < 0x41 || c > 0x5a) return 'opaque'
  }
  if (sp === -1) return n >= 8 ? 'opaque' : undefined
  if (!METHODS.has(buf.toString('latin1', 0, sp))) return 'opaque'
  const lf = buf.indexOf(0x0a)
  if (lf === -1) return n > MAX_LINE ? 'http1' : undefined
  const line = buf.toString('latin1', 0, lf > 0 && buf[lf - 1] === 0x0d ? lf - 1 : lf)
  // A known method with a well-formed line is HTTP; a known method with a broken line is too
  // (the parser answers 400) unless it is clearly not HTTP (no version at all, e.g. Redis inline).
  if (REQUEST_LINE.test(line)) return 'http1'
  return / HTTP\/\S*$/.test(line) ? 'http1' : 'opaque'
}

/**
 * Reads from `socket` until the protocol is known or `timeoutMs` passes. The socket is left
 * paused with nothing consumed from the caller's point of view except `head`.
 */
export function detect(socket: Duplex, timeoutMs: number, opaque = false): Promise<Detected> {
  if (opaque) return Promise.resolve({protocol: 'opaque', head: EMPTY})
  return new Promise((resolve) => {
    let head: Buffer = EMPTY
    let done = false
    const finish = (protocol: Protocol, closed = false): void => {
      if (done) return
      done = true
      clearTimeout(timer)
      socket.off('data', onData)
      socket.off('end', onEnd)
      socket.off('error', onEnd)
      socket.off('close', onEnd)
      socket.pause()
      resolve({protocol, head, closed})
    }
    const onData = (chunk: Buffer): void => {
      head = head.length === 0 ? chunk : Buffer.concat([head, chunk])
      const p = classify(head)
      if (p !== undefined) finish(p)
    }
    const onEnd = (): void => finish('opaque', head.length === 0)
    const timer = setTimeout(() => finish('opaque'), timeoutMs)
    socket.on('data', onData)
    socket.on('end', onEnd)
    socket.on('error', onEnd)
    socket.on('close', onEnd)
    socket.resume()
  })
}

const EMPTY: Buffer = Buffer.alloc(0)
