// mesh top --routes and tap's route fields on a real local-mode controller (routes in its
// registry file, its own tap server) and a real client sidecar applying them: one row per
// control-plane route and backend with exact counts (a split counted by which app answered),
// [default] for a 404 of no match and for a Service without routes (even where a
// MESH_PROXY_ROUTES rule named the request), and tap events carrying routeKind and backend.
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import type {TapEvent} from '../../src/protocol/tap.js'
import type {TopSnapshot} from '../../src/tapclient/top-aggregate.js'
import {eventually} from '../helpers/eventually.js'
import {runMesh} from '../helpers/run.js'
import {withEnv} from '../tap/harness.js'
import {booksApi, NS, startRoutePlane, type RoutePlane} from '../stat/route-plane.js'
import {topWhile} from './top-kit.js'

let plane: RoutePlane
let restoreEnv: () => void

const routes = [booksApi]

beforeAll(async () => {
  plane = await startRoutePlane(['books', 'books-v2', 'authors'], routes, {proxyRoutes: `authors.${NS}.svc.cluster.local:8080 GET /a/=timeout:5s`})
  restoreEnv = withEnv({...plane.env, KUBECONFIG: '/nonexistent/kubeconfig'})
  await eventually('the route policy to reach the proxy', async () => ((await plane.send('books', '/warm')).status === 404 ? true : undefined), {intervalMs: 50})
  // and authors' (a policy with no routes): its requests then carry route_kind=default
  await eventually('the authors policy', async () => {
    await plane.send('authors', '/a/0')
    const m = await (await fetch(`http://127.0.0.1:${plane.client.ports.admin}/metrics`)).text()
    return /request_total\{[^}]*authority="authors[^"]*"[^}]*route_kind="default"/.test(m) ? true : undefined
  }, {intervalMs: 50})
}, 60_000)

afterAll(async () => {
  restoreEnv?.()
  await plane?.close()
})

describe('mesh top --routes (real controller, real sidecar)', () => {
  it('-o json: a row per route and backend, [default] for no match and for a Service without routes', async () => {
    const split = {books: 0, 'books-v2': 0}
    const stdout = await topWhile('deploy/web', {routes: true}, 17 * 3, async () => {
      for (let i = 0; i < 10; i++) split[(await plane.send('books', `/split/${i}`)).app as keyof typeof split]++
      for (let i = 0; i < 2; i++) expect((await plane.send('books', '/fail')).status).toBe(500)
      for (let i = 0; i < 3; i++) expect((await plane.send('books', '/none')).status).toBe(404)
      for (let i = 0; i < 2; i++) expect((await plane.send('authors', '/a/1')).status).toBe(200)
    })
    const last = JSON.parse(stdout.trim().split('\n').pop()!) as TopSnapshot
    const rows = last.rows.map((r) => [r.source, r.destination, r.route, r.routeKind, r.backend, r.count, r.successes]).sort((a, b) => String(a[4]).localeCompare(String(b[4])) || String(a[1]).localeCompare(String(b[1])))
    expect(rows).toEqual([
      ['web-0', 'authors.shop:8080', 'default', 'default', '', 2, 2],
      ['web-0', 'books.shop:8080', 'default', 'default', '', 3, 3],
      ...(split['books-v2'] ? [['web-0', 'books.shop:8080', 'books-api', 'HTTPRoute', `${NS}/books-v2:8080`, split['books-v2'], split['books-v2']]] : []),
      ['web-0', 'books.shop:8080', 'books-api', 'HTTPRoute', `${NS}/books:8080`, split.books + 2, split.books],
    ])
  })

  it('off a TTY: the table names ROUTE, KIND and BACKEND, [default] for the default route', async () => {
    const stdout = await topWhile('deploy/web', {routes: true, output: 'table', interval: '300ms'}, 2 * 3, async () => {
      await plane.send('books', '/split/x')
      await plane.send('books', '/none')
    })
    const tables = stdout.split('\n\n').filter((t) => t.trim() !== '')
    const last = tables[tables.length - 1].split('\n')
    expect(last[1].split(/\s+/)).toEqual(['SOURCE', 'AUTHORITY', 'ROUTE', 'KIND', 'BACKEND', 'COUNT', 'SUCCESS', 'P50', 'P95', 'P99', 'LAST', 'BEST', 'WORST'])
    expect(last.slice(2).map((l) => l.split(/\s+/).slice(0, 6)).sort()).toEqual([
      ['web-0', 'books.shop:8080', '[default]', 'default', '-', '1'],
      ['web-0', 'books.shop:8080', 'books-api', 'HTTPRoute', expect.stringMatching(/^shop\/books(-v2)?:8080$/), '1'],
    ].sort())
  })

  it('--routes and --paths together are a usage error (exit 2)', async () => {
    const r = await runMesh(['top', 'deploy/web', '--routes', '--paths'])
    expect(r.exitCode).toBe(2)
    expect(r.stdout).toBe('')
    expect(r.stderr).toMatch(/--(paths|routes)/)
  })
})

describe('tap events carry the route kind and backend', () => {
  it('mesh tap -o json: routeKind and backend on requestInit; the text line has rt_kind= and rt_backend=', async () => {
    let done = false
    const tap = runMesh(['tap', 'deploy/web', '--path', '/split', '--max-events', '3', '-o', 'json']).finally(() => (done = true))
    for (let i = 0; i < 200 && !done; i++) await plane.send('books', '/split/tap')
    const r = await tap
    expect(r.exitCode, r.stderr).toBe(0)
    const events = r.stdout.trim().split('\n').map((l) => (JSON.parse(l) as {event: TapEvent}).event ?? JSON.parse(l))
    const init = events.find((e) => e.type === 'requestInit')
    expect(init).toMatchObject({route: 'books-api', routeKind: 'HTTPRoute', backend: expect.stringMatching(/^shop\/books(-v2)?:8080$/)})
    done = false
    const text = runMesh(['tap', 'deploy/web', '--path', '/none', '--max-events', '1']).finally(() => (done = true))
    for (let i = 0; i < 200 && !done; i++) await plane.send('books', '/none')
    const line = (await text).stdout.trim()
    expect(line).toMatch(/^req .* rt_route=default rt_kind=default$/)
  })
})
