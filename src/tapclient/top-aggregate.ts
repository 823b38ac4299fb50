// `mesh top`'s table from tap events: rows keyed by source, destination, method and path (or
// destination, method and route with --routes), each with count, success rate, latency
// percentiles and last/best/worst. Latency is to the response headers, as in the proxies'
// response_latency_ms. Bounded: requests in flight, rows, and latency samples per row.
import type {TapEvent, TapPeer} from '../protocol/tap.js'

export interface TopRow {
  source: string
  destination: string
  method: string
  path: string
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

export const SORT_KEYS = ['count', 'success', 'p99', 'worst', 'path'] as const
export type SortKey = (typeof SORT_KEYS)[number]

interface Pending {
  key: string
  row: Omit<TopRow, 'count' | 'successes' | 'successRate' | 'latencyMs'>
  latencyUs?: number
  status?: number
}

interface Acc {
  row: Pending['row']
  count: number
  successes: number
  samples: number[]
  seen: number
  last: number
  best: number
  worst: number
}

const GRPC_FAILURES = new Set([2, 4, 7, 13, 14, 15])
const SEGMENT_ID = /^(\d+|[0-9a-f]{8,}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/i

/** `/books/42?x=1` -> `/books/{id}`: a route when the proxy names none. */
export function routeOf(path: string): string {
  return (path.split('?')[0] || '/').split('/').map((s) => (SEGMENT_ID.test(s) ? '{id}' : s)).join('/')
}

export function peerName(p: TapPeer): string {
  const l = p.labels ?? {}
  if (l.pod) return l.pod
  if (l.serviceaccount) return `sa/${l.serviceaccount}`
  const m = /^\[?([^\]]+?)\]?:\d+$/.exec(p.address)
  return m ? m[1] : p.address
}

export interface TopOptions {
  routes?: boolean
  maxPending?: number
  maxRows?: number
  maxSamples?: number
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

  add(pod: string, ev: TapEvent): void {
    const id = `${pod}\u0000${ev.id}`
    if (ev.type === 'requestInit') {
      // with --routes: the route rule the proxy matched, else one made from the path
      const path = this.opts.routes ? (ev.route ?? routeOf(ev.path)) : ev.path.split('?')[0]
      const row = {source: this.opts.routes ? '' : peerName(ev.source), destination: peerName(ev.destination), method: ev.method, path}
      if (this.pending.size >= this.maxPending) {
        this.pending.delete(this.pending.keys().next().value!)
        this.dropped++
      }
      this.pending.set(id, {key: [row.source, row.destination, row.method, row.path].join('\u0000'), row})
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
      if (this.rows.size >= this.maxRows) {
        this.dropped++
        return
      }
      acc = {row: p.row, count: 0, successes: 0, samples: [], seen: 0, last: ms, best: ms, worst: ms}
      this.rows.set(p.key, acc)
    }
    acc.count++
    if (ok) acc.successes++
    acc.last = ms
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

  snapshot(sort: SortKey = 'count', now = new Date()): TopSnapshot {
    const rows = [...this.rows.values()].map((a): TopRow => {
      const s = [...a.samples].sort((x, y) => x - y)
      return {
        ...a.row,
        count: a.count,
        successes: a.successes,
        successRate: a.successes / a.count,
        latencyMs: {p50: quantile(s, 0.5), p95: quantile(s, 0.95), p99: quantile(s, 0.99), last: a.last, best: a.best, worst: a.worst},
      }
    })
    rows.sort(comparator(sort))
    return {time: now.toISOString(), sort, rows}
  }
}

/** Nearest-rank quantile of sorted samples. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]
}

function comparator(sort: SortKey): (a: TopRow, b: TopRow) => number {
  const tie = (a: TopRow, b: TopRow) => `${a.source} ${a.destination} ${a.path}`.localeCompare(`${b.source} ${b.destination} ${b.path}`)
  switch (sort) {
    case 'count':
      return (a, b) => b.count - a.count || tie(a, b)
    case 'success':
      return (a, b) => a.successRate - b.successRate || b.count - a.count || tie(a, b)
    case 'p99':
      return (a, b) => b.latencyMs.p99 - a.latencyMs.p99 || tie(a, b)
    case 'worst':
      return (a, b) => b.latencyMs.worst - a.latencyMs.worst || tie(a, b)
    case 'path':
      return (a, b) => a.path.localeCompare(b.path) || b.count - a.count || tie(a, b)
  }
}
