// The tap server (:8089): the CLI's one door to live traffic and to stat. HTTP(S) with JSON
// answers for /v1/stat, /v1/edges and /v1/authz, a WebSocket for /v1/tap. Every request is authorized
// first (Authorizer); bounded: headers, timeouts, concurrent streams, and a slow reader's
// buffer (events are dropped, and counted, rather than queued without end).
import {createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse} from 'node:http'
import {createServer as createHttpsServer, type Server as HttpsServer} from 'node:https'
import type {SecureContextOptions} from 'node:tls'
import type {AddressInfo, Socket} from 'node:net'
import {WebSocketServer, type WebSocket} from 'ws'
import type {Identity} from '../../proxy/core/contracts.js'
import type {Logger} from '../logger.js'
import {TapApi, type ApiErrorBody, type TapStreamMessage} from './api.js'
import {AccessDenied, type AccessCheck, type Authorizer} from './auth.js'
import type {PodLookup} from './enrich.js'
import {MetricsStore} from './metrics-store.js'
import {BadQuery, filterParam, optionalTarget, requestQuery, resourceParam, scopeParam, windowParam} from './query.js'
import {TapSession} from './session.js'
import {edgesQuery, routeStatQuery, statQuery} from './stat-service.js'
import {authorityOnlyView} from './service-view.js'
import {authzQuery, type AuthzView} from './authz-service.js'
import {TargetNotFoundError, type ServiceView, type TargetResolver} from './types.js'

export interface TapServerOptions {
  host?: string
  port?: number
  resolver: TargetResolver
  authorizer: Authorizer
  /** The controller's identity: proxies' tap ports are reached over mTLS with it. */
  identity?: Identity
  /** Serve HTTPS (in a cluster the API server's service proxy speaks https to us). */
  tls?: SecureContextOptions
  lookup?: PodLookup
  store?: MetricsStore
  log?: Logger
  maxStreams?: number
  /** Bytes a slow CLI may have waiting before events are dropped (default 4 MiB). */
  maxBufferedBytes?: number
  refreshMs?: number
  /** The controller's authorization policy, for /v1/authz (absent: no policy is shown, only the metrics). */
  authz?: () => AuthzView | undefined
  /** Services and their routes (`mesh stat --routes`); default: Service names alone, no routes listed without traffic. */
  services?: ServiceView
}

export interface RunningTapServer {
  port: number
  url: string
  /** Swaps the serving certificate (renewals); new connections get it. */
  setTls(o: SecureContextOptions): void
  close(): Promise<void>
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  res.writeHead(status, {'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store'})
  res.end(text)
}

function errorBody(err: unknown): {status: number; body: ApiErrorBody} {
  if (err instanceof AccessDenied) return {status: err.status, body: {error: {code: err.code, message: err.message, suggestions: err.suggestions}}}
  if (err instanceof BadQuery) return {status: 400, body: {error: {code: err.code, message: err.message}}}
  if (err instanceof TargetNotFoundError) {
    return {status: 404, body: {error: {code: err.code, message: err.message, suggestions: ['List what exists with `kubectl get` (or `mesh demo status` locally), or pass -n <namespace>.']}}}
  }
  return {status: 500, body: {error: {code: 'MESH_TAP_INTERNAL', message: (err as Error)?.message ?? String(err)}}}
}

/** What `--routes` can answer: routes attach to Services, so --to names one and --from asks about one. */
function checkRouteStat(req: {resource: {kind: string}; to?: {resource: {kind: string; name?: string}}; from?: unknown}): void {
  if (req.to && (req.to.resource.kind !== 'service' || !req.to.resource.name)) throw new BadQuery('with routes, to must name a Service (svc/<name>): routes attach to Services')
  if (req.from && req.resource.kind !== 'service') throw new BadQuery('with routes, from needs a Service as the resource (svc/<name>): it names the callers of that Service')
}

export async function startTapServer(opts: TapServerOptions): Promise<RunningTapServer> {
  const store = opts.store ?? new MetricsStore()
  const services = opts.services ?? authorityOnlyView()
  store.start()
  const maxStreams = opts.maxStreams ?? 64
  const maxBuffered = opts.maxBufferedBytes ?? 4 * 1024 * 1024
  const sessions = new Set<TapSession>()
  const wss = new WebSocketServer({noServer: true, maxPayload: 1024, perMessageDeflate: false})

  const check = (q: URLSearchParams, verb: AccessCheck['verb'], subresource: string): AccessCheck => {
    const resource = resourceParam(q)
    const scope = scopeParam(q)
    return {verb, subresource, resource, namespace: scope.allNamespaces ? '' : scope.namespace}
  }

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://tap')
    if (req.method !== 'GET') return sendJson(res, 405, {error: {code: 'MESH_TAP_METHOD', message: 'only GET is served'}})
    const {query, params: q} = requestQuery(req, url)
    const target = {method: 'GET', path: url.pathname, query}
    switch (url.pathname) {
      case TapApi.ready:
        return sendJson(res, 200, {ready: true})
      case TapApi.stat: {
        const c = check(q, 'get', 'stat')
        await opts.authorizer.authorize(req, c, target)
        const scope = scopeParam(q)
        const sreq = {
          resource: c.resource,
          scope,
          windowMs: windowParam(q),
          to: optionalTarget(q, 'to', 'toNamespace', scope),
          from: optionalTarget(q, 'from', 'fromNamespace', scope),
        }
        if (q.get('routes') === 'true') {
          checkRouteStat(sreq)
          return sendJson(res, 200, await routeStatQuery(opts.resolver, store, services, sreq))
        }
        return sendJson(res, 200, await statQuery(opts.resolver, store, sreq))
      }
      case TapApi.edges: {
        const c = check(q, 'get', 'edges')
        await opts.authorizer.authorize(req, c, target)
        return sendJson(res, 200, await edgesQuery(opts.resolver, store, c.resource, scopeParam(q)))
      }
      case TapApi.authz: {
        const c = check(q, 'get', 'authz')
        await opts.authorizer.authorize(req, c, target)
        return sendJson(res, 200, await authzQuery(opts.resolver, store, opts.authz?.(), c.resource, scopeParam(q)))
      }
      case TapApi.routes: {
        const c = check(q, 'get', 'routes')
        if (c.resource.kind !== 'service' || !c.resource.name) throw new BadQuery('resource must name a Service (svc/<name>): routes attach to Services')
        await opts.authorizer.authorize(req, c, target)
        const report = services.routesReport?.(scopeParam(q).namespace, c.resource.name)
        if (!services.routesReport) return sendJson(res, 501, {error: {code: 'MESH_TAP_NO_ROUTES', message: 'this tap server has no view of the routes: ask the API server (kubectl get httproutes, mesh routes with a kubeconfig)'}})
        if (!report) throw new TargetNotFoundError(c.resource, scopeParam(q).namespace)
        return sendJson(res, 200, report)
      }
      case TapApi.tap:
        return sendJson(res, 426, {error: {code: 'MESH_TAP_UPGRADE', message: 'tap is a WebSocket: connect with `mesh tap`'}})
      default:
        return sendJson(res, 404, {error: {code: 'MESH_TAP_NOT_FOUND', message: `no such path ${url.pathname.slice(0, 100)}`}})
    }
  }

  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    handle(req, res).catch((err: unknown) => {
      const {status, body} = errorBody(err)
      if (status >= 500) opts.log?.warn('tap server request failed', {path: req.url?.slice(0, 200), error: body.error.message})
      if (!res.headersSent) sendJson(res, status, body)
      else res.destroy()
    })
  }

  const serverOpts = {maxHeaderSize: 16 * 1024, headersTimeout: 10_000, requestTimeout: 60_000, connectionsCheckingInterval: 1_000}
  const server: Server = opts.tls ? createHttpsServer({...serverOpts, ...opts.tls}, onRequest) : createHttpServer(serverOpts, onRequest)
  server.maxConnections = maxStreams * 2 + 64

  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    socket.on('error', () => socket.destroy())
    const deny = (status: number, body: ApiErrorBody): void => {
      const text = JSON.stringify(body)
      socket.end(`HTTP/1.1 ${status} Error\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(text)}\r\nconnection: close\r\n\r\n${text}`)
    }
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://tap')
      if (url.pathname !== TapApi.tap) return deny(404, {error: {code: 'MESH_TAP_NOT_FOUND', message: `no stream at ${url.pathname.slice(0, 100)}`}})
      if (sessions.size >= maxStreams) return deny(503, {error: {code: 'MESH_TAP_BUSY', message: `too many tap streams (at most ${maxStreams})`}})
      const {query, params: q} = requestQuery(req, url)
      const c = check(q, 'watch', 'tap')
      const scope = scopeParam(q)
      const filter = filterParam(q)
      const to = optionalTarget(q, 'to', 'toNamespace', scope)
      const caller = await opts.authorizer.authorize(req, c, {method: 'GET', path: url.pathname, query})
      // Resolve before upgrading, so a wrong target is an HTTP error the CLI can show.
      let ws: WebSocket | undefined
      let dropped = 0
      const send = (msg: TapStreamMessage): void => {
        if (!ws || ws.readyState !== ws.OPEN) return
        if (ws.bufferedAmount > maxBuffered && msg.type === 'event') {
          dropped++
          return
        }
        ws.send(JSON.stringify(msg))
        if (msg.type === 'end') ws.close(1000, 'end')
      }
      const pending: TapStreamMessage[] = []
      const session = new TapSession({
        resolver: opts.resolver, resource: c.resource, scope, filter, to, identity: opts.identity, lookup: opts.lookup, refreshMs: opts.refreshMs, metrics: store,
        send: (m) => (ws ? send(m) : void pending.push(m)),
      })
      await session.start()
      sessions.add(session)
      socket.once('close', () => {
        if (ws) return
        session.close()
        sessions.delete(session)
      })
      wss.handleUpgrade(req, socket, head, (client) => {
        ws = client
        opts.log?.info('tap stream started', {user: caller.user, target: q.get('resource'), namespace: c.namespace})
        for (const m of pending.splice(0)) send(m)
        let alive = true
        client.on('pong', () => (alive = true))
        const beat = setInterval(() => {
          if (!alive) return client.terminate()
          alive = false
          client.ping()
        }, 30_000)
        beat.unref()
        client.on('error', () => client.terminate())
        client.on('close', () => {
          clearInterval(beat)
          session.close()
          sessions.delete(session)
          opts.log?.info('tap stream ended', {user: caller.user, target: q.get('resource'), dropped})
        })
      })
    })().catch((err: unknown) => {
      const {status, body} = errorBody(err)
      deny(status, body)
    })
  })

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => {
      server.off('error', reject)
      resolve()
    })
  })
  const addr = server.address() as AddressInfo
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address
  return {
    port: addr.port,
    url: `${opts.tls ? 'https' : 'http'}://${host}:${addr.port}`,
    setTls: (o) => {
      if (opts.tls) (server as HttpsServer).setSecureContext(o)
    },
    close: () =>
      new Promise<void>((resolve) => {
        store.stop()
        for (const s of sessions) s.close()
        sessions.clear()
        for (const c of wss.clients) c.terminate()
        wss.close()
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
