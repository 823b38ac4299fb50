// The journey's routes steps (issue 22's end-to-end proof), on the running mesh of steps 2-6:
// HTTPRoutes whose parent is Service web (shop, port 80) applied with kubectl, picked up by the
// client's running proxy through its destination connection. A canary Deployment (web-canary,
// injected) is the second backend. Every wait is on a condition with a generous deadline; how
// long a change took to reach the proxy is printed as a progress line, never asserted.
import {existsSync, rmSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {expect} from 'vitest'
import type {RouteStatReport} from '../../src/stat/types.js'
import type {ClientSummary, PodRunner} from './runner/runner.js'
import type {Obj} from './runner/kube.js'
import {eventually, progress, proxyMetrics, sumMetric} from './journey-kit.js'
import {canaryYaml, expectOk, kubectl, mesh, meshAs, tokenKubeconfig} from './mesh-env.js'

export interface RoutesContext {
  runner: PodRunner
  ns: string
  podsOf(ns: string, app: string): string[]
  waitApps(ns: string, apps: string[], timeoutMs?: number): Promise<void>
}

const parent = {group: '', kind: 'Service', name: 'web', port: 80}
const to = (name: string, weight?: number): Obj => (weight === undefined ? {name, port: 80} : {name, port: 80, weight})

function route(ns: string, name: string, rules: Obj[], annotations?: Record<string, string>): string {
  return JSON.stringify({apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: {name, namespace: ns, ...(annotations ? {annotations} : {})}, spec: {parentRefs: [parent], rules}})
}

const isCanary = (pod: string): boolean => pod.startsWith('web-canary-')
const canaryCount = (r: ClientSummary): number => Object.entries(r.pods).filter(([p]) => isCanary(p)).reduce((a, [, n]) => a + n, 0)

/** The client's proxy: its process start (a restart would change it). */
async function proxyStart(ctx: RoutesContext, client: string): Promise<number> {
  const m = await proxyMetrics(ctx.runner, ctx.ns, client)
  return Number(/^process_start_time_seconds (\S+)$/m.exec(m)?.[1] ?? 0)
}

/** The route's Accepted condition as the controller wrote it. */
async function accepted(ns: string, name: string): Promise<string | undefined> {
  const r = JSON.parse(await kubectl(['get', 'httproute', name, '-n', ns, '-o', 'json'])) as Obj
  const mine = ((r.status?.parents ?? []) as Obj[]).find((p) => p.controllerName === 'mesh.dev/controller')
  const c = ((mine?.conditions ?? []) as Obj[]).find((x) => x.type === 'Accepted')
  return c ? `${c.status}/${c.reason}` : undefined
}

/**
 * 6c: a running client proxy picks up a 1 s request timeout (504 with mesh-proxy-error, no
 * restart); deleting the route restores the default. Also starts the canary for 6d.
 */
export function timeoutStep(ctx: RoutesContext): Promise<void> {
  return withRoutes(ctx.ns, ['web-timeout'], () => timeouts(ctx))
}

/** Runs a step; whatever happens, its routes go (a later step must not meet a leftover route). */
async function withRoutes(ns: string, names: string[], fn: () => Promise<void>): Promise<void> {
  try {
    await fn()
  } finally {
    await kubectl(['delete', 'httproute', ...names, '-n', ns, '--ignore-not-found'])
  }
}

async function timeouts(ctx: RoutesContext): Promise<void> {
  const {runner, ns} = ctx
  const client = ctx.podsOf(ns, 'client')[0]!
  const url = `http://web.${ns}.svc.cluster.local`
  // The canary backend of 6d starts now (pods take a while on a loaded machine).
  const file = path.join(runner.dir, 'canary.yaml')
  writeFileSync(file, canaryYaml(ns))
  await kubectl(['apply', '-f', '-'], expectOk(await mesh('inject', file), 'mesh inject canary.yaml'))
  const started = await proxyStart(ctx, client)
  expect(started).toBeGreaterThan(0)
  // The default route: a 1.5 s answer is waited for.
  const before = await runner.client(ns, client, ['http', `${url}/delay/1500`, '1'])
  expect(before, before.raw).toMatchObject({ok: 1, failed: 0})
  const t0 = Date.now()
  await kubectl(['apply', '-f', '-'], route(ns, 'web-timeout', [{matches: [{path: {type: 'PathPrefix', value: '/delay'}}], timeouts: {request: '1s'}}]))
  const cut = await eventually('the client proxy to apply the 1 s timeout', async () => {
    const r = await runner.client(ns, client, ['http', `${url}/delay/3000`, '1'])
    return r.statuses['504'] === 1 ? r : undefined
  }, 120_000)
  progress(`6c: the 1 s timeout applied ${((Date.now() - t0) / 1000).toFixed(1)} s after kubectl apply`)
  expect(Object.keys(cut.proxyErrors), cut.raw).toEqual([expect.stringMatching(/within 1000ms$/)])
  expect(await accepted(ns, 'web-timeout')).toBe('True/Accepted')
  // Under the timeout, answers still come.
  const fast = await runner.client(ns, client, ['http', `${url}/delay/100`, '3'])
  expect(fast, fast.raw).toMatchObject({ok: 3, failed: 0})
  const t1 = Date.now()
  await kubectl(['delete', 'httproute', 'web-timeout', '-n', ns])
  await eventually('the default route back (no 1 s timeout)', async () => {
    const r = await runner.client(ns, client, ['http', `${url}/delay/1500`, '1'])
    return r.ok === 1 ? r : undefined
  }, 120_000)
  progress(`6c: the default route back ${((Date.now() - t1) / 1000).toFixed(1)} s after kubectl delete`)
  expect(await proxyStart(ctx, client), 'the client proxy was not restarted').toBe(started)
}

/**
 * 6d: a header match sends 100 % to the canary; a 90/10 split over 1,000 requests lands within
 * 3 points of 10 %; `mesh stat --routes -o json` counts exactly what was sent, per backend;
 * moving to 0/100 under load fails no request.
 */
export function splitStep(ctx: RoutesContext): Promise<void> {
  return withRoutes(ctx.ns, ['web-split'], () => splitting(ctx))
}

async function splitting(ctx: RoutesContext): Promise<void> {
  const {runner, ns} = ctx
  const client = ctx.podsOf(ns, 'client')[0]!
  const url = `http://web.${ns}.svc.cluster.local/split`
  await ctx.waitApps(ns, ['web-canary'], 150_000)
  await defaultRoute(ctx, client)
  const rules = (stable: number, canary: number): Obj[] => [
    {matches: [{path: {type: 'PathPrefix', value: '/split'}, headers: [{name: 'x-canary', value: 'yes'}]}], backendRefs: [to('web-canary')]},
    {matches: [{path: {type: 'PathPrefix', value: '/split'}}], backendRefs: [to('web', stable), to('web-canary', canary)]},
  ]
  // What the route counted: every request whose answer came from the canary took it, and so did
  // every request after the policy arrived (probes before it took the default route to web).
  let viaRoute = 0
  const viaBackend = {web: 0, canary: 0}
  const probes: ClientSummary[] = []
  const t0 = Date.now()
  await kubectl(['apply', '-f', '-'], route(ns, 'web-split', rules(90, 10)))
  await eventually('the client proxy to apply web-split', async () => {
    const r = await runner.client(ns, client, ['http', url, '1', '0', '', 'x-canary:yes'])
    probes.push(r)
    viaRoute += canaryCount(r)
    viaBackend.canary += canaryCount(r)
    return canaryCount(r) === 1 ? r : undefined
  }, 120_000)
  expect(probes.filter((p) => p.failed > 0).map((p) => p.raw)).toEqual([])
  progress(`6d: web-split applied ${((Date.now() - t0) / 1000).toFixed(1)} s after kubectl apply`)
  const header = await runner.client(ns, client, ['http', url, '50', '0', '', 'x-canary:yes'])
  expect(header, header.raw).toMatchObject({ok: 50, failed: 0})
  expect(canaryCount(header), `the header match sends everything to the canary: ${JSON.stringify(header.pods)}`).toBe(50)
  const split = await runner.client(ns, client, ['http', url, '1000'], {timeoutMs: 170_000})
  expect(split, split.raw).toMatchObject({ok: 1000, failed: 0})
  const share = canaryCount(split) / 1000
  progress(`6d: 90/10 split: ${canaryCount(split)} of 1000 to the canary`)
  expect(Math.abs(share - 0.1), `canary share ${share} (${JSON.stringify(split.pods)})`).toBeLessThanOrEqual(0.03)
  viaRoute += 1050
  viaBackend.canary += 50 + canaryCount(split)
  viaBackend.web += 1000 - canaryCount(split)

  // mesh stat --routes: the route's requests and each backend's, exactly.
  const kc = tokenKubeconfig(runner.dir)
  const want = (rep: RouteStatReport): boolean => rep.rows.find((r) => r.route === 'web-split')?.requests === viaRoute
  const rep = await eventually('mesh stat svc/web --routes to count every request of web-split', async () => {
    const r = JSON.parse(expectOk(await meshAs(kc, 'stat', 'svc/web', '-n', ns, '--routes', '--from', 'deploy/client', '--window', '10m', '-o', 'json'), 'mesh stat --routes')) as RouteStatReport
    return want(r) ? r : undefined
  }, 60_000)
  const row = rep.rows.find((r) => r.route === 'web-split')!
  expect(row, JSON.stringify(rep)).toMatchObject({routeKind: 'HTTPRoute', service: {namespace: ns, name: 'web', port: 80}, requests: viaRoute, successRate: 1})
  expect(row.backends.map((b) => [b.backend, b.requests]), JSON.stringify(row)).toEqual([[`${ns}/web-canary:80`, viaBackend.canary], [`${ns}/web:80`, viaBackend.web]])
  progress('6d: mesh stat --routes counts every request')

  // 0/100 under a bounded load (at most 600 requests, one per 20 ms): no request fails.
  const stopFile = path.join(os.tmpdir(), `mesh-e2e-stop-6d-${process.pid}`)
  for (const f of [stopFile, `${stopFile}.started`]) rmSync(f, {force: true})
  const load = runner.client(ns, client, ['http', url, '600', '20', stopFile], {timeoutMs: 120_000})
  await eventually('the load to start', () => (existsSync(`${stopFile}.started`) ? true : undefined), {timeoutMs: 60_000, intervalMs: 100})
  const tPatch = Date.now()
  await kubectl(['apply', '-f', '-'], route(ns, 'web-split', rules(0, 100)))
  await eventually('every request to the canary', async () => {
    const r = await runner.client(ns, client, ['http', url, '20'])
    expect(r.failed, r.raw).toBe(0)
    return canaryCount(r) === 20 ? r : undefined
  }, 120_000)
  progress(`6d: 0/100 applied ${((Date.now() - tPatch) / 1000).toFixed(1)} s after kubectl apply`)
  writeFileSync(stopFile, '')
  const r = await load.finally(() => { for (const f of [stopFile, `${stopFile}.started`]) rmSync(f, {force: true}) })
  expect(r.started, r.raw).toBeLessThan(tPatch)
  expect(r.failed, r.raw).toBe(0)
  expect(r.ok, r.raw).toBeGreaterThan(0)
  const canaryLast = Math.max(...Object.entries(r.last).filter(([p]) => isCanary(p)).map(([, t]) => t))
  expect(canaryLast, `the canary answered the load after the change: ${r.raw}`).toBeGreaterThan(tPatch)
}

/** Web has no route (a leftover of an earlier step would 404 this step's paths): waits until its proxy says so. */
async function defaultRoute(ctx: RoutesContext, client: string): Promise<void> {
  await eventually('the default route for web (no route left)', async () => {
    const r = await ctx.runner.client(ctx.ns, client, ['http', `http://web.${ctx.ns}.svc.cluster.local/hello`, '1'])
    return r.statuses['200'] === 1 ? r : undefined
  }, 120_000)
}

/** 6e: retries configured on a route recover a backend that fails 1 request in 3; then the routes go. */
export function retryStep(ctx: RoutesContext): Promise<void> {
  return withRoutes(ctx.ns, ['web-retry'], () => retries(ctx))
}

async function retries(ctx: RoutesContext): Promise<void> {
  const {runner, ns} = ctx
  const client = ctx.podsOf(ns, 'client')[0]!
  const url = `http://web.${ns}.svc.cluster.local/flaky`
  await defaultRoute(ctx, client)
  // Without a route: the default retries (502-504, idempotent) do not cover the 500s.
  const bare = await runner.client(ns, client, ['http', `${url}/bare`, '30'])
  expect(bare.failed, `1 in 3 fails without the route: ${bare.raw}`).toBeGreaterThan(0)
  const retried = async (): Promise<number> => sumMetric(await proxyMetrics(runner, ns, client), 'mesh_proxy_retries_total', {direction: 'outbound', outcome: 'retried'})
  await kubectl(['apply', '-f', '-'], route(ns, 'web-retry', [{matches: [{path: {type: 'PathPrefix', value: '/flaky'}}]}], {'retry.mesh.dev/http': '5xx', 'retry.mesh.dev/limit': '2'}))
  await eventually('the client proxy to apply web-retry', async () => {
    await runner.client(ns, client, ['http', `${url}/probe`, '1'])
    return sumMetric(await proxyMetrics(runner, ns, client), 'request_total', {direction: 'outbound', route: 'web-retry', route_kind: 'HTTPRoute'}) > 0 ? true : undefined
  }, 120_000)
  const before = await retried()
  const r = await runner.client(ns, client, ['http', `${url}/x`, '30'])
  expect(r, `the route's retries recover every failure: ${r.raw}`).toMatchObject({ok: 30, failed: 0})
  expect(await retried() - before, 'the failures were retried').toBeGreaterThan(0)
}
