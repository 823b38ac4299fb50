// The HTTP/2 server of one side (h2c, or inside the inbound mTLS), fed connections the detector
// accepted. The bytes read during detection (the preface, maybe more) are handed to the new
// session directly: Node's HTTP/2 reads the socket's handle, not what was unshifted.
import http2 from 'node:http2'
import type {Duplex} from 'node:stream'
import type {Side} from '../../route/side.js'
import {guardSession, guardStream} from './client-limits.js'
import {h2StreamHandler} from './forward.js'

const kHead = Symbol('mesh.h2head')
const kRaw = Symbol('mesh.h2raw')
const kSessions = Symbol('mesh.h2sessions')

/** The live sessions of a server created here (shutdown sends each a GOAWAY). */
export function sessionsOf(server: http2.Http2Server): Set<http2.ServerHttp2Session> {
  return ((server as unknown as Record<symbol, unknown>)[kSessions] as Set<http2.ServerHttp2Session> | undefined) ?? new Set()
}

interface SessionHandle {
  receive(buf: Buffer): void
}

let kHandle: symbol | undefined

/** Node keeps the native session under a private symbol; `receive` feeds it bytes. */
function nativeHandle(session: http2.Http2Session): SessionHandle | undefined {
  kHandle ??= Object.getOwnPropertySymbols(session).find((s) => s.description === 'kHandle')
  return kHandle ? (session as unknown as Record<symbol, SessionHandle>)[kHandle] : undefined
}

export function createH2Server(side: Side): http2.Http2Server {
  const limits = side.config.limits
  // (Node's types lack the two invalid-frame options it takes, documented since v15)
  const options: http2.ServerOptions & {maxSessionInvalidFrames: number, maxSessionRejectedStreams: number} = {
    maxHeaderListPairs: limits.maxHeaderCount + 8,
    maxSessionMemory: 32,
    // A client that keeps opening streams past the limit (each refused with REFUSED_STREAM) is
    // cut off after this many (Node's default: 1,000); counted (client-limits.ts).
    maxSessionInvalidFrames: limits.h2MaxConcurrentStreams,
    maxSessionRejectedStreams: limits.h2MaxConcurrentStreams,
    settings: {maxConcurrentStreams: limits.h2MaxConcurrentStreams, maxHeaderListSize: limits.maxHeaderBytes},
  }
  const server = http2.createServer(options)
  const sessions = new Set<http2.ServerHttp2Session>()
  ;(server as unknown as Record<symbol, unknown>)[kSessions] = sessions
  server.on('session', (session) => {
    sessions.add(session)
    session.once('close', () => sessions.delete(session))
    const socket = session.socket as unknown as Record<symbol, unknown>
    const head = socket[kHead] as Buffer | undefined
    const raw = socket[kRaw] as Duplex | undefined
    guardSession(side, session, raw)
    session.on('stream', (stream: http2.ServerHttp2Stream) => guardStream(side, session, stream))
    if (head && head.length > 0) {
      const handle = nativeHandle(session)
      if (handle) handle.receive(head)
      else session.destroy(new Error('cannot hand detected bytes to the HTTP/2 session'))
    }
    // Those bytes may have ended the session (a flood in the first packets: too many invalid
    // frames, the reset budget). Node then still feeds, on the next tick, whatever else the
    // socket has buffered, through the native handle it has just dropped: a TypeError that ends
    // the process. What is buffered is the ended session's: dropped with its socket.
    if (session.destroyed && raw) {
      raw.destroy()
      while (raw.read() !== null);
    }
  })
  server.on('stream', h2StreamHandler(side))
  server.setTimeout(limits.httpIdleTimeoutMs)
  return server
}

/** Serves `socket` (detected as HTTP/2; `head` holds the bytes read so far) on `server`. */
export function serveH2(server: http2.Http2Server, socket: Duplex, head: Buffer): void {
  const s = socket as unknown as Record<symbol, unknown>
  s[kHead] = head
  s[kRaw] = socket
  server.emit('connection', socket)
}
