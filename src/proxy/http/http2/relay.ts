// The accepted response of an HTTP/2 attempt, relayed to the client's stream: headers, data
// with flow control, trailers (grpc-status), trailers-only responses, and resets both ways.
import http2 from 'node:http2'
import type {RequestMeta} from '../../core/observe.js'
import type {Side} from '../../route/side.js'
import {grpcStatus} from './grpc.js'
import {copyHeaders} from './headers.js'
import {closeByProxy} from './client-limits.js'

const {NGHTTP2_CANCEL, NGHTTP2_INTERNAL_ERROR} = http2.constants

export interface Accepted {
  up: http2.ClientHttp2Stream
  headers: http2.IncomingHttpHeaders
  endStream: boolean
}

/** `settle(ok)` records the attempt's outcome for the balancer (called once). */
export function relay(side: Side, stream: http2.ServerHttp2Stream, meta: RequestMeta, a: Accepted, settle: (ok: boolean) => void): void {
  const {up, headers: h} = a
  const status = Number(h[':status'] ?? 502)
  let trailers: http2.IncomingHttpHeaders | undefined
  let bytes = 0
  let ended = false
  const end = (resetError?: string): void => {
    if (ended) return
    ended = true
    side.observer?.responseEnd(meta, {status, grpcStatus: grpcStatus(trailers), responseBytes: bytes, resetError})
  }
  settle(status < 500)
  if (stream.destroyed) {
    up.close(NGHTTP2_CANCEL)
    return end('client reset')
  }
  const out = copyHeaders(h)
  side.observer?.responseInit(meta, status)
  if (a.endStream) {
    // Trailers-only (a gRPC error): the status lives in the headers.
    trailers = h
    stream.respond(out, {endStream: true})
    return end()
  }
  stream.respond(out, {waitForTrailers: true})
  up.on('data', (chunk: Buffer) => {
    bytes += chunk.length
    if (!stream.write(chunk)) {
      up.pause()
      stream.once('drain', () => up.resume())
    }
  })
  up.on('end', () => stream.end())
  up.on('trailers', (t) => { trailers = t })
  stream.on('wantTrailers', () => {
    // No trailers: an empty set ends the stream with an empty DATA frame (END_STREAM), where
    // close() would reset it and leave the client without an end.
    stream.sendTrailers(trailers ? copyHeaders(trailers) : {})
    end()
  })
  up.on('error', () => {
    settle(false)
    end('upstream reset')
    if (!stream.destroyed) closeByProxy(stream, up.rstCode || NGHTTP2_INTERNAL_ERROR)
  })
  up.on('close', () => {
    if (up.rstCode !== undefined && up.rstCode !== 0 && !stream.destroyed) {
      end(`reset ${up.rstCode}`)
      closeByProxy(stream, up.rstCode)
    }
  })
  stream.on('close', () => {
    if (!up.destroyed && !up.closed) {
      up.close(stream.rstCode || NGHTTP2_CANCEL)
      end('client reset')
    }
  })
}
