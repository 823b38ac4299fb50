// `mesh dashboard` in a real browser (Debian's Chromium through playwright-core) against a real
// `mesh demo`: the workloads page shows what `mesh stat -o json` says, the graph has one edge per
// pair `mesh edges -o json` lists, the tap view shows a request curl sent during the test, the
// page works from the keyboard and reads well in both themes, loads nothing from elsewhere, and
// a dashboard the control plane refuses shows the refusal instead of data. A screenshot of each
// view goes to test-artifacts/dashboard/ (CI keeps it).
import {execFile} from 'node:child_process'
import {copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {promisify} from 'node:util'
import type {Browser, Page} from 'playwright-core'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import type {DemoState} from '../../src/demo/state.js'
import type {RoutesReport} from '../../src/routes/command.js'
import type {EdgesReport, RouteNumbers, RouteStatReport, StatReport} from '../../src/stat/types.js'
import {launchChromium, requireChromium} from '../helpers/chromium.js'
import {startDashboardProcess, type RunningDashboard} from '../helpers/dashboard.js'
import {eventually} from '../helpers/eventually.js'
import {PATH_WITHOUT_MESH, ROOT, spawnMesh, type RunResult} from '../helpers/run.js'

// Run inside the page by page.evaluate (this file is compiled without the DOM's types).
declare const document: any
declare const getComputedStyle: (el: unknown) => {color: string; backgroundColor: string; outlineStyle: string}

const run = promisify(execFile)
const home = mkdtempSync(path.join(tmpdir(), 'mesh-dashboard-'))
const env = {MESH_HOME: home, MESH_DEMO_DIR: path.join(home, 'demo'), KUBECONFIG: path.join(home, 'no-kubeconfig'), PATH: PATH_WITHOUT_MESH}
const mesh = (args: string[], timeoutMs = 120_000): Promise<RunResult> => spawnMesh(args, {env, compiled: true, timeoutMs})
export const ARTIFACTS = path.join(ROOT, 'test-artifacts/dashboard')

let started: RunResult
let browser: Browser
let dashboard: RunningDashboard
const demoState = (): DemoState => JSON.parse(readFileSync(path.join(home, 'demo/demo.json'), 'utf8')) as DemoState

requireChromium('the dashboard browser tests')

beforeAll(async () => {
  mkdirSync(ARTIFACTS, {recursive: true})
  started = await mesh(['demo', '--detach', '--rps', '20', '--ready-timeout', '240'], 300_000)
  if (started.exitCode !== 0) throw new Error(`the demo did not start: ${started.stderr}`)
  // The numbers over 1h: younger proxies count since they started, so once the load pauses the
  // numbers stand still, and the page and the CLI can be compared exactly.
  dashboard = await startDashboardProcess(['--window', '1h'], env)
  browser = await launchChromium()
}, 320_000)

afterAll(async () => {
  const load = existsSync(path.join(home, 'demo/demo.json')) ? demoState().processes.find((p) => p.key === 'load')?.pid : undefined
  if (load) process.kill(-load, 'SIGCONT')
  await browser?.close()
  await dashboard?.stop()
  if (existsSync(path.join(home, 'demo', 'demo.pid'))) await mesh(['demo', 'stop'])
  rmSync(home, {recursive: true, force: true})
}, 120_000)

async function open(url: string, opts: {colorScheme?: 'light' | 'dark'} = {}): Promise<{page: Page; problems: string[]; foreign: string[]}> {
  const context = await browser.newContext({colorScheme: opts.colorScheme ?? 'light', viewport: {width: 1280, height: 900}})
  const page = await context.newPage()
  const problems: string[] = []
  const foreign: string[] = []
  const origin = new URL(url).origin
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(m.text())
  })
  page.on('pageerror', (e) => problems.push(e.message))
  page.on('request', (r) => {
    const u = new URL(r.url())
    if (`${u.protocol === 'ws:' ? 'http:' : u.protocol}//${u.host}` !== origin) foreign.push(r.url())
  })
  await page.goto(url)
  return {page, problems, foreign}
}

const shot = (page: Page, name: string): Promise<Buffer> => page.screenshot({path: path.join(ARTIFACTS, `${name}.png`), fullPage: true})

async function json<T>(args: string[]): Promise<T> {
  const r = await mesh(args)
  expect(r.exitCode, `mesh ${args.join(' ')}: ${r.stderr}`).toBe(0)
  return JSON.parse(r.stdout) as T
}
const routeStat = (resource: string, extra: string[] = []): Promise<RouteStatReport> => json(['stat', resource, '--routes', ...extra, '--window', '1h', '-o', 'json'])
// What stands still once the load is paused: all but the rates (a rate over a window that grows falls).
const still = (r: RouteStatReport): string => JSON.stringify(r.rows.map((x) => ({...x, rps: 0, windowSeconds: 0, backends: x.backends.map((b) => ({...b, rps: 0}))})))
const routeKey = (r: {authority: string; routeKind: string; route: string}): string => `${r.authority}|${r.routeKind}|${r.route}`
const numberCells = (n: RouteNumbers): Record<string, string> => ({success: String(n.successRate ?? ''), p50: String(n.latencyMs.p50 ?? ''), p95: String(n.latencyMs.p95 ?? ''), p99: String(n.latencyMs.p99 ?? ''), requests: String(n.requests)})

/** Runs `fn` with the demo's load stopped, once the given `mesh stat --routes` reads stand still. */
async function withLoadPaused(reads: Array<() => Promise<RouteStatReport>>, fn: () => Promise<void>): Promise<void> {
  const load = demoState().processes.find((p) => p.key === 'load')!.pid!
  process.kill(-load, 'SIGSTOP')
  try {
    let last = ''
    await eventually('mesh stat --routes to stand still', async () => {
      const now = JSON.stringify(await Promise.all(reads.map(async (read) => still(await read()))))
      const same = now === last
      last = now
      return same ? true : undefined
    }, {timeoutMs: 120_000, intervalMs: 6000})
    await fn()
  } finally {
    process.kill(-load, 'SIGCONT')
  }
}

/**
 * A workload page's section of routes (`section`, one table per Service: `table`) against the
 * CLI: the Services named, the route objects of `mesh routes svc/<service> -o json` (accepted),
 * and per route and backend the numbers of `stat` (a `mesh stat --routes -o json`) read before
 * and after the page's read: exactly what stands still, the rate between the two.
 */
async function routesOnPage(p: {workload: string; service: string; routes: string[]; services: string[]; section: string; table: string; stat: () => Promise<RouteStatReport>; shot: string}): Promise<void> {
  const before = await p.stat()
  const objects = await json<RoutesReport>(['routes', `svc/${p.service}`, '-o', 'json'])
  const cliDone = Date.now()
  const {page, problems, foreign} = await open(dashboard.url)
  await page.goto(`${dashboard.origin}/#/workload/demo/${p.workload}`)
  const section = page.locator(`[data-testid="${p.section}"]`)
  // A read of the page's that started after the CLI's: its scrape lies between the two CLI reads.
  await expect.poll(async () => Number((await section.getAttribute('data-read-at')) ?? 0), {timeout: 60_000}).toBeGreaterThan(cliDone)
  const shown = await section.evaluate((el: any, table: string) => {
    const cellsOf = (tr: any): Record<string, string> => Object.fromEntries([...tr.querySelectorAll('td[data-col]')].map((td: any) => [td.getAttribute('data-col'), td.getAttribute('data-value')]))
    return {
      services: [...el.querySelectorAll(`[data-testid="${table}"]`)].map((t: any) => t.getAttribute('data-service') as string),
      routes: [...el.querySelectorAll('tr[data-route]')].map((tr: any) => ({key: tr.getAttribute('data-route') as string, name: tr.querySelector('th').textContent as string, kind: tr.querySelectorAll('td')[0].textContent as string, cells: cellsOf(tr), text: [...tr.querySelectorAll('td')].map((td: any) => td.textContent as string)})),
      backends: [...el.querySelectorAll('tr[data-backend]')].map((tr: any) => ({key: tr.getAttribute('data-backend') as string, cells: cellsOf(tr)})),
    }
  }, p.table)
  const after = await p.stat()
  expect(still(after)).toBe(still(before))
  expect([...shown.services].sort()).toEqual(p.services)
  // The same routes: `mesh stat --routes` rows (the routes in force and [default]), and every object of `mesh routes`, accepted.
  expect(shown.routes.map((r) => r.key)).toEqual(before.rows.map(routeKey))
  expect(shown.routes.filter((r) => r.kind !== '-').map((r) => `${r.kind}/${r.name}`).sort()).toEqual(objects.routes.map((r) => `${r.kind}/${r.name}`).sort())
  expect(objects.routes.map((r) => `${r.kind}/${r.name}`).sort()).toEqual(p.routes)
  for (const o of objects.routes) expect(shown.routes.find((r) => r.name === o.name)!.cells.status).toBe(o.conditions.some((c) => c.type === 'Accepted' && c.status === 'True') ? 'accepted' : 'pending')
  // The same numbers: exactly what stands still, and the rate between the two CLI reads' (it only falls while paused).
  for (const [i, row] of before.rows.entries()) {
    const s = shown.routes[i]!
    expect({key: s.key, ...s.cells, status: undefined, rps: undefined}).toEqual({key: routeKey(row), ...numberCells(row), status: undefined, rps: undefined})
    expect(s.text[3]).toBe(row.successRate === null ? '-' : `${(row.successRate * 100).toFixed(2)}%`)
    expect(Number(s.cells.rps)).toBeLessThanOrEqual(row.rps)
    expect(Number(s.cells.rps)).toBeGreaterThanOrEqual(after.rows[i]!.rps)
  }
  const backends = before.rows.flatMap((r, i) => r.backends.map((b, j) => ({key: `${routeKey(r)}|${b.backend}`, cells: numberCells(b), hi: b.rps, lo: after.rows[i]!.backends[j]!.rps})))
  expect(shown.backends.map((b) => b.key)).toEqual(backends.map((b) => b.key))
  for (const [i, b] of backends.entries()) {
    const {rps, ...rest} = shown.backends[i]!.cells
    expect(rest).toEqual(b.cells)
    expect(Number(rps)).toBeLessThanOrEqual(b.hi)
    expect(Number(rps)).toBeGreaterThanOrEqual(b.lo)
  }
  // Not vacuous: every route of the demo carried requests, through its one backend.
  for (const r of p.routes) expect(Number(shown.routes.find((x) => `${x.kind}/${x.name}` === r)!.cells.requests)).toBeGreaterThan(0)
  expect(shown.backends.length).toBeGreaterThanOrEqual(2)
  await shot(page, p.shot)
  expect(problems).toEqual([])
  expect(foreign).toEqual([])
  await page.context().close()
}

describe('mesh dashboard in Chromium, against a running demo', {timeout: 300_000}, () => {
  it('mesh demo prints the address of its own dashboard, which serves the page', async () => {
    const url = /^dashboard: (http:\/\/127\.0\.0\.1:\d+\/\?key=\S+) /m.exec(started.stdout)?.[1]
    expect(url, started.stdout).toBeDefined()
    // `mesh demo status` tells it again (a detached demo's banner is easily lost).
    const status = await mesh(['demo', 'status', '-o', 'json'])
    expect((JSON.parse(status.stdout) as {dashboard?: string}).dashboard).toBe(url)
    const {page, problems} = await open(url!)
    await page.getByRole('table', {name: 'workloads'}).getByRole('link', {name: 'deploy/web'}).waitFor()
    expect(problems).toEqual([])
    await page.context().close()
  })

  it('the tap view of a workload shows a request sent with curl during the test, and its routes', async () => {
    const {page, problems, foreign} = await open(dashboard.url)
    await page.getByRole('table', {name: 'workloads'}).getByRole('link', {name: 'deploy/web'}).click()
    await page.getByRole('heading', {name: /deploy\/web/}).waitFor()
    const web = demoState().plan.services.find((s) => s.name === 'web')!
    // A path of its own (tap redacts query values, so the marker is in the path).
    const marker = `/api/books/dashboard-probe-${Date.now()}`
    const row = page.locator(`[data-testid="tap"] tr[data-path="${marker}"]`)
    // Sent until the page shows it: the tap stream opens when the page does.
    await eventually('the curl request in the tap view', async () => {
      await run('curl', ['-s', '-o', '/dev/null', '-H', `host: ${web.authority}`, `http://127.0.0.1:${web.proxy.inbound}${marker}`])
      return (await row.count()) > 0 ? true : undefined
    }, {timeoutMs: 60_000, intervalMs: 1000})
    await expect.poll(() => row.first().locator('td').nth(2).textContent()).toBe('in')
    await page.locator('[data-testid="tap-routes"]').waitFor()
    expect(await page.locator('[data-testid="tap-routes"] tbody tr').count()).toBeGreaterThan(0)
    await shot(page, 'workload')
    expect(problems).toEqual([])
    expect(foreign).toEqual([])
    await page.context().close()
  })

  it('with the load paused, the workloads page shows the success rates and requests of `mesh stat -o json`, and the graph one edge per pair of `mesh edges -o json`', async () => {
    const load = demoState().processes.find((p) => p.key === 'load')!.pid!
    process.kill(-load, 'SIGSTOP')
    // Frozen once two reads more than a scrape apart (the tap server scrapes a pod at most every
    // 5 s) agree: the last requests have been counted.
    let last = ''
    const stat = await eventually('mesh stat to stand still', async () => {
      const r = await mesh(['stat', 'deploy', '--window', '1h', '-o', 'json'])
      expect(r.exitCode, r.stderr).toBe(0)
      const s = JSON.parse(r.stdout) as StatReport
      const key = JSON.stringify(s.rows.map((x) => [x.name, x.requests, x.successRate]))
      const same = key === last && s.rows.every((x) => x.requests !== null)
      last = key
      return same ? s : undefined
    }, {timeoutMs: 120_000, intervalMs: 6000})
    const {page, problems, foreign} = await open(dashboard.url)
    const table = page.locator('[data-testid="workloads"]')
    for (const row of stat.rows) {
      const cell = table.locator(`tr[data-workload="demo/deploy/${row.name}"] td[data-col="success"]`)
      // The page refreshes every 5 s; it shows the frozen numbers after its next read at the latest.
      await expect.poll(() => cell.getAttribute('data-value'), {timeout: 60_000}).toBe(row.successRate === null ? '' : String(row.successRate))
      expect(await cell.textContent()).toBe(row.successRate === null ? '-' : `${(row.successRate * 100).toFixed(2)}%`)
    }
    expect(await table.locator('tbody tr').count()).toBe(stat.rows.length)
    await shot(page, 'workloads')

    const e = await mesh(['edges', 'deploy', '-o', 'json'])
    expect(e.exitCode, e.stderr).toBe(0)
    const pairs = new Set((JSON.parse(e.stdout) as EdgesReport).edges.map((x) => `${x.srcNamespace}/${x.src}->${x.dstNamespace}/${x.dst}`))
    expect(pairs.size).toBeGreaterThanOrEqual(3)
    await page.getByRole('navigation', {name: 'views'}).getByRole('link', {name: 'Graph'}).click()
    const graph = page.locator('[data-testid="graph"]')
    await graph.waitFor()
    await expect.poll(async () => (await graph.locator('g.edge').evaluateAll((gs) => gs.map((g) => g.getAttribute('data-edge')))).sort(), {timeout: 30_000}).toEqual([...pairs].sort())
    // web -> books: both identities verified, drawn as such.
    expect(await graph.locator('g.edge[data-edge="demo/deploy/web->demo/deploy/books"]').getAttribute('data-verified')).toBe('true')
    await shot(page, 'graph')
    expect(problems).toEqual([])
    expect(foreign).toEqual([])
    await page.context().close()
    process.kill(-load, 'SIGCONT')
  })

  it('with the load paused, a workload page lists the routes of `mesh routes -o json` with the numbers per route and backend of `mesh stat --routes -o json`', async () => {
    // web calls books (HTTPRoutes), books calls authors (GRPCRoutes).
    const pairs = [
      {workload: 'deploy/web', service: 'books', routes: ['HTTPRoute/books-by-id', 'HTTPRoute/books-list'], shot: 'routes'},
      {workload: 'deploy/books', service: 'authors', routes: ['GRPCRoute/authors-get', 'GRPCRoute/authors-list'], shot: 'routes-grpc'},
    ]
    await withLoadPaused(pairs.map((p) => () => routeStat(p.workload, ['--to', `svc/${p.service}`])), async () => {
      for (const p of pairs) {
        // The Services it calls, as `mesh stat <workload> --routes` names them.
        const services = [...new Set((await routeStat(p.workload)).rows.flatMap((r) => (r.service ? [`${r.service.namespace}/${r.service.name}`] : [])))].sort()
        expect(services).toContain(`demo/${p.service}`)
        await routesOnPage({...p, services, section: 'routes', table: 'cp-routes', stat: () => routeStat(p.workload, ['--to', `svc/${p.service}`])})
      }
    })
  })

  it('with the load paused, a workload page lists the routes of the Services it serves with the numbers of `mesh stat svc/<name> --routes -o json`', async () => {
    // authors' pod backs svc/authors (GRPCRoutes, called by books), books' svc/books (HTTPRoutes, called by web).
    const pairs = [
      {workload: 'deploy/authors', service: 'authors', routes: ['GRPCRoute/authors-get', 'GRPCRoute/authors-list'], shot: 'served-routes-grpc'},
      {workload: 'deploy/books', service: 'books', routes: ['HTTPRoute/books-by-id', 'HTTPRoute/books-list'], shot: 'served-routes'},
    ]
    await withLoadPaused(pairs.map((p) => () => routeStat(`svc/${p.service}`)), async () => {
      for (const p of pairs) {
        // The Services it serves, as `mesh stat <workload> --routes` names them.
        const served = (await routeStat(p.workload)).served
        expect(served).toEqual([{namespace: 'demo', name: p.service}])
        await routesOnPage({...p, services: [`demo/${p.service}`], section: 'served-routes', table: 'served-routes-service', stat: () => routeStat(`svc/${p.service}`)})
      }
    })
  })

  it('the checks view shows the results of `mesh check --proxy`', async () => {
    const cli = await mesh(['check', '--proxy', '-o', 'json'])
    const report = JSON.parse(cli.stdout) as {success: boolean; categories: {checks: {id: string; result: string}[]}[]}
    const {page, problems} = await open(dashboard.url)
    await page.getByRole('link', {name: 'Checks'}).click()
    const checks = page.locator('[data-testid="checks"]')
    await checks.waitFor({timeout: 60_000})
    expect(await checks.getAttribute('data-success')).toBe(String(report.success))
    const shown = await checks.locator('li[data-check]').evaluateAll((ls) => ls.map((l) => `${l.getAttribute('data-check')}=${l.getAttribute('data-result')}`))
    expect(shown).toEqual(report.categories.flatMap((c) => c.checks.map((k) => `${k.id}=${k.result}`)))
    await shot(page, 'checks')
    expect(problems).toEqual([])
    await page.context().close()
  })

  it('works from the keyboard: Tab reaches the views and the graph\'s nodes, Enter opens them', async () => {
    const {page} = await open(dashboard.url)
    await page.getByRole('table', {name: 'workloads'}).waitFor()
    const focusTo = async (match: (el: {text: string; role: string | null; tag: string}) => boolean, what: string): Promise<void> => {
      for (let i = 0; i < 40; i++) {
        await page.keyboard.press('Tab')
        const el = await page.evaluate(() => {
          const a = document.activeElement
          return {text: (a?.getAttribute('aria-label') ?? a?.textContent ?? '').trim(), role: a?.getAttribute('role') ?? null, tag: a?.tagName ?? ''}
        })
        if (match(el)) return
      }
      throw new Error(`Tab never reached ${what}`)
    }
    await focusTo((el) => el.tag === 'A' && el.text === 'Graph', 'the Graph link')
    // The focused element is visibly marked (an outline from :focus-visible).
    expect(await page.evaluate(() => getComputedStyle(document.activeElement!).outlineStyle)).not.toBe('none')
    await page.keyboard.press('Enter')
    await page.locator('[data-testid="graph"]').waitFor()
    expect(new URL(page.url()).hash).toBe('#/graph')
    await focusTo((el) => el.role === 'link' && el.text.startsWith('deploy/books in demo'), 'the books node')
    await page.keyboard.press('Enter')
    await page.getByRole('heading', {name: /deploy\/books/}).waitFor()
    expect(new URL(page.url()).hash).toBe('#/workload/demo/deploy/books')
    await page.context().close()
  })

  for (const scheme of ['light', 'dark'] as const) {
    it(`reads well in the ${scheme} theme (the system's choice by default; the toggle switches): text contrast at least 4.5:1`, async () => {
      const {page} = await open(dashboard.url, {colorScheme: scheme})
      await page.getByRole('table', {name: 'workloads'}).waitFor()
      expect(await page.evaluate(() => document.documentElement.dataset.theme)).toBe(scheme)
      const contrasts = async (): Promise<Record<string, number>> => page.evaluate(() => {
        const rgb = (c: string): number[] => (c.match(/[\d.]+/g) ?? []).slice(0, 3).map(Number)
        const lum = (c: string): number => {
          const [r, g, b] = rgb(c).map((v) => {
            const s = v / 255
            return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4
          })
          return 0.2126 * r! + 0.7152 * g! + 0.0722 * b!
        }
        const ratio = (a: string, b: string): number => {
          const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p)
          return (x! + 0.05) / (y! + 0.05)
        }
        const bg = getComputedStyle(document.body).backgroundColor
        const of = (sel: string): number => ratio(getComputedStyle(document.querySelector(sel)!).color, bg)
        return {body: of('h1'), link: of('[data-testid="workloads"] a'), muted: of('.note'), nav: of('nav a')}
      })
      for (const [what, ratio] of Object.entries(await contrasts())) expect(ratio, what).toBeGreaterThanOrEqual(4.5)
      await shot(page, `theme-${scheme}`)
      // The toggle gives the other theme, as readable, and is remembered.
      await page.getByRole('button', {name: 'Dark theme'}).click()
      const other = scheme === 'light' ? 'dark' : 'light'
      expect(await page.evaluate(() => document.documentElement.dataset.theme)).toBe(other)
      for (const [what, ratio] of Object.entries(await contrasts())) expect(ratio, `${other}: ${what}`).toBeGreaterThanOrEqual(4.5)
      await page.reload()
      await page.getByRole('table', {name: 'workloads'}).waitFor()
      expect(await page.evaluate(() => document.documentElement.dataset.theme)).toBe(other)
      await page.context().close()
    })
  }

  it('sets a strict Content-Security-Policy, and the page needs no exception to it', async () => {
    const {page, problems} = await open(dashboard.url)
    const violations: string[] = []
    await page.exposeFunction('reportViolation', (v: string) => violations.push(v))
    await page.evaluate(() => document.addEventListener('securitypolicyviolation', (e: {violatedDirective: string; blockedURI: string}) => void (globalThis as unknown as {reportViolation: (v: string) => void}).reportViolation(`${e.violatedDirective} ${e.blockedURI}`)))
    const res = await page.goto(dashboard.origin + '/')
    expect(res!.headers()['content-security-policy']).toBe("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
    await page.getByRole('table', {name: 'workloads'}).waitFor()
    for (const view of ['#/graph', '#/workload/demo/deploy/books', '#/check']) await page.goto(dashboard.origin + '/' + view)
    expect(violations).toEqual([])
    expect(problems).toEqual([])
    await page.context().close()
  })

  it('a dashboard the control plane refuses shows the refusal, not data', async () => {
    // The demo's local context with another token: the real tap server answers 401.
    const other = mkdtempSync(path.join(tmpdir(), 'mesh-dashboard-refused-'))
    try {
      const ctx = JSON.parse(readFileSync(path.join(home, 'local.json'), 'utf8')) as {token: string}
      writeFileSync(path.join(other, 'local.json'), JSON.stringify({...ctx, token: 'not-the-token'}), {mode: 0o600})
      copyFileSync(path.join(home, 'local.json'), path.join(other, 'local.json.orig'))
      const refused = await startDashboardProcess([], {...env, MESH_HOME: other})
      try {
        const {page} = await open(refused.url)
        const alert = page.getByRole('alert')
        await alert.waitFor({timeout: 60_000})
        expect(await alert.textContent()).toMatch(/refused/)
        expect(await page.locator('[data-testid="workloads"]').count()).toBe(0)
        await shot(page, 'refused')
        await page.context().close()
      } finally {
        await refused.stop()
      }
    } finally {
      rmSync(other, {recursive: true, force: true})
    }
  })
})
