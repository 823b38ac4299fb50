// What 1,000 control-plane routes cost the proxy per request, against no routes, in one process
// (interleaved rounds, so both sides see the same machine):
//   1. routePolicyOf as the codecs call it (src/proxy/route/routes.ts): the request's rule and
//      backend, for a request matching the first-ranked entry, the last one (a scan of all
//      2,000 entries), and none (404), against an authority without a policy.
//   2. Through a real proxy (startProxy, its DestinationClient on a real WebSocket to a stand-in
//      destination service, an echo app behind it): keep-alive HTTP/1 requests, 8 at a time, to
//      an authority with a policy of 1,000 routes (matching the last entry) and to one without.
//   npx tsx bench/routes-match.ts [requests per round=4000] [rounds=4]
import http from 'node:http'
import os from 'node:os'
import {WebSocketServer} from 'ws'
import {loadProxyConfig} from '../src/proxy/config/config.js'
import {routeTable} from '../src/proxy/config/route-policy.js'
import {Logger} from '../src/proxy/core/log.js'
import {newStats} from '../src/proxy/core/stats.js'
import {DestinationClient} from '../src/proxy/discovery/destination-client.js'
import {RetryBudget} from '../src/proxy/route/retry-budget.js'
import {routePolicyOf} from '../src/proxy/route/routes.js'
import type {Side} from '../src/proxy/route/side.js'
import {startProxy} from '../src/proxy/server.js'
import {compilePolicy} from '../src/routes/policy.js'
import {PolicyMatcher} from '../src/routes/match.js'
import {validateRoute} from '../src/routes/validate.js'

const perRound = Number(process.argv[2] ?? 4000)
const rounds = Number(process.argv[3] ?? 4)
const ROUTED = 'books.shop.svc.cluster.local:8080'
const PLAIN = 'plain.shop.svc.cluster.local:8080'

// 1,000 routes on one Service, each an Exact and a PathPrefix+header match (2,000 entries).
const routes = Array.from({length: 1000}, (_, i) => {
  const v = validateRoute({kind: 'HTTPRoute', metadata: {name: `r${i}`, namespace: 'shop', creationTimestamp: new Date(i * 1000).toISOString()}, spec: {parentRefs: [{group: '', kind: 'Service', name: 'books'}], rules: [{matches: [{path: {type: 'Exact', value: `/exact/${i}`}}, {path: {type: 'PathPrefix', value: `/p${i}`}, headers: [{name: 'x-tenant', value: `t${i}`}]}]}]}})!
  if (!v.verdict.ok) throw new Error(v.verdict.message)
  return {...v, rules: v.verdict.rules}
})
const policy = compilePolicy({service: {namespace: 'shop', name: 'books', port: 8080}, clusterDomain: 'cluster.local', routes, servicePorts: () => [8080]})
const matcher = new PolicyMatcher(policy)

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

// --- 1. routePolicyOf ---
const config = loadProxyConfig({}, {inbound: '127.0.0.1:0', outbound: '127.0.0.1:0', admin: '127.0.0.1:0', tap: '127.0.0.1:0'})
const side: Side = {
  direction: 'outbound', config, log: new Logger('error', 'plain'), observer: undefined, stats: newStats(), draining: false,
  budget: new RetryBudget(0.2, 10),
  target: () => { throw new Error('not used') },
  routes: (a) => (a === ROUTED ? matcher : undefined),
}
const table = routeTable(config)
// The request the first-ranked entry takes (the longest Exact path).
const firstPath = policy.http[0]!.match.path!.value
const cases: Array<[string, string, string, Record<string, string>]> = [
  ['no policy (the baseline)', PLAIN, '/p999/x', {'x-tenant': 't999'}],
  [`1,000 routes, first entry matches (${firstPath})`, ROUTED, firstPath, {}],
  ['1,000 routes, last entry matches', ROUTED, '/p999/x', {'x-tenant': 't999'}],
  ['1,000 routes, none matches (404)', ROUTED, '/nothing', {}],
]
const iterations = 20_000
const nsPer: number[][] = cases.map(() => [])
let sink = 0
for (let r = 0; r < 5; r++) {
  for (const [i, [, authority, target, headers]] of cases.entries()) {
    const t0 = process.hrtime.bigint()
    for (let k = 0; k < iterations; k++) {
      const p = routePolicyOf(side, authority, 'GET', target, {headers}, table.lookup(authority, target, 'GET'))
      sink += p.requestTimeoutMs
    }
    if (r > 0) nsPer[i]!.push(Number(process.hrtime.bigint() - t0) / iterations)
  }
}
// The reference matcher alone, for the worst case (as bench/routes-update.ts measures it).
const worst = {method: 'GET', target: '/p999/x', header: (n: string) => (n === 'x-tenant' ? 't999' : undefined), grpc: false}
for (let k = 0; k < 2000; k++) matcher.select(worst)
const tm = process.hrtime.bigint()
for (let k = 0; k < iterations; k++) matcher.select(worst)
const selectUs = Number(process.hrtime.bigint() - tm) / iterations / 1000
console.log(`routePolicyOf per request, ${iterations} x 4 rounds each, median (load average ${os.loadavg()[0]!.toFixed(1)}; 2,000 entries, ${JSON.stringify(policy).length} bytes of policy):`)
const base = median(nsPer[0]!)
for (const [i, [name]] of cases.entries()) {
  const m = median(nsPer[i]!)
  console.log(`  ${name.padEnd(50)} ${(m / 1000).toFixed(2).padStart(7)} us  (x${(m / base).toFixed(0)} the baseline, +${((m - base) / 1000).toFixed(2)} us)`)
}
console.log(`  (PolicyMatcher.select alone, last entry: ${selectUs.toFixed(2)} us)`)
void sink

// --- 2. through a real proxy ---
const app = http.createServer((req, res) => {
  req.resume()
  req.on('end', () => res.end('ok'))
})
await new Promise<void>((r) => app.listen(0, '127.0.0.1', () => r()))
const appPort = (app.address() as {port: number}).port
const wss = new WebSocketServer({host: '127.0.0.1', port: 0})
await new Promise((r) => wss.once('listening', r))
wss.on('connection', (ws) => {
  ws.on('message', (d) => {
    const m = JSON.parse(String(d)) as {type: string; id: number; authority: string}
    if (m.type === 'watch') ws.send(JSON.stringify({id: m.id, type: 'add', endpoints: [{address: '127.0.0.1', port: appPort, labels: {}}]}))
    if (m.type === 'watchRoutes' && m.authority === ROUTED) ws.send(JSON.stringify({...policy, id: m.id, type: 'routes'}))
    else if (m.type === 'watchRoutes') ws.send(JSON.stringify({id: m.id, type: 'noSuchService', authority: m.authority, external: false}))
  })
})
const discovery = new DestinationClient({addr: `ws://127.0.0.1:${(wss.address() as {port: number}).port}`, namespace: 'shop'})
const cfg = loadProxyConfig({}, {inbound: '127.0.0.1:0', outbound: '127.0.0.1:0', admin: '127.0.0.1:0', tap: '127.0.0.1:0'})
const proxy = await startProxy(cfg, {log: new Logger('error', 'plain'), originalDst: null, discovery})
const agent = new http.Agent({keepAlive: true, maxSockets: 8})
const get = (authority: string, path: string, headers: Record<string, string>): Promise<void> => new Promise((resolve, reject) => {
  const req = http.get({host: '127.0.0.1', port: proxy.ports.outbound, path, agent, headers: {host: authority, ...headers}}, (res) => {
    if (res.statusCode !== 200) reject(new Error(`status ${res.statusCode}`))
    res.resume().on('end', resolve)
  })
  req.on('error', reject)
})
async function round(authority: string): Promise<number> {
  let left = perRound
  const t0 = process.hrtime.bigint()
  await Promise.all(Array.from({length: 8}, async () => {
    while (left-- > 0) await get(authority, '/p999/x', {'x-tenant': 't999'})
  }))
  return Number(process.hrtime.bigint() - t0) / 1e3 / perRound
}
// The policy is in force (a path no route takes is 404), and the default route has none.
const status = (authority: string, path: string): Promise<number> => new Promise((resolve, reject) => {
  http.get({host: '127.0.0.1', port: proxy.ports.outbound, path, agent, headers: {host: authority}}, (res) => res.resume().on('end', () => resolve(res.statusCode ?? 0))).on('error', reject)
})
if (await status(ROUTED, '/nothing') !== 404 || await status(PLAIN, '/nothing') !== 200) throw new Error('the 1,000-route policy is not in force')
await round(PLAIN)
await round(ROUTED)
const plain: number[] = []
const routed: number[] = []
for (let r = 0; r < rounds; r++) {
  plain.push(await round(PLAIN))
  routed.push(await round(ROUTED))
}
const p = median(plain)
const q = median(routed)
console.log(`through a real proxy, ${perRound} requests x ${rounds} rounds each, 8 at a time, keep-alive (load average ${os.loadavg()[0]!.toFixed(1)}):`)
console.log(`  no policy:                   ${p.toFixed(1)} us per request (${(1e6 / p).toFixed(0)} req/s)`)
console.log(`  1,000 routes (last matches): ${q.toFixed(1)} us per request (${(1e6 / q).toFixed(0)} req/s), x${(q / p).toFixed(2)}`)
agent.destroy()
await proxy.close(100)
discovery.close()
wss.close()
app.close()
