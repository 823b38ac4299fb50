// `mesh top` on screen: a header line and a fixed-width table cut to the terminal's size.
import type {TopRow, TopSnapshot} from './top-aggregate.js'

const ms = (v: number): string => (Number.isNaN(v) ? '-' : v >= 100 ? `${Math.round(v)}ms` : `${v.toFixed(1)}ms`)
const pct = (v: number): string => `${(v * 100).toFixed(2)}%`

export type TopView = 'routes' | 'paths' | 'default'

/** ROUTE: the rule the proxy matched or a learnt template; PATH with --paths; --routes: the control-plane route and backend. */
export function topHead(view: TopView): string[] {
  const numbers = ['COUNT', 'SUCCESS', 'P50', 'P95', 'P99', 'LAST', 'BEST', 'WORST']
  if (view === 'routes') return ['SOURCE', 'AUTHORITY', 'ROUTE', 'KIND', 'BACKEND', ...numbers]
  return ['SOURCE', 'DESTINATION', 'METHOD', view === 'paths' ? 'PATH' : 'ROUTE', ...numbers]
}

export function topCells(r: TopRow, view: TopView = 'default'): string[] {
  const l = r.latencyMs
  const numbers = [String(r.count), pct(r.successRate), ms(l.p50), ms(l.p95), ms(l.p99), ms(l.last), ms(l.best), ms(l.worst)]
  if (view === 'routes') return [r.source, r.destination, r.routeKind === 'default' ? '[default]' : r.route, r.routeKind, r.backend || '-', ...numbers]
  return [r.source, r.destination, r.method, r.route, ...numbers]
}

/** Left-aligned columns, two spaces apart, each line cut to `width`. */
export function layout(head: string[], rows: string[][], width = Infinity): string[] {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)))
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]))).join('  ').slice(0, width)
  return [line(head), ...rows.map(line)]
}

export function topScreen(snap: TopSnapshot, opts: {resource: string; view: TopView; columns?: number; rows?: number; note?: string}): string {
  const width = opts.columns ?? 200
  const title = `mesh top ${opts.resource}   sort: ${snap.sort}   ${snap.rows.length} rows   (q: quit, s: change sort)`
  const maxRows = Math.max(1, (opts.rows ?? 40) - 4)
  const body = snap.rows.length === 0 ? ['(waiting for requests...)'] : layout(topHead(opts.view), snap.rows.slice(0, maxRows).map((r) => topCells(r, opts.view)), width)
  return [title.slice(0, width), opts.note ?? '', ...body].join('\n')
}
