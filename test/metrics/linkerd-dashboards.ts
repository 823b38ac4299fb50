// The queries of Linkerd's Grafana dashboards (top-line, namespace, deployment, pod, authority,
// route, in the linkerd/linkerd2 repository's grafana/dashboards/), as shapes: which family each
// panel reads, on which labels it selects, and how it groups. Written from reading the dashboards
// (which families, labels, groupings and variables they use), not copied from them: every query
// here is built by the few functions below. A panel's query takes the dashboard's variables
// ($namespace, $deployment, ...), whose candidate values come, as in Grafana, from the label
// values Prometheus holds (`variableQueries`).

export type Var = 'namespace' | 'deployment' | 'pod' | 'authority' | 'rt_route' | 'inbound' | 'outbound'
export type Vars = Partial<Record<Var, string>>
export type Dashboard = 'top-line' | 'namespace' | 'deployment' | 'pod' | 'authority' | 'route'

export interface Panel {
  dashboard: Dashboard
  /** What the panel shows (our words). */
  title: string
  vars: Var[]
  query: (v: Vars) => string
  /** Why this panel is empty against `mesh demo`, when it is so by design (proxy-observability.md). */
  emptyByDesign?: string
}

/** A label matcher: `{name: value}` is `=`, `{name: ['!=', value]}` another operator. */
type Sel = Record<string, string | Var | readonly [op: '!=' | '=~', value: string]>

/** Window of every rate (the dashboards use Grafana's $__rate_interval; any window with samples shows the same presence of data). */
export const WINDOW = '1m'

const VAR_REF = /^\$(\w+)$/

/** `{a="x",b!=""}` with `$var` values replaced from `v`. */
function matchers(sel: Sel, v: Vars): string {
  const parts = Object.entries(sel).map(([name, m]) => {
    const [op, raw] = typeof m === 'string' ? ['=', m] : m
    const ref = VAR_REF.exec(raw)
    const value = ref ? v[ref[1] as Var] : raw
    if (value === undefined) throw new Error(`variable ${raw} unbound`)
    return `${name}${op}${JSON.stringify(value)}`
  })
  return `{${parts.join(',')}}`
}

function varsOf(sel: Sel): Var[] {
  const out = new Set<Var>()
  for (const m of Object.values(sel)) {
    const raw = typeof m === 'string' ? m : m[1]
    const ref = VAR_REF.exec(raw)
    if (ref) out.add(ref[1] as Var)
  }
  return [...out]
}

const by = (labels: readonly string[]): string => (labels.length === 0 ? '' : ` by (${labels.join(', ')})`)

/** Families of requests: Linkerd's per-workload ones, or the per-route ones (`route_` prefix). */
type Family = '' | 'route_'

export function successRate(f: Family, sel: Sel, group: readonly string[]): (v: Vars) => string {
  return (v) => {
    const all = matchers(sel, v)
    const ok = matchers({classification: 'success', ...sel}, v)
    return `sum(rate(${f}response_total${ok}[${WINDOW}]))${by(group)} / sum(rate(${f}response_total${all}[${WINDOW}]))${by(group)}`
  }
}

export function requestRate(f: Family, sel: Sel, group: readonly string[]): (v: Vars) => string {
  return (v) => `sum(rate(${f}request_total${matchers(sel, v)}[${WINDOW}]))${by(group)}`
}

export function latency(q: number, f: Family, sel: Sel, group: readonly string[]): (v: Vars) => string {
  return (v) => `histogram_quantile(${q}, sum(rate(${f}response_latency_ms_bucket${matchers(sel, v)}[${WINDOW}]))${by(['le', ...group])})`
}

export function distinct(sel: Sel, group: readonly string[]): (v: Vars) => string {
  return (v) => `count(count(request_total${matchers(sel, v)})${by(group)})`
}

export function series(name: string, sel: Sel): (v: Vars) => string {
  return (v) => `${name}${matchers(sel, v)}`
}

const IN = {direction: 'inbound'} as const
const OUT = {direction: 'outbound'} as const
const MTLS = {tls: 'true'} as const
const NOT_MTLS = {tls: ['!=', 'true']} as const

export const WHY_ROUTES_INBOUND =
  'route_* series are written by the proxy that routed the request, the client\'s (outbound); the server\'s proxy does not know which HTTPRoute rule a request took'
export const WHY_NO_PLAINTEXT_OUTBOUND =
  'every request between meshed pods is mTLS (tls="true"); the demo sends nothing from a meshed pod to an unmeshed destination'

/**
 * The panels of one selection: success rate, the request rate split into mTLS and not, and
 * latency quantiles (each grouped as the dashboard groups them).
 */
function httpPanels(dashboard: Dashboard, what: string, f: Family, sel: Sel, group: readonly string[], quantiles: number[], latencyGroup: readonly string[] = group): Panel[] {
  const vars = varsOf(sel)
  const outbound = sel.direction === 'outbound'
  const inboundRoutes = f === 'route_' && sel.direction === 'inbound'
  const empty = (notMtls: boolean): string | undefined => (inboundRoutes ? WHY_ROUTES_INBOUND : notMtls && outbound ? WHY_NO_PLAINTEXT_OUTBOUND : undefined)
  const panel = (title: string, query: (v: Vars) => string, notMtls = false): Panel => {
    const why = empty(notMtls)
    return {dashboard, title: `${what}: ${title}`, vars, query, ...(why ? {emptyByDesign: why} : {})}
  }
  return [
    panel(`success rate by (${group.join(', ')})`, successRate(f, sel, group)),
    panel(`mTLS request rate by (${group.join(', ')})`, requestRate(f, {...sel, ...MTLS}, group)),
    panel(`other request rate by (${group.join(', ')})`, requestRate(f, {...sel, ...NOT_MTLS}, group), true),
    ...quantiles.map((q) => panel(`p${q * 100} latency by (${latencyGroup.join(', ')})`, latency(q, f, sel, latencyGroup))),
  ]
}

/** A headline: one number for the whole selection. */
function headline(dashboard: Dashboard, what: string, f: Family, sel: Sel, latencyGroup?: readonly string[]): Panel[] {
  const vars = varsOf(sel)
  const why = f === 'route_' && sel.direction === 'inbound' ? WHY_ROUTES_INBOUND : undefined
  const e = why ? {emptyByDesign: why} : {}
  return [
    {dashboard, title: `${what}: success rate`, vars, query: successRate(f, sel, []), ...e},
    {dashboard, title: `${what}: request rate`, vars, query: requestRate(f, sel, []), ...e},
    ...(latencyGroup ? [{dashboard, title: `${what}: p95 latency`, vars, query: latency(0.95, f, sel, latencyGroup), ...e}] : []),
  ]
}

function tcpPanels(dashboard: Dashboard, what: string, sel: Sel): Panel[] {
  const vars = varsOf(sel)
  return [
    {dashboard, title: `${what}: connections that ended in an error`, vars, query: series('tcp_close_total', {...sel, errno: ['!=', '']})},
    {dashboard, title: `${what}: open connections`, vars, query: series('tcp_open_connections', sel)},
    {dashboard, title: `${what}: connection durations`, vars, query: series('tcp_connection_duration_ms_bucket', sel)},
  ]
}

const Q3 = [0.5, 0.95, 0.99]
const NS = {namespace: '$namespace'} as const
const DEPLOY = {namespace: '$namespace', deployment: '$deployment'} as const
const POD = {namespace: '$namespace', pod: '$pod'} as const
const AUTH = {namespace: '$namespace', authority: '$authority'} as const
const RT = {namespace: '$namespace', rt_route: '$rt_route'} as const

export const PANELS: Panel[] = [
  // top-line: the whole mesh, then per namespace, then per deployment of one namespace.
  ...headline('top-line', 'mesh', '', {deployment: '$deployment'}),
  {dashboard: 'top-line', title: 'namespaces with traffic', vars: ['namespace'], query: distinct(NS, ['namespace'])},
  {dashboard: 'top-line', title: 'deployments with traffic', vars: ['namespace'], query: distinct(NS, ['namespace', 'deployment'])},
  ...httpPanels('top-line', 'namespaces, inbound', '', {...NS, ...IN}, ['namespace'], [0.95]),
  ...httpPanels('top-line', 'deployments of a namespace, inbound', '', {...NS, ...IN}, ['deployment'], [0.95]),

  // namespace: its deployments.
  ...headline('namespace', 'namespace', '', DEPLOY),
  {dashboard: 'namespace', title: 'deployments with traffic', vars: ['namespace', 'deployment'], query: distinct(DEPLOY, ['namespace', 'deployment'])},
  ...httpPanels('namespace', 'deployment, inbound', '', {...DEPLOY, ...IN}, ['deployment'], [0.95]),

  // deployment: inbound, who calls it, what it calls.
  ...headline('deployment', 'deployment, inbound', '', {...DEPLOY, ...IN}),
  {dashboard: 'deployment', title: 'deployments calling it', vars: ['namespace', 'deployment'],
    query: distinct({dst_namespace: '$namespace', deployment: ['!=', ''], dst_deployment: '$deployment', ...OUT}, ['namespace', 'deployment'])},
  {dashboard: 'deployment', title: 'deployments it calls', vars: ['namespace', 'deployment'], query: distinct({...DEPLOY, ...OUT}, ['namespace', 'dst_deployment'])},
  ...httpPanels('deployment', 'inbound', '', {...DEPLOY, ...IN}, ['deployment'], Q3),
  ...tcpPanels('deployment', 'inbound', {...DEPLOY, ...IN}),
  ...httpPanels('deployment', 'from a calling deployment', '', {deployment: '$inbound', dst_namespace: '$namespace', dst_deployment: '$deployment', ...OUT}, ['deployment', 'pod'], Q3, ['deployment']),
  ...httpPanels('deployment', 'outbound', '', {...DEPLOY, ...OUT}, ['dst_deployment'], [0.95]),
  ...tcpPanels('deployment', 'outbound', {...DEPLOY, ...OUT}),
  ...httpPanels('deployment', 'to a called deployment', '', {...DEPLOY, dst_deployment: '$outbound', ...OUT}, ['dst_deployment'], Q3),

  // pod: the same for one pod.
  ...headline('pod', 'pod, inbound', '', {...POD, ...IN}),
  {dashboard: 'pod', title: 'pods calling it', vars: ['namespace', 'pod'], query: distinct({dst_namespace: '$namespace', dst_pod: '$pod', ...OUT}, ['namespace', 'pod'])},
  {dashboard: 'pod', title: 'pods it calls', vars: ['namespace', 'pod'], query: distinct({...POD, ...OUT}, ['namespace', 'dst_pod'])},
  ...httpPanels('pod', 'inbound', '', {...POD, ...IN}, ['pod'], Q3),
  ...tcpPanels('pod', 'inbound', {...POD, deployment: '$deployment', ...IN}),
  ...httpPanels('pod', 'from calling pods', '', {dst_namespace: '$namespace', dst_pod: '$pod', ...OUT}, ['pod'], Q3),
  ...httpPanels('pod', 'outbound', '', {...POD, ...OUT}, ['pod'], Q3),
  ...tcpPanels('pod', 'outbound', {...POD, deployment: '$deployment', ...OUT}),
  ...httpPanels('pod', 'to called pods', '', {...POD, ...OUT}, ['dst_pod'], Q3),

  // authority: one authority, served (inbound) and called (outbound).
  ...headline('authority', 'authority, inbound', '', {...AUTH, ...IN}, ['authority']),
  ...httpPanels('authority', 'inbound', '', {...AUTH, ...IN}, ['authority'], Q3),
  ...httpPanels('authority', 'outbound by deployment', '', {...AUTH, ...OUT}, ['deployment'], [0.95]),
  ...httpPanels('authority', 'outbound by pod', '', {...AUTH, ...OUT}, ['pod'], [0.95]),

  // route: one route (rt_route), served and called.
  ...headline('route', 'route, inbound', 'route_', {...RT, ...IN}, ['rt_route']),
  ...httpPanels('route', 'inbound', 'route_', {...RT, ...IN}, ['rt_route'], Q3),
  ...httpPanels('route', 'outbound by deployment', 'route_', {...RT, ...OUT}, ['deployment', 'rt_route'], [0.95]),
  ...httpPanels('route', 'outbound by pod', 'route_', {...RT, ...OUT}, ['pod', 'rt_route'], [0.95], ['pod']),
]

/** The dashboards' template variables: the series whose label values Grafana offers. */
export interface VariableQuery {
  dashboard: Dashboard
  variable: Var
  /** The label whose values are the variable's values, on these series. */
  label: string
  series: (v: Vars) => string
  vars: Var[]
}

const variable = (dashboard: Dashboard, v: Var, label: string, name: string, sel: Sel): VariableQuery =>
  ({dashboard, variable: v, label, series: series(name, sel), vars: varsOf(sel)})

export const VARIABLES: VariableQuery[] = [
  variable('top-line', 'namespace', 'namespace', 'process_start_time_seconds', {}),
  variable('top-line', 'deployment', 'deployment', 'process_start_time_seconds', {deployment: ['!=', '']}),
  variable('namespace', 'namespace', 'namespace', 'process_start_time_seconds', {deployment: ['!=', '']}),
  variable('namespace', 'deployment', 'deployment', 'process_start_time_seconds', NS),
  variable('deployment', 'namespace', 'namespace', 'process_start_time_seconds', {deployment: ['!=', '']}),
  variable('deployment', 'deployment', 'deployment', 'process_start_time_seconds', NS),
  variable('deployment', 'inbound', 'deployment', 'request_total', {dst_namespace: '$namespace', dst_deployment: '$deployment'}),
  variable('deployment', 'outbound', 'dst_deployment', 'request_total', DEPLOY),
  variable('pod', 'namespace', 'namespace', 'process_start_time_seconds', {}),
  variable('pod', 'pod', 'pod', 'process_start_time_seconds', NS),
  variable('pod', 'deployment', 'deployment', 'process_start_time_seconds', NS),
  variable('authority', 'namespace', 'namespace', 'request_total', {}),
  variable('authority', 'authority', 'authority', 'request_total', NS),
  variable('route', 'namespace', 'namespace', 'route_request_total', {}),
  variable('route', 'rt_route', 'rt_route', 'route_request_total', NS),
]
