// HTTP/2 and gRPC forwarding: each stream is forwarded as a stream on the endpoint's shared
// session, with flow control (pipe), trailers (grpc-status), trailers-only responses, and
// resets passed on in both directions.
import http2 from 'node:http2'
import {normalizeAuthority} from '../config.js'
import {connOf} from '../conn.js'
import type {EndpointClient} from '../endpoint.js'
import {PROXY_ERROR_HEADER, ProxyError, upstreamError} from '../errors.js'
import type {RequestMeta} from '../observe.js'
import {nextRequestId, type Side} from '../side.js'

const {NGHTTP2_FLAG_END_STREAM, NGHTTP2_CANCEL, NGHTTP2_INTERNAL_ERROR, NGHTTP2_REFUSED_STREAM} = http2.constants

/** Headers HTTP/2 forbids, or that belong to one hop. */
const DROP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'host', 'mesh-retryable'])

function copyHeaders(h: http2.IncomingHttpHeaders): http2.OutgoingHttpHeaders {
  const out: http2.OutgoingHttpHeaders = {}
  for (const k in h) if (!DROP.has(k)) out[k] = h[k]
  return out
}

function grpcStatus(h: http2.IncomingHttpHeaders | undefined): number | undefined {
  const v = h?.['grpc-status']
  return v === undefined ? undefined : Number(v)
}

export function h2StreamHandler(side: Side): (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, flags: number) => void {
  return (stream, headers, flags) => {
    forward(side, stream, headers, flags).catch((err: unknown) => {
      side.log.error('http/2 forwarding failed', {error: (err as Error).message})
      if (!stream.destroyed) stream.close(NGHTTP2_INTERNAL_ERROR)
    })
  }
}

function refuse(side: Side, stream: http2.ServerHttp2Stream, meta: RequestMeta | undefined, err: ProxyError): void {
  if (!stream.destroyed && !stream.headersSent) {
    const text = err.message.replace(/[^\x20-\x7e]/g, '?')
    stream.respond({':status': err.status, 'content-type': 'text/plain; charset=utf-8', [PROXY_ERROR_HEADER]: text})
    stream.end(text + '\n')
  } else if (!stream.destroyed) {
    stream.close(NGHTTP2_INTERNAL_ERROR)
  }
  if (meta) {
    side.observer?.responseInit(meta, err.status)
    side.observer?.responseEnd(meta, {status: err.status, responseBytes: 0})
  }
}

async function forward(side: Side, stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, flags: number): Promise<void> {
  stream.on('error', () => {})
  const conn = connOf(stream.session?.socket)!
  const scheme = headers[':scheme'] ?? 'http'
  const rawAuthority = headers[':authority'] ?? headers.host
  const method = headers[':method'] ?? 'GET'
  const path = headers[':path'] ?? '/'
  if (!rawAuthority || method === 'CONNECT') {
    side.stats.malformedRequests++
    return refuse(side, stream, undefined, new ProxyError('BAD_REQUEST', method === 'CONNECT' ? 'HTTP/2 CONNECT is not supported' : 'request without :authority'))
  }
  const authority = normalizeAuthority(rawAuthority, scheme === 'https' ? 443 : 80)
  const meta: RequestMeta = {
    id: nextRequestId(), direction: side.direction, method, scheme, authority, path, route: '',
    headers, source: conn.source, destination: conn.destination, tls: conn.tls, dstLabels: conn.dstLabels,
    startNs: process.hrtime.bigint(),
  }
  let ep: EndpointClient
  try {
    const t = side.target(authority, conn)
    ep = (t instanceof Promise ? await t : t).pick()
  } catch (err) {
    side.observer?.requestInit(meta)
    return refuse(side, stream, meta, err instanceof ProxyError ? err : upstreamError(err, authority))
  }
  if (side.direction === 'outbound') {
    meta.destination = ep.addr
    meta.tls = ep.tls
    meta.dstLabels = ep.labels
  }
  side.observer?.requestInit(meta)
  if (stream.destroyed) return

  const endStream = (flags & NGHTTP2_FLAG_END_STREAM) !== 0
  const reqHeaders = copyHeaders(headers)
  reqHeaders[':authority'] = rawAuthority
  let up: http2.ClientHttp2Stream
  const started = ep.stats.start()
  let settled = false
  const settle = (ok: boolean): void => {
    if (settled) return
    settled = true
    ep.stats.end(started, ok)
  }
  try {
    up = ep.h2Session().request(reqHeaders, {endStream})
  } catch (err) {
    settle(false)
    return refuse(side, stream, meta, upstreamError(err, ep.key))
  }
  if (!endStream) stream.pipe(up)

  let trailers: http2.IncomingHttpHeaders | undefined
  let status = 0
  let bytes = 0
  let ended = false
  const end = (resetError?: string): void => {
    if (ended) return
    ended = true
    const g = grpcStatus(trailers)
    side.observer?.responseEnd(meta, {status, grpcStatus: g, responseBytes: bytes, resetError})
  }

  up.on('response', (h, upFlags) => {
    status = Number(h[':status'] ?? 502)
    settle(status < 500)
    if (stream.destroyed) return
    const out = copyHeaders(h)
    side.observer?.responseInit(meta, status)
    if ((upFlags & NGHTTP2_FLAG_END_STREAM) !== 0) {
      // Trailers-only (a gRPC error): the status lives in the headers.
      trailers = h
      stream.respond(out, {endStream: true})
      end()
      return
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
  })
  up.on('trailers', (t) => { trailers = t })
  stream.on('wantTrailers', () => {
    if (trailers) stream.sendTrailers(copyHeaders(trailers))
    else stream.close()
    end()
  })
  up.on('error', (err) => {
    settle(false)
    if (status === 0) return refuse(side, stream, meta, upstreamError(err, ep.key))
    end('upstream reset')
    if (!stream.destroyed) stream.close(up.rstCode || NGHTTP2_INTERNAL_ERROR)
  })
  up.on('close', () => {
    if (up.rstCode !== undefined && up.rstCode !== 0 && !stream.destroyed) {
      settle(false)
      if (status === 0 && up.rstCode === NGHTTP2_REFUSED_STREAM) return refuse(side, stream, meta, new ProxyError('UPSTREAM_RESET', `${ep.key} refused the stream`))
      end(`reset ${up.rstCode}`)
      stream.close(up.rstCode)
    }
  })
  stream.on('close', () => {
    if (!up.destroyed && !up.closed) {
      up.close(stream.rstCode || NGHTTP2_CANCEL)
      end('client reset')
    }
  })
}
