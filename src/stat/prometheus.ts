// `mesh stat --prometheus-url`: the same columns from a Prometheus that scrapes the proxies,
// with Linkerd's queries (the proxies' series carry namespace, pod and the workload kind as
// labels). MESHED counts the pods that reported series in the window: Prometheus cannot know
// the pods that have no proxy.
import http from 'node:http'
import https from 'node:https'
import {parseResource, type ResourceKind} from '../control/tap/resource.js'
import {ClusterError, UsageError} from '../lib/errors.js'
import {parseDuration, formatDuration} from './duration.js'
import type {StatParams} from './run.js'
import type {StatReport, StatRow} from './types.js'

interface VectorSample {
  metric: Record<string, string>
  value: [number, string]
}

const MAX_BYTES = 16 * 1024 * 1024

export function promQuery(base: string, query: string): Promise<VectorSample[]> {
  const url = new URL('/api/v1/query', base)
  url.searchParams.set('query', query)
  const mod = url.protocol === 'https:' ? https : http
  return new Promise((resolve, reject) => {
    const fail = (msg: string) =>
      reject(new ClusterError(`Prometheus at ${base}: ${msg}`, {code: 'MESH_PROMETHEUS', suggestions: ['Check --prometheus-url: it must be the base URL of a Prometheus, e.g. http://127.0.0.1:9090.']}))
    const req = mod.get(url, {timeout: 30_000}, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => {
        text += c
        if (text.length > MAX_BYTES) req.destroy(new Error('answer too large'))
      })
      res.on('end', () => {
        let body: {status?: string; error?: string; data?: {resultType?: string; result?: VectorSample[]}}
        try {
          body = JSON.parse(text)
        } catch {
          return fail(`HTTP ${res.statusCode}, not a Prometheus API answer`)
        }
        if (body.status !== 'success') return fail(body.error ?? `HTTP ${res.statusCode}`)
        resolve(body.data?.result ?? [])
      })
    })
    req.on('timeout', () => req.destroy(new Error('no answer within 30 s')))
    req.on('error', (err) => fail(err.message))
  })
}

const q = (s: string): string => JSON.stringify(s)

/**
 * How much counter `sel` grew over the window, per series: its last sample in the window minus
 * its sample at the window's start. Not `increase()`, which extrapolates to the window's edges
 * (30 requests read as 31.7) and misses every series born inside the window (a new pod, the first
 * 500 of a route: its first sample already holds the count and there is nothing older to
 * subtract). A series with no sample at the start, or whose counter went down (the proxy
 * restarted), counts from zero: its last value (the proxies' counters start at zero).
 */
export function windowDelta(sel: string, w: string): string {
  return `((last_over_time(${sel}[${w}]) - ${sel} offset ${w}) >= 0 or last_over_time(${sel}[${w}]))`
}

function labelOf(kind: ResourceKind): string {
  if (kind === 'service') throw new UsageError('--prometheus-url cannot group by service: the proxies label series by workload', {suggestions: ['Use deploy, sts, ds, job, po or ns.']})
  return kind
}

export async function statFromPrometheus(base: string, p: StatParams): Promise<StatReport> {
  const ref = parseResource(p.resource)
  const windowMs = parseDuration(p.window)
  const w = formatDuration(windowMs)
  const kl = labelOf(ref.kind)
  const ns = ref.kind === 'namespace' && ref.name ? ref.name : p.namespace
  let sel: string
  let by: string
  if (p.to) {
    const to = parseResource(p.to, '--to')
    sel = `direction="outbound",dst_${labelOf(to.kind)}=${q(to.name ?? '')}${to.name ? '' : '!'},dst_namespace=${q(p.toNamespace ?? ns)}`.replace('=""!', '!=""')
    by = kl === 'namespace' ? 'namespace' : `namespace,${kl}`
  } else if (p.from) {
    const from = parseResource(p.from, '--from')
    sel = `direction="outbound",${labelOf(from.kind)}=${q(from.name ?? '')},namespace=${q(p.fromNamespace ?? ns)}`
    by = kl === 'namespace' ? 'dst_namespace' : `dst_namespace,dst_${kl}`
  } else {
    sel = 'direction="inbound"'
    by = kl === 'namespace' ? 'namespace' : `namespace,${kl}`
  }
  const scope = p.allNamespaces || p.from ? '' : `,namespace=${q(ns)}`
  const nameSel = ref.name && ref.kind !== 'namespace' && !p.from ? `,${kl}=${q(ref.name)}` : ''
  const dstNameSel = p.from && ref.name ? `,dst_${kl}=${q(ref.name)},dst_namespace=${q(ns)}` : ''
  const s = `{${sel}${scope}${nameSel}${dstNameSel}}`
  const byPod = by.split(',').includes('pod') ? by : `${by},pod`
  const delta = (family: string, selector = s): Promise<VectorSample[]> => promQuery(base, `sum by (${by}) (${windowDelta(`${family}${selector}`, w)})`)
  const [total, success, p50, p95, p99, tcp, pods, opened, read, written] = await Promise.all([
    delta('response_total'),
    delta('response_total', s.replace('}', ',classification="success"}')),
    ...[0.5, 0.95, 0.99].map((x) => promQuery(base, `histogram_quantile(${x}, sum by (le,${by}) (${windowDelta(`response_latency_ms_bucket${s}`, w)}))`)),
    promQuery(base, `sum by (${by}) (tcp_open_connections${s})`),
    // A pod that reported anything in the window: requests, or (a TCP-only workload) connections.
    promQuery(base, `count by (${by}) (count by (${byPod}) (last_over_time(request_total${s}[${w}]) or last_over_time(tcp_open_total${s}[${w}])))`),
    delta('tcp_open_total'),
    delta('tcp_read_bytes_total'),
    delta('tcp_write_bytes_total'),
  ])
  const key = (m: Record<string, string>): string => {
    const namespace = p.from ? m.dst_namespace : m.namespace
    const name = kl === 'namespace' ? namespace : p.from ? m[`dst_${kl}`] : m[kl]
    return `${namespace ?? ''}/${name ?? ''}`
  }
  const rows = new Map<string, StatRow>()
  const rowFor = (m: Record<string, string>): StatRow => {
    const k = key(m)
    let r = rows.get(k)
    if (!r) {
      const [namespace, name] = k.split('/')
      r = {
        namespace, kind: ref.kind, name, meshedPods: 0, totalPods: 0, requests: null, successRate: null, rps: null, latencyMs: {p50: null, p95: null, p99: null},
        tcpConnections: null, tcpConnectionsPerSecond: null, readBytesPerSecond: null, writeBytesPerSecond: null, windowSeconds: windowMs / 1000,
      }
      rows.set(k, r)
    }
    return r
  }
  const num = (v: VectorSample): number | null => {
    const n = Number(v.value[1])
    return Number.isFinite(n) ? n : null
  }
  for (const v of pods) {
    const r = rowFor(v.metric)
    r.meshedPods = r.totalPods = num(v) ?? 0
  }
  for (const v of total) {
    const r = rowFor(v.metric)
    r.requests = Math.round(num(v) ?? 0)
    r.rps = (num(v) ?? 0) / (windowMs / 1000)
  }
  for (const v of success) {
    const r = rowFor(v.metric)
    const t = total.find((x) => key(x.metric) === key(v.metric))
    const tn = t ? num(t) : null
    r.successRate = tn ? (num(v) ?? 0) / tn : null
  }
  for (const [list, field] of [[p50, 'p50'], [p95, 'p95'], [p99, 'p99']] as const) for (const v of list) rowFor(v.metric).latencyMs[field] = num(v)
  for (const v of tcp) rowFor(v.metric).tcpConnections = num(v)
  const perSecond = (v: VectorSample): number => (num(v) ?? 0) / (windowMs / 1000)
  for (const v of opened) rowFor(v.metric).tcpConnectionsPerSecond = perSecond(v)
  for (const v of read) rowFor(v.metric).readBytesPerSecond = perSecond(v)
  for (const v of written) rowFor(v.metric).writeBytesPerSecond = perSecond(v)
  return {window: w, rows: [...rows.values()].filter((r) => r.name !== '').sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`)), errors: []}
}
