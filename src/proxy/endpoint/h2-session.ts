// The upstream HTTP/2 session of an endpoint, shared by every stream to it, and how a dead one is
// found and dropped. A peer that dies without a GOAWAY (killed, its node gone, a middlebox
// dropping the connection) left the session looking open for ever, and every later stream to it
// hung. Now:
// - the socket ending (the peer's FIN: a killed process's kernel sends one), closing or failing
//   destroys the session at once: its streams fail, and the next request opens a new session;
// - a PING every keep-alive interval (and before a stream on a session not heard from for that
//   long) must be answered within the keep-alive timeout, else the session is destroyed: a peer
//   that silently stopped answering (blackholed) is found within interval + timeout;
// - a stream opened on a session that closed meanwhile never left (attempt.ts: unprocessed, so it
//   is retried on a new session whatever the method).
import http2 from 'node:http2'
import type {Duplex} from 'node:stream'
import type {EndpointClient} from './endpoint.js'

const kAlive = Symbol('mesh.h2alive')

/** Liveness bookkeeping kept on the session. */
interface Liveness {
  /** performance.now() of the last PING answer (or of the connect). */
  heardAt: number
  /** A PING is out, unanswered. */
  pinging: boolean
  timer?: NodeJS.Timeout
  check(): void
}

type LiveSession = http2.ClientHttp2Session & {[kAlive]?: Liveness}

/** The endpoint's shared HTTP/2 session (a new one after it closed, went away or was found dead). */
export function h2Session(ep: EndpointClient): http2.ClientHttp2Session {
  const s = ep.h2 as LiveSession | undefined
  if (s && !s.closed && !s.destroyed) {
    s[kAlive]?.check()
    return s
  }
  const session: LiveSession = http2.connect(`http://${ep.key}`, {
    createConnection: () => watchSocket(ep.connect(['h2'])),
    peerMaxConcurrentStreams: 1000,
  })
  const drop = (): void => { if (ep.h2 === session) ep.h2 = undefined }
  session.on('error', drop)
  session.on('goaway', drop)
  session.on('close', drop)
  // The connection is gone, or the peer will send nothing more: no stream on it can be answered.
  function watchSocket(socket: Duplex): Duplex {
    const dead = (why: string) => (err?: Error): void => {
      drop()
      if (!session.destroyed) session.destroy(err ?? Object.assign(new Error(`${ep.key}: ${why}`), {code: 'ECONNRESET'}))
    }
    socket.once('end', dead('the connection was closed by the peer'))
    socket.once('close', dead('the connection closed'))
    socket.once('error', dead('the connection failed'))
    return socket
  }
  const keepAlive = ep.settings.h2KeepAlive
  if (keepAlive && keepAlive.intervalMs > 0) watch(session, ep.key, keepAlive.intervalMs, keepAlive.timeoutMs)
  session.unref()
  ep.h2 = session
  return session
}

/** PINGs the session every `intervalMs` (and on use after that long unheard); no answer within `timeoutMs`: destroyed. */
function watch(session: LiveSession, key: string, intervalMs: number, timeoutMs: number): void {
  const alive: Liveness = {
    heardAt: performance.now(),
    pinging: false,
    check: () => {
      if (!alive.pinging && performance.now() - alive.heardAt >= intervalMs) ping()
    },
  }
  const ping = (): void => {
    if (session.destroyed || session.closed || session.connecting) return
    alive.pinging = true
    const timeout = setTimeout(() => {
      session.destroy(Object.assign(new Error(`${key} did not answer a PING within ${timeoutMs}ms`), {code: 'EH2PINGTIMEOUT'}))
    }, timeoutMs)
    timeout.unref()
    try {
      session.ping((err) => {
        clearTimeout(timeout)
        alive.pinging = false
        if (!err) alive.heardAt = performance.now()
      })
    } catch {
      clearTimeout(timeout)
      alive.pinging = false
    }
  }
  alive.timer = setInterval(ping, intervalMs)
  alive.timer.unref()
  session.once('close', () => clearInterval(alive.timer))
  session[kAlive] = alive
}
