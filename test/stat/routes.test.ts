// mesh stat --routes on a real local-mode controller (routes in its registry file, its own tap
// server) and a real client sidecar that applies them: exact request counts per route, per
// backend of a split (counted by which app answered) and under [default] (requests before the
// policy, 404s of no match, a Service without routes, a MESH_PROXY_ROUTES rule), success rates,
// latency of a slow route, routes in force with no traffic, the Service and the client views,
// the table, and bad input.
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import type {RouteStatReport, RouteStatRow} from '../../src/stat/types.js'
import {eventually} from '../helpers/eventually.js'
import {runMesh} from '../helpers/run.js'
import {withEnv} from '../tap/harness.js'
import {booksApi, NS, startRoutePlane, svcPort, type RoutePlane} from './route-plane.js'

let plane: RoutePlane
let restoreEnv: () => void
/** Requests to books before its policy arrived, and 404s after: both the default route. */
let warmups = 0
const split = {books: 0, 'books-v2': 0}

const routes = [
  booksApi,
  {kind: 'HTTPRoute', metadata: {name: 'books-slow', namespace: NS}, spec: {parentRefs: [svcPort('books')], rules: [{matches: [{path: {type: 'PathPrefix', value: '/slow'}}]}]}},
  {kind: 'HTTPRoute', metadata: {name: 'books-idle', namespace: NS}, spec: {parentRefs: [svcPort('books')], rules: [{matches: [{path: {type: 'PathPrefix', value: '/idle'}}]}]}},
]

beforeAll(async () => {
  plane = await startRoutePlane(['books', 'books-v2', 'authors'], routes, {proxyRoutes: `authors.${NS}.svc.cluster.local:8080 GET /a/=timeout:5s`})
  restoreEnv = withEnv({...plane.env, KUBECONFIG: '/nonexistent/kubeconfig'})
  // /warm matches no route: 404 once the policy is in force (the first request waits for it,
  // bounded); a request that took the default route before it would be a 200 from books. Both
  // count under [default].
  await eventually('the route policy to reach the proxy', async () => {
    warmups++
    return (await plane.send('books', '/warm')).status === 404 ? true : undefined
  }, {intervalMs: 50})
  for (let i = 0; i < 20; i++) {
    const r = await plane.send('books', `/split/${i}`)
    expect(r.status).toBe(200)
    split[r.app as keyof typeof split]++
  }
  for (let i = 0; i < 4; i++) expect((await plane.send('books', '/fail')).status).toBe(500)
  for (let i = 0; i < 6; i++) expect((await plane.send('books', '/slow')).status).toBe(200)
  for (let i = 0; i < 5; i++) expect((await plane.send('books', '/nothing-here')).status).toBe(404)
  for (let i = 0; i < 3; i++) expect((await plane.send('authors', '/a/1')).app).toBe('authors')
  expect(split.books + split['books-v2']).toBe(20)
}, 60_000)

afterAll(async () => {
  restoreEnv?.()
  await plane?.close()
})

async function statJson(args: string[]): Promise<RouteStatReport> {
  const r = await runMesh(['stat', ...args, '--routes', '-o', 'json'])
  expect(r.stderr).toBe('')
  expect(r.exitCode).toBe(0)
  return JSON.parse(r.stdout) as RouteStatReport
}

const summary = (rows: RouteStatRow[]) => rows.map((r) => [r.authority, r.routeKind, r.route, r.requests])

describe('mesh stat --routes (real controller, real sidecar)', () => {
  it('svc/books: exact counts per route, per backend of the split, and under [default]', async () => {
    const report = await statJson(['svc/books'])
    expect(report.errors).toEqual([])
    const books = `books.${NS}.svc.cluster.local:8080`
    expect(summary(report.rows)).toEqual([
      [books, 'HTTPRoute', 'books-api', 24],
      [books, 'HTTPRoute', 'books-idle', 0],
      [books, 'HTTPRoute', 'books-slow', 6],
      [books, 'default', 'default', warmups + 5],
    ])
    const [api, idle, slow, dflt] = report.rows
    expect(api).toMatchObject({namespace: NS, kind: 'service', name: 'books', service: {namespace: NS, name: 'books', port: 8080}})
    expect(api.successRate).toBeCloseTo(20 / 24, 10)
    // (a backend that got none of the 20 has no series: 2^-20 odds)
    expect(api.backends.map((b) => [b.backend, b.requests, b.successRate])).toEqual([
      ...(split['books-v2'] ? [[`${NS}/books-v2:8080`, split['books-v2'], 1]] : []),
      [`${NS}/books:8080`, split.books + 4, split.books / (split.books + 4)],
    ])
    expect(api.rps).toBeGreaterThan(0)
    expect(idle).toMatchObject({requests: 0, successRate: null, rps: 0, latencyMs: {p50: null, p95: null, p99: null}, backends: []})
    expect(slow.successRate).toBe(1)
    // Six answers of 150 ms or more: the median is above the 100 ms bucket bound.
    expect(slow.latencyMs.p50!).toBeGreaterThan(100)
    expect(slow.backends.map((b) => [b.backend, b.requests])).toEqual([[`${NS}/books:8080`, 6]])
    // 404 (no route matches) is the client's answer, not a failure of the server.
    expect(dflt.successRate).toBe(1)
    expect(dflt.backends).toEqual([])
  })

  it('--from narrows the callers (the same numbers here, one caller)', async () => {
    const report = await statJson(['svc/books', '--from', 'deploy/web'])
    expect(summary(report.rows).map((r) => r[3])).toEqual([24, 0, 6, warmups + 5])
    const none = await statJson(['svc/books', '--from', 'deploy/authors'])
    expect(none.rows.every((r) => r.requests === 0)).toBe(true)
  })

  it('deploy/web: its requests per Service and route; a Service without routes and a MESH_PROXY_ROUTES rule are [default]', async () => {
    const report = await statJson(['deploy/web'])
    const authors = `authors.${NS}.svc.cluster.local:8080`
    const books = `books.${NS}.svc.cluster.local:8080`
    expect(summary(report.rows)).toEqual([
      [authors, 'default', 'default', 3],
      [books, 'HTTPRoute', 'books-api', 24],
      [books, 'HTTPRoute', 'books-slow', 6],
      [books, 'default', 'default', warmups + 5],
    ])
    expect(report.rows.find((r) => r.route === 'books-api')).toMatchObject({kind: 'deployment', name: 'web', requests: 24})
    // Only the routes that carried traffic: the client view lists destinations as seen.
    expect(report.rows.some((r) => r.route === 'books-idle')).toBe(false)
    const to = await statJson(['deploy/web', '--to', 'svc/authors'])
    expect(summary(to.rows)).toEqual([[authors, 'default', 'default', 3]])
    // web's pod is no Service's endpoint: it serves none (and --to asks about one Service only).
    expect(report.served).toEqual([])
    expect(to.served).toBeUndefined()
  })

  it("a workload's report names the Services it serves (whose endpoints are its pods); their numbers are the Service view", async () => {
    const books = await statJson(['deploy/books'])
    expect(books.served).toEqual([{namespace: NS, name: 'books'}])
    // books sends nothing itself: no rows, and its Service's routes are counted at its callers.
    expect(books.rows).toEqual([])
    expect(await statJson(['pod/books-v2-0'])).toMatchObject({served: [{namespace: NS, name: 'books-v2'}]})
    expect((await statJson(['svc/books'])).served).toBeUndefined()
    expect((await statJson(['deploy'])).served).toBeUndefined()
    // The table says where its routes are counted.
    const table = await runMesh(['stat', 'deploy/books', '--routes'])
    expect(table.exitCode).toBe(0)
    expect(table.stdout).toBe('')
    expect(table.stderr).toContain(`It serves svc/books: its callers' requests per route: mesh stat svc/books --routes -n ${NS}`)
  })

  it('prints a table with [default] last; -o wide adds a row per backend', async () => {
    const r = await runMesh(['stat', 'svc/books', '--routes'])
    expect(r.exitCode).toBe(0)
    const lines = r.stdout.trimEnd().split('\n').map((l) => l.split(/\s+/))
    expect(lines[0]).toEqual(['ROUTE', 'KIND', 'SERVICE', 'SUCCESS', 'RPS', 'LATENCY_P50', 'LATENCY_P95', 'LATENCY_P99'])
    expect(lines.slice(1).map((l) => l.slice(0, 4))).toEqual([
      ['books-api', 'HTTPRoute', 'books:8080', '83.33%'],
      ['books-idle', 'HTTPRoute', 'books:8080', '-'],
      ['books-slow', 'HTTPRoute', 'books:8080', '100.00%'],
      ['[default]', 'default', 'books:8080', '100.00%'],
    ])
    const wide = await runMesh(['stat', 'svc/books', '--routes', '-o', 'wide'])
    const rows = wide.stdout.trimEnd().split('\n').map((l) => l.split(/\s+/))
    expect(rows[0]).toEqual(['ROUTE', 'KIND', 'SERVICE', 'BACKEND', 'SUCCESS', 'RPS', 'LATENCY_P50', 'LATENCY_P95', 'LATENCY_P99', 'REQUESTS', 'WINDOW'])
    const api = rows.filter((l) => l[0] === 'books-api').map((l) => [l[3], l[9]])
    expect(api).toEqual([['*', '24'], ...(split['books-v2'] ? [[`${NS}/books-v2:8080`, String(split['books-v2'])]] : []), [`${NS}/books:8080`, String(split.books + 4)]])
  })

  it('refuses what --routes cannot answer before any network call (exit 2)', async () => {
    for (const args of [
      ['stat', 'deploy/web', '--routes', '--to', 'deploy/books'],
      ['stat', 'deploy/web', '--routes', '--from', 'deploy/books'],
      ['stat', 'svc/books', '--routes', '--prometheus-url', 'http://127.0.0.1:1'],
    ]) {
      const r = await runMesh(args)
      expect(r.exitCode, args.join(' ')).toBe(2)
      expect(r.stdout).toBe('')
      expect(r.stderr).toMatch(/^Error: .*--(to|from|routes)/)
      expect(r.stderr).toContain('Try this:')
    }
  })

  it('the tap server refuses the same queries itself (400 naming the parameter)', async () => {
    const url = new URL('/v1/stat', plane.controller.ctx.tap!.server!.url)
    url.search = new URLSearchParams({resource: 'deploy/web', namespace: NS, routes: 'true', to: 'deploy/books'}).toString()
    const res = await fetch(url, {headers: {authorization: `Bearer ${plane.controller.ctx.tap!.token}`}})
    expect(res.status).toBe(400)
    expect(((await res.json()) as {error: {message: string}}).error.message).toContain('to must name a Service')
  })
})
