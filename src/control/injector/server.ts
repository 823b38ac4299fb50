// The webhook's HTTPS server: POST /inject with an AdmissionReview v1, JSON in and out. Every
// input is bounded: body size, header size, request and idle time, connections.
import {readBoundedBody} from '../../lib/http-body.js'
import https from 'node:https'
import type {IncomingMessage, ServerResponse} from 'node:http'
import type {AddressInfo} from 'node:net'
import type {SecureContextOptions} from 'node:tls'
import {BadReview, parseReview, review, reviewEnvelope, type ReviewDeps} from './review.js'

export const INJECT_PATH = '/inject'
/** The API server caps a request at 3 MiB; a Pod in an AdmissionReview fits well within 4. */
export const MAX_BODY_BYTES = 4 * 1024 * 1024

export interface InjectorServerOptions {
  tls: SecureContextOptions
  host?: string
  port?: number
  deps: ReviewDeps
  maxConnections?: number
}

export interface InjectorServer {
  port: number
  server: https.Server
  updateTls(tls: SecureContextOptions): void
  close(): Promise<void>
}

function send(res: ServerResponse, status: number, body: object | string): void {
  const text = typeof body === 'string' ? body + '\n' : JSON.stringify(body)
  res.writeHead(status, {'content-type': typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json', 'content-length': Buffer.byteLength(text)})
  res.end(text)
}

async function handle(req: IncomingMessage, res: ServerResponse, deps: ReviewDeps): Promise<void> {
  const path = (req.url ?? '').split('?')[0]
  if (path !== INJECT_PATH) return send(res, 404, `not found: the injector serves POST ${INJECT_PATH}`)
  if (req.method !== 'POST') return send(res, 405, `method ${req.method} not allowed: POST an AdmissionReview`)
  const body = await readBoundedBody(req, MAX_BODY_BYTES)
  if (body === undefined) {
    deps.metrics.requests.labels('bad_request').inc()
    deps.metrics.failures.labels('request').inc()
    deps.log.warn('admission review too large; refused (the API server applies the webhook\'s failurePolicy: Ignore admits the pod without a sidecar, Fail (--ha) refuses it)', {limit: MAX_BODY_BYTES})
    return send(res, 413, `body larger than ${MAX_BODY_BYTES} bytes`)
  }
  let request
  try {
    request = parseReview(JSON.parse(body.toString('utf8')))
  } catch (error) {
    const message = error instanceof BadReview ? error.message : `the body is not JSON: ${(error as Error).message}`
    deps.metrics.requests.labels('bad_request').inc()
    deps.metrics.failures.labels('request').inc()
    deps.log.warn('bad admission review', {error: message})
    return send(res, 400, message)
  }
  send(res, 200, reviewEnvelope(await review(request, deps)))
}

export function startInjectorServer(opts: InjectorServerOptions): Promise<InjectorServer> {
  const server = https.createServer({
    ...opts.tls,
    minVersion: 'TLSv1.2',
    maxHeaderSize: 16 * 1024,
    requestTimeout: 15_000,
    headersTimeout: 10_000,
    keepAliveTimeout: 30_000,
  })
  server.maxConnections = opts.maxConnections ?? 512
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    handle(req, res, opts.deps).catch((error: unknown) => {
      opts.deps.log.error('injector request failed', {error: (error as Error).message})
      if (!res.headersSent) send(res, 500, 'internal error')
      else res.destroy()
    })
  })
  server.on('tlsClientError', (err) => opts.deps.log.debug('TLS handshake failed', {error: err.message}))
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(opts.port ?? 0, opts.host ?? '0.0.0.0', () => {
      server.off('error', reject)
      resolve({
        port: (server.address() as AddressInfo).port,
        server,
        updateTls: (tls) => server.setSecureContext({...tls, minVersion: 'TLSv1.2'}),
        close: () =>
          new Promise<void>((r) => {
            server.close(() => r())
            server.closeAllConnections()
          }),
      })
    })
  })
}
