// The destination service: WebSocket streams over TLS on :8086.
//   GET /v1/destination?authority=web.shop.svc.cluster.local:80&ns=<caller ns>  (Upgrade)
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
import {DESTINATION_MAX_AUTHORITY, DESTINATION_PATH, type DestinationMessage} from '../../protocol/destination.js'
import type {ServingCert} from '../identity/serving-cert.js'
import type {Logger} from '../logger.js'
import type {Registry} from './registry.js'
import {openStream} from './stream.js'

export interface DestinationServerOptions {
  registry: Registry
  serving: ServingCert
  host?: string
  port?: number
  clusterDomain?: string
  /** Most concurrent streams (default 10000). */
  maxStreams?: number
  /** Ping interval to find dead peers (default 30 s). */
  pingIntervalMs?: number
  log: Logger
}

export interface DestinationServer {
  port: number
  streams(): number
  close(): Promise<void>
}

function reject(socket: Socket, status: number, reason: string): void {
  const body = JSON.stringify({error: reason})
  socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Refused'}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`)
}

export async function startDestinationServer(o: DestinationServerOptions): Promise<DestinationServer> {
  const log = o.log
  const clusterDomain = o.clusterDomain ?? 'cluster.local'
  const maxStreams = o.maxStreams ?? 10_000
  const server = https.createServer({...o.serving.tlsOptions(), requestCert: true, rejectUnauthorized: false}, (_req, res) => {
    const ok = _req.url === '/ready' || _req.url === '/live'
    res.writeHead(ok ? 200 : 404, {'content-type': 'application/json'})
    res.end(JSON.stringify(ok ? {ok: true} : {error: `use GET ${DESTINATION_PATH} with a WebSocket upgrade`}))
  })
  server.on('tlsClientError', () => {})
  const unsubscribe = o.serving.onRenew((opts) => server.setSecureContext(opts))
  const wss = new WebSocketServer({noServer: true, maxPayload: 4096, perMessageDeflate: false})
  const alive = new WeakMap<WebSocket, boolean>()

  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    const url = new URL(req.url ?? '/', 'https://destination')
    if (url.pathname !== DESTINATION_PATH) return reject(socket, 404, `no such path ${url.pathname}; use ${DESTINATION_PATH}`)
    const authority = url.searchParams.get('authority') ?? ''
    if (!authority || authority.length > DESTINATION_MAX_AUTHORITY) return reject(socket, 400, `the query parameter authority is required (at most ${DESTINATION_MAX_AUTHORITY} characters)`)
    const tlsSocket = socket as TLSSocket
    const peer = tlsSocket.getPeerCertificate?.()
    const presented = peer && Object.keys(peer).length > 0
    if (presented && !tlsSocket.authorized) return reject(socket, 403, `client certificate refused: ${String(tlsSocket.authorizationError)}`)
    if (wss.clients.size >= maxStreams) return reject(socket, 503, 'too many streams')
    const client = presented ? (peer.subjectaltname ?? '').replace(/^DNS:/, '') : undefined
    wss.handleUpgrade(req, socket, head, (ws) => {
      alive.set(ws, true)
      ws.on('pong', () => alive.set(ws, true))
      ws.on('error', () => {})
      const send = (msg: DestinationMessage): void => {
        if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(msg))
      }
      const stream = openStream({
        authority,
        callerNamespace: url.searchParams.get('ns') ?? undefined,
        clusterDomain,
        registry: o.registry,
        send,
        end: () => ws.close(1000, 'done'),
      })
      log.debug('stream opened', {authority, client, watching: stream?.canonical})
      ws.on('close', () => stream?.close())
      ws.on('message', () => {
        // Clients send nothing; anything they do send is ignored (and bounded by maxPayload).
      })
    })
  })

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
    streams: () => wss.clients.size,
    close: () =>
      new Promise<void>((resolve) => {
        clearInterval(pinger)
        unsubscribe()
        for (const ws of wss.clients) ws.close(1001, 'shutting down')
        wss.close()
        server.close(() => resolve())
        server.closeIdleConnections()
        setTimeout(() => server.closeAllConnections(), 2000).unref()
      }),
  }
}
