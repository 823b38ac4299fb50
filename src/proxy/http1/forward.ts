// HTTP/1 forwarding: one request in, one request out over the endpoint's keep-alive pool, with
// retries (bodies up to 64 KiB buffered, bounded by the retry budget), a request timeout, and
// failures answered by the proxy itself with the `mesh-proxy-error` header.
import http from 'node:http'
import {normalizeAuthority} from '../config.js'
import {connOf, type ConnCtx} from '../conn.js'
import type {EndpointClient} from '../endpoint.js'
import {neverSent, PROXY_ERROR_HEADER, ProxyError, upstreamError} from '../errors.js'
import type {RequestMeta} from '../observe.js'
import type {Target} from '../outbound/router.js'
import {nextRequestId, type Side} from '../side.js'
import {forwardHeaders, isRetryableRequest} from './headers.js'

interface Attempt {
  up: http.ClientRequest
  res?: http.IncomingMessage
  err?: ProxyError
}

export function http1Handler(side: Side): (req: http.IncomingMessage, res: http.ServerResponse) => void {
  return (req, res) => {
    forward(side, req, res).catch((err: unknown) => {
      side.log.error('http/1 forwarding failed', {error: (err as Error).message})
      sendError(res, err instanceof ProxyError ? err : new ProxyError('UPSTREAM_RESET', String(err)))
    })
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

async function forward(side: Side, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const conn = connOf(req.socket)!
  const cfg = side.config
  const observer = side.observer
  if (req.rawHeaders.length > cfg.limits.maxHeaderCount * 2) {
    side.stats.malformedRequests++
    return sendError(res, new ProxyError('BAD_REQUEST', `more than ${cfg.limits.maxHeaderCount} headers`), 431)
  }
  let where
  try {
    where = requestTarget(req, conn)
  } catch (err) {
    side.stats.malformedRequests++
    return sendError(res, err as ProxyError)
  }
  const authority = normalizeAuthority(where.authority, 80)
  const method = req.method ?? 'GET'
  const meta: RequestMeta = {
    id: nextRequestId(), direction: side.direction, method, scheme: 'http', authority, path: where.path, route: '',
    headers: req.headers, source: conn.source, destination: conn.destination, tls: conn.tls, dstLabels: conn.dstLabels,
    startNs: process.hrtime.bigint(),
  }
  let target: Target
  let ep: EndpointClient
  try {
    const t = side.target(authority, conn)
    target = t instanceof Promise ? await t : t
    ep = target.pick()
  } catch (err) {
    observer?.requestInit(meta)
    return fail(side, res, meta, err)
  }
  if (side.direction === 'outbound') {
    meta.destination = ep.addr
    meta.tls = ep.tls
    meta.dstLabels = ep.labels
  }
  observer?.requestInit(meta)

  // A body we can replay: none, or a declared length within the buffer limit.
  const cl = req.headers['content-length']
  const chunked = req.headers['transfer-encoding'] !== undefined
  let body: Buffer | null = null
  let streaming = chunked
  if (!chunked && cl !== undefined && cl !== '0') {
    const n = Number(cl)
    if (cfg.retry.limit > 0 && n <= cfg.retry.maxBodyBytes) body = await readBody(req)
    else streaming = true
  }
  const headers = forwardHeaders(req.rawHeaders, req.headers.connection, false, where.host)
  const retryableStatus = !streaming && isRetryableRequest(method, req.headers)
  side.budget.deposit()

  let timedOut = false
  let current: http.ClientRequest | undefined
  const timer = cfg.requestTimeoutMs > 0
    ? setTimeout(() => { timedOut = true; current?.destroy() }, cfg.requestTimeoutMs)
    : undefined
  res.on('close', () => { if (!res.writableFinished) current?.destroy() })

  for (let attempt = 0; ; attempt++) {
    if (attempt > 0) {
      try {
        ep = target.pick()
      } catch (err) {
        clearTimeout(timer)
        return fail(side, res, meta, err)
      }
      if (side.direction === 'outbound') meta.destination = ep.addr
    }
    const started = ep.stats.start()
    const a = await send(ep, method, where.path, headers, streaming ? req : body, (up) => (current = up))
    if (timedOut) {
      ep.stats.end(started, false)
      a.res?.destroy()
      return fail(side, res, meta, new ProxyError('TIMEOUT', `no response from ${ep.key} within ${cfg.requestTimeoutMs}ms`))
    }
    const more = attempt < cfg.retry.limit && !res.destroyed
    if (a.res) {
      const status = a.res.statusCode ?? 502
      ep.stats.end(started, status < 500)
      if (more && retryableStatus && cfg.retry.statuses.includes(status) && withdraw(side)) {
        a.res.resume()
        continue
      }
      clearTimeout(timer)
      return relay(side, a, res, meta)
    }
    ep.stats.end(started, false)
    const err = a.err!
    const replayable = !streaming && (neverSent(err) || a.up.reusedSocket || retryableStatus)
    if (more && replayable && withdraw(side)) continue
    // A pooled connection the upstream closed while idle: one more try even with retries off
    // (the request died with the stale connection; Node's own agent leaves this to callers).
    if (attempt === 0 && !streaming && a.up.reusedSocket && !res.destroyed && withdraw(side)) continue
    clearTimeout(timer)
    return fail(side, res, meta, err)
  }
}

function withdraw(side: Side): boolean {
  if (side.budget.withdraw()) {
    side.stats.retries++
    return true
  }
  side.stats.retriesDenied++
  return false
}

function send(ep: EndpointClient, method: string, path: string, headers: string[], body: Buffer | null | http.IncomingMessage, started: (up: http.ClientRequest) => void): Promise<Attempt> {
  return new Promise((resolve) => {
    const up = http.request({host: ep.endpoint.host, port: ep.endpoint.port, method, path, headers: headers as unknown as http.OutgoingHttpHeaders, agent: ep.httpAgent(), setHost: false})
    started(up)
    up.on('response', (res) => resolve({up, res}))
    up.on('error', (e) => resolve({up, err: upstreamError(e, ep.key)}))
    if (body instanceof http.IncomingMessage) body.pipe(up)
    else up.end(body ?? undefined)
  })
}

function readBody(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)))
    req.on('error', reject)
  })
}

/** Streams the upstream response to the client, counting bytes for responseEnd. */
function relay(side: Side, a: Attempt, res: http.ServerResponse, meta: RequestMeta): void {
  const upRes = a.res!
  const status = upRes.statusCode ?? 502
  const observer = side.observer
  if (side.draining) res.shouldKeepAlive = false
  res.writeHead(status, upRes.statusMessage, forwardHeaders(upRes.rawHeaders, upRes.headers.connection) as unknown as http.OutgoingHttpHeaders)
  observer?.responseInit(meta, status)
  let bytes = 0
  let done = false
  const finish = (resetError?: string): void => {
    if (done) return
    done = true
    observer?.responseEnd(meta, resetError ? {status, responseBytes: bytes, resetError} : {status, responseBytes: bytes})
  }
  upRes.on('data', (chunk: Buffer) => {
    bytes += chunk.length
    if (!res.write(chunk)) {
      upRes.pause()
      res.once('drain', () => upRes.resume())
    }
  })
  upRes.on('end', () => {
    res.end()
    finish()
  })
  upRes.on('error', () => { res.destroy(); finish('upstream reset') })
  upRes.on('aborted', () => { res.destroy(); finish('upstream reset') })
  res.on('close', () => {
    if (!res.writableFinished) {
      a.up.destroy()
      finish('client reset')
    }
  })
}

function fail(side: Side, res: http.ServerResponse, meta: RequestMeta, err: unknown): void {
  const e = err instanceof ProxyError ? err : upstreamError(err, meta.authority)
  side.log.debug('request failed', {id: meta.id, authority: meta.authority, code: e.code, error: e.message})
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
  // After a malformed request the connection's framing cannot be trusted: close it.
  if (status < 500) res.shouldKeepAlive = false
  res.writeHead(status, {'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body), [PROXY_ERROR_HEADER]: text})
  res.end(body)
}
