// Real mesh pods in process for the tap, stat and top tests: an app on 127.0.0.1, a real proxy
// (startProxy) in front of it with the real metrics observer and tap hub, the real admin server
// (/metrics) and the real proxy tap server, all on ephemeral loopback ports. Discovery is a
// labelled endpoint list, so outbound series carry dst_* labels as in a cluster.
import http from 'node:http'
import type {AddressInfo} from 'node:net'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {createProxyMetrics} from '../../src/metrics/proxy-metrics.js'
import {startAdmin, type AdminServer} from '../../src/proxy/admin/server.js'
import {loadProxyConfig} from '../../src/proxy/config/config.js'
import type {Discovery, EndpointSet, Identity, Resolution} from '../../src/proxy/core/contracts.js'
import {Logger} from '../../src/proxy/core/log.js'
import {parseRoutes} from '../../src/proxy/config/route-policy.js'
import {startProxy, type RunningProxy} from '../../src/proxy/server.js'
import type {ProxyIdentity} from '../../src/proxy/identity/index.js'
import {TapHub} from '../../src/proxy/tap/hub.js'
import {startTapServer as startProxyTap, type TapServer as ProxyTapServer} from '../../src/proxy/tap/server.js'
import type {LocalPod} from '../../src/control/tap/local-resolver.js'
import {LocalResolver} from '../../src/control/tap/local-resolver.js'
import {LocalTokenAuthorizer} from '../../src/control/tap/auth.js'
import {startTapServer, type RunningTapServer} from '../../src/control/tap/server.js'
import {MetricsStore} from '../../src/control/tap/metrics-store.js'
import {writeLocalContext} from '../../src/tapclient/local-context.js'

export type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void

/** /ok -> 200, /fail -> 500, /slow -> 200 after 150 ms, /notfound -> 404. */
export const scriptedApp: Handler = (req, res) => {
  const path = (req.url ?? '/').split('?')[0]
  if (path.startsWith('/fail')) {
    res.writeHead(500).end('fail')
  } else if (path.startsWith('/slow')) {
    setTimeout(() => res.writeHead(200).end('slow'), 150)
  } else if (path.startsWith('/notfound')) {
    res.writeHead(404).end('nope')
  } else res.writeHead(200).end('ok')
}

export interface MeshPod {
  info: LocalPod
  proxy: RunningProxy
  app: http.Server
  admin: AdminServer
  tap: ProxyTapServer
  /** The proxy's tap hub (its subscriberCount tells whether a tap stream is open). */
  hub: TapHub
  /** Stops the pod as a deletion would: proxy, tap, admin and app. */
  stop(): Promise<void>
}

export interface PodSpec {
  namespace?: string
  name: string
  deployment: string
  handler?: Handler
  /** authority -> the pod serving it (its inbound port) with its labels. */
  routes?: Record<string, MeshPod>
  /** Address of the admin and tap servers (default 127.0.0.1), e.g. a pod IP on a test veth. */
  host?: string
  /** The proxy's identity on its tap port: only `tapServiceName` may tap it (over mTLS). */
  tapIdentity?: {identity: Identity; tapServiceName: string}
  /** Outbound route rules, as MESH_PROXY_ROUTES (`books:80 GET /api/=retries:0;...`). */
  proxyRoutes?: string
  /** The proxy's mesh identity (mTLS on both sides) and its discovery (default: `routes`, plaintext). */
  identity?: ProxyIdentity
  discovery?: Discovery
}

class LabelledDiscovery implements Discovery {
  constructor(private readonly routes: Record<string, MeshPod>) {}
  resolve(authority: string): Promise<Resolution | null> {
    const pod = this.routes[authority]
    if (!pod) return Promise.resolve(null)
    const set: EndpointSet = {
      endpoints: [{host: '127.0.0.1', port: pod.proxy.ports.inbound, labels: {dst_namespace: pod.info.namespace, dst_deployment: pod.info.owner.name, dst_pod: pod.info.name}}],
    }
    return Promise.resolve({current: () => set, onChange: () => () => {}, close: () => {}})
  }
  close(): void {}
}

function listen(server: http.Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)))
}

export async function startMeshPod(spec: PodSpec): Promise<MeshPod> {
  const namespace = spec.namespace ?? 'default'
  const local = {namespace, pod: spec.name, deployment: spec.deployment}
  const app = http.createServer(spec.handler ?? scriptedApp)
  app.keepAliveTimeout = 500
  const appPort = await listen(app)
  const metrics = createProxyMetrics({localLabels: local})
  const hub = new TapHub({localLabels: local})
  const cfg = loadProxyConfig({}, {inbound: '127.0.0.1:0', outbound: '127.0.0.1:0', admin: '127.0.0.1:0', tap: '127.0.0.1:0'})
  cfg.inboundForward = {host: '127.0.0.1', port: appPort}
  cfg.podLabels = local
  cfg.retry.limit = 0
  if (spec.proxyRoutes) cfg.routes = parseRoutes(spec.proxyRoutes, 'MESH_PROXY_ROUTES')
  const proxy = await startProxy(cfg, {
    log: new Logger('error', 'plain'),
    originalDst: null,
    observers: [metrics.observer, hub],
    discovery: spec.discovery ?? new LabelledDiscovery(spec.routes ?? {}),
    ...(spec.identity ? {identity: spec.identity} : {}),
  })
  const host = spec.host ?? '127.0.0.1'
  const admin = await startAdmin({listen: `${host}:0`, registry: metrics.registry, ready: () => true, onShutdown: () => {}, getLogLevel: () => 'error', setLogLevel: () => {}})
  const tap = await startProxyTap({listen: `${host}:0`, hub, heartbeatMs: 60_000, ...spec.tapIdentity})
  const info: LocalPod = {
    namespace,
    name: spec.name,
    ip: host,
    owner: {kind: 'deployment', name: spec.deployment, namespace},
    meshed: true,
    running: true,
    labels: {app: spec.deployment},
    adminAddress: `${host}:${admin.address.port}`,
    tapAddress: `${host}:${tap.address.port}`,
    inboundAddress: `127.0.0.1:${proxy.ports.inbound}`,
    services: [spec.deployment],
  }
  let stopped = false
  return {
    info, proxy, app, admin, tap, hub,
    stop: async () => {
      if (stopped) return
      stopped = true
      await Promise.all([proxy.close(100), tap.close(), admin.close(), new Promise<void>((r) => { app.closeAllConnections(); app.close(() => r()) })])
    },
  }
}

export interface Plane {
  pods: LocalPod[]
  server: RunningTapServer
  home: string
  token: string
  env: Record<string, string>
  close(): Promise<void>
}

/** The local control plane's tap server over these pods, and the local context file the CLI reads. */
export async function startLocalPlane(pods: LocalPod[], opts: {refreshMs?: number} = {}): Promise<Plane> {
  const token = 'test-token-' + Math.random().toString(36).slice(2)
  const resolver = new LocalResolver(() => pods)
  const server = await startTapServer({
    resolver,
    authorizer: new LocalTokenAuthorizer(token),
    lookup: (addr) => resolver.podByAddress(addr),
    store: new MetricsStore({intervalMs: 60_000}),
    refreshMs: opts.refreshMs ?? 300,
  })
  const home = mkdtempSync(path.join(tmpdir(), 'mesh-home-'))
  const env = {MESH_HOME: home}
  writeLocalContext({version: 1, pid: process.pid, tap: server.url, token, namespace: 'default'}, env)
  return {
    pods, server, home, token, env,
    close: async () => {
      await server.close()
      rmSync(home, {recursive: true, force: true})
    },
  }
}

/** web-0 (deploy/web) sending to books-0 (deploy/books) through real proxies, and the local plane over both. */
export async function startWebAndBooks(): Promise<{web: MeshPod; books: MeshPod; plane: Plane; close(): Promise<void>}> {
  const books = await startMeshPod({name: 'books-0', deployment: 'books'})
  const web = await startMeshPod({name: 'web-0', deployment: 'web', routes: {'books:80': books}})
  const plane = await startLocalPlane([books.info, web.info])
  return {web, books, plane, close: async () => {
    await plane.close()
    await Promise.all([books.stop(), web.stop()])
  }}
}

export interface Sent {
  status: number
  ms: number
}

/** One request through a pod's outbound proxy, addressed to `authority`. */
export function send(via: MeshPod, authority: string, reqPath: string, method = 'GET'): Promise<Sent> {
  const t0 = performance.now()
  return new Promise((resolve, reject) => {
    const req = http.request({host: '127.0.0.1', port: via.proxy.ports.outbound, path: reqPath, method, headers: {host: authority}, agent: false}, (res) => {
      res.resume()
      res.on('end', () => resolve({status: res.statusCode ?? 0, ms: performance.now() - t0}))
    })
    req.on('error', reject)
    req.setTimeout(5_000, () => req.destroy(new Error('request timed out')))
    req.end()
  })
}

/** The scripted traffic: 20 /ok, 5 /fail, 5 /slow, in that order, bounded. */
export async function scriptedTraffic(via: MeshPod, authority: string): Promise<Sent[]> {
  const out: Sent[] = []
  const paths = [...Array(20).fill('/ok'), ...Array(5).fill('/fail'), ...Array(5).fill('/slow')] as string[]
  for (const p of paths) out.push(await send(via, authority, p))
  return out
}

/** Sets process.env for in-process CLI runs; returns the undo. */
export function withEnv(env: Record<string, string | undefined>): () => void {
  const before: Record<string, string | undefined> = {}
  for (const [k, v] of Object.entries(env)) {
    before[k] = process.env[k]
    if (v === undefined) delete process.env[k]
    else process.env[k] = v
  }
  return () => {
    for (const [k, v] of Object.entries(before)) {
      if (v === undefined) delete process.env[k]
      else process.env[k] = v
    }
  }
}
