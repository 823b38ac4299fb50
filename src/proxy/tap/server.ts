// The tap server (:4190): subscribers open a WebSocket whose query string is their filter and
// receive one JSON TapEvent per message. Who may connect: without identity (local mode) only
// loopback peers; with identity the port speaks TLS with the proxy's own server context
// (renewed certificates are picked up per connection) and only a client whose verified identity
// is the tap server's (MESH_PROXY_TAP_SVC_NAME) may subscribe. Bounded: header size and
// timeouts, TLS handshake time, message size, subscriber count.
import {createServer as createHttpServer, type IncomingMessage} from '../core/node-http.js'
import {createServer as createNetServer, type AddressInfo, type Server, type Socket} from 'node:net'
import {TLSSocket} from 'node:tls'
import {createRequire} from 'node:module'
import type {WebSocketServer, WebSocket} from 'ws'
import {isLoopback, type ListenAddr, parseListenAddr} from '../admin/listen-addr.js'
import type {Identity} from '../core/contracts.js'
import {parseTapFilter, TapFilterError} from './filter.js'
import type {TapHub} from './hub.js'

export interface TapServerOptions {
  /** `host:port`, default 0.0.0.0:4190 (MESH_PROXY_TAP_LISTEN_ADDR). */
  listen: string | ListenAddr
  hub: TapHub
  /** With an identity that has a name, the tap port is mTLS-only. */
  identity?: Identity
  /** The only identity allowed to subscribe over mTLS (MESH_PROXY_TAP_SVC_NAME). */
  tapServiceName?: string
  /** Default 16. */
  maxSubscribers?: number
  handshakeTimeoutMs?: number
  /** Ping period; a subscriber that misses a pong is cut (default 30 s). */
  heartbeatMs?: number
}

export interface TapServer {
  address: {host: string; port: number}
  url: string
  close(): Promise<void>
}

const STATUS_TEXT: Record<number, string> = {400: 'Bad Request', 403: 'Forbidden', 503: 'Service Unavailable'}

export async function startTapServer(options: TapServerOptions): Promise<TapServer> {
  const listen = parseListenAddr(options.listen, 'tap listen address')
  const identity = options.identity?.localName !== undefined ? options.identity : undefined
  if (identity && !options.tapServiceName) {
    throw new Error('the tap server needs the tap service identity (MESH_PROXY_TAP_SVC_NAME) when the proxy has an identity')
  }
  const maxSubscribers = options.maxSubscribers ?? 16
  const handshakeTimeoutMs = options.handshakeTimeoutMs ?? 10_000
  let upgrading = 0

  const http = createHttpServer(
    {maxHeaderSize: 8 * 1024, headersTimeout: 5_000, requestTimeout: 10_000, connectionsCheckingInterval: 1_000},
    (_req, res) => {
      res.writeHead(426, {'content-type': 'text/plain; charset=utf-8', upgrade: 'websocket', connection: 'close'})
      res.end('tap: connect with a WebSocket\n')
    },
  )
  // `ws` (1.7 MB of heap) is loaded on the first upgrade: a proxy nobody taps never loads it
  // (unless its destination client did).
  let wss: WebSocketServer | undefined
  const webSockets = (): WebSocketServer => {
    if (wss) return wss
    const {WebSocketServer: Wss} = createRequire(import.meta.url)('ws') as typeof import('ws')
    return (wss = new Wss({noServer: true, maxPayload: 1024, perMessageDeflate: false}))
  }

  function authorize(socket: Socket): string | undefined {
    if (!identity) return isLoopback(socket.remoteAddress) ? undefined : 'only localhost may tap this proxy (it runs without identity)'
    const cert = (socket as TLSSocket).getPeerCertificate(true)
    if (!cert || !cert.raw) return 'a client certificate is required'
    const err = identity.verifyPeer(cert, options.tapServiceName!)
    if (err) return `client not allowed to tap: ${err.message}`
    return undefined
  }

  http.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    socket.on('error', () => socket.destroy())
    const deny = (status: number, message: string) => {
      const body = `${message}\n`
      socket.end(
        `HTTP/1.1 ${status} ${STATUS_TEXT[status]}\r\ncontent-type: text/plain; charset=utf-8\r\n` +
          `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
      )
    }
    const refusal = authorize(socket)
    if (refusal) return deny(403, refusal)
    let filter
    try {
      filter = parseTapFilter(new URL(req.url ?? '/', 'http://tap').searchParams)
    } catch (err) {
      if (err instanceof TapFilterError) return deny(400, err.message)
      throw err
    }
    if (options.hub.subscriberCount + upgrading >= maxSubscribers) return deny(503, `too many tap subscribers (at most ${maxSubscribers})`)
    // A slot is held from here until the handshake succeeds or the socket closes (ws answers a
    // bad handshake itself and never calls back).
    upgrading++
    let holding = true
    const release = () => {
      if (holding) upgrading--
      holding = false
    }
    socket.once('close', release)
    webSockets().handleUpgrade(req, socket, head, (ws: WebSocket) => {
      release()
      const sub = options.hub.subscribe(ws, filter)
      let alive = true
      ws.on('pong', () => (alive = true))
      const beat = setInterval(() => {
        if (!alive) return ws.terminate()
        alive = false
        ws.ping()
      }, options.heartbeatMs ?? 30_000)
      beat.unref()
      ws.on('error', () => ws.terminate())
      ws.on('close', () => {
        clearInterval(beat)
        options.hub.unsubscribe(sub)
      })
    })
  })

  let front: Server = http
  if (identity) {
    front = createNetServer((raw) => {
      const secureContext = identity.serverContext()
      if (!secureContext) return raw.destroy()
      const tls = new TLSSocket(raw, {isServer: true, secureContext, requestCert: true, rejectUnauthorized: false})
      const timer = setTimeout(() => tls.destroy(), handshakeTimeoutMs)
      tls.once('secure', () => clearTimeout(timer))
      tls.once('close', () => clearTimeout(timer))
      tls.on('error', () => tls.destroy())
      http.emit('connection', tls)
    })
  }
  front.maxConnections = maxSubscribers * 2 + 8

  await new Promise<void>((resolve, reject) => {
    front.once('error', reject)
    front.listen(listen.port, listen.host, () => {
      front.off('error', reject)
      resolve()
    })
  })
  const addr = front.address() as AddressInfo
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address
  return {
    address: {host: addr.address, port: addr.port},
    url: `${identity ? 'wss' : 'ws'}://${host}:${addr.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        if (wss) {
          for (const ws of wss.clients) ws.terminate()
          wss.close()
        }
        http.closeAllConnections()
        front.close(() => resolve())
        if (front !== http) http.close()
      }),
  }
}
