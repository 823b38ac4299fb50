// The proxy's admin server (:4191): /metrics, /ready, /live, GET /identity, GET /errors,
// POST /shutdown and GET/PUT /proxy-log-level (timed with ?for=<seconds>), the last two from
// loopback peers only. Bounded: header size, request and header timeouts, a body cap on PUT, a
// connection cap, the size of what /identity and /errors answer. Nothing it serves is secret.
import {readBoundedBody} from '../../lib/http-body.js'
import {createServer, type IncomingMessage, type ServerResponse} from '../core/node-http.js'
import type {AddressInfo} from 'node:net'
import {gzipSync} from 'node:zlib'
import {CONTENT_TYPE} from '../../metrics/format.js'
import type {Registry} from '../../metrics/registry.js'
import {isLoopback, type ListenAddr, parseListenAddr} from './listen-addr.js'
import {ADMIN_ERRORS_PATH, ADMIN_IDENTITY_PATH, ADMIN_LOG_LEVEL_PATH, ERRORS_REPORT_MAX_BYTES, IDENTITY_REPORT_MAX_BYTES, LOG_LEVEL_UNTIL_HEADER, PROXY_IDENTITY_REPORT_VERSION, type ProxyErrorsReport, type ProxyIdentityReport} from '../../protocol/proxy-admin.js'
import {parseForSeconds, TimedLevel} from './log-level.js'

export interface AdminOptions {
  /** `host:port`, default 0.0.0.0:4191 (MESH_PROXY_ADMIN_LISTEN_ADDR). */
  listen: string | ListenAddr
  registry: Registry
  /** True once the proxy can serve (its identity certificate is held). */
  ready: () => boolean
  /** Called once, after the answer to POST /shutdown is sent. */
  onShutdown: () => void
  getLogLevel: () => string
  /** Throws (an Error with a message for the caller) when the level is not valid. */
  setLogLevel: (level: string) => void
  /** Told when a timed level ran out and the previous one was put back (the proxy logs it). */
  onLogLevelReverted?: (level: string, was: string) => void
  /** GET /identity; absent: the proxy runs without identity (`state: disabled`). */
  identityReport?: () => ProxyIdentityReport
  /** GET /errors: the recent failures (admin/errors.ts); absent: an empty list. */
  errors?: {report(peer?: string): ProxyErrorsReport}
  maxConnections?: number
}

export interface AdminServer {
  address: {host: string; port: number}
  url: string
  close(): Promise<void>
}

const MAX_HEADER_BYTES = 8 * 1024
const MAX_BODY_BYTES = 1024
/** Longest `?peer=` of GET /errors (an identity name, or an ip). */
const MAX_PEER_CHARS = 512
const TEXT = 'text/plain; charset=utf-8'
const JSON_TYPE = 'application/json'

/** The /identity answer of a proxy without identity. */
export function disabledIdentityReport(): ProxyIdentityReport {
  return {version: PROXY_IDENTITY_REPORT_VERSION, state: 'disabled', trustAnchors: [], certified: 0, failures: 0}
}

export async function startAdmin(options: AdminOptions): Promise<AdminServer> {
  const listen = parseListenAddr(options.listen, 'admin listen address')
  let shuttingDown = false
  const server = createServer(
    {maxHeaderSize: MAX_HEADER_BYTES, requestTimeout: 10_000, headersTimeout: 5_000, keepAliveTimeout: 5_000, connectionsCheckingInterval: 1_000},
    (req, res) => {
      handle(req, res).catch((err: unknown) => {
        if (!res.headersSent) reply(res, 500, `internal error: ${(err as Error).message}\n`)
        else res.destroy()
      })
    },
  )
  server.maxConnections = options.maxConnections ?? 256
  const level = new TimedLevel({get: options.getLogLevel, set: options.setLogLevel, reverted: options.onLogLevelReverted})

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? '/'
    const q = url.indexOf('?')
    const path = q < 0 ? url : url.slice(0, q)
    const query = q < 0 ? undefined : new URLSearchParams(url.slice(q + 1))
    const method = req.method ?? 'GET'
    switch (path) {
      case '/metrics': {
        if (!allow(req, res, ['GET', 'HEAD'])) return
        let body: Buffer = Buffer.from(options.registry.metrics())
        const headers: Record<string, string> = {'content-type': CONTENT_TYPE}
        if (/\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''))) {
          body = gzipSync(body)
          headers['content-encoding'] = 'gzip'
        }
        res.writeHead(200, {...headers, 'content-length': body.length})
        res.end(method === 'HEAD' ? undefined : body)
        return
      }
      case '/ready':
        if (!allow(req, res, ['GET', 'HEAD'])) return
        if (options.ready()) reply(res, 200, 'ready\n')
        else reply(res, 503, 'not ready\n')
        return
      case '/live':
        if (!allow(req, res, ['GET', 'HEAD'])) return
        reply(res, 200, 'live\n')
        return
      case '/shutdown':
        if (!localOnly(req, res) || !allow(req, res, ['POST'])) return
        reply(res, 200, 'shutdown\n')
        if (!shuttingDown) {
          shuttingDown = true
          res.once('finish', () => options.onShutdown())
        }
        return
      case ADMIN_IDENTITY_PATH:
        if (!allow(req, res, ['GET', 'HEAD'])) return
        json(res, method, (options.identityReport ?? disabledIdentityReport)(), IDENTITY_REPORT_MAX_BYTES)
        return
      case ADMIN_ERRORS_PATH: {
        if (!allow(req, res, ['GET', 'HEAD'])) return
        const peers = query?.getAll('peer') ?? []
        if (peers.length > 1 || (peers[0] !== undefined && (peers[0].length === 0 || peers[0].length > MAX_PEER_CHARS))) {
          reply(res, 400, `the parameter "peer" must be given at most once, 1 to ${MAX_PEER_CHARS} characters (an identity or an ip)\n`)
          return
        }
        json(res, method, options.errors?.report(peers[0]) ?? {version: 1, errors: []}, ERRORS_REPORT_MAX_BYTES)
        return
      }
      case ADMIN_LOG_LEVEL_PATH:
        if (!localOnly(req, res) || !allow(req, res, ['GET', 'PUT'])) return
        if (method === 'GET') {
          const until = level.until
          reply(res, 200, `${options.getLogLevel()}\n`, until ? {[LOG_LEVEL_UNTIL_HEADER]: until.toISOString()} : {})
          return
        }
        {
          let forSeconds: number | undefined
          if (query?.has('for')) {
            const parsed = parseForSeconds(query.getAll('for'))
            if (typeof parsed !== 'number') {
              req.resume()
              reply(res, 400, `${parsed.problem}\n`)
              return
            }
            forSeconds = parsed
          }
          const body = (await readBoundedBody(req, MAX_BODY_BYTES))?.toString('utf8')
          if (body === undefined) {
            reply(res, 413, `log level body larger than ${MAX_BODY_BYTES} bytes\n`, {connection: 'close'})
            return
          }
          const wanted = body.trim()
          let until: Date | undefined
          try {
            until = level.put(wanted, forSeconds)
          } catch (err) {
            reply(res, 400, `invalid log level ${JSON.stringify(wanted.slice(0, 64))}: ${(err as Error).message}\n`)
            return
          }
          if (until === undefined) res.writeHead(204).end()
          else reply(res, 200, `${wanted} until ${until.toISOString()}\n`, {[LOG_LEVEL_UNTIL_HEADER]: until.toISOString()})
        }
        return
      default:
        reply(res, 404, 'not found\n')
    }
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(listen.port, listen.host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const addr = server.address() as AddressInfo
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address
  return {
    address: {host: addr.address, port: addr.port},
    url: `http://${host}:${addr.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        level.cancel()
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}

function reply(res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, {'content-type': TEXT, 'content-length': Buffer.byteLength(body), ...headers})
  res.end(body)
}

/** A JSON answer of at most `max` bytes (a larger one is 500 naming the bound: it is a bug, never truncated). */
function json(res: ServerResponse, method: string, value: unknown, max: number): void {
  const body = Buffer.from(JSON.stringify(value))
  if (body.length > max) {
    reply(res, 500, `the answer is ${body.length} bytes, more than the ${max} this endpoint may send\n`)
    return
  }
  res.writeHead(200, {'content-type': JSON_TYPE, 'content-length': body.length, 'cache-control': 'no-store'})
  res.end(method === 'HEAD' ? undefined : body)
}

function allow(req: IncomingMessage, res: ServerResponse, methods: string[]): boolean {
  if (methods.includes(req.method ?? '')) return true
  reply(res, 405, `method ${req.method} not allowed; use ${methods.join(' or ')}\n`, {allow: methods.join(', ')})
  return false
}

function localOnly(req: IncomingMessage, res: ServerResponse): boolean {
  if (isLoopback(req.socket.remoteAddress)) return true
  reply(res, 403, 'forbidden: this endpoint only answers requests from localhost\n')
  return false
}
