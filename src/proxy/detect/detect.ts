// Protocol detection: read just enough of a new connection to tell TLS, the HTTP/2 preface and
// an HTTP/1.x request line from anything else, then hand the bytes back. Bounded in size, and in
// time: a connection still undecided at the detect timeout (idle, or a slow partial request line)
// is reported as timed out, and the sides close it (server-first protocols belong on opaque
// ports, which skip detection). Anything shaped like an HTTP/1 request line is HTTP, whatever
// its method's case or name, and so is an HTTP/0.9 line of a known method: the HTTP parser then
// serves it or answers 400, so none of it passes through unseen as opaque bytes.
import type {Duplex} from 'node:stream'

export type Protocol = 'tls' | 'h2' | 'http1' | 'opaque'

export interface Detected {
  protocol: Protocol
  /** Bytes read during detection; the caller hands them on (unshift, or to the HTTP/2 session). */
  head: Buffer
  /** Set when the peer closed or errored before anything could be told. */
  closed?: boolean
  /** Set when the detect timeout passed before anything could be told. */
  timedOut?: boolean
}

const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1')
const METHODS = new Set(['GET', 'POST', 'PUT', 'DELETE', 'HEAD', 'OPTIONS', 'PATCH', 'CONNECT', 'TRACE'])
/** An HTTP/1 request line longer than this is handed to the HTTP parser, which answers 414/431. */
const MAX_LINE = 16 * 1024
/** A method token longer than this is not HTTP. */
const MAX_METHOD = 32
/** A method token, a target, then HTTP/ (whatever follows: the parser judges the rest). */
const REQUEST_LINE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+ \S+ HTTP\//
/** A known method and an origin-form target: HTTP/0.9, or a request line broken after its target. */
const ORIGIN_LINE = /^[A-Z]+ \//

/** tchar (RFC 9110): the characters of a method token. */
function isTchar(c: number): boolean {
  if (c >= 0x61 && c <= 0x7a) return true
  if (c >= 0x41 && c <= 0x5a) return true
  if (c >= 0x30 && c <= 0x39) return true
  return c === 0x21 || (c >= 0x23 && c <= 0x27) || c === 0x2a || c === 0x2b || c === 0x2d || c === 0x2e || c === 0x5e || c === 0x5f || c === 0x60 || c === 0x7c || c === 0x7e
}

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
  // An HTTP/1 request starts with a method token and a space.
  const sp = buf.indexOf(0x20)
  const methodEnd = sp === -1 ? Math.min(n, MAX_METHOD + 1) : sp
  if (methodEnd === 0 || methodEnd > MAX_METHOD) return 'opaque'
  for (let i = 0; i < methodEnd; i++) if (!isTchar(buf[i])) return 'opaque'
  if (sp === -1) return undefined
  const lf = buf.indexOf(0x0a)
  if (lf === -1) return n > MAX_LINE ? 'http1' : undefined
  const line = buf.toString('latin1', 0, lf > 0 && buf[lf - 1] === 0x0d ? lf - 1 : lf)
  // A request line (any method token: the parser refuses what it does not serve, with a 400,
  // whatever its version or what follows it), or a known method with an origin-form target
  // (HTTP/0.9's `GET /path`, refused by the parser): HTTP. Anything else, such as Memcached's
  // `get key` or Redis's inline `GET key`, is not.
  if (REQUEST_LINE.test(line)) return 'http1'
  if (ORIGIN_LINE.test(line) && METHODS.has(line.slice(0, sp))) return 'http1'
  return 'opaque'
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
    const finish = (protocol: Protocol, closed = false, timedOut = false): void => {
      if (done) return
      done = true
      clearTimeout(timer)
      socket.off('data', onData)
      socket.off('end', onEnd)
      socket.off('error', onEnd)
      socket.off('close', onEnd)
      socket.pause()
      resolve(timedOut ? {protocol, head, timedOut} : {protocol, head, closed})
    }
    const onData = (chunk: Buffer): void => {
      head = head.length === 0 ? chunk : Buffer.concat([head, chunk])
      const p = classify(head)
      if (p !== undefined) finish(p)
    }
    const onEnd = (): void => finish('opaque', head.length === 0)
    const timer = setTimeout(() => finish('opaque', false, true), timeoutMs)
    socket.on('data', onData)
    socket.on('end', onEnd)
    socket.on('error', onEnd)
    socket.on('close', onEnd)
    socket.resume()
  })
}

const EMPTY: Buffer = Buffer.alloc(0)
