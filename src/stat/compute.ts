// `mesh stat` from scraped /metrics: per resource MESHED, SUCCESS, RPS, latency percentiles and
// TCP (open connections, connections opened per second, bytes read and written per second)
// over a window. Inbound traffic of the resource's pods by default; with --to,
// the resource's outbound traffic to the --to resource; with --from, the --from pods' outbound
// traffic to the resource.
import {histogramQuantile} from '../metrics/query.js'
import type {PodInfo, ResolvedGroup} from '../control/tap/types.js'
import {dstMatcher, type LabelMatcher} from './match.js'
import type {StatRow} from './types.js'
import {addBuckets, deltaBuckets, deltaSum, gaugeSum, seconds, type PodWindow} from './window.js'

export interface StatQuery {
  rows: ResolvedGroup[]
  /** --to: the destinations to keep (outbound of the rows' pods). */
  to?: ResolvedGroup[]
  /** --from: the sources whose outbound traffic to each row is counted. */
  from?: ResolvedGroup[]
}

/** The window of every pod that could be scraped, keyed by `ns/name`. */
export type Windows = Map<string, PodWindow>

export const podKey = (p: PodInfo): string => `${p.namespace}/${p.name}`

export function computeStats(q: StatQuery, windows: Windows): StatRow[] {
  const fromPods = q.from?.flatMap((g) => g.pods)
  const toMatch = q.to ? anyMatcher(q.to.map(dstMatcher)) : undefined
  return q.rows.map((group) => {
    let scraped: PodInfo[]
    let filter: LabelMatcher
    if (fromPods) {
      scraped = fromPods
      const m = dstMatcher(group)
      filter = (l) => l.direction === 'outbound' && m(l)
    } else if (toMatch) {
      scraped = group.pods
      filter = (l) => l.direction === 'outbound' && toMatch(l)
    } else {
      scraped = group.pods
      filter = (l) => l.direction === 'inbound'
    }
    return row(group, scraped.map((p) => windows.get(podKey(p))).filter((w): w is PodWindow => w !== undefined), filter)
  })
}

function anyMatcher(ms: LabelMatcher[]): LabelMatcher {
  return (l) => ms.some((m) => m(l))
}

function row(group: ResolvedGroup, windows: PodWindow[], filter: LabelMatcher): StatRow {
  const meshedPods = group.pods.filter((p) => p.meshed).length
  const base: StatRow = {
    namespace: group.resource.namespace,
    kind: group.resource.kind,
    name: group.resource.name,
    meshedPods,
    totalPods: group.pods.length,
    requests: null,
    successRate: null,
    rps: null,
    latencyMs: {p50: null, p95: null, p99: null},
    tcpConnections: null,
    tcpConnectionsPerSecond: null,
    readBytesPerSecond: null,
    writeBytesPerSecond: null,
    windowSeconds: null,
  }
  if (windows.length === 0) return base
  let requests = 0
  let successes = 0
  let rps = 0
  let tcp = 0
  let cps = 0
  let read = 0
  let written = 0
  let span = 0
  const bucketLists = []
  for (const w of windows) {
    const n = deltaSum(w, 'response_total', filter)
    requests += n
    successes += deltaSum(w, 'response_total', (l) => l.classification === 'success' && filter(l))
    const s = seconds(w)
    if (s > 0) {
      rps += n / s
      cps += deltaSum(w, 'tcp_open_total', filter) / s
      read += deltaSum(w, 'tcp_read_bytes_total', filter) / s
      written += deltaSum(w, 'tcp_write_bytes_total', filter) / s
    }
    span = Math.max(span, s)
    tcp += gaugeSum(w.current, 'tcp_open_connections', filter)
    bucketLists.push(deltaBuckets(w, 'response_latency_ms', filter))
  }
  const buckets = addBuckets(bucketLists)
  const q = (x: number): number | null => {
    const v = histogramQuantile(x, buckets)
    return Number.isFinite(v) ? v : null
  }
  return {
    ...base,
    requests,
    successRate: requests > 0 ? successes / requests : null,
    rps,
    latencyMs: requests > 0 ? {p50: q(0.5), p95: q(0.95), p99: q(0.99)} : base.latencyMs,
    tcpConnections: tcp,
    tcpConnectionsPerSecond: cps,
    readBytesPerSecond: read,
    writeBytesPerSecond: written,
    windowSeconds: Math.round(span * 10) / 10,
  }
}
