// `mesh stat` and `mesh edges` as tables: `-` where there is no data.
import type {EdgeRow, RouteNumbers, RouteStatReport, RouteStatRow, StatReport, StatRow} from './types.js'

const dash = (v: number | null, f: (n: number) => string): string => (v === null ? '-' : f(v))

export const fmtPercent = (v: number | null): string => dash(v, (n) => `${(n * 100).toFixed(2)}%`)
export const fmtRps = (v: number | null): string => dash(v, (n) => `${n.toFixed(1)}rps`)
export const fmtMs = (v: number | null): string => dash(v, (n) => (n >= 100 || Number.isInteger(n) ? `${Math.round(n)}ms` : `${n.toFixed(1)}ms`))
export const fmtPerSecond = (v: number | null): string => dash(v, (n) => `${n.toFixed(1)}/s`)
/** Bytes per second, in B/s, KiB/s, MiB/s. */
export const fmtBytesPerSecond = (v: number | null): string => dash(v, (n) => {
  if (n < 1024) return `${n.toFixed(0)}B/s`
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)}KiB/s`
  return `${(n / 1024 / 1024).toFixed(1)}MiB/s`
})

export function statTable(report: StatReport, opts: {wide?: boolean; allNamespaces?: boolean}): {head: string[]; rows: string[][]} {
  const head = [
    ...(opts.allNamespaces ? ['NAMESPACE'] : []),
    'NAME', 'MESHED', 'SUCCESS', 'RPS', 'LATENCY_P50', 'LATENCY_P95', 'LATENCY_P99', 'TCP_CONN', 'TCP_CONN/S',
    ...(opts.wide ? ['READ_BYTES/SEC', 'WRITE_BYTES/SEC', 'REQUESTS', 'WINDOW'] : []),
  ]
  const rows = report.rows.map((r: StatRow) => [
    ...(opts.allNamespaces ? [r.namespace] : []),
    `${r.kind === 'namespace' ? 'ns' : r.kind === 'pod' ? 'po' : r.kind === 'deployment' ? 'deploy' : r.kind}/${r.name}`,
    `${r.meshedPods}/${r.totalPods}`,
    fmtPercent(r.successRate),
    fmtRps(r.rps),
    fmtMs(r.latencyMs.p50),
    fmtMs(r.latencyMs.p95),
    fmtMs(r.latencyMs.p99),
    dash(r.tcpConnections, String),
    fmtPerSecond(r.tcpConnectionsPerSecond),
    ...(opts.wide ? [fmtBytesPerSecond(r.readBytesPerSecond), fmtBytesPerSecond(r.writeBytesPerSecond), dash(r.requests, String), dash(r.windowSeconds, (s) => `${s}s`)] : []),
  ])
  return {head, rows}
}

const shortKind = (k: string): string => (k === 'namespace' ? 'ns' : k === 'pod' ? 'po' : k === 'deployment' ? 'deploy' : k === 'service' ? 'svc' : k)

/** The route column: its name, `[default]` for the default route. */
export const routeCell = (r: Pick<RouteStatRow, 'routeKind' | 'route'>): string => (r.routeKind === 'default' ? '[default]' : r.route)

/** The Service as addressed: `books:8080` in the row's namespace, `shop/books:8080` elsewhere, else the authority. */
export function serviceCell(r: RouteStatRow): string {
  const s = r.service
  if (!s) return r.authority || '-'
  return `${s.namespace === r.namespace ? '' : `${s.namespace}/`}${s.name}:${s.port}`
}

/**
 * `mesh stat --routes` as a table: a row per route (the default route last), `-o wide` adds a
 * row per backend under each route (BACKEND `*` is the route's whole), requests and the window.
 */
export function routeStatTable(report: RouteStatReport, opts: {wide?: boolean; allNamespaces?: boolean}): {head: string[]; rows: string[][]} {
  const resources = new Set(report.rows.map((r) => `${r.namespace}/${r.kind}/${r.name}`))
  const named = resources.size > 1
  const head = [
    ...(opts.allNamespaces ? ['NAMESPACE'] : []),
    ...(named ? ['NAME'] : []),
    'ROUTE', 'KIND', 'SERVICE', ...(opts.wide ? ['BACKEND'] : []),
    'SUCCESS', 'RPS', 'LATENCY_P50', 'LATENCY_P95', 'LATENCY_P99',
    ...(opts.wide ? ['REQUESTS', 'WINDOW'] : []),
  ]
  const rows: string[][] = []
  for (const r of report.rows) {
    const lead = [...(opts.allNamespaces ? [r.namespace] : []), ...(named ? [`${shortKind(r.kind)}/${r.name}`] : []), routeCell(r), r.routeKind, serviceCell(r)]
    const nums = (n: RouteNumbers): string[] => [fmtPercent(n.successRate), fmtRps(n.rps), fmtMs(n.latencyMs.p50), fmtMs(n.latencyMs.p95), fmtMs(n.latencyMs.p99)]
    const tail = (n: RouteNumbers): string[] => (opts.wide ? [String(n.requests), dash(r.windowSeconds, (s) => `${s}s`)] : [])
    rows.push([...lead, ...(opts.wide ? ['*'] : []), ...nums(r), ...tail(r)])
    if (opts.wide) for (const b of r.backends) rows.push([...lead, b.backend, ...nums(b), ...tail(b)])
  }
  return {head, rows}
}

export function edgesTable(edges: EdgeRow[], opts: {wide?: boolean}): {head: string[]; rows: string[][]} {
  const head = ['SRC', 'DST', 'SRC_NS', 'DST_NS', 'SECURED', ...(opts.wide ? ['CLIENT_ID', 'SERVER_ID', 'REQUESTS', 'CONNECTIONS'] : ['MSG'])]
  const rows = edges.map((e) => [
    e.src,
    e.dst,
    e.srcNamespace || '-',
    e.dstNamespace || '-',
    e.secured ? '√' : '×',
    ...(opts.wide
      ? [e.clientId || '-', e.serverId || '-', String(e.requests), String(e.connections)]
      : [e.secured ? `${shortId(e.clientId)} -> ${shortId(e.serverId)}` : e.noTlsReason || 'not mTLS']),
  ])
  return {head, rows}
}

/** `web.shop.serviceaccount.identity.mesh-system.cluster.local` -> `web.shop` */
export function shortId(id: string): string {
  const m = /^([^.]+\.[^.]+)\.serviceaccount\.identity\./.exec(id)
  return m ? m[1] : id || '-'
}
