// Cost of the proxy's reliability policy: (1) the per-request route lookup (MESH_PROXY_ROUTES
// tables of 0, 10 and 100 rules; ns per lookup and bytes allocated), (2) HTTP/2 through one
// outbound proxy on 127.0.0.1 with retries off, on (bodies kept for replay), and on with 10 % of
// streams refused by the server (every one recovered by a retry).
// Run: npx tsx bench/proxy-reliability.ts [requests]. Bounded in count; loopback only.
import http2 from 'node:http2'
import type net from 'node:net'
import {loadProxyConfig} from '../src/proxy/config/config.js'
import {Logger} from '../src/proxy/core/log.js'
import {parseRoutes, RouteTable} from '../src/proxy/config/route-policy.js'
import {startProxy} from '../src/proxy/server.js'

const REQUESTS = Math.min(Number(process.argv[2] ?? 4000), 50_000)
const CONCURRENCY = 16

function lookupBench(rules: number): {rules: number, nsHit: number, nsMiss: number, bytesPerLookup: number} {
  const text = Array.from({length: rules}, (_, i) => `svc${i % 10}.shop:80 ${i % 2 ? 'GET ' : ''}/api/v${i}/=timeout:${i + 1}s,retries:${i % 3}`).join(';')
  const table = new RouteTable(parseRoutes(text, 'bench'), 0, loadProxyConfig({}).retry)
  const N = 2_000_000
  const run = (authority: string, path: string): number => {
    let sink = 0
    const t0 = process.hrtime.bigint()
    for (let i = 0; i < N; i++) sink += table.lookup(authority, path, 'GET').requestTimeoutMs
    const ns = Number(process.hrtime.bigint() - t0) / N
    if (sink < 0) console.log(sink)
    return ns
  }
  run('svc1.shop:80', '/api/v1/x')
  const heap0 = process.memoryUsage().heapUsed
  const nsHit = run('svc1.shop:80', `/api/v${Math.max(0, rules - 9)}/x`)
  const bytes = Math.max(0, process.memoryUsage().heapUsed - heap0) / N
  const nsMiss = run('other.shop:80', '/nothing')
  return {rules, nsHit: Math.round(nsHit), nsMiss: Math.round(nsMiss), bytesPerLookup: Number(bytes.toFixed(3))}
}

async function h2Bench(label: string, retries: number, refuseEvery: number): Promise<Record<string, unknown>> {
  let n = 0
  const app = http2.createServer()
  app.on('stream', (stream) => {
    stream.on('error', () => {})
    if (refuseEvery > 0 && ++n % refuseEvery === 0) return stream.close(http2.constants.NGHTTP2_REFUSED_STREAM)
    stream.on('data', () => {})
    stream.on('end', () => { stream.respond({':status': 200}); stream.end('ok') })
  })
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', r))
  const appPort = (app.address() as net.AddressInfo).port
  const cfg = loadProxyConfig({}, {inbound: '127.0.0.1:0', outbound: '127.0.0.1:0', staticRoutes: `h2.local:80=127.0.0.1:${appPort}`})
  cfg.retry.limit = retries
  cfg.retry.budgetMinPerSecond = 1000
  const proxy = await startProxy(cfg, {log: new Logger('error', 'plain'), originalDst: null})
  const session = http2.connect(`http://127.0.0.1:${proxy.ports.outbound}`)
  const body = Buffer.alloc(1024, 97)
  const lat: number[] = []
  let ok = 0
  const one = (): Promise<void> => new Promise((resolve) => {
    const t0 = performance.now()
    const req = session.request({':method': 'POST', ':path': '/b', ':authority': 'h2.local'})
    req.on('response', (h) => { if (h[':status'] === 200) ok++ })
    req.on('error', () => resolve())
    req.resume()
    req.on('end', () => { lat.push(performance.now() - t0); resolve() })
    req.end(body)
  })
  const t0 = performance.now()
  let sent = 0
  await Promise.all(Array.from({length: CONCURRENCY}, async () => { while (sent++ < REQUESTS) await one() }))
  const secs = (performance.now() - t0) / 1000
  session.close()
  await proxy.close(100)
  app.close()
  lat.sort((a, b) => a - b)
  const q = (p: number): number => Number(lat[Math.min(lat.length - 1, Math.floor(p * lat.length))].toFixed(2))
  return {case: label, requests: REQUESTS, ok, retries: proxy.stats.retries, rps: Math.round(REQUESTS / secs), p50ms: q(0.5), p99ms: q(0.99)}
}

console.log('route lookup (2,000,000 lookups per case)')
console.table([0, 10, 100].map(lookupBench))
console.log(`HTTP/2 POST 1 KiB through one outbound proxy, ${REQUESTS} requests, ${CONCURRENCY} in flight`)
const rows = []
rows.push(await h2Bench('retries off', 0, 0))
rows.push(await h2Bench('retries on (body kept)', 2, 0))
rows.push(await h2Bench('retries on, 10 % refused', 2, 10))
console.table(rows)
