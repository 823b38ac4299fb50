// mesh top on real proxies: JSON snapshots with exact counts and success rates and latency
// percentiles that match the scripted traffic; rows per route (the proxy's rule, else a
// template learnt from the paths), --paths per path; off a TTY a table per interval.
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import type {TopSnapshot} from '../../src/tapclient/top-aggregate.js'
import type {TopFlags} from '../../src/tapclient/top-run.js'
import {topWhile as topWhileOf} from './top-kit.js'
import {runMesh} from '../helpers/run.js'
import {scriptedTraffic, send, startLocalPlane, startMeshPod, withEnv, type MeshPod, type Plane} from '../tap/harness.js'

let books: MeshPod
let web: MeshPod
let plane: Plane
let restoreEnv: () => void

beforeAll(async () => {
  books = await startMeshPod({name: 'books-0', deployment: 'books'})
  web = await startMeshPod({name: 'web-0', deployment: 'web', routes: {'books:80': books}, proxyRoutes: 'books:80 GET /authors=retries:0'})
  plane = await startLocalPlane([books.info, web.info])
  restoreEnv = withEnv({...plane.env, KUBECONFIG: '/nonexistent/kubeconfig'})
})

afterAll(async () => {
  restoreEnv?.()
  await plane?.close()
  await Promise.all([books?.stop(), web?.stop()])
})

const topWhile = (flags: Partial<TopFlags>, events: number, traffic: () => Promise<unknown>): Promise<string> => topWhileOf('deploy/web', flags, events, traffic)

describe('mesh top (local control plane, real proxies)', () => {
  it('-o json snapshots: rows by source, destination, method and route with exact counts and success', async () => {
    const stdout = await topWhile({}, 90, () => scriptedTraffic(web, 'books:80'))
    const snaps = stdout.trim().split('\n').map((l) => JSON.parse(l) as TopSnapshot)
    expect(snaps.length).toBeGreaterThanOrEqual(2)
    const last = snaps[snaps.length - 1]
    expect(last.sort).toBe('count')
    expect(last.rows.map((r) => [r.source, r.destination, r.method, r.route, r.routeKind, r.count, r.successRate])).toEqual([
      ['web-0', 'books-0', 'GET', '/ok', 'template', 20, 1],
      ['web-0', 'books-0', 'GET', '/fail', 'template', 5, 0],
      ['web-0', 'books-0', 'GET', '/slow', 'template', 5, 1],
    ])
    const slow = last.rows[2].latencyMs
    expect(slow.best).toBeGreaterThanOrEqual(145)
    expect(slow.p50).toBeGreaterThanOrEqual(slow.best)
    expect(slow.p99).toBe(slow.worst)
    const ok = last.rows[0].latencyMs
    expect(ok.best).toBeLessThanOrEqual(ok.p50)
    expect(ok.p95).toBeLessThanOrEqual(ok.worst)
  })

  const idPaths = ['/books/1', '/books/22', '/books/0a1b2c3d4e', '/books/b1', '/books/b2', '/books/b3?x=1', '/books/b3/reviews', '/books/b4/reviews', '/authors', '/api/list', '/api/stats']

  it('groups by the route rule the proxy matched, else by a template learnt from the paths (ids, hashes, b1..b3 collapse)', async () => {
    const stdout = await topWhile({}, idPaths.length * 3, async () => {
      for (const p of idPaths) await send(web, 'books:80', p)
    })
    const last = JSON.parse(stdout.trim().split('\n').pop()!) as TopSnapshot
    expect(last.rows.map((r) => [r.source, r.destination, r.method, r.route, r.routeKind, r.count])).toEqual([
      ['web-0', 'books-0', 'GET', '/books/{id}', 'template', 6],
      ['web-0', 'books-0', 'GET', '/books/{id}/reviews', 'template', 2],
      // two fixed names under /api stay apart
      ['web-0', 'books-0', 'GET', '/api/list', 'template', 1],
      ['web-0', 'books-0', 'GET', '/api/stats', 'template', 1],
      // web's proxy matched its rule `books:80 GET /authors`
      ['web-0', 'books-0', 'GET', 'GET /authors', 'rule', 1],
    ])
  })

  it('--paths: one row per path (query dropped)', async () => {
    const stdout = await topWhile({paths: true}, 9, async () => {
      for (const p of ['/books/b1', '/books/b2', '/books/b2?page=2']) await send(web, 'books:80', p)
    })
    const last = JSON.parse(stdout.trim().split('\n').pop()!) as TopSnapshot
    expect(last.rows.map((r) => [r.route, r.routeKind, r.count])).toEqual([['/books/b2', 'path', 2], ['/books/b1', 'path', 1]])
  })

  it('off a TTY prints one table per interval', async () => {
    const stdout = await topWhile({output: 'table', interval: '300ms'}, 3, () => send(web, 'books:80', '/ok'))
    const tables = stdout.split('\n\n').filter((t) => t.trim() !== '')
    expect(tables.length).toBeGreaterThanOrEqual(2)
    const last = tables[tables.length - 1].split('\n')
    expect(last[0]).toMatch(/^\d{4}-\d\d-\d\dT/)
    expect(last[1].split(/\s+/)).toEqual(['SOURCE', 'DESTINATION', 'METHOD', 'ROUTE', 'COUNT', 'SUCCESS', 'P50', 'P95', 'P99', 'LAST', 'BEST', 'WORST'])
    expect(last[2]).toMatch(/^web-0\s+books-0\s+GET\s+\/ok\s+1\s+100\.00%/)
  })

  it('rejects a bad --interval (exit 2)', async () => {
    const r = await runMesh(['top', 'deploy/web', '--interval', '1ms'])
    expect(r.exitCode).toBe(2)
    expect(r.stderr).toContain('--interval')
  })
})
