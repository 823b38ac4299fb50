// A destination service that sends route policies no controller would: wrong shapes, rule
// indexes out of range, patterns that do not compile, generated garbage. The proxy (in process,
// its real DestinationClient on a real WebSocket) must treat each as no policy (the default
// route: the request reaches the app) and keep serving; a good policy after them applies.
import http from 'node:http'
import fc from 'fast-check'
import {WebSocketServer, type WebSocket} from 'ws'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {DestinationClient} from '../../src/proxy/discovery/destination-client.js'
import {startProxy, type RunningProxy} from '../../src/proxy/server.js'
import {eventually} from '../helpers/eventually.js'
import {closeServer, quietLog, startEchoApp, testConfig, type EchoApp} from './helpers.js'

const AUTHORITY = 'books.shop.svc.cluster.local:8080'
let app: EchoApp
let wss: WebSocketServer
let proxy: RunningProxy
let discovery: DestinationClient
/** The routes streams open now, by socket, and the policy each new one gets first. */
const streams: Array<{ws: WebSocket; id: number}> = []
let current: unknown = undefined

const good = {
  version: 1, authority: AUTHORITY, revision: 'good', routes: [{kind: 'HTTPRoute', namespace: 'shop', name: 'r', generation: 1}],
  rules: [{route: {kind: 'HTTPRoute', namespace: 'shop', name: 'r', rule: 0}, backends: [{weight: 1, authority: AUTHORITY, service: {namespace: 'shop', name: 'books', port: 8080}}]}],
  http: [{match: {path: {type: 'prefix', value: '/ok'}}, rule: 0}], grpc: [],
}

function send(policy: unknown): void {
  current = policy
  for (const s of streams) s.ws.send(JSON.stringify({...(policy as object), id: s.id, type: 'routes'}))
}

function get(path: string): Promise<{status: number; header: string | undefined}> {
  return new Promise((resolve, reject) => {
    const req = http.get({host: '127.0.0.1', port: proxy.ports.outbound, path, agent: false, headers: {host: AUTHORITY}, timeout: 10_000}, (res) => {
      res.resume().on('end', () => resolve({status: res.statusCode ?? 0, header: res.headers['mesh-proxy-error'] as string | undefined}))
    })
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.on('error', reject)
  })
}

beforeAll(async () => {
  app = await startEchoApp()
  wss = new WebSocketServer({host: '127.0.0.1', port: 0})
  await new Promise((r) => wss.once('listening', r))
  wss.on('connection', (ws) => {
    ws.on('message', (d) => {
      const m = JSON.parse(String(d)) as {type: string; id: number}
      if (m.type === 'watch') ws.send(JSON.stringify({id: m.id, type: 'add', endpoints: [{address: '127.0.0.1', port: app.port, labels: {}}]}))
      if (m.type === 'watchRoutes') {
        streams.push({ws, id: m.id})
        if (current !== undefined) ws.send(JSON.stringify({...(current as object), id: m.id, type: 'routes'}))
      }
    })
  })
  const port = (wss.address() as {port: number}).port
  discovery = new DestinationClient({addr: `ws://127.0.0.1:${port}`, namespace: 'shop'})
  proxy = await startProxy(testConfig(), {log: quietLog(), originalDst: null, discovery})
  // The first request opens the routes stream (default route until a policy comes).
  expect((await get('/first')).status).toBe(200)
  await eventually('the routes stream', () => (streams.length > 0 ? true : undefined), {intervalMs: 20})
})

afterAll(async () => {
  await proxy?.close(200)
  discovery?.close()
  wss?.close()
  await closeServer(app?.server)
})

describe('hostile route policies', () => {
  it('a good policy applies: /ok reaches the app, anything else is 404', async () => {
    send(good)
    await eventually('the good policy', async () => ((await get('/nope')).status === 404 ? true : undefined), {intervalMs: 20})
    expect((await get('/ok/1')).status).toBe(200)
  })

  const rules = good.rules
  it.each([
    ['a rule index out of range', {...good, revision: 'a', http: [{match: {}, rule: 7}]}],
    ['a negative rule index', {...good, revision: 'b', http: [{match: {}, rule: -1}]}],
    ['a rule without backends', {...good, revision: 'c', rules: [{route: rules[0]!.route, backends: []}]}],
    ['a rule that is null', {...good, revision: 'd', rules: [null]}],
    ['entries that are not a list', {...good, revision: 'e', http: {0: {match: {}, rule: 0}}}],
    ['another version', {...good, revision: 'f', version: 2}],
    ['a regex that does not compile', {...good, revision: 'g', http: [{match: {path: {type: 'regex', value: '(a'}}, rule: 0}]}],
    ['a match whose headers are not a list', {...good, revision: 'h', http: [{match: {headers: 'x'}}, {match: {}, rule: 0}]}],
  ])('%s is no policy: the default route, the proxy keeps serving', async (_name, policy) => {
    send(good)
    await eventually('the good policy', async () => ((await get('/nope')).status === 404 ? true : undefined), {intervalMs: 20})
    send(policy)
    // No policy: the default route, so /nope reaches the app; or, for a policy that is
    // well-formed as far as it goes (a regex that never matches), a 404. Never a 5xx.
    await eventually('the bad policy to be taken', async () => {
      const r = await get('/nope')
      expect(r.status).toBeLessThan(500)
      return r.status === 200 || (policy as {revision: string}).revision === 'g' ? true : undefined
    }, {intervalMs: 20})
    for (const p of ['/ok/1', '/x', '/']) expect((await get(p)).status).toBeLessThan(500)
  })

  it('generated garbage policies never make the proxy answer 5xx or stop', async () => {
    const garbage = fc.record({
      version: fc.constantFrom(1, 1, 1, 2, '1'),
      authority: fc.string(),
      revision: fc.string(),
      routes: fc.anything(),
      rules: fc.oneof(fc.array(fc.anything(), {maxLength: 3}), fc.constant(good.rules), fc.anything()),
      http: fc.oneof(fc.array(fc.record({match: fc.anything(), rule: fc.oneof(fc.integer({min: -2, max: 3}), fc.anything())}), {maxLength: 3}), fc.anything()),
      grpc: fc.oneof(fc.constant([]), fc.anything()),
    })
    const samples = fc.sample(garbage, 40)
    for (const [i, policy] of samples.entries()) {
      send({...policy, revision: `garbage-${i}`})
      for (const p of ['/ok/1', '/nope']) {
        const r = await get(p)
        expect(r.status, JSON.stringify(policy).slice(0, 300)).toBeLessThan(500)
      }
    }
    expect(proxy.isReady()).toBe(true)
  })
})
