// HTTP/2 and gRPC forwarding: each stream is forwarded as a stream on the endpoint's shared
// session under the request's route policy: a deadline (the route timeout, or a shorter
// grpc-timeout, passed upstream as the time left), and retries (outbound only) of streams that
// failed before any response, of 502/503/504 for idempotent or retryable requests, and of
// retryable gRPC trailers-only errors (UNAVAILABLE), with bodies replayed up to 64 KiB and
// every retry taken from the side's budget.
import http2 from 'node:http2'
import {normalizeAuthority} from '../../config/config.js'
import {connOf} from '../../core/conn.js'
import {containedError} from '../contain.js'
import type {EndpointClient} from '../../endpoint/endpoint.js'
import {PROXY_ERROR_HEADER, ProxyError, upstreamError} from '../../core/errors.js'
import {requestFailed} from '../../core/failures.js'
import type {RequestMeta} from '../../core/observe.js'
import type {Target} from '../../balance/target.js'
import {mayRetryFailure, mayRetryGrpcStatus, mayRetryStatus, retryLimit, type RetryState} from '../retry-decision.js'
import {nextRequestId, policyOf, refuseInput, targetFor, type Side} from '../../route/side.js'
import {sendAttempt, type H2Attempt} from './attempt.js'
import {formatGrpcTimeout, GRPC_DEADLINE_EXCEEDED, grpcStatus, grpcTrailersOnly, isGrpc, parseGrpcTimeout} from './grpc.js'
import {copyHeaders, mayRetryResponse} from './headers.js'
import {routePolicyOf} from '../../route/routes.js'
import {relay} from './relay.js'
import {closeByProxy} from './client-limits.js'
import {ReplayBody} from './replay-body.js'

const {NGHTTP2_FLAG_END_STREAM, NGHTTP2_CANCEL, NGHTTP2_INTERNAL_ERROR} = http2.constants

export function h2StreamHandler(side: Side): (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, flags: number) => void {
  return (stream, headers, flags) => {
    forward(side, stream, headers, flags).catch((err: unknown) => {
      containedError(side, 'http2 stream', err)
      if (!stream.destroyed) closeByProxy(stream, NGHTTP2_INTERNAL_ERROR)
    })
  }
}

function refuse(side: Side, stream: http2.ServerHttp2Stream, meta: RequestMeta | undefined, err: ProxyError): void {
  if (!stream.destroyed && !stream.headersSent) {
    const text = err.message.replace(/[^\x20-\x7e]/g, '?')
    stream.respond({':status': err.status, 'content-type': 'text/plain; charset=utf-8', [PROXY_ERROR_HEADER]: text})
    stream.end(text + '\n')
  } else if (!stream.destroyed) {
    closeByProxy(stream, NGHTTP2_INTERNAL_ERROR)
  }
  if (meta) {
    side.log.debug('request failed', {id: meta.id, authority: meta.authority, code: err.code, error: err.message})
    requestFailed(side.observer, meta, err)
    side.observer?.responseInit(meta, err.status)
    side.observer?.responseEnd(meta, {status: err.status, responseBytes: 0})
  }
}

/** The deadline passed: 504, or for gRPC a trailers-only DEADLINE_EXCEEDED. */
function deadlineExceeded(side: Side, stream: http2.ServerHttp2Stream, meta: RequestMeta, grpc: boolean, message: string): void {
  side.log.debug('request timed out', {id: meta.id, authority: meta.authority, error: message})
  if (!grpc || stream.destroyed || stream.headersSent) return refuse(side, stream, meta, new ProxyError('TIMEOUT', message))
  requestFailed(side.observer, meta, new ProxyError('TIMEOUT', message))
  stream.respond(grpcTrailersOnly(GRPC_DEADLINE_EXCEEDED, message), {endStream: true})
  side.observer?.responseInit(meta, 200)
  side.observer?.responseEnd(meta, {status: 200, grpcStatus: GRPC_DEADLINE_EXCEEDED, responseBytes: 0})
}

async function forward(side: Side, stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, flags: number): Promise<void> {
  stream.on('error', () => {})
  // One turn of the event loop before anything goes upstream: a reset that came right behind the
  // HEADERS (rapid reset, CVE-2023-44487) is read by then, and the stream is not forwarded.
  await new Promise<void>((resolve) => setImmediate(resolve))
  // Reset (or its connection gone) before we got to it: nothing to forward.
  const conn = stream.destroyed || stream.closed ? undefined : connOf(stream.session?.socket)
  if (!conn) return
  const scheme = headers[':scheme'] ?? 'http'
  const rawAuthority = headers[':authority'] ?? headers.host
  const method = headers[':method'] ?? 'GET'
  const path = headers[':path'] ?? '/'
  if (!rawAuthority || method === 'CONNECT') {
    refuseInput(side, 'malformed_request')
    return refuse(side, stream, undefined, new ProxyError('BAD_REQUEST', method === 'CONNECT' ? 'HTTP/2 CONNECT is not supported' : 'request without :authority'))
  }
  const authority = normalizeAuthority(rawAuthority, scheme === 'https' ? 443 : 80)
  const grpc = isGrpc(headers)
  // The first request to an authority waits for its route policy (bounded), then goes on.
  const prep = side.prepare?.(authority, conn)
  const prepared = prep ? await prep : undefined
  if (prep && (stream.destroyed || stream.closed)) return
  const policy = routePolicyOf(side, authority, method, path, {headers}, policyOf(side, authority, path, method), conn)
  const meta: RequestMeta = {
    id: nextRequestId(), direction: side.direction, method, scheme, authority, path, route: policy.route,
    headers, source: conn.source, destination: conn.destination, tls: conn.tls, dstLabels: conn.dstLabels,
    startMs: performance.now(), requestSeries: undefined, statusSeries: undefined,
  }
  if (policy.routeKind !== undefined) {
    meta.routeKind = policy.routeKind
    meta.backend = policy.backend
  }
  if ('refusal' in policy) {
    side.observer?.requestInit(meta)
    const err = policy.refusal
    // gRPC: no route is UNIMPLEMENTED (12), trailers-only, as the Gateway API's GRPCRoute asks;
    // refused by authorization, PERMISSION_DENIED (7).
    const g = err.code === 'NO_ROUTE' ? 12 : err.code === 'FORBIDDEN' ? 7 : undefined
    if (grpc && g !== undefined && !stream.destroyed) {
      stream.respond(grpcTrailersOnly(g, err.message), {endStream: true})
      side.observer?.responseInit(meta, 200)
      side.observer?.responseEnd(meta, {status: 200, grpcStatus: g, responseBytes: 0})
      return
    }
    return refuse(side, stream, meta, err)
  }
  const grpcMs = grpc ? parseGrpcTimeout(headers['grpc-timeout']) : undefined
  let timeoutMs = policy.requestTimeoutMs
  if (grpcMs !== undefined && (timeoutMs === 0 || grpcMs < timeoutMs)) timeoutMs = grpcMs
  const deadline = timeoutMs > 0 ? performance.now() + timeoutMs : 0

  let target: Target
  let ep: EndpointClient
  try {
    const t = targetFor(side, policy, authority, conn, prepared)
    target = t instanceof Promise ? await t : t
    ep = target.pick()
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
  // Discovery may have taken the whole deadline.
  if (deadline > 0 && performance.now() >= deadline) return deadlineExceeded(side, stream, meta, grpc, `no endpoint of ${authority} within ${timeoutMs}ms`)

  const retry = policy.retry
  const body = new ReplayBody(stream, retry.limit > 0 ? retry.maxBodyBytes : 0, (flags & NGHTTP2_FLAG_END_STREAM) !== 0)
  const retryResponse = mayRetryResponse(method, headers, retry)
  const reqHeaders = copyHeaders(headers)
  reqHeaders[':authority'] = rawAuthority
  const mod = policy.requestHeaders
  if (mod) {
    for (const h of mod.set ?? []) reqHeaders[h.name] = h.value
    for (const h of mod.add ?? []) {
      const v = reqHeaders[h.name]
      reqHeaders[h.name] = v === undefined ? h.value : [...(Array.isArray(v) ? v : [String(v)]), h.value]
    }
    for (const name of mod.remove ?? []) delete reqHeaders[name]
  }
  side.budget.deposit()

  let current: http2.ClientHttp2Stream | undefined
  let timedOut = false
  let accepted = false
  const timer = deadline > 0 ? setTimeout(() => { timedOut = true; current?.close(NGHTTP2_CANCEL) }, Math.max(0, deadline - performance.now())) : undefined
  // The client gave up before a response: cancel the attempt in flight.
  stream.once('close', () => {
    body.commit()
    if (!accepted) current?.close(stream.rstCode || NGHTTP2_CANCEL)
  })

  // The one retry decision (retry-decision.ts) on a response: a retry-on status, or a retry-on
  // gRPC status of a trailers-only response.
  const retryOnResponse = (a: H2Attempt, state: RetryState): boolean => {
    if (mayRetryStatus(side, state, Number(a.headers![':status']))) return true
    const g = grpc && a.endStream === true ? grpcStatus(a.headers) : undefined
    return g !== undefined && mayRetryGrpcStatus(side, state, g, retry.grpcStatuses)
  }
  const attemptMs = policy.attemptTimeoutMs ?? 0

  const backoffMs = policy.retryBackoffMs ?? 0
  for (let attempt = 0; ; attempt++) {
    if (attempt > 0 && backoffMs > 0) {
      // The route's wait between attempts; the deadline or the client may end it.
      await new Promise<void>((resolve) => setTimeout(resolve, backoffMs))
      if (timedOut) return deadlineExceeded(side, stream, meta, grpc, `no response from ${ep.key} within ${timeoutMs}ms`)
      if (stream.destroyed) {
        clearTimeout(timer)
        side.observer?.responseEnd(meta, {status: 0, responseBytes: 0, resetError: 'client reset'})
        return
      }
    }
    if (attempt > 0) {
      try {
        ep = target.pick()
      } catch (err) {
        clearTimeout(timer)
        return refuse(side, stream, meta, err as ProxyError)
      }
      if (side.direction === 'outbound') meta.destination = ep.addr
    }
    if (grpc && deadline > 0) reqHeaders['grpc-timeout'] = formatGrpcTimeout(deadline - performance.now())
    const started = ep.stats.start()
    // A route's backendRequest timeout bounds each attempt: a 504 of that attempt (retried as one).
    let attemptTimedOut = false
    const attemptTimer = attemptMs > 0 ? setTimeout(() => { attemptTimedOut = true; current?.close(NGHTTP2_CANCEL) }, attemptMs) : undefined
    const a = await sendAttempt(ep, reqHeaders, body, (up) => (current = up))
    clearTimeout(attemptTimer)
    if (timedOut || stream.destroyed) {
      clearTimeout(timer)
      ep.stats.end(started, !timedOut)
      if (a.up && !a.up.closed) a.up.close(NGHTTP2_CANCEL)
      if (timedOut) return deadlineExceeded(side, stream, meta, grpc, `no response from ${ep.key} within ${timeoutMs}ms`)
      side.observer?.responseEnd(meta, {status: 0, responseBytes: 0, resetError: 'client reset'})
      return
    }
    const state: RetryState = {replayable: body.replayable, retryable: retryResponse, attempt, limit: retryLimit(side, policy), statuses: retry.statuses}
    if (attemptTimedOut && !a.headers) {
      ep.stats.end(started, false)
      if (mayRetryStatus(side, state, 504)) continue
      clearTimeout(timer)
      return deadlineExceeded(side, stream, meta, grpc, `no response from ${ep.key} within ${attemptMs}ms`)
    }
    if (a.headers) {
      const ok = Number(a.headers[':status']) < 500 && (grpcStatus(a.headers) ?? 0) !== 14
      if (retryOnResponse(a, state)) {
        ep.stats.end(started, ok)
        a.up!.close(NGHTTP2_CANCEL)
        continue
      }
      clearTimeout(timer)
      accepted = true
      body.commit()
      let settled = false
      return relay(side, stream, meta, {up: a.up!, headers: a.headers, endStream: a.endStream === true}, (good) => {
        if (settled) return
        settled = true
        ep.stats.end(started, good)
      })
    }
    ep.stats.end(started, false)
    // The one retry decision (retry-decision.ts): any method when the stream provably never reached the app.
    if (mayRetryFailure(side, state, {unprocessed: a.unprocessed === true, staleReuse: false})) continue
    clearTimeout(timer)
    return refuse(side, stream, meta, a.err!)
  }
}
