// `mesh stat --prometheus-url` against a real Prometheus (Debian's prometheus package) scraping
// real proxies' admin /metrics every second. Known traffic (20 x 200, 5 x 500, 5 slow 200s)
// must come out as exact counts, success rate, rps and percentile ranges, including the 500s
// whose series is born inside the window (which Prometheus' increase() would not count).
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {runMesh} from '../helpers/run.js'
import {scriptedTraffic, send, startMeshPod, withEnv, type MeshPod} from '../tap/harness.js'
import type {StatReport} from '../../src/stat/types.js'
import {startPrometheus, type PrometheusServer} from './prometheus-server.js'

let books: MeshPod
let web: MeshPod
let prom: PrometheusServer
let restoreEnv: () => void
/**
 * Where every query's window starts: after the scrape that saw the warm-up request (so the
 * 200 series exists before it) and before the traffic (so the 500 series is born inside it).
 * Each query asks for the window from there to now, however late it runs: no deadline on the
 * machine's speed.
 */
let windowStart = 0
const windowSeconds = (): number => Math.ceil((Date.now() - windowStart) / 1000)

beforeAll(async () => {
  books = await startMeshPod({name: 'books-0', deployment: 'books'})
  web = await startMeshPod({name: 'web-0', deployment: 'web', routes: {'books:80': books}})
  // No demo and no cluster: --prometheus-url must not need either.
  restoreEnv = withEnv({MESH_HOME: '/nonexistent/mesh-home', KUBECONFIG: '/nonexistent/kubeconfig'})
  // One request before Prometheus starts, so the 200 series exist before the window; the 500
  // series is born with the scripted traffic, inside the window.
  expect((await send(web, 'books:80', '/ok')).status).toBe(200)
  prom = await startPrometheus([books.info.adminAddress!, web.info.adminAddress!])
  await prom.waitForScrapes(1)
  const firstScrape = Date.now()
  // A few seconds between the scrape that saw the warm-up and the traffic: the window starts in
  // the middle (whole seconds, so within a second of it).
  await prom.waitForScrapes(6)
  const trafficStart = Date.now()
  windowStart = firstScrape + (trafficStart - firstScrape) / 2
  const sent = await scriptedTraffic(web, 'books:80')
  expect(sent.map((s) => s.status)).toEqual([...Array(20).fill(200), ...Array(5).fill(500), ...Array(5).fill(200)])
  await prom.waitForScrapes(2)
}, 90_000)

afterAll(async () => {
  restoreEnv?.()
  await prom?.stop()
  await Promise.all([books?.stop(), web?.stop()])
})

async function statJson(args: string[]): Promise<StatReport & {seconds: number}> {
  const seconds = windowSeconds()
  const r = await runMesh(['stat', ...args, '--prometheus-url', prom.url, '--window', `${seconds}s`, '-o', 'json'])
  expect(r.stderr).toBe('')
  expect(r.exitCode).toBe(0)
  return {...(JSON.parse(r.stdout) as StatReport), seconds}
}

describe('mesh stat --prometheus-url (real Prometheus, real proxies)', () => {
  it('counts each deployment\'s inbound traffic: exact requests, success rate, rps, latency percentiles', async () => {
    const report = await statJson(['deploy'])
    const byName = Object.fromEntries(report.rows.map((r) => [r.name, r]))
    const b = byName.books
    expect(b).toMatchObject({namespace: 'default', kind: 'deployment', meshedPods: 1, totalPods: 1, requests: 30})
    expect(b.successRate).toBeCloseTo(25 / 30, 10)
    expect(b.rps).toBeCloseTo(30 / report.seconds, 10)
    // 25 fast answers and 5 of 150 ms or more: p95 and p99 fall among the slow ones, above
    // the 100 ms bucket bound; the median is at most that (no bound on the machine's speed).
    for (const p of [b.latencyMs.p95!, b.latencyMs.p99!]) expect(p).toBeGreaterThan(100)
    expect(b.latencyMs.p50!).toBeLessThanOrEqual(b.latencyMs.p95!)
    // web received nothing inbound: Prometheus has no inbound series of it.
    expect(byName.web).toBeUndefined()
    expect(report.window).toBe(`${report.seconds}s`)
  })

  it('--to and --from count the outbound traffic between two deployments', async () => {
    const to = await statJson(['deploy/web', '--to', 'deploy/books'])
    expect(to.rows).toHaveLength(1)
    expect(to.rows[0]).toMatchObject({name: 'web', requests: 30})
    expect(to.rows[0].successRate).toBeCloseTo(25 / 30, 10)
    const from = await statJson(['deploy/books', '--from', 'deploy/web'])
    expect(from.rows).toHaveLength(1)
    expect(from.rows[0]).toMatchObject({name: 'books', requests: 30})
    expect(from.rows[0].successRate).toBeCloseTo(25 / 30, 10)
  })

  it('po/NAME and ns/NAME group the same traffic by pod and by namespace', async () => {
    const pod = await statJson(['po/books-0'])
    expect(pod.rows).toHaveLength(1)
    expect(pod.rows[0]).toMatchObject({kind: 'pod', name: 'books-0', meshedPods: 1, requests: 30})
    const ns = await statJson(['ns/default'])
    expect(ns.rows[0]).toMatchObject({kind: 'namespace', name: 'default', requests: 30})
    expect(ns.rows[0].successRate).toBeCloseTo(25 / 30, 10)
  })

  it('prints the table', async () => {
    const seconds = windowSeconds()
    const r = await runMesh(['stat', 'deploy/books', '--prometheus-url', prom.url, '--window', `${seconds}s`])
    expect(r.exitCode).toBe(0)
    const row = r.stdout.split('\n').find((l) => l.startsWith('deploy/books'))!.split(/\s+/)
    expect(row.slice(1, 4)).toEqual(['1/1', '83.33%', `${(30 / seconds).toFixed(1)}rps`])
  })

  it('a URL where no Prometheus answers is an error naming it (exit 1, nothing on stdout)', async () => {
    const r = await runMesh(['stat', 'deploy', '--prometheus-url', 'http://127.0.0.1:1'])
    expect(r.exitCode).toBe(1)
    expect(r.stdout).toBe('')
    expect(r.stderr).toContain('Prometheus at http://127.0.0.1:1')
    expect(r.stderr).toContain('Try this:')
  })
})
