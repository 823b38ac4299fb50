// The controller's own admin server (plain HTTP, ControlPlanePorts.admin): what the kubelet and
// Prometheus ask of the control plane.
//   GET /live     200 while the process answers (the liveness probe)
//   GET /ready    200 once every component started and the issuer is loaded, else 503 and why
//                 (the readiness probe: a replica not ready gets no proxy connections)
//   GET /metrics  the controller's registry: process metrics, build info, the injector's counters,
//                 the destination service's refusals (mesh_destination_refused_total{reason})
// Read-only and secret-free, so it answers any peer. Bounded: 8 KiB of headers, 5 s for them,
// 10 s a request, no body read, at most 64 connections; anything else is 404/405.
import http from 'node:http'
import type {AddressInfo, Socket} from 'node:net'
import {CONTENT_TYPE, type Registry} from '../metrics/index.js'
import type {Logger} from './logger.js'

export const ADMIN_MAX_CONNECTIONS = 64

export interface ControllerAdminOptions {
  host: string
  port: number
  registry: Registry
  /** Undefined when ready, else why not. */
  notReady: () => string | undefined
  log: Logger
}

export interface ControllerAdmin {
  port: number
  close(): Promise<void>
}

export async function startControllerAdmin(o: ControllerAdminOptions): Promise<ControllerAdmin> {
  const server = http.createServer({maxHeaderSize: 8 * 1024, headersTimeout: 5_000, requestTimeout: 10_000, connectionsCheckingInterval: 1_000}, (req, res) => {
    const path = (req.url ?? '/').split('?')[0]
    const send = (status: number, body: string, type = 'text/plain; charset=utf-8') => {
      res.writeHead(status, {'content-type': type, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store'})
      res.end(req.method === 'HEAD' ? undefined : body)
    }
    if (path !== '/live' && path !== '/ready' && path !== '/metrics') return send(404, 'not found: /live, /ready and /metrics are served\n')
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD')
      return send(405, `method ${req.method} not allowed\n`)
    }
    if (path === '/live') return send(200, 'live\n')
    if (path === '/ready') {
      const why = o.notReady()
      return why === undefined ? send(200, 'ready\n') : send(503, `not ready: ${why}\n`)
    }
    return send(200, o.registry.metrics(), CONTENT_TYPE)
  })
  server.maxConnections = ADMIN_MAX_CONNECTIONS
  const sockets = new Set<Socket>()
  server.on('connection', (s) => {
    sockets.add(s)
    s.once('close', () => sockets.delete(s))
  })
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout' : '400 Bad Request'
    if (socket.writable) socket.end(`HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`)
    else socket.destroy()
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(o.port, o.host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const port = (server.address() as AddressInfo).port
  o.log.debug('admin server listening', {host: o.host, port})
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy()
        server.close(() => resolve())
      }),
  }
}
