// `mesh stat --routes`: success rate, RPS and latency percentiles per route over a window, from
// the client proxies' outbound series (routes are applied, and labelled, by the caller's proxy:
// docs/architecture/routes.md). A series belongs to a route by its `route_kind`/`route` labels;
// a request no control-plane route took (no policy, a policy without routes, 404 no match, or
// a MESH_PROXY_ROUTES rule) counts under the default route, `[default]`, as Linkerd does. Split
// traffic is also counted per `backend`. The Service a series was addressed to comes from its
// `authority` label, read as the caller's proxy read it (ServiceView.serviceOf).
//
// Two views: a Service (`svc/books`): the requests its callers sent it, per route; a workload
// or pod (`deploy/web`): the requests it sent, per destination and route (optionally only to
// one Service: --to svc/<name>).
import {histogramQuantile, type Bucket} from '../metrics/query.js'
import type {PodInfo, ResolvedGroup, ServicePort, ServiceView} from '../control/tap/types.js'
import {podKey, type Windows} from './compute.js'
import type {RouteBackendRow, RouteNumbers, RouteStatRow} from './types.js'
import {addBuckets, deltaBucketsBy, deltaBy, seconds} from './window.js'

export const DEFAULT_ROUTE = 'default'

export interface RouteStatInput {
  groups: ResolvedGroup[]
  /** `service`: the groups are Services and `callers` the pods whose requests to them count; `client`: each group's own pods. */
  mode: 'service' | 'client'
  callers?: PodInfo[]
  /** client mode: only requests to this Service (any port). */
  to?: {namespace: string; name: string}
  view: ServiceView
}

const BY = ['authority', 'route_kind', 'route', 'backend'] as const
const outbound = (l: Record<string, string>): boolean => l.direction === 'outbound'

interface Acc {
  requests: number
  successes: number
  rps: number
  buckets: Bucket[][]
}

interface RowAcc extends Acc {
  row: Omit<RouteStatRow, keyof RouteNumbers | 'backends' | 'windowSeconds'>
  backends: Map<string, Acc>
  span: number
}

const newAcc = (): Acc => ({requests: 0, successes: 0, rps: 0, buckets: []})

/** The route a series counts under: its control-plane route, else the default route. */
function routeOf(l: Record<string, string>): {routeKind: string; route: string} {
  const kind = l.route_kind
  return kind === undefined || kind === '' || kind === DEFAULT_ROUTE ? {routeKind: DEFAULT_ROUTE, route: DEFAULT_ROUTE} : {routeKind: kind, route: l.route ?? ''}
}

export function canonicalName(s: ServicePort, clusterDomain: string): string {
  return `${s.name}.${s.namespace}.svc.${clusterDomain}:${s.port}`
}

export function computeRouteStats(input: RouteStatInput, windows: Windows): RouteStatRow[] {
  const {view} = input
  const rows = new Map<string, RowAcc>()
  const memo = new Map<string, ServicePort | null>()
  const serviceOf = (authority: string, ns: string): ServicePort | undefined => {
    const k = `${ns}\u0000${authority}`
    let s = memo.get(k)
    if (s === undefined) {
      s = view.serviceOf(authority, ns) ?? null
      memo.set(k, s)
    }
    return s ?? undefined
  }
  const rowFor = (g: ResolvedGroup, service: ServicePort | undefined, authority: string, route: {routeKind: string; route: string}): RowAcc => {
    const dest = service ? canonicalName(service, view.clusterDomain) : authority
    const key = [g.resource.namespace, g.resource.kind, g.resource.name, dest, route.routeKind, route.route].join('\u0000')
    let r = rows.get(key)
    if (!r) {
      r = {
        ...newAcc(),
        row: {namespace: g.resource.namespace, kind: g.resource.kind, name: g.resource.name, service: service ?? null, authority: dest, ...route},
        backends: new Map(),
        span: 0,
      }
      rows.set(key, r)
    }
    return r
  }
  /** Which series of a caller count for group g, and under which Service. */
  const accepts = (g: ResolvedGroup, s: ServicePort | undefined): boolean => {
    if (input.mode === 'service') return s !== undefined && s.namespace === g.resource.namespace && s.name === g.resource.name
    return input.to === undefined || (s !== undefined && s.namespace === input.to.namespace && s.name === input.to.name)
  }

  for (const g of input.groups) {
    const pods = input.mode === 'service' ? (input.callers ?? []) : g.pods
    const seen = new Set<string>()
    for (const pod of pods) {
      const w = windows.get(podKey(pod))
      if (!w || seen.has(podKey(pod))) continue
      seen.add(podKey(pod))
      const secs = seconds(w)
      const touched = new Set<RowAcc>()
      for (const d of deltaBy(w, 'response_total', [...BY, 'classification'], outbound)) {
        const l = d.labels
        const s = serviceOf(l.authority ?? '', pod.namespace)
        if (!accepts(g, s)) continue
        const r = rowFor(g, s, l.authority ?? '', routeOf(l))
        touched.add(r)
        const accs: Acc[] = [r]
        if (l.backend) {
          let b = r.backends.get(l.backend)
          if (!b) r.backends.set(l.backend, (b = newAcc()))
          accs.push(b)
        }
        for (const a of accs) {
          a.requests += d.value
          if (l.classification === 'success') a.successes += d.value
          if (secs > 0) a.rps += d.value / secs
        }
      }
      for (const d of deltaBucketsBy(w, 'response_latency_ms', BY, outbound)) {
        const l = d.labels
        const s = serviceOf(l.authority ?? '', pod.namespace)
        if (!accepts(g, s)) continue
        const r = rowFor(g, s, l.authority ?? '', routeOf(l))
        r.buckets.push(d.value)
        if (l.backend) r.backends.get(l.backend)?.buckets.push(d.value)
      }
      for (const r of touched) r.span = Math.max(r.span, secs)
    }
    // A Service's routes in force show with no traffic too (and its default route), as `mesh routes` lists them.
    const inForce = input.mode === 'service' ? view.routesOf?.(g.resource.namespace, g.resource.name ?? '') : input.to ? view.routesOf?.(input.to.namespace, input.to.name) : undefined
    const svcName = input.mode === 'service' ? {namespace: g.resource.namespace, name: g.resource.name} : input.to
    for (const p of inForce ?? []) {
      const service = {namespace: svcName!.namespace, name: svcName!.name, port: p.port}
      for (const route of p.routes) rowFor(g, service, '', {routeKind: route.kind, route: route.name})
      rowFor(g, service, '', {routeKind: DEFAULT_ROUTE, route: DEFAULT_ROUTE})
    }
  }
  const span = Math.max(0, ...[...windows.values()].map(seconds))
  return [...rows.values()].map((r): RouteStatRow => ({
    ...r.row,
    ...numbers(r),
    backends: [...r.backends].map(([backend, a]): RouteBackendRow => ({backend, ...numbers(a)})).sort((a, b) => a.backend.localeCompare(b.backend)),
    windowSeconds: windows.size === 0 ? null : Math.round((r.span || span) * 10) / 10,
  })).sort(compareRows)
}

function numbers(a: Acc): RouteNumbers {
  const buckets = addBuckets(a.buckets)
  const q = (x: number): number | null => {
    const v = histogramQuantile(x, buckets)
    return Number.isFinite(v) ? v : null
  }
  return {
    requests: a.requests,
    successRate: a.requests > 0 ? a.successes / a.requests : null,
    rps: a.rps,
    latencyMs: a.requests > 0 ? {p50: q(0.5), p95: q(0.95), p99: q(0.99)} : {p50: null, p95: null, p99: null},
  }
}

/** By resource, destination, then route name with the default route last (as `linkerd viz routes`). */
function compareRows(a: RouteStatRow, b: RouteStatRow): number {
  const res = `${a.namespace}/${a.kind}/${a.name}`.localeCompare(`${b.namespace}/${b.kind}/${b.name}`)
  if (res !== 0) return res
  const dest = a.authority.localeCompare(b.authority)
  if (dest !== 0) return dest
  const da = a.routeKind === DEFAULT_ROUTE ? 1 : 0
  const db = b.routeKind === DEFAULT_ROUTE ? 1 : 0
  return da - db || a.route.localeCompare(b.route) || a.routeKind.localeCompare(b.routeKind)
}
