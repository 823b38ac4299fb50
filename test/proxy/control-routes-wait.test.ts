// The first request to a Service waits (bounded) for its route policy, as Linkerd's proxy does,
// instead of taking the default route (docs/architecture/routes.md, "The first request"). A
// destination service (a real WebSocket server) holds each authority's first routes message
// until the test releases it, after it saw the proxy ask: the first request, already in flight,
// must then obey the route (answered by the route's backend, app v2; the default route is app
// v1), over the raw HTTP/1 codec, the node codec (absolute-form, handed over) and HTTP/2, a
// POST whose body is larger than a head (the raw codec pauses reading while it waits), and a
// client that leaves while waiting. A policy that does not come within the wait: the request
// takes the default route, the wait is counted (timeout) and not waited again. Every bound in
// this file is an outcome, never a speed: the waits end on the server's messages.
import http from 'node:http'
import http2 from 'node:http2'
import net from 'node:net'
import {WebSocketServer, type WebSocket} from 'ws'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {createProxyMetrics} from '../../src/metrics/proxy-metrics.js'
import {DestinationClient} from '../../src/proxy/discovery/destination-client.js'
import {startProxy, type RunningProxy} from '../../src/proxy/server.js'
import {eventually} from '../helpers/eventually.js'
import {closeServer, quietLog, startEchoApp, testConfig, type EchoApp} from './helpers.js'

const NS = 'shop'
const authority = (name: string): string => `${name}.${NS}.svc.cluster.local:8080`
const V2 = authority('v2')
/** HTTP/2 requests go to HTTP/2 apps: h2 (the default route) and h2v2 (the route's backend). */
const H2V2 = authority('h2v2')

let v1: EchoApp
let v2: EchoApp
const h2apps: Record<string, {server: http2.Http2Server; port: number}> = {}
let wss: WebSocketServer
/** routes streams asked for, by authority; `answer` sends the first message. */
const asked = new Map<string, {ws: WebSocket; id: number}>()

interface Plane {
  proxy: RunningProxy
  discovery: DestinationClient
  metrics: ReturnType<typeof createProxyMetrics>
}
let patient: Plane
let hasty: Plane
/** Waits as long as `patient`, with a client idle timeout far shorter than that wait. */
let restless: Plane
const IDLE_MS = 500

/** A policy sending every path of `name` to v2 (the route `to-v2`). */
function toV2(name: string, backend = V2): unknown {
  return {
    version: 1, authority: authority(name), revision: `${name}-1`, routes: [{kind: 'HTTPRoute', namespace: NS, name: 'to-v2', generation: 1}],
    rules: [{route: {kind: 'HTTPRoute', namespace: NS, name: 'to-v2', rule: 0}, backends: [{weight: 1, authority: backend, service: {namespace: NS, name: backend.split('.')[0], port: 8080}}]}],
    http: [{match: {path: {type: 'prefix', value: '/'}}, rule: 0}], grpc: [],
  }
}

function answer(name: string, msg: unknown): void {
  const s = asked.get(authority(name))!
  s.ws.send(JSON.stringify({...(msg as object), id: s.id}))
}

const seen = (name: string): Promise<true> => eventually(`the proxy to ask for ${name}'s routes`, () => (asked.has(authority(name)) ? true : undefined), {intervalMs: 10})

async function plane(routesWaitMs: number, httpIdleTimeoutMs?: number): Promise<Plane> {
  const port = (wss.address() as {port: number}).port
  const discovery = new DestinationClient({addr: `ws://127.0.0.1:${port}`, namespace: NS})
  const metrics = createProxyMetrics()
  const cfg = testConfig()
  cfg.routesWaitMs = routesWaitMs
  if (httpIdleTimeoutMs !== undefined) cfg.limits.httpIdleTimeoutMs = httpIdleTimeoutMs
  const proxy = await startProxy(cfg, {log: quietLog(), originalDst: null, discovery, observers: [metrics.observer]})
  return {proxy, discovery, metrics}
}

function waits(p: Plane, outcome: string): number {
  const m = new RegExp(`^mesh_proxy_route_policy_waits_total\\{outcome="${outcome}"\\} (\\d+)$`, 'm').exec(p.metrics.registry.metrics())
  return Number(m?.[1] ?? NaN)
}

/** Which app answered (the echo apps answer JSON with the request they saw; v2's port tells). */
interface Answer {
  status: number
  app: string
  bodyLength?: number
}

function h1(p: Plane, target: string, opts: {host?: string; method?: string; body?: Buffer} = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({host: '127.0.0.1', port: p.proxy.ports.outbound, path: target, method: opts.method ?? 'GET', agent: false, headers: opts.host ? {host: opts.host} : {}, timeout: 30_000}, (res) => {
      let body = ''
      res.setEncoding('utf8').on('data', (d: string) => (body += d)).on('end', () => {
        const j = (() => {
          try {
            return JSON.parse(body) as {headers: Record<string, string>; bodyLength: number}
          } catch {
            return undefined
          }
        })()
        resolve({status: res.statusCode ?? 0, app: j ? (j.headers['x-app'] ?? '?') : '-', bodyLength: j?.bodyLength})
      })
    })
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.on('error', reject)
    req.end(opts.body)
  })
}

async function h2(p: Plane, host: string, path: string): Promise<Answer> {
  const session = http2.connect(`http://127.0.0.1:${p.proxy.ports.outbound}`)
  try {
    return await new Promise<Answer>((resolve, reject) => {
      const s = session.request({':path': path, ':authority': host})
      let status = 0
      let body = ''
      s.on('response', (h) => (status = Number(h[':status'])))
      s.setEncoding('utf8').on('data', (d: string) => (body += d)).on('end', () => resolve({status, app: body}))
      s.on('error', reject)
      s.end()
    })
  } finally {
    session.close()
  }
}

beforeAll(async () => {
  // Each app tags what it answers by a header the proxy does not touch: the app names itself.
  const tagged = (name: string) => (req: http.IncomingMessage): boolean => {
    req.headers['x-app'] = name
    return false
  }
  v1 = await startEchoApp(tagged('v1'))
  v2 = await startEchoApp(tagged('v2'))
  for (const name of ['h2v1', 'h2v2']) {
    const server = http2.createServer()
    server.on('stream', (stream) => {
      stream.respond({':status': 200})
      stream.end(name)
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
    h2apps[name] = {server, port: (server.address() as net.AddressInfo).port}
  }
  wss = new WebSocketServer({host: '127.0.0.1', port: 0})
  await new Promise((r) => wss.once('listening', r))
  wss.on('connection', (ws) => {
    ws.on('message', (d) => {
      const m = JSON.parse(String(d)) as {type: string; id: number; authority: string}
      const port = m.authority === V2 ? v2.port : m.authority === H2V2 ? h2apps.h2v2!.port : m.authority === authority('h2') ? h2apps.h2v1!.port : v1.port
      if (m.type === 'watch') ws.send(JSON.stringify({id: m.id, type: 'add', endpoints: [{address: '127.0.0.1', port, labels: {}}]}))
      // The backends have no routes of their own; every other authority's first message waits for the test.
      if (m.type === 'watchRoutes' && (m.authority === V2 || m.authority === H2V2)) ws.send(JSON.stringify({id: m.id, type: 'routes', ...(toV2('v2') as object), routes: [], rules: [], http: []}))
      else if (m.type === 'watchRoutes') asked.set(m.authority, {ws, id: m.id})
    })
  })
  patient = await plane(60_000)
  hasty = await plane(200)
  restless = await plane(60_000, IDLE_MS)
})

afterAll(async () => {
  for (const p of [patient, hasty, restless]) {
    await p?.proxy.close(200)
    p?.discovery.close()
  }
  wss?.close()
  await closeServer(v1?.server)
  await closeServer(v2?.server)
  for (const a of Object.values(h2apps)) await new Promise((r) => a.server.close(r))
})

describe('the first request to a Service waits for its route policy', () => {
  it('raw HTTP/1 codec: the request in flight obeys the policy that arrives', async () => {
    const r = h1(patient, '/books/1', {host: authority('raw')})
    await seen('raw')
    answer('raw', {type: 'routes', ...(toV2('raw') as object)})
    expect(await r).toMatchObject({status: 200, app: 'v2'})
    expect(waits(patient, 'arrived')).toBe(1)
    // Settled: the next request does not wait, and obeys too.
    expect(await h1(patient, '/books/2', {host: authority('raw')})).toMatchObject({status: 200, app: 'v2'})
  })

  it('node codec (an absolute-form request, handed over by the raw codec)', async () => {
    const r = h1(patient, `http://${authority('node')}/books/1`)
    await seen('node')
    answer('node', {type: 'routes', ...(toV2('node') as object)})
    expect(await r).toMatchObject({status: 200, app: 'v2'})
  })

  it('HTTP/2 (h2c)', async () => {
    const r = h2(patient, authority('h2'), '/books/1')
    await seen('h2')
    answer('h2', {type: 'routes', ...(toV2('h2', H2V2) as object)})
    expect(await r).toMatchObject({status: 200, app: 'h2v2'})
  })

  it('a POST whose body is larger than a head is kept whole while it waits (raw codec pauses reading)', async () => {
    const body = Buffer.alloc(200_000, 'b')
    const r = h1(patient, '/upload', {host: authority('post'), method: 'POST', body})
    await seen('post')
    answer('post', {type: 'routes', ...(toV2('post') as object)})
    expect(await r).toMatchObject({status: 200, app: 'v2', bodyLength: body.length})
  })

  it('an older control plane (error) or a name that is not a Service ends the wait: the default route', async () => {
    const older = h1(patient, '/x', {host: authority('older')})
    await seen('older')
    answer('older', {type: 'error', code: 'BAD_REQUEST', message: 'unknown request type'})
    expect(await older).toMatchObject({status: 200, app: 'v1'})
    const none = h1(patient, '/x', {host: authority('gone')})
    await seen('gone')
    answer('gone', {type: 'noSuchService', authority: authority('gone'), external: false})
    expect(await none).toMatchObject({status: 200, app: 'v1'})
  })

  it('hostile while it waits: 256 KB of pipelined requests ending in contradictory framing; the first obeys the policy (raw codec), nothing reaches an app as the smuggled request, the listener serves others', async () => {
    const sock = net.connect(patient.proxy.ports.outbound, '127.0.0.1')
    await new Promise((r) => sock.once('connect', r))
    let got = ''
    sock.on('data', (d: Buffer) => (got += d.toString('latin1')))
    sock.on('error', () => {})
    let sockClosed = false
    const closed = new Promise<void>((r) => sock.once('close', () => { sockClosed = true; r() }))
    const one = `GET /flood HTTP/1.1\r\nHost: ${authority('flood')}\r\n\r\n`
    sock.write(one.repeat(Math.ceil(256_000 / one.length)))
    sock.write(`POST /smuggle HTTP/1.1\r\nHost: ${authority('flood')}\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`)
    await seen('flood')
    // Meanwhile another client of the same listener is served (an authority with its policy).
    expect(await h1(patient, '/other', {host: V2})).toMatchObject({status: 200, app: 'v2'})
    answer('flood', {type: 'routes', ...(toV2('flood') as object)})
    // The raw codec answers the first request (by the policy) before it reads the bad framing;
    // the node codec's parser (Node's server) reads ahead: the connection is closed past the
    // pipelined requests' bound (pipeline_limit), or refused with 400 at the contradictory
    // framing, and what was queued is dropped: either way no smuggled request.
    await eventually('the first pipelined answer, or the connection closed', () => (/^HTTP\/1\.1 (200|400) /.test(got) || sockClosed ? true : undefined))
    if (got.startsWith('HTTP/1.1 200 ')) expect(got).toContain('"x-app":"v2"')
    else expect(process.env.MESH_PROXY_HTTP1_CODEC).toBe('node')
    sock.destroy()
    await closed
    // Whatever of the flood was answered came from v2; the smuggling attempt never reached an app as a request.
    expect(got).not.toContain('/smuggle"')
    expect(got).not.toContain('"x-app":"v1"')
    expect(patient.proxy.isReady()).toBe(true)
    expect(await h1(patient, '/after', {host: authority('flood')})).toMatchObject({status: 200, app: 'v2'})
  })

  it('a request waiting for its policy is not idle: a client idle timeout shorter than the wait leaves its connection open', async () => {
    const sock = net.connect(restless.proxy.ports.outbound, '127.0.0.1')
    await new Promise((r) => sock.once('connect', r))
    sock.on('error', () => {})
    let got = ''
    let closed = false
    sock.on('data', (d: Buffer) => (got += d.toString('latin1')))
    sock.once('close', () => (closed = true))
    sock.write(`GET /waited HTTP/1.1\r\nHost: ${authority('restless')}\r\n\r\n`)
    await seen('restless')
    // A witness: a keep-alive connection of the same listener answered after the waiting request
    // was sent, then left idle. Once the idle timeout has closed it, the waiting connection has
    // gone at least as long without a byte either way.
    const witness = net.connect(restless.proxy.ports.outbound, '127.0.0.1')
    let witnessGot = ''
    witness.on('data', (d: Buffer) => (witnessGot += d.toString('latin1')))
    witness.on('error', () => {})
    const witnessClosed = new Promise((r) => witness.once('close', r))
    witness.write(`GET /witness HTTP/1.1\r\nHost: ${V2}\r\n\r\n`)
    await witnessClosed
    expect(witnessGot).toMatch(/^HTTP\/1\.1 200 [^]*"x-app":"v2"/)
    expect(closed).toBe(false)
    answer('restless', {type: 'routes', ...(toV2('restless') as object)})
    await eventually('the waiting request answered, or its connection closed', () => (/"x-app":"v\d"/.test(got) || closed ? true : undefined), {intervalMs: 10})
    expect(got).toMatch(/^HTTP\/1\.1 200 [^]*"x-app":"v2"/)
    sock.destroy()
  })

  it('a client that leaves while its request waits: nothing breaks, the policy applies to the next', async () => {
    const sock = net.connect(patient.proxy.ports.outbound, '127.0.0.1')
    await new Promise((r) => sock.once('connect', r))
    sock.write(`GET /left HTTP/1.1\r\nHost: ${authority('left')}\r\n\r\n`)
    await seen('left')
    sock.destroy()
    answer('left', {type: 'routes', ...(toV2('left') as object)})
    expect(await h1(patient, '/after', {host: authority('left')})).toMatchObject({status: 200, app: 'v2'})
    expect(patient.proxy.isReady()).toBe(true)
  })
})

describe('a policy that does not come within the wait', () => {
  it('the first request takes the default route, counted as a timeout; later ones do not wait again; the policy applies once it comes', async () => {
    const before = waits(hasty, 'timeout')
    expect(await h1(hasty, '/x', {host: authority('late')})).toMatchObject({status: 200, app: 'v1'})
    expect(waits(hasty, 'timeout')).toBe(before + 1)
    expect(await h1(hasty, '/y', {host: authority('late')})).toMatchObject({status: 200, app: 'v1'})
    expect(waits(hasty, 'timeout')).toBe(before + 1)
    answer('late', {type: 'routes', ...(toV2('late') as object)})
    await eventually('the late policy', async () => ((await h1(hasty, '/z', {host: authority('late')})).app === 'v2' ? true : undefined), {intervalMs: 20})
  })

  it('MESH_PROXY_ROUTE_POLICY_WAIT: a duration from 0 to 60s, else a clear error naming it', async () => {
    const {loadProxyConfig} = await import('../../src/proxy/config/config.js')
    expect(loadProxyConfig({}).routesWaitMs).toBe(1500)
    expect(loadProxyConfig({MESH_PROXY_ROUTE_POLICY_WAIT: '0'}).routesWaitMs).toBe(0)
    expect(loadProxyConfig({MESH_PROXY_ROUTE_POLICY_WAIT: '250ms'}).routesWaitMs).toBe(250)
    expect(() => loadProxyConfig({MESH_PROXY_ROUTE_POLICY_WAIT: '2m'})).toThrow(/MESH_PROXY_ROUTE_POLICY_WAIT="2m" is longer than 60s/)
    expect(() => loadProxyConfig({MESH_PROXY_ROUTE_POLICY_WAIT: 'soon'})).toThrow(/MESH_PROXY_ROUTE_POLICY_WAIT="soon" is not a duration/)
  })
})
