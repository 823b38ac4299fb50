// mesh stat and mesh edges against real proxies (startProxy) and the real local tap server:
// known statuses and latencies give exact counts, success rates and percentile ranges.
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {runMesh} from '../helpers/run.js'
import {scriptedTraffic, startLocalPlane, startMeshPod, withEnv, type MeshPod, type Plane} from '../tap/harness.js'
import type {EdgesReport, StatReport} from '../../src/stat/types.js'

let books: MeshPod
let web: MeshPod
let idle: MeshPod
let plane: Plane
let restoreEnv: () => void

beforeAll(async () => {
  books = await startMeshPod({name: 'books-0', deployment: 'books'})
  web = await startMeshPod({name: 'web-0', deployment: 'web', routes: {'books:80': books}})
  idle = await startMeshPod({name: 'idle-0', deployment: 'idle'})
  const unmeshed = {...idle.info, name: 'legacy-0', owner: {...idle.info.owner, name: 'legacy'}, meshed: false, adminAddress: undefined, tapAddress: undefined}
  plane = await startLocalPlane([books.info, web.info, idle.info, unmeshed])
  restoreEnv = withEnv({...plane.env, KUBECONFIG: '/nonexistent/kubeconfig'})
  const sent = await scriptedTraffic(web, 'books:80')
  expect(sent.map((s) => s.status)).toEqual([...Array(20).fill(200), ...Array(5).fill(500), ...Array(5).fill(200)])
})

afterAll(async () => {
  restoreEnv?.()
  await plane?.close()
  await Promise.all([books?.stop(), web?.stop(), idle?.stop()])
})

async function statJson(args: string[]): Promise<StatReport> {
  const r = await runMesh(['stat', ...args, '-o', 'json'])
  expect(r.stderr).toBe('')
  expect(r.exitCode).toBe(0)
  return JSON.parse(r.stdout) as StatReport
}

describe('mesh stat (local control plane, real proxies)', () => {
  it('counts the inbound traffic of each deployment: requests, success rate, latency percentiles', async () => {
    const report = await statJson(['deploy'])
    const byName = Object.fromEntries(report.rows.map((r) => [r.name, r]))
    expect(Object.keys(byName).sort()).toEqual(['books', 'idle', 'legacy', 'web'])
    const b = byName.books
    expect(b).toMatchObject({namespace: 'default', kind: 'deployment', meshedPods: 1, totalPods: 1, requests: 30})
    expect(b.successRate).toBeCloseTo(25 / 30, 10)
    expect(b.rps).toBeGreaterThan(0)
    // Every request rode a TCP connection into books' inbound side.
    expect(b.tcpConnectionsPerSecond).toBeGreaterThan(0)
    // 25 fast answers and 5 of 150 ms or more: p95 and p99 fall among the slow ones, above the
    // 100 ms bucket bound; the median is at most that (no bound on the machine's speed).
    expect(b.latencyMs.p95!).toBeGreaterThan(100)
    expect(b.latencyMs.p99!).toBeGreaterThan(100)
    expect(b.latencyMs.p50!).toBeLessThanOrEqual(b.latencyMs.p95!)
    // web received nothing inbound: no success rate, no latency, 0 rps.
    expect(byName.web).toMatchObject({meshedPods: 1, requests: 0, successRate: null, rps: 0, latencyMs: {p50: null, p95: null, p99: null}})
    // a pod without proxy: 0/1 meshed and no data at all.
    expect(byName.legacy).toMatchObject({meshedPods: 0, totalPods: 1, requests: null, successRate: null, rps: null, tcpConnections: null, tcpConnectionsPerSecond: null, readBytesPerSecond: null})
    expect(report.errors).toEqual([])
    expect(report.window).toBe('1m')
  })

  it('--to counts the outbound traffic from the resource to another one', async () => {
    const report = await statJson(['deploy/web', '--to', 'deploy/books'])
    expect(report.rows).toHaveLength(1)
    expect(report.rows[0]).toMatchObject({name: 'web', requests: 30})
    expect(report.rows[0].successRate).toBeCloseTo(25 / 30, 10)
    const none = await statJson(['deploy/web', '--to', 'deploy/idle'])
    expect(none.rows[0]).toMatchObject({name: 'web', requests: 0, successRate: null})
  })

  it('--from counts what the --from resource sends to the resource', async () => {
    const report = await statJson(['deploy/books', '--from', 'deploy/web'])
    expect(report.rows[0]).toMatchObject({name: 'books', requests: 30})
    expect(report.rows[0].successRate).toBeCloseTo(25 / 30, 10)
  })

  it('po/NAME and ns/NAME group the same traffic by pod and by namespace', async () => {
    const pod = await statJson(['po/books-0'])
    expect(pod.rows[0]).toMatchObject({kind: 'pod', name: 'books-0', requests: 30})
    const ns = await statJson(['ns/default'])
    expect(ns.rows[0]).toMatchObject({kind: 'namespace', name: 'default', meshedPods: 3, totalPods: 4, requests: 30})
  })

  it('prints a table with `-` where there is no data', async () => {
    const r = await runMesh(['stat', 'deploy'])
    expect(r.exitCode).toBe(0)
    const lines = r.stdout.trimEnd().split('\n')
    expect(lines[0].split(/\s+/)).toEqual(['NAME', 'MESHED', 'SUCCESS', 'RPS', 'LATENCY_P50', 'LATENCY_P95', 'LATENCY_P99', 'TCP_CONN', 'TCP_CONN/S'])
    const books = lines.find((l) => l.startsWith('deploy/books'))!.split(/\s+/)
    expect(books[1]).toBe('1/1')
    expect(books[2]).toBe('83.33%')
    expect(books[3]).toMatch(/^\d+\.\drps$/)
    const legacy = lines.find((l) => l.startsWith('deploy/legacy'))!.split(/\s+/)
    expect(legacy.slice(1)).toEqual(['0/1', '-', '-', '-', '-', '-', '-', '-'])
  })

  it('refuses bad input before any network call, naming it (exit 2, nothing on stdout)', async () => {
    for (const args of [['stat', 'deplyo/web'], ['stat', 'deploy/Web!'], ['stat', 'deploy', '--window', '5 minutes']]) {
      const r = await runMesh(args)
      expect(r.exitCode).toBe(2)
      expect(r.stdout).toBe('')
      expect(r.stderr).toMatch(/^Error: /)
      expect(r.stderr).toContain('Try this:')
    }
  })

  it('a resource that does not exist is an error naming it (exit 1)', async () => {
    const r = await runMesh(['stat', 'deploy/nope'])
    expect(r.exitCode).toBe(1)
    expect(r.stdout).toBe('')
    expect(r.stderr).toContain('deployment nope not found in namespace default')
  })
})

describe('mesh edges (local control plane, real proxies)', () => {
  it('shows web -> books, not mTLS (no identity in this setup), with the request count', async () => {
    const r = await runMesh(['edges', 'deploy', '-o', 'json'])
    expect(r.exitCode).toBe(0)
    const report = JSON.parse(r.stdout) as EdgesReport
    const edge = report.edges.find((e) => e.src === 'deploy/web' && e.dst === 'deploy/books')
    expect(edge).toMatchObject({srcNamespace: 'default', dstNamespace: 'default', secured: false, requests: 30})
    const table = await runMesh(['edges', 'deploy'])
    expect(table.stdout.split('\n')[0].split(/\s+/)).toEqual(['SRC', 'DST', 'SRC_NS', 'DST_NS', 'SECURED', 'MSG'])
    expect(table.stdout).toMatch(/deploy\/web\s+deploy\/books\s+default\s+default\s+×/)
  })
})
