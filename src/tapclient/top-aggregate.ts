// `mesh top`'s table from tap events: one row per route (by default) or per path (--paths),
// keyed by source, destination and method too, each with count, success rate, latency
// percentiles and last/best/worst. The route is the rule the client's proxy matched
// (MESH_PROXY_ROUTES, `GET /books/`), else a template learnt from the paths seen
// (route-template.ts: `/books/b1`..`/books/b5` are `/books/{id}`). Latency is to the response
// headers, as in the proxies' response_latency_ms. Bounded: requests in flight, rows, and
// latency samples per row; when rows run out, rows are folded into their learnt templates.
// --routes: one row per control-plane route (HTTPRoute/GRPCRoute, `default` for the requests
// no route took) and backend, keyed by the source and the authority the requests were sent to,
// from outbound events only (routes are applied, and reported, by the caller's proxy).
import type {TapEvent, TapPeer, TapRequestInit} from '../protocol/tap.js'
import {learnTemplates, staticTemplate} from './route-template.js'

/** rule, template, path: the default view; HTTPRoute, GRPCRoute, default: --routes. */
export type RouteKind = 'rule' | 'template' | 'path' | 'HTTPRoute' | 'GRPCRoute' | 'default'

export interface TopRow {
  source: string
  destination: string
  method: string
  /** What the row stands for: the rule the proxy matched, a learnt template, or (--paths) the path; --routes: the route's name. */
  route: string
  routeKind: RouteKind
  /** --routes: the backend the proxy chose (`namespace/name:port`), '' for the default route. */
  backend?: string
  count: number
  successes: number
  successRate: number
  latencyMs: {p50: number; p95: number; p99: number; last: number; best: number; worst: number}
}

export interface TopSnapshot {
  time: string
  sort: SortKey
  rows: TopRow[]
}

export const SORT_KEYS = ['count', 'success', 'p99', 'worst', 'route'] as const
export type SortKey = (typeof SORT_KEYS)[number]

type RowKey = Pick<TopRow, 'source' | 'destination' | 'method' | 'route' | 'routeKind' | 'backend'>

interface Pending {
  key: string
  row: RowKey
  latencyUs?: number
  status?: number
}

interface Acc {
  row: RowKey
  count: number
  successes: number
  samples: number[]
  seen: number
  last: number
  /** Order of the last record, so that merged rows keep the latest `last`. */
  lastSeq: number
  best: number
  worst: number
}

const GRPC_FAILURES = new Set([2, 4, 7, 13, 14, 15])

export function peerName(p: TapPeer): string {
  const l = p.labels ?? {}
  if (l.pod) return l.pod
  if (l.serviceaccount) return `sa/${l.serviceaccount}`
  const m = /^\[?([^\]]+?)\]?:\d+$/.exec(p.address)
  return m ? m[1] : p.address
}

export interface TopOptions {
  /** One row per path (query dropped) instead of per route. */
  paths?: boolean
  /** One row per control-plane route and backend (outbound requests only). */
  routes?: boolean
  maxPending?: number
  maxRows?: number
  maxSamples?: number
}

const keyOf = (r: RowKey): string => [r.source, r.destination, r.method, r.routeKind, r.route, r.backend ?? ''].join('\u0000')

/** `books.shop.svc.cluster.local:8080` -> `books.shop:8080`; other authorities as they are. */
export function shortAuthority(a: string): string {
  return a.replace(/^([^.:]+\.[^.:]+)\.svc\.[^:]+(:\d+)?$/, '$1$2')
}

/** The --routes row of an outbound request: its control-plane route, else the default route. */
function routeRow(source: string, ev: TapRequestInit): RowKey {
  const kind = ev.routeKind === 'HTTPRoute' || ev.routeKind === 'GRPCRoute' ? ev.routeKind : 'default'
  return {source, destination: shortAuthority(ev.authority), method: '', route: kind === 'default' ? 'default' : (ev.route ?? ''), routeKind: kind, backend: kind === 'default' ? '' : (ev.backend ?? '')}
}

export class TopAggregator {
  private readonly pending = new Map<string, Pending>()
  private readonly rows = new Map<string, Acc>()
  private readonly maxPending: number
  private readonly maxRows: number
  private readonly maxSamples: number
  /** Requests not counted because a bound was hit. */
  dropped = 0

  constructor(private readonly opts: TopOptions = {}) {
    this.maxPending = opts.maxPending ?? 10_000
    this.maxRows = opts.maxRows ?? 10_000
    this.maxSamples = opts.maxSamples ?? 2_000
  }

  private seq = 0

  add(pod: string, ev: TapEvent): void {
    const id = `${pod}\u0000${ev.id}`
    if (ev.type === 'requestInit') {
      let row: RowKey
      if (this.opts.routes) {
        if (ev.direction !== 'outbound') return
        row = routeRow(peerName(ev.source), ev)
      } else {
        const [route, routeKind]: [string, RouteKind] = this.opts.paths
          ? [ev.path.split('?')[0] || '/', 'path']
          : ev.route !== undefined ? [ev.route, 'rule'] : [staticTemplate(ev.path), 'template']
        row = {source: peerName(ev.source), destination: peerName(ev.destination), method: ev.method, route, routeKind}
      }
      if (this.pending.size >= this.maxPending) {
        this.pending.delete(this.pending.keys().next().value!)
        this.dropped++
      }
      this.pending.set(id, {key: keyOf(row), row})
      return
    }
    const p = this.pending.get(id)
    if (!p) return
    if (ev.type === 'responseInit') {
      p.latencyUs = ev.sinceRequestInit
      p.status = ev.status
      return
    }
    this.pending.delete(id)
    const status = ev.status ?? p.status
    const ok = ev.resetError === undefined && status !== undefined && status < 500 && (ev.grpcStatus === undefined || !GRPC_FAILURES.has(ev.grpcStatus))
    this.record(p, ok, (p.latencyUs ?? ev.sinceRequestInit) / 1000)
  }

  private record(p: Pending, ok: boolean, ms: number): void {
    let acc = this.rows.get(p.key)
    if (!acc) {
      // Full: fold the rows into what traffic has taught so far, and try again.
      if (this.rows.size >= this.maxRows) this.compact()
      acc = this.rows.get(p.key)
    }
    if (!acc) {
      if (this.rows.size >= this.maxRows) {
        this.dropped++
        return
      }
      acc = {row: p.row, count: 0, successes: 0, samples: [], seen: 0, last: ms, lastSeq: 0, best: ms, worst: ms}
      this.rows.set(p.key, acc)
    }
    acc.count++
    if (ok) acc.successes++
    acc.last = ms
    acc.lastSeq = ++this.seq
    acc.best = Math.min(acc.best, ms)
    acc.worst = Math.max(acc.worst, ms)
    // Reservoir sampling keeps percentiles honest over long runs in bounded memory.
    acc.seen++
    if (acc.samples.length < this.maxSamples) acc.samples.push(ms)
    else {
      const j = Math.floor(Math.random() * acc.seen)
      if (j < this.maxSamples) acc.samples[j] = ms
    }
  }

  /** The rows as they stand, each path row under the template learnt from all paths seen. */
  private grouped(): Map<string, Acc[]> {
    const accs = [...this.rows.values()]
    // Templates are learnt per destination and method, over every source's paths.
    const paths = new Map<string, string[]>()
    for (const a of accs) {
      if (a.row.routeKind !== 'template') continue
      const k = `${a.row.destination}\u0000${a.row.method}`
      paths.set(k, [...(paths.get(k) ?? []), a.row.route])
    }
    const templates = new Map([...paths].map(([k, list]) => [k, learnTemplates(list)]))
    const groups = new Map<string, Acc[]>()
    for (const a of accs) {
      const route = a.row.routeKind === 'template' ? templates.get(`${a.row.destination}\u0000${a.row.method}`)!.get(a.row.route)! : a.row.route
      const row = {...a.row, route}
      const k = keyOf(row)
      const g = groups.get(k)
      if (g) g.push({...a, row})
      else groups.set(k, [{...a, row}])
    }
    return groups
  }

  /** Replaces the rows by their merged templates (when the row bound is reached). */
  private compact(): void {
    const merged = new Map<string, Acc>()
    for (const [k, g] of this.grouped()) merged.set(k, mergeAccs(g, this.maxSamples))
    this.rows.clear()
    for (const [k, a] of merged) this.rows.set(k, a)
  }

  snapshot(sort: SortKey = 'count', now = new Date()): TopSnapshot {
    const rows = [...this.grouped().values()].map((g): TopRow => {
      const a = mergeAccs(g)
      const weighted = g.flatMap((x) => x.samples.map((v) => ({v, w: x.seen / x.samples.length}))).sort((x, y) => x.v - y.v)
      return {
        ...a.row,
        count: a.count,
        successes: a.successes,
        successRate: a.successes / a.count,
        latencyMs: {p50: quantile(weighted, 0.5), p95: quantile(weighted, 0.95), p99: quantile(weighted, 0.99), last: a.last, best: a.best, worst: a.worst},
      }
    })
    rows.sort(comparator(sort))
    return {time: now.toISOString(), sort, rows}
  }
}

/**
 * One row from several (the paths of one template): counts add up, last is the latest, and the
 * latency samples are kept in proportion to the requests each row stood for (bounded).
 */
function mergeAccs(g: Acc[], maxSamples = Infinity): Acc {
  if (g.length === 1) return g[0]!
  const latest = g.reduce((x, y) => (y.lastSeq > x.lastSeq ? y : x))
  const seen = g.reduce((n, a) => n + a.seen, 0)
  let samples = g.flatMap((a) => a.samples)
  if (samples.length > maxSamples) {
    samples = g.flatMap((a) => {
      const share = Math.max(1, Math.round((maxSamples * a.seen) / seen))
      return a.samples.slice(0, share)
    }).slice(0, maxSamples)
  }
  return {
    row: g[0]!.row,
    count: g.reduce((n, a) => n + a.count, 0),
    successes: g.reduce((n, a) => n + a.successes, 0),
    samples,
    seen,
    last: latest.last,
    lastSeq: latest.lastSeq,
    best: Math.min(...g.map((a) => a.best)),
    worst: Math.max(...g.map((a) => a.worst)),
  }
}

/**
 * Nearest-rank quantile of sorted samples, each standing for `w` requests (a sample of a row
 * whose reservoir is full stands for more than one): the smallest value whose cumulative
 * weight reaches q of the total. With equal weights, the plain nearest rank.
 */
export function quantile(sorted: ReadonlyArray<{v: number; w: number}>, q: number): number {
  if (sorted.length === 0) return NaN
  const total = sorted.reduce((n, x) => n + x.w, 0)
  let cum = 0
  for (const x of sorted) {
    cum += x.w
    if (cum >= q * total - 1e-9) return x.v
  }
  return sorted[sorted.length - 1]!.v
}

function comparator(sort: SortKey): (a: TopRow, b: TopRow) => number {
  const tie = (a: TopRow, b: TopRow) => `${a.source} ${a.destination} ${a.route}`.localeCompare(`${b.source} ${b.destination} ${b.route}`)
  switch (sort) {
    case 'count':
      return (a, b) => b.count - a.count || tie(a, b)
    case 'success':
      return (a, b) => a.successRate - b.successRate || b.count - a.count || tie(a, b)
    case 'p99':
      return (a, b) => b.latencyMs.p99 - a.latencyMs.p99 || tie(a, b)
    case 'worst':
      return (a, b) => b.latencyMs.worst - a.latencyMs.worst || tie(a, b)
    case 'route':
      return (a, b) => a.route.localeCompare(b.route) || b.count - a.count || tie(a, b)
  }
}
