// Routes from the control plane, applied by a running proxy (docs/architecture/routes.md, "What a
// proxy must do"): the real controller in local mode (routes in its registry file) streams the
// policy over the destination connection to a real sidecar (runSidecar: data path, admin with
// /metrics) in front of real apps on 127.0.0.1. Matching (path, method, header, query), 404 when
// nothing matches (gRPC: trailers-only UNIMPLEMENTED), request header changes, a weighted split
// within a bound that correct behaviour cannot leave, a header canary, timeouts (504), retries
// on 5xx (counted), the per-attempt timeout retried, a live change without restart, the last good
// policy kept when an update is refused, and the route/route_kind/backend labels.
// Runs under the HTTP/1 codec MESH_PROXY_HTTP1_CODEC selects (run it under both).
import {mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync} from 'node:fs'
import http from 'node:http'
import http2 from 'node:http2'
import os from 'node:os'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {stringify} from 'yaml'
import {startController, type RunningController} from '../../src/control/controller.js'
import {controllerIdentityName} from '../../src/control/identity/index.js'
import {createLogger} from '../../src/control/logger.js'
import {parseMetrics} from '../../src/metrics/index.js'
import {runSidecar, type Sidecar} from '../../src/proxy/run.js'
import {eventually} from '../helpers/eventually.js'
import {closeServer, listenOn, quietLog, testConfig} from './helpers.js'

let tmp: string
let registryFile: string
let controller: RunningController
let sidecar: Sidecar
const log: string[] = []
const apps: Record<string, {server: http.Server; port: number; seen: Array<{url: string; headers: http.IncomingHttpHeaders}>}> = {}
let h2app: http2.Http2Server
let h2port = 0
/** Arrivals at the HTTP/2 app of /demo.Flaky/* and /hang-once (each fails or hangs on odd arrivals). */
let h2Flaky = 0
let h2Hang = 0
/** Arrivals at the flaky app and of /hang-once at the slow app (they fail or hang on odd arrivals). */
let flakyArrivals = 0
/** When each URL arrived at the flaky app (performance.now()). */
const flakyTimes = new Map<string, number[]>()
let slowArrivals = 0
const hung: http.ServerResponse[] = []
/** The first attempt of /inflight/held, held at gate-1. */
let held: http.ServerResponse | undefined

async function app(name: string, handler?: (req: http.IncomingMessage, res: http.ServerResponse) => boolean): Promise<void> {
  const seen: Array<{url: string; headers: http.IncomingHttpHeaders}> = []
  const server = http.createServer((req, res) => {
    req.resume()
    req.on('end', () => {
      seen.push({url: req.url ?? '', headers: req.headers})
      if (handler?.(req, res)) return
      res.writeHead(200, {'content-type': 'application/json'})
      res.end(JSON.stringify({app: name, url: req.url, headers: req.headers}))
    })
  })
  apps[name] = {server, port: await listenOn(server), seen}
}

const svc = (name: string, port: number) => ({name, namespace: 'shop', ports: [{port: 8080, endpoints: [{address: '127.0.0.1', port}]}]})
const parent = (name: string) => ({group: '', kind: 'Service', name, port: 8080})
const to = (name: string, weight?: number) => (weight === undefined ? {name, port: 8080} : {name, port: 8080, weight})

function services(): unknown[] {
  return [
    svc('books', apps.books!.port), svc('books-v2', apps['books-v2']!.port), svc('books-slow', apps['books-slow']!.port),
    svc('books-flaky', apps['books-flaky']!.port), svc('plain', apps.plain!.port), svc('h2', h2port),
    svc('gate-1', apps['gate-1']!.port), svc('gate-2', apps['gate-2']!.port),
  ]
}

function booksRoute(live: string): unknown {
  return {
    kind: 'HTTPRoute',
    metadata: {name: 'books-api', namespace: 'shop'},
    spec: {
      parentRefs: [parent('books')],
      rules: [
        {matches: [{path: {type: 'Exact', value: '/exact'}}], backendRefs: [to('books-v2')]},
        {
          matches: [{path: {type: 'PathPrefix', value: '/api'}, method: 'POST'}],
          filters: [{type: 'RequestHeaderModifier', requestHeaderModifier: {set: [{name: 'x-routed', value: 'post'}], add: [{name: 'x-added', value: 'added'}], remove: ['x-drop']}}],
          backendRefs: [to('books-v2')],
        },
        {matches: [{path: {type: 'PathPrefix', value: '/api'}}], backendRefs: [to('books')]},
        {matches: [{path: {type: 'PathPrefix', value: '/canary'}, headers: [{name: 'x-canary', value: 'canary'}]}], backendRefs: [to('books-v2')]},
        {matches: [{path: {type: 'PathPrefix', value: '/canary'}}], backendRefs: [to('books')]},
        {matches: [{path: {type: 'PathPrefix', value: '/q'}, queryParams: [{name: 'v', value: '2'}]}], backendRefs: [to('books-v2')]},
        {matches: [{path: {type: 'RegularExpression', value: '/re/[0-9]+'}}], backendRefs: [to('books-v2')]},
        {matches: [{path: {type: 'PathPrefix', value: '/split'}}], backendRefs: [to('books', 50), to('books-v2', 50)]},
        {matches: [{path: {type: 'PathPrefix', value: '/slow'}}], timeouts: {request: '300ms'}, backendRefs: [to('books-slow')]},
        {matches: [{path: {type: 'PathPrefix', value: '/live'}}], backendRefs: [to(live)]},
        {matches: [{path: {type: 'PathPrefix', value: '/broken'}}], backendRefs: [to('books', 0), to('books-v2', 0)]},
      ],
    },
  }
}

const retryRoute = {
  kind: 'HTTPRoute',
  metadata: {name: 'flaky-retry', namespace: 'shop', annotations: {'retry.mesh.dev/http': '5xx', 'retry.mesh.dev/limit': '2', 'retry.mesh.dev/timeout': '300ms'}},
  spec: {parentRefs: [parent('books-flaky')], rules: [{matches: [{path: {type: 'PathPrefix', value: '/flaky'}}]}, {matches: [{path: {type: 'PathPrefix', value: '/hang-once'}}], backendRefs: [to('books-slow')]}]},
}

const backoffRoute = {
  kind: 'HTTPRoute',
  metadata: {name: 'flaky-backoff', namespace: 'shop'},
  spec: {parentRefs: [parent('books-flaky')], rules: [{matches: [{path: {type: 'PathPrefix', value: '/backoff'}}], retry: {attempts: 1, codes: [503], backoff: '200ms'}}]},
}

const h2Route = {
  kind: 'HTTPRoute',
  metadata: {name: 'h2-route', namespace: 'shop', annotations: {'retry.mesh.dev/http': '5xx', 'retry.mesh.dev/limit': '2', 'retry.mesh.dev/timeout': '300ms'}},
  spec: {
    parentRefs: [parent('h2')],
    rules: [
      {matches: [{path: {type: 'PathPrefix', value: '/x'}}], filters: [{type: 'RequestHeaderModifier', requestHeaderModifier: {set: [{name: 'x-h2', value: 'routed'}]}}]},
      {matches: [{path: {type: 'PathPrefix', value: '/hang-once'}}]},
    ],
  },
}

const grpcRoute = {
  kind: 'GRPCRoute',
  metadata: {name: 'h2-grpc', namespace: 'shop', annotations: {'retry.mesh.dev/grpc': 'unavailable', 'retry.mesh.dev/limit': '2'}},
  spec: {parentRefs: [parent('h2')], rules: [{matches: [{method: {service: 'demo.Flaky'}}]}]},
}

/** Where the `inflight` route sends /inflight (a route of its own, written with every document). */
let inflightTarget: string | undefined = 'gate-1'
const inflightRoute = (): unknown => ({
  kind: 'HTTPRoute',
  metadata: {name: 'inflight', namespace: 'shop', annotations: {'retry.mesh.dev/http': '503', 'retry.mesh.dev/limit': '1'}},
  spec: {parentRefs: [parent('books')], rules: [{matches: [{path: {type: 'PathPrefix', value: '/inflight'}}], backendRefs: [to(inflightTarget!)]}]},
})

function writeRegistry(routes: unknown[]): void {
  writeFileSync(registryFile + '.tmp', stringify({services: services(), routes: inflightTarget === undefined ? routes : [...routes, inflightRoute()]}))
  renameSync(registryFile + '.tmp', registryFile)
}

const agent = new http.Agent({keepAlive: true, maxSockets: 4})

interface Res {
  status: number
  headers: http.IncomingHttpHeaders
  body: string
}

function get(p: string, headers: Record<string, string> = {}, method = 'GET', host = 'books.shop.svc.cluster.local:8080'): Promise<Res> {
  return new Promise((resolve, reject) => {
    const req = http.request({host: '127.0.0.1', port: sidecar.ports.outbound, path: p, method, agent, headers: {host, ...headers}, timeout: 20_000}, (res) => {
      let body = ''
      res.setEncoding('utf8').on('data', (d: string) => (body += d)).on('end', () => resolve({status: res.statusCode ?? 0, headers: res.headers, body}))
    })
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.on('error', reject)
    req.end()
  })
}

/** Which app answered (the apps answer JSON naming themselves). */
async function who(p: string, headers: Record<string, string> = {}, method = 'GET'): Promise<string> {
  const r = await get(p, headers, method)
  expect(r.status, r.body).toBe(200)
  return (JSON.parse(r.body) as {app: string}).app
}

beforeAll(async () => {
  await app('books')
  await app('books-v2')
  await app('plain')
  // gate-1 holds the first /inflight/held request until the test answers it.
  await app('gate-1', (req, res) => {
    if (req.url !== '/inflight/held' || held !== undefined) return false
    held = res
    return true
  })
  await app('gate-2')
  await app('books-slow', (req, res) => {
    // /slow hangs (the route's 300 ms timeout answers); /hang-once hangs on odd arrivals only.
    if (req.url?.startsWith('/slow')) {
      hung.push(res)
      return true
    }
    slowArrivals++
    if (slowArrivals % 2 === 1) {
      hung.push(res)
      return true
    }
    return false
  })
  await app('books-flaky', (req, res) => {
    // Each URL fails its odd arrivals (the first, then every other), whatever came before.
    const url = req.url ?? ''
    const times = flakyTimes.get(url) ?? []
    times.push(performance.now())
    flakyTimes.set(url, times)
    flakyArrivals++
    if (times.length % 2 === 1) {
      res.writeHead(503).end('flaky')
      return true
    }
    return false
  })
  h2app = http2.createServer()
  h2app.on('stream', (stream, headers) => {
    const p = headers[':path'] ?? ''
    if (p.startsWith('/demo.Flaky/') && ++h2Flaky % 2 === 1) {
      stream.respond({':status': 200, 'content-type': 'application/grpc', 'grpc-status': '14', 'grpc-message': 'flaky'}, {endStream: true})
      return
    }
    if (p.startsWith('/hang-once') && ++h2Hang % 2 === 1) return // never answered (the session's close ends it)
    if (p.startsWith('/demo.')) {
      stream.respond({':status': 200, 'content-type': 'application/grpc'}, {waitForTrailers: true})
      stream.on('wantTrailers', () => stream.sendTrailers({'grpc-status': '0'}))
      stream.end()
      return
    }
    stream.respond({':status': 200, 'content-type': 'application/json'})
    stream.end(JSON.stringify({app: 'h2', headers}))
  })
  h2port = await listenOn(h2app as unknown as http.Server)
  tmp = mkdtempSync(path.join(os.tmpdir(), 'mesh-proxy-routes-'))
  registryFile = path.join(tmp, 'registry.yaml')
  writeRegistry([booksRoute('books'), retryRoute, backoffRoute, h2Route, grpcRoute])
  controller = await startController({
    mode: 'local', identityDir: path.join(tmp, 'ca'), registryFile, identityPort: 0, destinationPort: 0, tapPort: 0,
    log: createLogger({level: 'info', write: (l) => void log.push(l)}),
  })
  const anchors = readFileSync(path.join(tmp, 'ca', 'ca.crt'), 'utf8')
  sidecar = await runSidecar(testConfig(), {
    MESH_PROXY_DESTINATION_ADDR: `wss://127.0.0.1:${controller.ctx.destination!.port}`, MESH_PROXY_DESTINATION_IDENTITY: controllerIdentityName(),
    MESH_PROXY_IDENTITY_TRUST_ANCHORS_PEM: anchors, MESH_PROXY_POD_NAMESPACE: 'shop',
  }, quietLog())
  // The first request resolves the authority and opens its routes stream; until the policy
  // arrives the default route applies (/exact goes to books itself).
  await eventually('the route policy to reach the proxy', async () => ((await who('/exact')) === 'books-v2' ? true : undefined), {intervalMs: 50})
}, 60_000)

afterAll(async () => {
  for (const r of hung) r.destroy()
  agent.destroy()
  await sidecar?.stop(200)
  await controller?.stop()
  for (const a of Object.values(apps)) await closeServer(a.server)
  await closeServer(h2app as unknown as http.Server)
  if (tmp) rmSync(tmp, {recursive: true, force: true})
})

describe('a proxy applies the control plane\'s routes', () => {
  it('matches path (exact, prefix by segment, regex), method, header and query', async () => {
    expect(await who('/exact')).toBe('books-v2')
    expect(await who('/api/1')).toBe('books')
    expect(await who('/api/1', {}, 'POST')).toBe('books-v2')
    expect(await who('/canary/1')).toBe('books')
    expect(await who('/canary/1', {'x-canary': 'canary'})).toBe('books-v2')
    expect(await who('/canary/1', {'x-canary': 'stable'})).toBe('books')
    expect(await who('/q?v=2')).toBe('books-v2')
    expect(await who('/q?v=%32&v=1')).toBe('books-v2') // the first value, percent-decoded
    expect((await get('/q?v=1')).status).toBe(404)
    expect(await who('/re/123')).toBe('books-v2')
    expect((await get('/re/12a')).status).toBe(404)
  })

  it('answers 404 with mesh-proxy-error when a route list matches nothing, and 500 for a backend share with no weight', async () => {
    for (const p of ['/exact/more', '/apiary', '/', '/nothing']) {
      const r = await get(p)
      expect(r.status, p).toBe(404)
      expect(r.headers['mesh-proxy-error']).toBe('no route matches')
    }
    const b = await get('/broken')
    expect(b.status).toBe(500)
    expect(b.headers['mesh-proxy-error']).toMatch(/books-api: every backend weight is 0/)
  })

  it('applies the rule\'s request header changes (set, add, remove)', async () => {
    const before = apps['books-v2']!.seen.length
    expect(await who('/api/x', {'x-routed': 'client', 'x-drop': 'secret', 'x-keep': '1'}, 'POST')).toBe('books-v2')
    const h = apps['books-v2']!.seen.slice(before).find((s) => s.url === '/api/x')!.headers
    expect(h['x-routed']).toBe('post')
    expect(h['x-added']).toBe('added')
    expect(h['x-drop']).toBeUndefined()
    expect(h['x-keep']).toBe('1')
  })

  it('splits 50/50 by weight within a binomial bound that fails with probability below 1e-9', async () => {
    const n = 400
    let v2 = 0
    for (let i = 0; i < n; i++) if ((await who(`/split/${i}`)) === 'books-v2') v2++
    // Hoeffding: P(|X - n/2| >= t) <= 2 exp(-2 t^2 / n); t = sqrt(n ln(2e9) / 2) makes it 1e-9.
    const t = Math.sqrt((n * Math.log(2e9)) / 2)
    expect(v2).toBeGreaterThan(n / 2 - t)
    expect(v2).toBeLessThan(n / 2 + t)
  })

  it('answers 504 when the route\'s request timeout passes', async () => {
    const r = await get('/slow/1')
    expect(r.status).toBe(504)
    expect(r.headers['mesh-proxy-error']).toBeDefined()
  })

  it('retries 5xx as the route says, counted, and retries an attempt past its backendRequest timeout', async () => {
    const flaky = 'books-flaky.shop.svc.cluster.local:8080'
    // Its policy is there once a path no rule has is refused (before it, the default route).
    await eventually('the flaky service\'s route policy', async () => ((await get('/none', {}, 'GET', flaky)).status === 404 ? true : undefined), {intervalMs: 50})
    const retriesBefore = sidecar.proxy.stats.retries
    const arrivals = flakyArrivals
    for (let i = 0; i < 4; i++) {
      const r = await get(`/flaky/${i}`, {}, 'POST', flaky)
      expect(r.status, r.body).toBe(200)
    }
    expect(flakyArrivals - arrivals).toBe(8) // each request: a 503, then the retry that succeeds
    expect(sidecar.proxy.stats.retries - retriesBefore).toBe(4)
    // The Gateway API retry field with a backoff: the retry goes no sooner than 200 ms after the 503.
    // (Timers never fire early by more than the clock's rounding: 5 ms of slack.)
    const b = await get('/backoff/1', {}, 'POST', flaky)
    expect(b.status, b.body).toBe(200)
    const [first, second] = flakyTimes.get('/backoff/1')!
    expect(second! - first!).toBeGreaterThanOrEqual(195)
    // The first attempt hangs past retry.mesh.dev/timeout (300ms), the retry is answered.
    const slowBefore = slowArrivals
    const r = await get('/hang-once', {}, 'POST', flaky)
    expect(r.status, r.body).toBe(200)
    expect(slowArrivals - slowBefore).toBe(2)
  })

  it('labels requests with route, route_kind and backend in /metrics', async () => {
    await who('/exact')
    const text = await (await fetch(`http://127.0.0.1:${sidecar.ports.admin}/metrics`)).text()
    const samples = parseMetrics(text).get('request_total')!.samples.filter((s) => s.labels.direction === 'outbound')
    const one = samples.find((s) => s.labels.route === 'books-api' && s.labels.backend === 'shop/books-v2:8080')
    expect(one?.labels.route_kind).toBe('HTTPRoute')
    expect(samples.some((s) => s.labels.route === 'books-api' && s.labels.backend === 'shop/books:8080')).toBe(true)
    expect(samples.some((s) => s.labels.route === 'default' && s.labels.route_kind === 'default')).toBe(true) // the 404s
    const resp = parseMetrics(text).get('response_total')!.samples
    expect(resp.some((s) => s.labels.route === 'books-api' && s.labels.route_kind === 'HTTPRoute' && s.labels.backend === 'shop/books-v2:8080' && s.labels.classification === 'success')).toBe(true)
  })

  it('over HTTP/2: rules and header changes apply; no match is 404, for gRPC a trailers-only UNIMPLEMENTED; retries and the per-attempt timeout', async () => {
    const session = http2.connect(`http://127.0.0.1:${sidecar.ports.outbound}`)
    const grpcHeaders = {'content-type': 'application/grpc', te: 'trailers', ':method': 'POST'}
    const h2get = (p: string, headers: Record<string, string> = {}): Promise<{headers: http2.IncomingHttpHeaders; trailers: http2.IncomingHttpHeaders; body: string}> => new Promise((resolve, reject) => {
      const s = session.request({':path': p, ':authority': 'h2.shop.svc.cluster.local:8080', ...headers})
      let body = ''
      let head: http2.IncomingHttpHeaders = {}
      let trailers: http2.IncomingHttpHeaders = {}
      s.on('response', (h) => (head = h))
      s.on('trailers', (t) => (trailers = t))
      s.setEncoding('utf8').on('data', (d: string) => (body += d)).on('end', () => resolve({headers: head, trailers, body})).on('error', reject)
      s.end()
    })
    try {
      const ok = await eventually('the h2 route policy', async () => {
        const r = await h2get('/x/1')
        return (JSON.parse(r.body) as {headers: Record<string, string>}).headers['x-h2'] === 'routed' ? r : undefined
      }, {intervalMs: 50})
      expect(ok.headers[':status']).toBe(200)
      const miss = await h2get('/y')
      expect(miss.headers[':status']).toBe(404)
      expect(miss.headers['mesh-proxy-error']).toBe('no route matches')
      // A gRPC request uses the GRPCRoute list (not empty): no method matches, UNIMPLEMENTED.
      const g = await h2get('/pkg.Svc/Method', grpcHeaders)
      expect(g.headers[':status']).toBe(200)
      expect(g.headers['grpc-status']).toBe('12')
      expect(g.headers['mesh-proxy-error']).toBe('no route matches')
      // UNAVAILABLE on every other arrival: the GRPCRoute's retry answers each call with OK.
      const retriesBefore = sidecar.proxy.stats.retries
      const before = h2Flaky
      for (let i = 0; i < 3; i++) {
        const r = await h2get('/demo.Flaky/Call', grpcHeaders)
        expect(r.trailers['grpc-status'] ?? r.headers['grpc-status']).toBe('0')
      }
      expect(h2Flaky - before).toBe(6)
      expect(sidecar.proxy.stats.retries - retriesBefore).toBe(3)
      // The first attempt hangs past the route's 300 ms per-attempt timeout; the retry is answered.
      const hangBefore = h2Hang
      const hang = await h2get('/hang-once', {':method': 'POST'})
      expect(hang.headers[':status']).toBe(200)
      expect(h2Hang - hangBefore).toBe(2)
      const text = await (await fetch(`http://127.0.0.1:${sidecar.ports.admin}/metrics`)).text()
      const samples = parseMetrics(text).get('request_total')!.samples
      expect(samples.some((x) => x.labels.route === 'h2-grpc' && x.labels.route_kind === 'GRPCRoute' && x.labels.backend === 'shop/h2:8080')).toBe(true)
    } finally {
      session.close()
    }
  })

  it('a request in flight keeps its rule when a new policy arrives: its retry goes to the old rule\'s backend', async () => {
    const inflight = get('/inflight/held', {}, 'POST')
    await eventually('the request to be held at gate-1', () => held, {intervalMs: 20})
    inflightTarget = 'gate-2'
    writeRegistry([booksRoute('books'), retryRoute, backoffRoute, h2Route, grpcRoute])
    await eventually('the new policy to apply', async () => ((await who('/inflight/probe')) === 'gate-2' ? true : undefined), {intervalMs: 50})
    // Now the held attempt fails with a 503: the retry follows the rule the request was given.
    held!.writeHead(503).end('held')
    const r = await inflight
    expect(r.status, r.body).toBe(200)
    expect((JSON.parse(r.body) as {app: string}).app).toBe('gate-1')
    expect(apps['gate-1']!.seen.filter((x) => x.url === '/inflight/held')).toHaveLength(2)
    expect(apps['gate-2']!.seen.filter((x) => x.url === '/inflight/held')).toHaveLength(0)
  })

  it('applies a new policy without restart, and keeps the last good one when an update is refused', async () => {
    expect(await who('/live')).toBe('books')
    writeRegistry([booksRoute('books-v2'), retryRoute, backoffRoute, h2Route, grpcRoute])
    await eventually('the new policy to apply', async () => ((await who('/live')) === 'books-v2' ? true : undefined), {intervalMs: 50})
    const refusedBefore = log.filter((l) => l.includes('registry reload failed')).length
    const bad = booksRoute('books') as {spec: {rules: Array<Record<string, unknown>>}}
    bad.spec.rules[0]!.filters = [{type: 'URLRewrite', urlRewrite: {hostname: 'x'}}]
    writeRegistry([bad, retryRoute, backoffRoute, h2Route, grpcRoute])
    await eventually('the refused reload to be logged', () => (log.filter((l) => l.includes('registry reload failed')).length > refusedBefore ? true : undefined), {intervalMs: 20})
    // The controller refused the document: the proxy keeps the policy it holds.
    for (let i = 0; i < 5; i++) expect(await who('/live')).toBe('books-v2')
    expect(await who('/exact')).toBe('books-v2')
    // Removing the routes: the default route, the authority itself (no 404 any more).
    inflightTarget = undefined
    writeRegistry([retryRoute, backoffRoute, h2Route, grpcRoute])
    await eventually('the default route', async () => ((await get('/nothing')).status === 200 ? true : undefined), {intervalMs: 50})
    expect(await who('/exact')).toBe('books')
  })
})
