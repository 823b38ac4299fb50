// Bounds on what one HTTP/2 client connection may make the proxy do (CVE-2023-44487, "rapid
// reset", and its kin):
// - streams it resets before their response has ended each cost an upstream request, so they
//   are taken from a per-connection budget (a burst, refilled at a steady rate); past it the
//   connection gets GOAWAY ENHANCE_YOUR_CALM and closes (reason h2_reset_flood). Before, ~1,100
//   streams of one connection reached the application before nghttp2's own limit fired. Streams
//   the proxy itself resets (an upstream reset passed on) are not the client's doing and are
//   marked as ours first (closeByProxy);
// - streams past SETTINGS_MAX_CONCURRENT_STREAMS are refused by nghttp2 (REFUSED_STREAM), and a
//   client that goes on opening them has its connection ended by nghttp2 or Node: too many
//   invalid frames (Node's limit is set to the stream limit; refused streams are what a client
//   makes by the hundred) counts h2_stream_limit, and so does a protocol error on a connection
//   that was at its stream limit; another protocol error counts malformed_request.
import http2 from 'node:http2'
import type {Side} from '../side.js'
import {refuseInput} from '../side.js'

const {NGHTTP2_ENHANCE_YOUR_CALM} = http2.constants

const kOurs = Symbol('mesh.h2ours')
const kBudget = Symbol('mesh.h2resets')
const kActive = Symbol('mesh.h2active')
const kFull = Symbol('mesh.h2full')

interface Budget {
  tokens: number
  at: number
}

type Marked = http2.ServerHttp2Stream & {[kOurs]?: boolean}
type Guarded = http2.ServerHttp2Session & {[kBudget]?: Budget, [kActive]?: number, [kFull]?: boolean}

/** Errors with which nghttp2 or Node end a connection that broke the protocol. */
const PROTOCOL_ERRORS = new Set(['ERR_HTTP2_TOO_MANY_INVALID_FRAMES', 'ERR_HTTP2_ERROR'])

/** Watches a new server session: how its end is counted. */
export function guardSession(side: Side, session: http2.ServerHttp2Session): void {
  session.on('error', (err: NodeJS.ErrnoException) => {
    side.log.debug('http/2 session error', {code: err.code, error: err.message})
    if (!PROTOCOL_ERRORS.has(err.code ?? '')) return
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

/** Watches a new server stream: a reset by the client before its response ended takes from the connection's budget. */
export function guardStream(side: Side, stream: http2.ServerHttp2Stream): void {
  // (taken now: a closed stream no longer knows its session)
  const session = stream.session as Guarded | undefined
  if (session) {
    const active = (session[kActive] ?? 0) + 1
    session[kActive] = active
    if (active >= side.config.limits.h2MaxConcurrentStreams) session[kFull] = true
  }
  stream.once('close', () => {
    if (session) session[kActive]!--
    if (!stream.aborted || (stream as Marked)[kOurs]) return
    if (!session || session.destroyed) return
    const {h2ResetBurst: burst, h2ResetsPerSecond: rate} = side.config.limits
    const now = performance.now()
    const b = (session[kBudget] ??= {tokens: burst, at: now})
    b.tokens = Math.min(burst, b.tokens + ((now - b.at) / 1000) * rate)
    b.at = now
    if (b.tokens >= 1) {
      b.tokens -= 1
      return
    }
    refuseInput(side, 'h2_reset_flood')
    side.log.warn('HTTP/2 client reset too many streams: GOAWAY ENHANCE_YOUR_CALM', {burst, perSecond: rate})
    calm(session)
  })
}

/** GOAWAY ENHANCE_YOUR_CALM, then the connection closes. */
export function calm(session: http2.ServerHttp2Session): void {
  if (session.destroyed) return
  // (with an error: destroy(undefined, code) would take its default error, NO_ERROR, as the code)
  session.destroy(Object.assign(new Error('HTTP/2 client over its limits'), {code: 'ENHANCE_YOUR_CALM'}), NGHTTP2_ENHANCE_YOUR_CALM)
}
