// HTTP/1 forwarding: one request in, one request out over the endpoint's keep-alive pool.
// This file reads the request (target, authority, body plan); exchange.ts makes the attempts
// (retries on the outbound side only, bodies up to 64 KiB buffered, bounded by the retry
// budget; the request timeout) and relays the response. Failures are answered by the proxy
// itself with the `mesh-proxy-error` header.
import type http from 'node:http'
import {normalizeAuthority} from '../../config/config.js'
import {connOf, type ConnCtx} from '../../core/conn.js'
import {containedError} from '../contain.js'
import type {EndpointClient} from '../../endpoint/endpoint.js'
import {PROXY_ERROR_HEADER, ProxyError, upstreamError} from '../../core/errors.js'
import type {RequestMeta} from '../../core/observe.js'
import {requestFailed} from '../../core/failures.js'
import type {Target} from '../../balance/target.js'
import {isRetryableRequest, retryLimit} from '../retry-decision.js'
import {nextRequestId, policyOf, refuseInput, targetFor, type Prepared, type RoutePolicy, type Side} from '../../route/side.js'
import {modifyRawHeaders, routePolicyOf} from '../../route/routes.js'
import {readBody} from './body.js'
import {Exchange, type ExchangePlan} from './exchange.js'
import {forwardHeaders} from './headers.js'

export function http1Handler(side: Side): (req: http.IncomingMessage, res: http.ServerResponse) => void {
  return (req, res) => {
    try {
      forward(side, req, res)
    } catch (err) {
      crashed(side, res, err)
    }
  }
}

/** An exception while forwarding (contain.ts): logged and counted, the client answered 502 (or cut). */
function crashed(side: Side, res: http.ServerResponse, err: unknown): void {
  containedError(side, 'http1 request', err)
  try {
    sendError(res, new ProxyError('INTERNAL', 'internal error in the proxy'))
  } catch {
    res.destroy()
  }
}

/** Where the request goes and what path to send: origin-form with Host, or absolute-form. */
export function requestTarget(req: http.IncomingMessage, conn: ConnCtx): {authority: string, path: string, host?: string} {
  const url = req.url ?? '/'
  if (url.charCodeAt(0) === 47 /* / */ || url === '*') {
    const host = req.headers.host
    if (host) return {authority: host, path: url}
    if (req.httpVersionMinor === 0) return {authority: conn.authority, path: url, host: conn.authority}
    throw new ProxyError('BAD_REQUEST', 'HTTP/1.1 request without a Host header')
  }
  const m = /^http:\/\/([^/?#\s]+)(.*)$/i.exec(url)
  if (!m) throw new ProxyError('BAD_REQUEST', 'request target must be a path or an http:// URL')
  const path = m[2] === '' ? '/' : m[2]
  return {authority: m[1], path: path.charCodeAt(0) === 47 ? path : '/' + path, host: m[1]}
}

function forward(side: Side, req: http.IncomingMessage, res: http.ServerResponse): void {
  const conn = connOf(req.socket)!
  const cfg = side.config
  if (req.rawHeaders.length > cfg.limits.maxHeaderCount * 2) {
    refuseInput(side, 'malformed_request')
    return sendError(res, new ProxyError('BAD_REQUEST', `more than ${cfg.limits.maxHeaderCount} headers`), 431)
  }
  let where
  try {
    where = requestTarget(req, conn)
  } catch (err) {
    refuseInput(side, 'malformed_request')
    return sendError(res, err as ProxyError)
  }
  const authority = normalizeAuthority(where.authority, 80)
  // The first request to an authority waits for its route policy (bounded), then goes on.
  const prep = side.prepare?.(authority, conn)
  if (prep) prep.then((p) => route(side, req, res, conn, where, authority, p)).catch((err: unknown) => crashed(side, res, err))
  else route(side, req, res, conn, where, authority, undefined)
}

/** The request once its route policy can be taken: the policy, the target, the exchange. */
function route(side: Side, req: http.IncomingMessage, res: http.ServerResponse, conn: ConnCtx, where: {authority: string, path: string, host?: string}, authority: string, prepared: Prepared): void {
  const method = req.method ?? 'GET'
  const policy = routePolicyOf(side, authority, method, where.path, req, policyOf(side, authority, where.path, method), conn)
  const meta: RequestMeta = {
    id: nextRequestId(), direction: side.direction, method, scheme: 'http', authority, path: where.path, route: policy.route,
    headers: req.headers, source: conn.source, destination: conn.destination, tls: conn.tls, dstLabels: conn.dstLabels,
    startMs: performance.now(), requestSeries: undefined, statusSeries: undefined,
  }
  if (policy.routeKind !== undefined) {
    meta.routeKind = policy.routeKind
    meta.backend = policy.backend
  }
  let t: Target | Promise<Target>
  try {
    if ('refusal' in policy) throw policy.refusal
    t = targetFor(side, policy, authority, conn, prepared)
  } catch (err) {
    side.observer?.requestInit(meta)
    return fail(side, res, meta, err)
  }
  if (t instanceof Promise) {
    t.then((target) => begin(side, req, res, meta, policy, target, where), (err: unknown) => {
      side.observer?.requestInit(meta)
      fail(side, res, meta, err)
    }).catch((err: unknown) => crashed(side, res, err))
  } else {
    begin(side, req, res, meta, policy, t, where)
  }
}

/** Picks the endpoint, plans the attempts (retries only outbound), and starts the exchange. */
function begin(side: Side, req: http.IncomingMessage, res: http.ServerResponse, meta: RequestMeta, policy: RoutePolicy, target: Target, where: {path: string, host?: string}): void {
  let ep: EndpointClient
  try {
    ep = target.pick()
  } catch (err) {
    side.observer?.requestInit(meta)
    return fail(side, res, meta, err)
  }
  if (side.direction === 'outbound') {
    meta.destination = ep.addr
    meta.tls = ep.tls
    meta.dstLabels = ep.labels
  }
  side.observer?.requestInit(meta)
  const retry = policy.retry
  // Retries are the outbound side's (retry-decision.ts), whatever a side's policy says.
  const retries = retryLimit(side, policy)
  const h = req.headers
  const chunked = h['transfer-encoding'] !== undefined
  const cl = h['content-length']
  // A body we can replay: none, or a declared length within the buffer limit (read whole
  // only when a retry is possible at all).
  const hasBody = chunked || (cl !== undefined && cl !== '0')
  const buffer = hasBody && !chunked && retries > 0 && Number(cl) <= retry.maxBodyBytes
  const streaming = hasBody && !buffer
  const forwarded = forwardHeaders(req.rawHeaders, h.connection, {host: where.host, keepTrailer: chunked})
  const headers = policy.requestHeaders ? modifyRawHeaders(forwarded, policy.requestHeaders) : forwarded
  // A chunked body goes on chunked (whatever the method), so its framing and trailers survive,
  // with its other codings (`gzip, chunked`): the parser removed only the chunking.
  // (Transfer-Encoding is hop-by-hop, so `headers` is already a copy here.)
  if (chunked) headers.push('Transfer-Encoding', String(h['transfer-encoding']))
  side.budget.deposit()
  const plan: ExchangePlan = {
    path: where.path, headers, streaming, body: null, retries,
    retryable: retry.retryable || isRetryableRequest(meta.method, h),
    statuses: retry.statuses, timeoutMs: policy.requestTimeoutMs, attemptTimeoutMs: policy.attemptTimeoutMs ?? 0,
    backoffMs: policy.retryBackoffMs ?? 0,
  }
  const ex = new Exchange(side, req, res, meta, target, ep, plan, (err) => fail(side, res, meta, err))
  if (!buffer) return ex.start()
  readBody(req, (body) => {
    plan.body = body
    ex.start()
  })
}

function fail(side: Side, res: http.ServerResponse, meta: RequestMeta, err: unknown): void {
  const e = err instanceof ProxyError ? err : upstreamError(err, meta.authority)
  side.log.debug('request failed', {id: meta.id, authority: meta.authority, code: e.code, error: e.message})
  requestFailed(side.observer, meta, e)
  sendError(res, e)
  side.observer?.responseInit(meta, e.status)
  side.observer?.responseEnd(meta, {status: e.status, responseBytes: 0})
}

export function sendError(res: http.ServerResponse, err: ProxyError, status = err.status): void {
  if (res.headersSent || res.destroyed) {
    res.destroy()
    return
  }
  const text = err.message.replace(/[^\x20-\x7e]/g, '?')
  const body = text + '\n'
  // After a malformed request the connection's framing cannot be trusted: close it. (A request
  // refused by authorization was well-formed: the connection carries on, its body discarded.)
  if (status < 500 && err.code !== 'FORBIDDEN') res.shouldKeepAlive = false
  res.writeHead(status, {'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body), [PROXY_ERROR_HEADER]: text})
  res.end(body)
}
