// The destination service: WebSocket streams over TLS on :8086.
//   GET /v1/destinations?ns=<caller ns>  (Upgrade), then {type: 'watch', id, authority} and
//     {type: 'unwatch', id}: many streams on one connection, each message tagged with its id
//   GET /v1/destination?authority=web.shop.svc.cluster.local:80&ns=<caller ns>  (Upgrade): one
//     stream per connection
// TLS: the serving certificate comes from the issuer (named like the controller's identity).
// Client certificates are requested, not required: a proxy with identity presents its
// certificate, which must then chain to the trust anchors (else 403); a proxy running without
// identity may still read endpoints (they are not secret inside the cluster). See
// docs/architecture/destination.md.
import https from 'node:https'
import {STATUS_CODES, type IncomingMessage} from 'node:http'
import type {AddressInfo, Socket} from 'node:net'
import type {TLSSocket} from 'node:tls'
import {WebSocketServer, type WebSocket} from 'ws'
import {DESTINATION_MAX_AUTHORITY, DESTINATION_MAX_WATCHES, DESTINATION_PATH, DESTINATIONS_PATH, type DestinationErrorCode, type DestinationMessage, type DestinationRequest, type StreamMessage} from '../../protocol/destination.js'
import type {ServingCert} from '../identity/serving-cert.js'
import type {Registry as MetricsRegistry} from '../../metrics/registry.js'
import type {Logger} from '../logger.js'
import {PeerLimits, type DestinationRefusal} from './peer-limits.js'
import type {Registry} from './registry.js'
import {openStream, type Stream} from './stream.js'
import {ROUTE_POLICY_VERSION} from '../../protocol/routes.js'
import {RouteState} from '../routes/state.js'
import {openRouteStream, PolicyCache} from '../routes/stream.js'
import {TRUST_BUNDLE_VERSION, type TrustMessage} from '../../protocol/trust.js'
import {openTrustStream, type TrustSource} from '../identity/trust-stream.js'
import type {AuthzCompiler} from '../authz/stream.js'
import {openAuthzStream} from '../authz/stream.js'
import {AUTHZ_POLICY_VERSION} from '../../protocol/authz.js'

export interface DestinationServerOptions {
  registry: Registry
  /** Route policy served on `watchRoutes` streams (src/control/routes); without it every Service has none. */
  routes?: RouteState
  /** The trust bundle served on `watchTrust` streams (the identity component's issuer source); without it they are refused. */
  trust?: TrustSource
  /** Authorization policy served on `watchAuthz` streams (src/control/authz); without it such a watch is refused (UNAVAILABLE). */
  authz?: AuthzCompiler
  serving: ServingCert
  host?: string
  port?: number
  clusterDomain?: string
  /** Most concurrent streams, of both kinds together (default 100,000). */
  maxStreams?: number
  /** Connections one client (identity and address, or address alone) may hold (default 4). */
  maxConnectionsPerPeer?: number
  /** Watches one client may hold over all its connections (default 2,000). */
  maxWatchesPerPeer?: number
  /** Each loopback connection counts as its own client (default true: local mode, where every proxy is on 127.0.0.1). */
  loopbackPerConnection?: boolean
  /** Where mesh_destination_refused_total{reason} is kept, when given. */
  metrics?: MetricsRegistry
  /** Ping interval to find dead peers (default 30 s). */
  pingIntervalMs?: number
  /**
   * Bytes queued for a peer that does not read, past which its connection is dropped (default
   * 8 MiB): it reconnects and gets the full state then, instead of the controller holding an
   * ever longer backlog of changes for it.
   */
  maxBufferedBytes?: number
  log: Logger
}

export interface DestinationServer {
  port: number
  /** Streams open (on either path). */
  streams(): number
  /** WebSocket connections open. */
  connections(): number
  /** Refusals by a bound, by reason. */
  refused(): Record<DestinationRefusal, number>
  close(): Promise<void>
}

function reject(socket: Socket, status: number, reason: string): void {
  const body = JSON.stringify({error: reason})
  socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Refused'}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`)
}

/**
 * The identity a verified client certificate proves: its one DNS SAN (the identity service
 * issues exactly one). Anything else (several names, an IP or URI SAN) proves no identity.
 */
export function peerIdentity(subjectaltname: string | undefined): string | undefined {
  const names = (subjectaltname ?? '').split(',').map((s) => s.trim()).filter(Boolean)
  if (names.length !== 1 || !names[0]!.startsWith('DNS:')) return undefined
  return names[0]!.slice(4)
}

export async function startDestinationServer(o: DestinationServerOptions): Promise<DestinationServer> {
  const log = o.log
  const clusterDomain = o.clusterDomain ?? 'cluster.local'
  const maxStreams = o.maxStreams ?? 100_000
  const limits = new PeerLimits({maxConnectionsPerPeer: o.maxConnectionsPerPeer, maxWatchesPerPeer: o.maxWatchesPerPeer, loopbackPerConnection: o.loopbackPerConnection, log, registry: o.metrics})
  const server = https.createServer({...o.serving.tlsOptions(), requestCert: true, rejectUnauthorized: false}, (_req, res) => {
    const ok = _req.url === '/ready' || _req.url === '/live'
    res.writeHead(ok ? 200 : 404, {'content-type': 'application/json'})
    res.end(JSON.stringify(ok ? {ok: true} : {error: `use GET ${DESTINATIONS_PATH} with a WebSocket upgrade`}))
  })
  server.on('tlsClientError', () => {})
  const unsubscribe = o.serving.onRenew((opts) => server.setSecureContext(opts))
  const wss = new WebSocketServer({noServer: true, maxPayload: 4096, perMessageDeflate: false})
  const alive = new WeakMap<WebSocket, boolean>()
  /** Streams open on DESTINATIONS_PATH connections (each DESTINATION_PATH connection is one more). */
  let watches = 0
  let single = 0
  const streams = (): number => watches + single

  const maxBuffered = o.maxBufferedBytes ?? 8 * 1024 * 1024
  const policies = new PolicyCache(o.registry, o.routes ?? new RouteState(), clusterDomain)

  const open = (authority: string, ns: string | undefined, send: (msg: DestinationMessage) => void, end: () => void): Stream | undefined =>
    openStream({authority, callerNamespace: ns, clusterDomain, registry: o.registry, send, end})

  /** Sends `text` unless the peer has stopped reading: then its connection goes. */
  const deliver = (ws: WebSocket, text: string, client: string | undefined): void => {
    if (ws.readyState !== ws.OPEN) return
    if (ws.bufferedAmount > maxBuffered) {
      log.warn('a destination client is not reading; dropping its connection (it reconnects and gets the full state)', {client, bufferedBytes: ws.bufferedAmount})
      ws.terminate()
      return
    }
    ws.send(text)
  }

  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    const url = new URL(req.url ?? '/', 'https://destination')
    const many = url.pathname === DESTINATIONS_PATH
    if (!many && url.pathname !== DESTINATION_PATH) return reject(socket, 404, `no such path ${url.pathname}; use ${DESTINATIONS_PATH}`)
    const authority = url.searchParams.get('authority') ?? ''
    if (!many && (!authority || authority.length > DESTINATION_MAX_AUTHORITY)) return reject(socket, 400, `the query parameter authority is required (at most ${DESTINATION_MAX_AUTHORITY} characters)`)
    const tlsSocket = socket as TLSSocket
    const peer = tlsSocket.getPeerCertificate?.()
    const presented = peer && Object.keys(peer).length > 0
    if (presented && !tlsSocket.authorized) return reject(socket, 403, `client certificate refused: ${String(tlsSocket.authorizationError)}`)
    const client = presented ? peerIdentity(peer.subjectaltname) : undefined
    const who = limits.key(client, socket.remoteAddress, socket.remotePort)
    if (streams() >= maxStreams) {
      limits.refuse('total_streams', who)
      return reject(socket, 503, 'too many streams')
    }
    if (!limits.connect(who)) return reject(socket, 429, `too many connections from this client (at most ${limits.maxConnections})`)
    if (!many && !limits.watch(who)) {
      limits.disconnect(who)
      return reject(socket, 429, `too many streams from this client (at most ${limits.maxWatches})`)
    }
    const ns = url.searchParams.get('ns') ?? undefined
    // (the upgrade may fail: the socket then closes without a 'close' of the WebSocket)
    let released = false
    const release = (): void => {
      if (released) return
      released = true
      if (!many) limits.unwatch(who)
      limits.disconnect(who)
    }
    socket.once('close', release)
    wss.handleUpgrade(req, socket, head, (ws) => {
      alive.set(ws, true)
      ws.on('pong', () => alive.set(ws, true))
      ws.on('error', () => {})
      if (many) return serveWatches(ws, ns, client, who)
      single++
      const stream = open(authority, ns, (msg) => deliver(ws, JSON.stringify(msg), client), () => ws.close(1000, 'done'))
      log.debug('stream opened', {authority, client, watching: stream?.canonical})
      ws.on('close', () => {
        single--
        stream?.close()
      })
      ws.on('message', () => {
        // Clients send nothing here; anything they do send is ignored (and bounded by maxPayload).
      })
    })
  })

  /** Many streams on one connection: watch / unwatch requests; each message tagged with its stream's id. */
  const serveWatches = (ws: WebSocket, ns: string | undefined, client: string | undefined, who: string): void => {
    // id -> its stream (null while openStream runs: it may end the stream before returning)
    const mine = new Map<number, Stream | null>()
    const send = (id: number, msg: DestinationMessage | TrustMessage): void => deliver(ws, JSON.stringify({...msg, id} satisfies StreamMessage), client)
    const forget = (id: number): void => {
      if (!mine.delete(id)) return
      watches--
      limits.unwatch(who)
    }
    const refuse = (id: number, code: DestinationErrorCode, message: string): void => send(id, {type: 'error', code, message})
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      let r: DestinationRequest
      try {
        r = JSON.parse(isBinary ? '' : data.toString('utf8')) as DestinationRequest
      } catch {
        return ws.close(1003, 'requests are JSON text messages')
      }
      const id = r?.id
      if (!Number.isSafeInteger(id) || id <= 0) return ws.close(1003, 'a request needs an id, a positive integer')
      if (r.type === 'unwatch') {
        mine.get(id)?.close()
        return forget(id)
      }
      if (r.type !== 'watch' && r.type !== 'watchRoutes' && r.type !== 'watchAuthz' && r.type !== 'watchTrust') return refuse(id, 'BAD_REQUEST', `unknown request type ${JSON.stringify(String((r as {type?: unknown}).type).slice(0, 40))}; use watch, watchRoutes, watchAuthz, watchTrust or unwatch`)
      if (mine.has(id)) return refuse(id, 'BAD_REQUEST', `stream ${id} is open already; unwatch it first or use another id`)
      // watchAuthz names a pod and watchTrust nothing: only watch and watchRoutes carry an authority.
      const named = r.type === 'watch' || r.type === 'watchRoutes'
      const authority = (r.type === 'watch' || r.type === 'watchRoutes') && typeof r.authority === 'string' ? r.authority : ''
      if (named && (!authority || authority.length > DESTINATION_MAX_AUTHORITY)) return refuse(id, 'BAD_REQUEST', `a watch needs an authority of at most ${DESTINATION_MAX_AUTHORITY} characters`)
      if (mine.size >= DESTINATION_MAX_WATCHES || streams() >= maxStreams) {
        limits.refuse(mine.size >= DESTINATION_MAX_WATCHES ? 'connection_watches' : 'total_streams', who)
        return refuse(id, 'UNAVAILABLE', `too many streams (${DESTINATION_MAX_WATCHES} per connection, ${maxStreams} in all)`)
      }
      if (r.type === 'watchRoutes' && !(Number.isSafeInteger(r.version) && r.version >= 1)) return refuse(id, 'BAD_REQUEST', `a watchRoutes request needs the highest route policy version the client implements (this server sends version ${ROUTE_POLICY_VERSION})`)
      if (r.type === 'watchAuthz' && !(Number.isSafeInteger(r.version) && r.version >= 1)) return refuse(id, 'BAD_REQUEST', `a watchAuthz request needs the highest authorization policy version the client implements (this server sends version ${AUTHZ_POLICY_VERSION})`)
      if (r.type === 'watchAuthz' && !o.authz) return refuse(id, 'UNAVAILABLE', 'this destination service serves no authorization policy')
      if (r.type === 'watchTrust' && !o.trust) return refuse(id, 'BAD_REQUEST', 'this destination service does not stream the trust bundle')
      if (r.type === 'watchTrust' && !(Number.isSafeInteger(r.version) && r.version >= 1)) return refuse(id, 'BAD_REQUEST', `a watchTrust request needs the highest trust bundle version the client implements (this server sends version ${TRUST_BUNDLE_VERSION})`)
      if (!limits.watch(who)) return refuse(id, 'UNAVAILABLE', `too many streams from this client (at most ${limits.maxWatches})`)
      mine.set(id, null)
      watches++
      let ended = false
      const end = (): void => {
        ended = true
        forget(id)
      }
      const sendText = (text: string): void => deliver(ws, `{"id":${id},${text.slice(1)}`, client)
      const stream =
        r.type === 'watch'
          ? open(authority, ns, (msg) => send(id, msg), end)
          : r.type === 'watchRoutes'
            ? openRouteStream({authority, callerNamespace: ns, clusterDomain, registry: o.registry, cache: policies, send: (msg) => send(id, msg), sendText, end})
            : r.type === 'watchAuthz'
              ? openAuthzStream({namespace: r.namespace, pod: r.pod, client, compiler: o.authz!, send: (msg) => send(id, msg), sendText, end})
              : trustStream(o.trust!, id, end)
      if (!ended && stream) mine.set(id, stream)
      log.debug('stream opened', {authority: authority || undefined, client, id, kind: r.type, watching: stream?.canonical})
    })
    /** A trust bundle stream (no authority): src/control/identity/trust-stream.ts. */
    const trustStream = (source: TrustSource, id: number, end: () => void): Stream | undefined => {
      const stream = openTrustStream({source, send: (msg) => send(id, msg), end})
      return stream && {canonical: 'trust', close: () => stream.close()}
    }
    ws.on('close', () => {
      for (const s of mine.values()) s?.close()
      watches -= mine.size
      limits.unwatch(who, mine.size)
      mine.clear()
    })
  }

  const pinger = setInterval(() => {
    for (const ws of wss.clients) {
      if (!alive.get(ws)) {
        ws.terminate()
        continue
      }
      alive.set(ws, false)
      ws.ping()
    }
  }, o.pingIntervalMs ?? 30_000)
  pinger.unref()

  await new Promise<void>((resolve, rejectListen) => {
    server.once('error', rejectListen)
    server.listen(o.port ?? 8086, o.host ?? '0.0.0.0', () => {
      server.off('error', rejectListen)
      resolve()
    })
  })
  return {
    port: (server.address() as AddressInfo).port,
    streams,
    connections: () => wss.clients.size,
    refused: () => ({...limits.refused}),
    close: () =>
      new Promise<void>((resolve) => {
        clearInterval(pinger)
        unsubscribe()
        policies.close()
        for (const ws of wss.clients) ws.close(1001, 'shutting down')
        wss.close()
        server.close(() => resolve())
        server.closeIdleConnections()
        setTimeout(() => server.closeAllConnections(), 2000).unref()
      }),
  }
}
