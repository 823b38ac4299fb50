// The proxy's admin server (:4191): /metrics, /ready, /live, POST /shutdown and
// GET/PUT /proxy-log-level, the last two from loopback peers only. Bounded: header size,
// request and header timeouts, a body cap on PUT, a connection cap.
import {readBoundedBody} from '../../lib/http-body.js'
import {createServer, type IncomingMessage, type ServerResponse} from '../core/node-http.js'
import type {AddressInfo} from 'node:net'
import {gzipSync} from 'node:zlib'
import {CONTENT_TYPE} from '../../metrics/format.js'
import type {Registry} from '../../metrics/registry.js'
import {isLoopback, type ListenAddr, parseListenAddr} from './listen-addr.js'

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
  maxConnections?: number
}

export interface AdminServer {
  address: {host: string; port: number}
  url: string
  close(): Promise<void>
}

const MAX_HEADER_BYTES = 8 * 1024
const MAX_BODY_BYTES = 1024
const TEXT = 'text/plain; charset=utf-8'

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

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0]
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
      case '/proxy-log-level':
        if (!localOnly(req, res) || !allow(req, res, ['GET', 'PUT'])) return
        if (method === 'GET') {
          reply(res, 200, `${options.getLogLevel()}\n`)
          return
        }
        {
          const body = (await readBoundedBody(req, MAX_BODY_BYTES))?.toString('utf8')
          if (body === undefined) {
            reply(res, 413, `log level body larger than ${MAX_BODY_BYTES} bytes\n`, {connection: 'close'})
            return
          }
          const level = body.trim()
          try {
            options.setLogLevel(level)
          } catch (err) {
            reply(res, 400, `invalid log level ${JSON.stringify(level.slice(0, 64))}: ${(err as Error).message}\n`)
            return
          }
          res.writeHead(204).end()
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
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}

function reply(res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, {'content-type': TEXT, 'content-length': Buffer.byteLength(body), ...headers})
  res.end(body)
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
