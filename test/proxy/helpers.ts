// Test helpers for the proxy: real servers on 127.0.0.1 ephemeral ports, a proxy pair
// (outbound -> inbound -> app) started in process, and small raw-socket clients.
import {readFileSync} from 'node:fs'
import http from 'node:http'
import net from 'node:net'
import {eventually} from '../helpers/eventually.js'
import {loadProxyConfig, type ProxyConfig} from '../../src/proxy/config/config.js'
import type {Discovery, EndpointSet, Resolution} from '../../src/proxy/core/contracts.js'
import {Logger} from '../../src/proxy/core/log.js'
import type {Observer, RequestMeta} from '../../src/proxy/core/observe.js'
import {startProxy, type RunningProxy, type StartOptions} from '../../src/proxy/server.js'

export const quietLog = (): Logger => new Logger(process.env.MESH_TEST_PROXY_LOG === '1' ? 'debug' : 'error', 'plain')

const kSockets = Symbol('test.sockets')

/** Listens on 127.0.0.1:0, tracking connections so closeServer can cut them. */
export function listenOn(server: net.Server): Promise<number> {
  const sockets = new Set<net.Socket>()
  ;(server as net.Server & {[kSockets]?: Set<net.Socket>})[kSockets] = sockets
  server.on('connection', (s: net.Socket) => { sockets.add(s); s.once('close', () => sockets.delete(s)) })
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port)))
}

export function closeServer(server: net.Server | undefined): Promise<void> {
  if (!server) return Promise.resolve()
  ;(server as http.Server).closeAllConnections?.()
  const sockets = (server as net.Server & {[kSockets]?: Set<net.Socket>})[kSockets]
  for (const s of sockets ?? []) s.destroy()
  return new Promise((resolve) => server.close(() => resolve()))
}

export interface EchoApp {
  server: http.Server
  port: number
  connections: number
  requests: number
}

/** An HTTP app that answers with JSON describing the request it saw. */
export async function startEchoApp(handler?: (req: http.IncomingMessage, res: http.ServerResponse, body: Buffer) => boolean): Promise<EchoApp> {
  const app: EchoApp = {server: undefined as unknown as http.Server, port: 0, connections: 0, requests: 0}
  app.server = http.createServer((req, res) => {
    app.requests++
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.concat(chunks)
      if (handler?.(req, res, body)) return
      const out = JSON.stringify({method: req.method, url: req.url, headers: req.headers, bodyLength: body.length, body: body.length < 1024 ? body.toString() : undefined})
      res.writeHead(200, {'content-type': 'application/json'})
      res.end(out)
    })
  })
  app.server.on('connection', () => app.connections++)
  app.port = await listenOn(app.server)
  return app
}

export function testConfig(overrides: Partial<ProxyConfig> = {}, routes = ''): ProxyConfig {
  const cfg = loadProxyConfig({}, {
    inbound: '127.0.0.1:0', outbound: '127.0.0.1:0', admin: '127.0.0.1:0', tap: '127.0.0.1:0', staticRoutes: routes,
  })
  cfg.limits.detectTimeoutMs = 500
  return {...cfg, ...overrides}
}

export interface Pair {
  /** The client's proxy (outbound side used). */
  client: RunningProxy
  /** The server's proxy (inbound side used, forwarding to the app). */
  server: RunningProxy
  close(): Promise<void>
}

/** outbound proxy (route `authority` -> server proxy's inbound) -> inbound proxy -> app. */
export async function startPair(authority: string, appPort: number, tweak: (c: ProxyConfig) => void = () => {}, options: {client?: StartOptions, server?: StartOptions} = {}): Promise<Pair> {
  const scfg = testConfig({inboundForward: {host: '127.0.0.1', port: appPort}})
  tweak(scfg)
  const server = await startProxy(scfg, {log: quietLog(), originalDst: null, ...options.server})
  const ccfg = testConfig({}, `${authority}=127.0.0.1:${server.ports.inbound}`)
  tweak(ccfg)
  const client = await startProxy(ccfg, {log: quietLog(), originalDst: null, ...options.client})
  return {client, server, close: async () => { await Promise.all([client.close(200), server.close(200)]) }}
}

/** Runs `start` with MESH_PROXY_HTTP1_CODEC set to `codec` (a proxy reads it when it starts), then restores the variable. */
export async function withCodec<T>(codec: 'node' | 'raw', start: () => Promise<T>): Promise<T> {
  const saved = process.env.MESH_PROXY_HTTP1_CODEC
  process.env.MESH_PROXY_HTTP1_CODEC = codec
  try {
    return await start()
  } finally {
    if (saved === undefined) delete process.env.MESH_PROXY_HTTP1_CODEC
    else process.env.MESH_PROXY_HTTP1_CODEC = saved
  }
}

export interface SimpleResponse {
  status: number
  headers: http.IncomingHttpHeaders
  body: string
}

export function request(port: number, options: http.RequestOptions & {body?: string | Buffer} = {}): Promise<SimpleResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request({host: '127.0.0.1', port, agent: options.agent ?? false, ...options}, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => (body += c))
      res.on('end', () => resolve({status: res.statusCode ?? 0, headers: res.headers, body}))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(options.body)
  })
}

/** Writes `data` on a raw connection and collects everything until the peer closes (or ms). */
export function rawExchange(port: number, data: string | Buffer, ms = 2000, halfClose = false): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({host: '127.0.0.1', port, allowHalfOpen: true})
    let out = ''
    const timer = setTimeout(() => { sock.destroy(); resolve(out) }, ms)
    sock.on('data', (c: Buffer) => (out += c.toString('latin1')))
    sock.on('end', () => { clearTimeout(timer); sock.end(); resolve(out) })
    sock.on('close', () => { clearTimeout(timer); resolve(out) })
    sock.on('error', (e) => { clearTimeout(timer); if (out) resolve(out); else reject(e) })
    sock.write(data)
    if (halfClose) sock.end()
  })
}

/** Discovery as the destination service would answer: fixed endpoints (with identities) per authority. */
export function fixedDiscovery(routes: Record<string, EndpointSet>): Discovery {
  return {
    resolve: (authority) => {
      const set = routes[authority]
      const r: Resolution | null = set ? {current: () => set, onChange: () => () => {}, close: () => {}} : null
      return Promise.resolve(r)
    },
    close: () => {},
  }
}

/** An observer that records each request as it starts into `into` (and nothing else). */
export function requestRecorder(into: RequestMeta[]): Observer {
  return {requestInit: (r) => void into.push(r), responseInit: () => {}, responseEnd: () => {}, tcpOpen: () => {}, tcpClose: () => {}}
}

/** `ip:port` as /proc/net/tcp writes an IPv4 endpoint (the address's bytes in host order, little-endian here). */
function procTcpEndpoint(ip: string, port: number): string {
  const hex = ip.split('.').map((b) => Number(b).toString(16).padStart(2, '0').toUpperCase()).reverse().join('')
  return `${hex}:${port.toString(16).padStart(4, '0').toUpperCase()}`
}

/**
 * Resolves once the process at the other end of `sock` (a loopback TCP connection) has read
 * every byte written on it: nothing left in `sock`'s send queue nor in the peer socket's receive
 * queue (/proc/net/tcp). A Node peer has run its read callback by then (libuv reads and calls it
 * in one go): what it does with the bytes it does at once. For tests that must know the proxy
 * has seen bytes it answers nothing to.
 */
export async function readByPeer(sock: net.Socket): Promise<void> {
  await new Promise<void>((resolve, reject) => sock.write('', (err) => (err ? reject(err) : resolve())))
  const mine = procTcpEndpoint(sock.localAddress!, sock.localPort!)
  const theirs = procTcpEndpoint(sock.remoteAddress!, sock.remotePort!)
  const queues = (local: string, remote: string): [number, number] | undefined => {
    for (const line of readFileSync('/proc/net/tcp', 'latin1').split('\n')) {
      const f = line.trim().split(/\s+/)
      if (f[1] === local && f[2] === remote) {
        const [tx, rx] = f[4]!.split(':').map((h) => parseInt(h, 16))
        return [tx!, rx!]
      }
    }
    return undefined
  }
  await eventually(`the peer of ${mine} to read what was written`, () => {
    const own = queues(mine, theirs)
    const peer = queues(theirs, mine)
    return own !== undefined && peer !== undefined && own[0] === 0 && peer[1] === 0 ? true : undefined
  }, {timeoutMs: 10_000, intervalMs: 5})
}
