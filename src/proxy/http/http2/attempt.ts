// One try of a request on an endpoint's HTTP/2 session: resolves with the response headers, or
// with the failure and whether the upstream certainly did not process the stream (connect
// failure, a session that was already going away, REFUSED_STREAM, which is also what streams
// above a GOAWAY's last stream id get) and so may be retried whatever the method.
import http2 from 'node:http2'
import type {EndpointClient} from '../../endpoint/endpoint.js'
import {neverSent, ProxyError, upstreamError} from '../../core/errors.js'
import type {ReplayBody} from './replay-body.js'
import {h2Session} from '../../endpoint/h2-session.js'

const {NGHTTP2_FLAG_END_STREAM, NGHTTP2_REFUSED_STREAM} = http2.constants

export interface H2Attempt {
  up?: http2.ClientHttp2Stream
  headers?: http2.IncomingHttpHeaders
  /** The response ended with its headers (trailers-only). */
  endStream?: boolean
  err?: ProxyError
  /** The failure happened before the upstream application could see the request. */
  unprocessed?: boolean
}

const ignore = (): void => {}

export function sendAttempt(ep: EndpointClient, headers: http2.OutgoingHttpHeaders, body: ReplayBody, started: (up: http2.ClientHttp2Stream) => void): Promise<H2Attempt> {
  return new Promise((resolve) => {
    let up: http2.ClientHttp2Stream
    try {
      up = h2Session(ep).request(headers, {endStream: body.empty})
    } catch (err) {
      // The session closed or went away before the stream was opened: nothing was sent.
      return resolve({err: upstreamError(err, ep.key), unprocessed: true})
    }
    started(up)
    let done = false
    const finish = (a: H2Attempt): void => {
      if (done) return
      done = true
      up.off('response', onResponse)
      resolve(a)
    }
    const onResponse = (h: http2.IncomingHttpHeaders, flags: number): void => {
      finish({up, headers: h, endStream: (flags & NGHTTP2_FLAG_END_STREAM) !== 0})
    }
    up.on('response', onResponse)
    up.on('error', ignore)
    up.once('error', (err: Error) => {
      const e = upstreamError(err, ep.key)
      // A pending stream (no id yet) never reached the wire: its session failed to connect.
      finish({up, err: e, unprocessed: neverSent(e) || up.pending || up.rstCode === NGHTTP2_REFUSED_STREAM})
    })
    up.once('close', () => {
      if (up.rstCode === NGHTTP2_REFUSED_STREAM) finish({up, err: new ProxyError('UPSTREAM_RESET', `${ep.key} refused the stream`), unprocessed: true})
      else finish({up, err: new ProxyError('UPSTREAM_RESET', `${ep.key} reset the stream (${up.rstCode ?? 'closed'}) before responding`), unprocessed: false})
    })
    if (!body.empty) body.attach(up)
  })
}
