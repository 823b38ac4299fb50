// The dashboard's HTTP and WebSocket server: the page (bundled at build time, served from
// memory), its data (/api/snapshot, /api/check), live updates (/api/live: a snapshot each
// refresh) and live tap streams (/api/tap). It listens on 127.0.0.1 by default and everything
// that reaches it is bounded: header size, URL length, no request bodies, connections, streams,
// time to send a request, a slow page's buffer; each refusal is counted on /metrics by reason.
//
// Who may use it: the server acts with the user's credentials, so a page or process that is not
// the user's must not drive it. Each server makes a random key; the address it prints carries it
// (`/?key=...`), and the first visit trades it for an HttpOnly, SameSite=Strict cookie. Every
// request must also name this server in Host (no DNS rebinding) and every WebSocket come from
// this server's own origin (no cross-site WebSocket).
import {randomBytes, timingSafeEqual} from 'node:crypto'
import {readFileSync} from 'node:fs'
import http from 'node:http'
import type {AddressInfo, Socket} from 'node:net'
import path from 'node:path'
import {WebSocketServer, type WebSocket} from 'ws'
import {Registry} from '../metrics/registry.js'
import {TopAggregator} from '../tapclient/top-aggregate.js'
import type {TapStream} from '../tapclient/client.js'
import {shownError, type DashboardSource} from './source.js'
import type {CheckAnswer, LiveMessage, Snapshot, TapMessage, WorkloadRoutes} from './types.js'

export const LIMITS = {
  /** Open TCP connections (HTTP and WebSocket). */
  connections: 64,
  /** Pages listening to /api/live at once. */
  liveStreams: 32,
  /** Tap streams at once (each is a stream to the tap server). */
  tapStreams: 8,
  maxHeaderBytes: 16 * 1024,
  maxUrlBytes: 2048,
  /** A request's headers must arrive within this (slowloris). */
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 15_000,
  keepAliveTimeoutMs: 5_000,
  /** A page sends nothing on its WebSockets but pongs and close frames. */
  maxWsPayload: 4 * 1024,
  /** Past this many bytes buffered for a slow page, tap events are dropped (counted). */
  maxWsBuffered: 4 * 1024 * 1024,
  /** Workload pages whose routes are kept (one read each per refresh, whatever the number of pages). */
  routeReads: 64,
} as const

/** Refreshes while a page is open, and this long after the last one closed. */
const KEEP_POLLING_MS = 15 * 60 * 1000
const CHECK_CACHE_MS = 10_000
const ROUTES_EVERY_MS = 2_000
const PING_MS = 30_000

export const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ')

const SECURITY_HEADERS = {
  'content-security-policy': CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'x-frame-options': 'DENY',
}

const ASSETS: Record<string, {file: string; type: string}> = {
  '/': {file: 'index.html', type: 'text/html; charset=utf-8'},
  '/app.js': {file: 'app.js', type: 'text/javascript; charset=utf-8'},
  '/app.css': {file: 'app.css', type: 'text/css; charset=utf-8'},
}

export interface DashboardServerOptions {
  source: DashboardSource
  /** Default 127.0.0.1. */
  address?: string
  /** Default 0: a free port. */
  port?: number
  /** Where the built page is (dist/dashboard/web). */
  assetsDir: string
  /** How often the numbers are read again while a page is open (default 5 s: the tap server scrapes a pod at most every 5 s). */
  refreshMs?: number
  /** The key the address carries (default: 24 random bytes). */
  key?: string
  /** How often each WebSocket is pinged; one that did not answer the last ping is cut (default 30 s; tests set less). */
  pingMs?: number
}

export interface DashboardServer {
  /** The address to open, key included. */
  url: string
  /** The address without the key. */
  origin: string
  registry: Registry
  close(): Promise<void>
}

function loadAssets(dir: string): Map<string, {body: Buffer; type: string}> {
  const out = new Map<string, {body: Buffer; type: string}>()
  for (const [route, a] of Object.entries(ASSETS)) {
    try {
      out.set(route, {body: readFileSync(path.join(dir, a.file)), type: a.type})
    } catch (err) {
      throw new Error(`the dashboard's page is missing (${path.join(dir, a.file)}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); build it with \`npm run build\``, {cause: err})
    }
  }
  return out
}

function sameKey(a: string | undefined, b: string): boolean {
  if (a === undefined) return false
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}

function cookie(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const i = part.indexOf('=')
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim()
  }
  return undefined
}

function hostPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`
}

export async function startDashboardServer(o: DashboardServerOptions): Promise<DashboardServer> {
  const assets = loadAssets(o.assetsDir)
  const address = o.address ?? '127.0.0.1'
  const key = o.key ?? randomBytes(24).toString('base64url')
  const refreshMs = o.refreshMs ?? 5_000
  const registry = new Registry()
  const refused = registry.counter({name: 'mesh_dashboard_refused_total', help: 'Requests and streams the dashboard refused or cut, by the bound that fired.', labelNames: ['reason']})
  const dropped = registry.counter({name: 'mesh_dashboard_tap_events_dropped_total', help: 'Tap events not sent to a page that read too slowly.'})
  const refuse = (reason: string): void => refused.labels(reason).inc()

  const server = http.createServer({
    maxHeaderSize: LIMITS.maxHeaderBytes,
    headersTimeout: LIMITS.headersTimeoutMs,
    requestTimeout: LIMITS.requestTimeoutMs,
    keepAliveTimeout: LIMITS.keepAliveTimeoutMs,
    // How often the two timeouts above are looked at (Node's default, 30 s, lets a slow client hold on that much longer).
    connectionsCheckingInterval: 1_000,
  })
  server.maxConnections = LIMITS.connections
  server.on('drop', () => refuse('connections'))
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    const [reason, answer] =
      err.code === 'HPE_HEADER_OVERFLOW' ? ['header_size', '431 Request Header Fields Too Large']
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' || err.code === 'HPE_HEADERS_TIMEOUT' ? ['timeout', '408 Request Timeout']
      : ['malformed', '400 Bad Request']
    refuse(reason)
    if (socket.writable) socket.end(`HTTP/1.1 ${answer}\r\nconnection: close\r\n\r\n`)
    else socket.destroy()
  })

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(o.port ?? 0, address, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const port = (server.address() as AddressInfo).port
  const cookieName = `mesh-dashboard-${port}`
  const allowedHosts = new Set([hostPort(address, port)])
  const anyHost = address === '0.0.0.0' || address === '::'
  if (address === '127.0.0.1' || address === '::1' || anyHost) allowedHosts.add(`localhost:${port}`).add(`127.0.0.1:${port}`).add(`[::1]:${port}`)
  const origin = `http://${hostPort(address === '0.0.0.0' ? '127.0.0.1' : address === '::' ? '::1' : address, port)}`

  /** Why a request may not go on, or undefined. Host first: a rebinding page never gets further. */
  const gate = (req: http.IncomingMessage, needKey: boolean): {status: number; reason: string; text: string} | undefined => {
    const host = req.headers.host ?? ''
    if (!anyHost && !allowedHosts.has(host.toLowerCase())) return {status: 403, reason: 'host', text: `this server answers to ${[...allowedHosts].join(', ')}, not to Host ${JSON.stringify(host.slice(0, 100))}\n`}
    if ((req.url ?? '').length > LIMITS.maxUrlBytes) return {status: 414, reason: 'url_size', text: `the URL is longer than ${LIMITS.maxUrlBytes} bytes\n`}
    if (req.method !== 'GET' && req.method !== 'HEAD') return {status: 405, reason: 'method', text: 'only GET is served here\n'}
    const length = req.headers['content-length']
    if ((length !== undefined && length !== '0') || req.headers['transfer-encoding'] !== undefined) return {status: 413, reason: 'body', text: 'requests here carry no body\n'}
    if (needKey && !sameKey(cookie(req.headers.cookie, cookieName), key)) {
      return {status: 401, reason: 'no_key', text: 'Open the address `mesh dashboard` printed: it carries the key to this dashboard (and `mesh demo` prints one for the demo\'s).\n'}
    }
    return undefined
  }

  // Live snapshots: read every refreshMs while a page listens (and a while after), one read at a time.
  const live = new Set<WebSocket>()
  let latest: Snapshot | undefined
  let reading: Promise<Snapshot> | undefined
  let lastListener = 0
  let closed = false
  const read = (): Promise<Snapshot> => {
    reading ??= o.source
      .snapshot()
      .then((s) => {
        latest = s
        const msg = JSON.stringify({type: 'snapshot', snapshot: s} satisfies LiveMessage)
        for (const ws of live) if (ws.bufferedAmount < LIMITS.maxWsBuffered) ws.send(msg)
        return s
      })
      .finally(() => (reading = undefined))
    return reading
  }
  const poller = setInterval(() => {
    if (live.size > 0) lastListener = Date.now()
    if (!closed && Date.now() - lastListener < KEEP_POLLING_MS && lastListener > 0) void read()
  }, refreshMs)

  // A workload page's routes: read when a page asks, at most once per refresh per workload, one read at a time.
  const routeReads = new Map<string, {at: number; answer: Promise<WorkloadRoutes>}>()
  const readRoutes = (namespace: string, resource: string): Promise<WorkloadRoutes> => {
    const key = `${namespace}\u0000${resource}`
    const cur = routeReads.get(key)
    if (cur && Date.now() - cur.at < refreshMs) return cur.answer
    if (!cur && routeReads.size >= LIMITS.routeReads) routeReads.delete(routeReads.keys().next().value!)
    const answer = cur?.answer.then(() => o.source.routes(namespace, resource)) ?? o.source.routes(namespace, resource)
    routeReads.delete(key)
    routeReads.set(key, {at: Date.now(), answer})
    return answer
  }

  let checking: Promise<CheckAnswer> | undefined
  let checked: CheckAnswer | undefined
  const check = (): Promise<CheckAnswer> => {
    if (checked && Date.now() - checked.time < CHECK_CACHE_MS) return Promise.resolve(checked)
    checking ??= o.source
      .check()
      .then((report): CheckAnswer => ({time: Date.now(), report}), (err: unknown): CheckAnswer => ({time: Date.now(), error: shownError(err)}))
      .then((a) => {
        checked = a
        checking = undefined
        return a
      })
    return checking
  }

  const send = (res: http.ServerResponse, status: number, type: string, body: string | Buffer, extra: Record<string, string> = {}): void => {
    res.writeHead(status, {...SECURITY_HEADERS, 'content-type': type, 'cache-control': 'no-store', ...extra})
    res.end(res.req.method === 'HEAD' ? undefined : body)
  }
  const json = (res: http.ServerResponse, value: unknown): void => send(res, 200, 'application/json; charset=utf-8', JSON.stringify(value))

  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://dashboard')
    // The address printed carries the key: trade it for the cookie, and drop it from the address bar.
    if (url.pathname === '/' && url.searchParams.has('key')) {
      const bad = gate(req, false)
      if (bad) return (refuse(bad.reason), send(res, bad.status, 'text/plain; charset=utf-8', bad.text))
      if (!sameKey(url.searchParams.get('key') ?? undefined, key)) return (refuse('bad_key'), send(res, 401, 'text/plain; charset=utf-8', 'This key does not open this dashboard: open the address `mesh dashboard` printed.\n'))
      return send(res, 303, 'text/plain; charset=utf-8', '', {location: '/', 'set-cookie': `${cookieName}=${key}; HttpOnly; SameSite=Strict; Path=/`})
    }
    const bad = gate(req, url.pathname !== '/metrics')
    if (bad) return (refuse(bad.reason), send(res, bad.status, 'text/plain; charset=utf-8', bad.text))
    const asset = assets.get(url.pathname)
    if (asset) return send(res, 200, asset.type, asset.body, {'cache-control': 'no-cache'})
    switch (url.pathname) {
      case '/api/snapshot':
        lastListener = Date.now()
        void (latest && Date.now() - latest.time < refreshMs ? Promise.resolve(latest) : read()).then((s) => json(res, s))
        return
      case '/api/check':
        void check().then((a) => json(res, a))
        return
      case '/api/routes':
        lastListener = Date.now()
        void readRoutes(url.searchParams.get('namespace') ?? '', url.searchParams.get('resource') ?? '').then((r) => json(res, r))
        return
      case '/metrics':
        return send(res, 200, 'text/plain; version=0.0.4; charset=utf-8', registry.metrics())
      default:
        return send(res, 404, 'text/plain; charset=utf-8', `no such page: ${url.pathname.slice(0, 100)}\n`)
    }
  })

  const wss = new WebSocketServer({noServer: true, maxPayload: LIMITS.maxWsPayload, perMessageDeflate: false})
  // A page that went away without closing (a suspended laptop) must not keep its place: each
  // WebSocket is pinged every pingMs (30 s), and one that did not answer the last ping is cut.
  const answered = new WeakSet<WebSocket>()
  wss.on('connection', (ws: WebSocket) => {
    answered.add(ws)
    ws.on('pong', () => answered.add(ws))
  })
  const pinger = setInterval(() => {
    for (const ws of wss.clients) {
      if (!answered.has(ws)) {
        refuse('ws_silent')
        ws.terminate()
        continue
      }
      answered.delete(ws)
      ws.ping()
    }
  }, o.pingMs ?? PING_MS)
  const taps = new Set<TapStream>()
  server.on('upgrade', (req: http.IncomingMessage, socket: Socket, head: Buffer) => {
    const no = (status: number, reason: string, text: string): void => {
      refuse(reason)
      socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\ncontent-type: text/plain\r\nconnection: close\r\ncontent-length: ${Buffer.byteLength(text)}\r\n\r\n${text}`)
    }
    socket.on('error', () => socket.destroy())
    const bad = gate(req, true)
    if (bad) return no(bad.status, bad.reason, bad.text)
    const from = req.headers.origin
    if (from !== `http://${req.headers.host ?? ''}`) return no(403, 'origin', `WebSockets here are for this dashboard's own page, not for ${JSON.stringify((from ?? '(no Origin)').slice(0, 100))}\n`)
    const url = new URL(req.url ?? '/', 'http://dashboard')
    if (url.pathname === '/api/live') {
      if (live.size >= LIMITS.liveStreams) return no(503, 'live_streams', `more than ${LIMITS.liveStreams} pages listen already\n`)
      return wss.handleUpgrade(req, socket, head, (ws) => (wss.emit('connection', ws, req), onLive(ws)))
    }
    if (url.pathname === '/api/tap') {
      if (taps.size >= LIMITS.tapStreams) return no(503, 'tap_streams', `more than ${LIMITS.tapStreams} tap streams are open already: close one\n`)
      return wss.handleUpgrade(req, socket, head, (ws) => (wss.emit('connection', ws, req), onTap(ws, url.searchParams)))
    }
    no(404, 'not_found', 'no such stream\n')
  })

  const onLive = (ws: WebSocket): void => {
    live.add(ws)
    lastListener = Date.now()
    ws.on('close', () => live.delete(ws))
    ws.on('error', () => ws.terminate())
    ws.on('message', () => (refuse('ws_message'), ws.close(1008, 'this stream takes no messages')))
    if (latest) ws.send(JSON.stringify({type: 'snapshot', snapshot: latest} satisfies LiveMessage))
    if (!latest || Date.now() - latest.time >= refreshMs) void read()
  }

  const onTap = (ws: WebSocket, q: URLSearchParams): void => {
    const sendMsg = (m: TapMessage): void => {
      if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(m))
    }
    const get = (k: string): string | undefined => q.get(k) || undefined
    const status = get('status')
    let stream: TapStream
    const top = new TopAggregator()
    try {
      stream = o.source.tap(get('resource') ?? '', {
        namespace: get('namespace'), method: get('method'), path: get('path'), authority: get('authority'), to: get('to'),
        status: status === undefined ? undefined : /^\d{1,3}$/.test(status) ? Number(status) : -1,
      }, (m) => {
        if (m.type === 'event') {
          top.add(m.pod, m.event)
          if (ws.bufferedAmount > LIMITS.maxWsBuffered) return dropped.labels().inc()
          sendMsg(m)
        } else if (m.type === 'warning' || m.type === 'end') sendMsg(m)
      })
    } catch (err) {
      sendMsg({type: 'error', error: shownError(err)})
      ws.close(1000)
      return
    }
    taps.add(stream)
    const routes = setInterval(() => sendMsg({type: 'routes', top: top.snapshot()}), ROUTES_EVERY_MS)
    ws.on('message', () => (refuse('ws_message'), ws.close(1008, 'this stream takes no messages')))
    ws.on('error', () => ws.terminate())
    ws.on('close', () => stream.close())
    stream.done.then(
      () => ws.close(1000),
      (err: unknown) => (sendMsg({type: 'error', error: shownError(err)}), ws.close(1000)),
    ).finally(() => {
      clearInterval(routes)
      taps.delete(stream)
    })
  }

  return {
    url: `${origin}/?key=${key}`,
    origin,
    registry,
    close: async () => {
      closed = true
      clearInterval(poller)
      clearInterval(pinger)
      for (const t of taps) t.close()
      for (const ws of wss.clients) ws.terminate()
      await new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      })
    },
  }
}
