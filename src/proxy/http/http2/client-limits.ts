// Bounds on what one HTTP/2 client connection may make the proxy do (CVE-2023-44487, "rapid
// reset", and its kin):
// - streams it resets before their response has ended each cost an upstream request, so they
//   are taken from a per-connection budget (a burst of at most half the stream limit, refilled
//   at a steady rate); past it the
//   connection gets GOAWAY ENHANCE_YOUR_CALM and closes (reason h2_reset_flood). Before, ~1,100
//   streams of one connection reached the application before nghttp2's own limit fired. Streams
//   the proxy itself resets (an upstream reset passed on) are not the client's doing and are
//   marked as ours first (closeByProxy);
// - streams past SETTINGS_MAX_CONCURRENT_STREAMS are refused by nghttp2 (REFUSED_STREAM), and a
//   client that goes on opening them has its connection ended by nghttp2 or Node: too many
//   invalid frames (Node's limit is set to the stream limit; refused streams are what a client
//   makes by the hundred) counts h2_stream_limit, and so does a protocol error on a connection
//   that was at its stream limit; another protocol error counts malformed_request;
// - nghttp2's own flood bounds end a connection that sends PING or SETTINGS frames faster than
//   their acknowledgements leave (more than 1,000 queued: NGHTTP2_ERR_FLOODED), or more than 8
//   CONTINUATION frames after one HEADERS (NGHTTP2_ERR_TOO_MANY_CONTINUATIONS, nghttp2's answer
//   to the 2024 CONTINUATION floods, CVE-2024-28182): counted h2_flood (they were counted
//   malformed_request, which they are not).
import http2 from 'node:http2'
import type {Duplex} from 'node:stream'
import type {Side} from '../../route/side.js'
import {refuseInput} from '../../route/side.js'

const {NGHTTP2_ENHANCE_YOUR_CALM} = http2.constants

const kOurs = Symbol('mesh.h2ours')
const kBudget = Symbol('mesh.h2resets')
const kActive = Symbol('mesh.h2active')
const kFull = Symbol('mesh.h2full')
const kCalmed = Symbol('mesh.h2calmed')
const kSocket = Symbol('mesh.h2socket')
/** Streams of the connection that reached the proxy, and how many of them the client reset. */
const kAnnounced = Symbol('mesh.h2announced')
const kResets = Symbol('mesh.h2resetcount')

interface Budget {
  tokens: number
  at: number
}

type Marked = http2.ServerHttp2Stream & {[kOurs]?: boolean}
type Guarded = http2.ServerHttp2Session & {[kBudget]?: Budget, [kActive]?: number, [kFull]?: boolean, [kCalmed]?: boolean, [kSocket]?: Duplex, [kAnnounced]?: number, [kResets]?: number}

/** Errors with which nghttp2 or Node end a connection that broke the protocol. */
const PROTOCOL_ERRORS = new Set(['ERR_HTTP2_TOO_MANY_INVALID_FRAMES', 'ERR_HTTP2_ERROR'])

/**
 * nghttp2's error codes (Node's NghttpError `errno`, under code ERR_HTTP2_ERROR) for its flood
 * bounds: NGHTTP2_ERR_FLOODED (control frames whose acknowledgements queue past 1,000) and
 * NGHTTP2_ERR_TOO_MANY_CONTINUATIONS (past 8 after one HEADERS).
 */
const FLOOD_ERRNOS = new Set([-904, -905])

/** Watches a new server session (on `socket`, the connection itself): how its end is counted. */
export function guardSession(side: Side, session: http2.ServerHttp2Session, socket: Duplex | undefined): void {
  ;(session as Guarded)[kSocket] = socket
  let errored = false
  // nghttp2's own flood limits (a burst of 1,000 resets, ...) may end a connection within one
  // read, before the proxy saw more than a few of its streams: it sends GOAWAY INTERNAL_ERROR,
  // Node stops reading the connection and reports nothing, and the connection goes at the idle
  // timeout (60 s; as before this work). A connection that sent 16 KiB or more and reset every
  // stream the proxy saw (none, often) is that, counted as it closes.
  session.once('close', () => {
    const g = session as Guarded
    if (errored || g[kCalmed] || (g[kResets] ?? 0) < (g[kAnnounced] ?? 0) || ((socket as {bytesRead?: number} | undefined)?.bytesRead ?? 0) < 16 * 1024) return
    refuseInput(side, 'h2_reset_flood')
    side.log.warn('HTTP/2 client flood: nghttp2 ended the connection (every stream the proxy saw was reset)', {bytes: (socket as {bytesRead?: number}).bytesRead, streams: g[kAnnounced] ?? 0})
  })
  session.on('error', (err: NodeJS.ErrnoException) => {
    errored = true
    side.log.debug('http/2 session error', {code: err.code, error: err.message})
    // (a flood the reset budget caught: counted as h2_reset_flood already, whatever Node adds)
    if ((session as Guarded)[kCalmed]) return
    if (!PROTOCOL_ERRORS.has(err.code ?? '')) return
    if (err.code === 'ERR_HTTP2_ERROR' && FLOOD_ERRNOS.has(err.errno ?? 0)) {
      refuseInput(side, 'h2_flood')
      side.log.warn('HTTP/2 client flood: nghttp2 ended the connection', {error: err.message})
      return
    }
    // Invalid frames past Node's limit (set to the stream limit): streams refused past it, the
    // only invalid frames a client makes by the hundred. A protocol error: when the connection
    // was at its stream limit.
    if (err.code === 'ERR_HTTP2_TOO_MANY_INVALID_FRAMES' || (session as Guarded)[kFull]) {
      refuseInput(side, 'h2_stream_limit')
      side.log.warn('HTTP/2 client went on opening streams past the concurrent-stream limit: connection closed', {limit: side.config.limits.h2MaxConcurrentStreams})
    } else {
      refuseInput(side, 'malformed_request')
    }
  })
}

/** Resets a client's stream on the proxy's initiative (not counted against the client). */
export function closeByProxy(stream: http2.ServerHttp2Stream, code: number): void {
  ;(stream as Marked)[kOurs] = true
  stream.close(code)
}

/**
 * Watches a new server stream of `session`: a reset by the client before its response ended
 * takes from the connection's budget. Registered on the session, not the server: Node announces
 * a stream a tick after reading its HEADERS, and one whose reset came in the same read is
 * destroyed by then and no longer knows its session (a flood written in one go, preface
 * included, went uncounted and the connection sat idle instead of getting its GOAWAY).
 */
export function guardStream(side: Side, session: http2.ServerHttp2Session, stream: http2.ServerHttp2Stream): void {
  const g = session as Guarded
  g[kAnnounced] = (g[kAnnounced] ?? 0) + 1
  const active = (g[kActive] ?? 0) + 1
  g[kActive] = active
  if (active >= side.config.limits.h2MaxConcurrentStreams) g[kFull] = true
  stream.once('close', () => {
    g[kActive]!--
  })
  // A stream whose HEADERS and reset came in the same read is announced already reset.
  if (stream.aborted) return reset(side, g)
  // Otherwise 'aborted' comes as the reset is read (before 'close').
  // (Not when the session is going: Node aborts every open stream as it destroys a session, for
  // too many invalid frames say, before it reports why; those are not the client's resets.)
  stream.once('aborted', () => {
    if (!(stream as Marked)[kOurs] && !session.destroyed) reset(side, g)
  })
}

/** A stream the client reset before its response ended: from the budget; past it, calm. */
function reset(side: Side, session: Guarded | undefined): void {
  if (!session) return
  session[kResets] = (session[kResets] ?? 0) + 1
  if (session[kCalmed]) return
  const {h2ResetBurst, h2ResetsPerSecond: rate, h2MaxConcurrentStreams} = side.config.limits
  // At most half the stream limit: Node keeps a reset stream in its session until JavaScript has
  // run, so when one read brings many streams with their resets, past the stream limit Node
  // refuses the rest and, past maxSessionRejectedStreams, ends the session itself (GOAWAY
  // INTERNAL_ERROR, "the user callback function failed"). The budget must run out first, so the
  // client is told ENHANCE_YOUR_CALM and the connection counted as the flood it is.
  const burst = Math.min(h2ResetBurst, Math.max(1, Math.floor(h2MaxConcurrentStreams / 2)))
  const now = performance.now()
  const b = (session[kBudget] ??= {tokens: burst, at: now})
  b.tokens = Math.min(burst, b.tokens + ((now - b.at) / 1000) * rate)
  b.at = now
  if (b.tokens >= 1) {
    b.tokens -= 1
    return
  }
  session[kCalmed] = true
  refuseInput(side, 'h2_reset_flood')
  side.log.warn('HTTP/2 client reset too many streams: GOAWAY ENHANCE_YOUR_CALM', {burst, perSecond: rate})
  // (nghttp2 may have ended it already, as the resets were announced)
  if (!session.destroyed) calm(session)
}

/**
 * GOAWAY ENHANCE_YOUR_CALM now, reading stops, then the connection closes. This runs while
 * nghttp2 is still reading the client's frames: the GOAWAY can be queued from there (it goes
 * before whatever nghttp2's own limits would send), but destroying the session there breaks
 * Node's accounting of nghttp2's memory (an assertion, SIGABRT, seen under bench/proxy/attacks.ts's
 * floods): that waits a turn.
 */
export function calm(session: http2.ServerHttp2Session): void {
  if (session.destroyed) return
  try {
    session.goaway(NGHTTP2_ENHANCE_YOUR_CALM)
  } catch {
    // closing already
  }
  // Nothing more is read from it meanwhile (the GOAWAY still goes out).
  ;(session as Guarded)[kSocket]?.pause()
  setImmediate(() => {
    if (session.destroyed) return
    // (with an error: destroy(undefined, code) would take its default error, NO_ERROR, as the code)
    session.destroy(Object.assign(new Error('HTTP/2 client over its limits'), {code: 'ENHANCE_YOUR_CALM'}), NGHTTP2_ENHANCE_YOUR_CALM)
  })
}
