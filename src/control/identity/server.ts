// The identity service: HTTPS on :8080, `POST /certify` with JSON {identity, csr, token};
// answers 200 {certificate, chain, validUntil} or an error {error: {code, message}} with the
// status CERTIFY_ERROR_STATUS gives. `GET /ready` is 200 once an issuer is loaded.
import {readBoundedBody} from '../../lib/http-body.js'
import https from 'node:https'
import type {IncomingMessage, ServerResponse} from 'node:http'
import type {AddressInfo} from 'node:net'
import {CERTIFY_ERROR_STATUS, CERTIFY_MAX_BODY, CERTIFY_PATH, type CertifyErrorBody, type CertifyErrorCode} from '../../protocol/identity.js'
import {certify, CertifyFailure, parseCertifyRequest, type CertifyDeps} from './certify.js'
import type {ServingCert} from './serving-cert.js'

export interface IdentityServerOptions extends CertifyDeps {
  host?: string
  port?: number
  serving: ServingCert
}

export interface RunningServer {
  port: number
  close(): Promise<void>
}

class BodyError extends CertifyFailure {}

async function readBody(req: IncomingMessage, max: number): Promise<string> {
  const body = await readBoundedBody(req, max)
  if (body === undefined) throw new BodyError('TOO_LARGE', `the request body is larger than ${max} bytes`)
  return body.toString('utf8')
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  res.writeHead(status, {'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store'})
  res.end(text)
}

function sendError(res: ServerResponse, code: CertifyErrorCode, message: string): void {
  const body: CertifyErrorBody = {error: {code, message}}
  send(res, CERTIFY_ERROR_STATUS[code], body)
}

export async function startIdentityServer(opts: IdentityServerOptions): Promise<RunningServer> {
  const log = opts.log
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'https://identity')
    if (url.pathname === '/ready' || url.pathname === '/live') {
      const ok = url.pathname === '/live' || opts.issuer.current() !== undefined
      send(res, ok ? 200 : 503, {ok})
      return
    }
    if (url.pathname !== CERTIFY_PATH) {
      sendError(res, 'BAD_REQUEST', `no such path ${url.pathname}; use POST ${CERTIFY_PATH}`)
      return
    }
    if (req.method !== 'POST') {
      res.setHeader('allow', 'POST')
      sendError(res, 'BAD_REQUEST', `${req.method} is not allowed on ${CERTIFY_PATH}; use POST`)
      return
    }
    try {
      const text = await readBody(req, CERTIFY_MAX_BODY)
      let json: unknown
      try {
        json = JSON.parse(text)
      } catch {
        throw new CertifyFailure('BAD_REQUEST', 'the body is not valid JSON')
      }
      const answer = await certify(opts, parseCertifyRequest(json))
      send(res, 200, answer)
    } catch (err) {
      if (err instanceof CertifyFailure) {
        log.info('certify refused', {code: err.code, reason: err.message, peer: req.socket.remoteAddress})
        sendError(res, err.code, err.message)
        return
      }
      log.error('certify failed', {error: (err as Error).message})
      sendError(res, 'INTERNAL', 'internal error while signing; see the identity service log')
    }
  }
  const server = https.createServer({...opts.serving.tlsOptions(), requestTimeout: 15_000, headersTimeout: 10_000}, (req, res) => {
    void handle(req, res)
  })
  server.maxHeadersCount = 50
  server.on('tlsClientError', () => {})
  const unsubscribe = opts.serving.onRenew((o) => server.setSecureContext(o))
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(opts.port ?? 8080, opts.host ?? '0.0.0.0', () => {
      server.off('error', reject)
      resolve()
    })
  })
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        unsubscribe()
        server.close(() => resolve())
        server.closeIdleConnections()
      }),
  }
}
