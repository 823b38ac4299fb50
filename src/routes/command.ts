// `mesh routes svc/books`: the HTTPRoutes and GRPCRoutes attached to a Service, the status the
// controller wrote on each (Accepted, ResolvedRefs), and the rules a proxy applies, compiled
// with the controller's own code (validate.ts, policy.ts) and listed in precedence order.
// What it cannot see: a route whose latest generation the controller refused keeps an older
// generation in force inside the controller; that older spec is not in the API any more, so the
// rules shown are the current spec's, and the route is marked (its status says which generation
// applies).
import {ClusterError, UsageError} from '../lib/errors.js'
import type {Output} from '../lib/output.js'
import type {RoutePolicy} from '../protocol/routes.js'
import type {ControlPlaneTarget} from '../tapclient/target.js'
import {formatGatewayDuration} from './duration.js'
import {compilePolicy, type InForceRoute} from './policy.js'
import {CONTROLLER_NAME, GATEWAY_API_INSTALL, GATEWAY_GROUP, GATEWAY_VERSION, validateRoute, type RouteKind, type ValidatedRoute} from './validate.js'

export interface RoutesFlags {
  kubeconfig?: string
  context?: string
  namespace?: string
  /** --request-timeout in ms (0: none). */
  'request-timeout'?: number
  output: 'table' | 'json' | 'wide'
}

interface Condition {
  type: string
  status: string
  reason: string
  message: string
  observedGeneration?: number
}

export interface RouteReport {
  kind: RouteKind
  name: string
  generation: number
  /** The controller's conditions for this Service (absent: the controller has not written any). */
  conditions: Condition[]
  /** Whether the rules below include this route (it validates and names this Service). */
  compiled: boolean
  problem?: string
}

export interface RoutesReport {
  service: {namespace: string; name: string; ports: number[]}
  /** Kinds whose CRD is not installed. */
  missingCrds: RouteKind[]
  routes: RouteReport[]
  /** Per Service port, what a proxy applies. */
  policies: RoutePolicy[]
}

function parseTarget(target: string): string {
  const m = /^(?:svc|service|services)\/([a-z0-9]([-a-z0-9]*[a-z0-9])?)$/.exec(target)
  if (!m) throw new UsageError(`"${target}" is not a Service: routes attach to Services`, {suggestions: ['Name it as svc/<name>, e.g. mesh routes svc/books -n shop']})
  return m[1]!
}

const PLURALS: Array<{kind: RouteKind; plural: string}> = [
  {kind: 'HTTPRoute', plural: 'httproutes'},
  {kind: 'GRPCRoute', plural: 'grpcroutes'},
]

export async function fetchRoutes(target: string, flags: RoutesFlags): Promise<RoutesReport> {
  const name = parseTarget(target)
  // A running `mesh demo` (no --context named): its control plane's own view, as for stat and tap.
  if (!flags.context) {
    const [{readLocalContext}, {resolveControlPlane}] = await Promise.all([import('../tapclient/local-context.js'), import('../tapclient/target.js')])
    if (readLocalContext().state === 'live') {
      const cp = await resolveControlPlane(flags)
      if (cp.mode === 'local') return fetchServiceRoutes(cp, name, {...flags, namespace: cp.namespace})
    }
  }
  return routesFromApiServer(name, flags)
}

/**
 * The routes of Service `name` where a control plane is already found (`mesh dashboard`): the
 * local demo's tap server (`/v1/routes`), else the API server with the kubeconfig's credentials
 * (flags: kubeconfig, context, namespace), exactly as `mesh routes svc/<name>`.
 */
export async function fetchServiceRoutes(cp: ControlPlaneTarget, name: string, flags: Omit<RoutesFlags, 'output'>): Promise<RoutesReport> {
  if (cp.mode === 'local') {
    const [{getJson}, {TapApi}] = await Promise.all([import('../tapclient/client.js'), import('../control/tap/api.js')])
    return getJson<RoutesReport>(cp, TapApi.routes, {resource: `svc/${name}`, namespace: flags.namespace ?? cp.namespace})
  }
  return routesFromApiServer(name, flags)
}

async function routesFromApiServer(name: string, flags: Omit<RoutesFlags, 'output'>): Promise<RoutesReport> {
  const {loadKube, apiStatus} = await import('../k8s/client.js')
  const kube = await loadKube({kubeconfig: flags.kubeconfig, context: flags.context, namespace: flags.namespace, requestTimeoutMs: flags['request-timeout']})
  const ns = kube.namespace
  const core = kube.core()
  const wrap = (what: string, err: unknown): ClusterError => new ClusterError(`${what}: ${(err as Error).message?.split('\n')[0] ?? String(err)}`, {cause: err})
  let services
  try {
    services = await core.listNamespacedService({namespace: ns})
  } catch (err) {
    throw wrap(`cannot list the Services of namespace ${ns}`, err)
  }
  const ports = new Map(services.items.map((s) => [s.metadata!.name!, (s.spec?.ports ?? []).map((p) => p.port)]))
  const svcPorts = ports.get(name)
  if (!svcPorts) throw new ClusterError(`Service ${ns}/${name} not found`, {suggestions: [`List the Services with: kubectl get svc -n ${ns}`]})
  const custom = kube.api(kube.k8s.CustomObjectsApi)
  const missingCrds: RouteKind[] = []
  const found: Array<{route: ValidatedRoute; raw: {status?: {parents?: Array<{controllerName?: string; parentRef?: Record<string, unknown>; conditions?: Condition[]}>}}}> = []
  for (const {kind, plural} of PLURALS) {
    let list: {items?: unknown[]}
    try {
      list = (await custom.listNamespacedCustomObject({group: GATEWAY_GROUP, version: GATEWAY_VERSION, namespace: ns, plural})) as {items?: unknown[]}
    } catch (err) {
      if (apiStatus(err) === 404) {
        missingCrds.push(kind)
        continue
      }
      throw wrap(`cannot list the ${kind}s of namespace ${ns}`, err)
    }
    for (const item of list.items ?? []) {
      const route = validateRoute({...(item as object), kind})
      if (route?.parents.some((p) => p.name === name && p.namespace === ns)) found.push({route, raw: item as never})
    }
  }
  const servicePorts = (n: string, s: string): number[] | undefined => (n === ns ? ports.get(s) : undefined)
  const routes: RouteReport[] = found.map(({route, raw}) => {
    const mine = (raw.status?.parents ?? []).find((p) => p.controllerName === CONTROLLER_NAME && p.parentRef?.name === name && (p.parentRef?.namespace ?? ns) === ns)
    const parent = route.parents.find((p) => p.name === name)!
    const problem = parent.problem?.message ?? (route.verdict.ok ? undefined : route.verdict.message)
    return {kind: route.kind, name: route.name, generation: route.generation, conditions: mine?.conditions ?? [], compiled: !problem, ...(problem ? {problem} : {})}
  })
  const inForce: Array<InForceRoute & {portOf?: number}> = found
    .filter(({route}) => route.verdict.ok && route.parents.some((p) => p.name === name && !p.problem))
    .map(({route}) => ({...route, rules: route.verdict.ok ? route.verdict.rules : [], portOf: route.parents.find((p) => p.name === name && !p.problem)!.port}))
  const policies = svcPorts.map((port) =>
    compilePolicy({service: {namespace: ns, name, port}, clusterDomain: 'cluster.local', routes: inForce.filter((r) => r.portOf === undefined || r.portOf === port), servicePorts}),
  )
  return {service: {namespace: ns, name, ports: svcPorts}, missingCrds, routes, policies}
}

function describeMatch(p: RoutePolicy, i: number, grpc: boolean): string {
  const m = (grpc ? p.grpc : p.http)[i]!.match
  const parts: string[] = []
  if (m.grpc) parts.push(`${m.grpc.type === 'regex' ? '~' : ''}/${m.grpc.service ?? '*'}/${m.grpc.method ?? '*'}`)
  if (m.method) parts.push(m.method)
  if (m.path) parts.push(m.path.type === 'exact' ? `= ${m.path.value}` : m.path.type === 'prefix' ? `${m.path.value === '/' ? '/' : `${m.path.value}/`}*` : `~ ${m.path.value}`)
  for (const h of m.headers ?? []) parts.push(`${h.name}${h.type === 'regex' ? '~' : '='}${h.value}`)
  for (const q of m.queryParams ?? []) parts.push(`?${q.name}${q.type === 'regex' ? '~' : '='}${q.value}`)
  return parts.join(' ') || '*'
}

function describeRule(p: RoutePolicy, ruleIndex: number, wide: boolean): string[] {
  const r = p.rules[ruleIndex]!
  const total = r.backends.reduce((a, b) => a + b.weight, 0)
  const backends = r.backends.map((b) => `${b.service ? b.service.name + ':' + b.service.port : `(${b.problem})`}${r.backends.length > 1 ? ` ${total ? Math.round((b.weight / total) * 100) : 0}%` : ''}`).join(', ')
  const t = r.timeouts
  const timeout = t ? [t.requestMs !== undefined ? `request ${formatGatewayDuration(t.requestMs)}` : '', t.backendRequestMs !== undefined ? `try ${formatGatewayDuration(t.backendRequestMs)}` : ''].filter(Boolean).join(', ') : '-'
  const retry = r.retry ? `${r.retry.limit}x ${[...r.retry.httpStatuses.map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`)), ...(r.retry.grpcStatuses.length ? [`grpc ${r.retry.grpcStatuses.join('+')}`] : [])].join(',')}` : '-'
  const row = [`${r.route.kind === 'GRPCRoute' ? 'grpc' : 'http'} ${r.route.name}#${r.route.ruleName ?? r.route.rule}`, backends, timeout || '-', retry]
  if (wide) row.push(r.requestHeaders ? JSON.stringify(r.requestHeaders) : '-')
  return row
}

export async function runRoutesCommand(out: Output, target: string, flags: RoutesFlags): Promise<void> {
  const report = await fetchRoutes(target, flags)
  if (flags.output === 'json') {
    out.json(report)
    return
  }
  const {namespace, name} = report.service
  for (const kind of report.missingCrds) out.warn(`the ${kind} CRD is not installed: no ${kind}s apply. The Gateway API CRDs belong to the cluster; install them with: ${GATEWAY_API_INSTALL}`)
  if (report.routes.length === 0) {
    out.info(`No routes attached to Service ${namespace}/${name}: proxies apply the default route (the Service itself, MESH_PROXY_ROUTES and their defaults).`)
    return
  }
  const cond = (r: RouteReport, type: string): string => {
    const c = r.conditions.find((x) => x.type === type)
    return c ? `${c.status === 'True' ? 'yes' : 'no'} (${c.reason})` : 'not yet'
  }
  const message = (r: RouteReport): string => r.problem ?? (r.conditions.find((c) => c.status === 'False')?.message ?? '')
  out.stdout.write(await out.table(['KIND', 'NAME', 'GEN', 'ACCEPTED', 'RESOLVED', 'MESSAGE'], report.routes.map((r) => [r.kind, r.name, String(r.generation), cond(r, 'Accepted'), cond(r, 'ResolvedRefs'), message(r)])))
  const wide = flags.output === 'wide'
  for (const p of report.policies) {
    const port = p.authority.slice(p.authority.lastIndexOf(':') + 1)
    if (p.http.length + p.grpc.length === 0) continue
    out.data('')
    out.data(`Rules for ${name}:${port}, in precedence order (the first that matches wins; no match: 404):`)
    const rows: string[][] = []
    p.http.forEach((e, i) => rows.push([String(rows.length + 1), describeMatch(p, i, false), ...describeRule(p, e.rule, wide)]))
    p.grpc.forEach((e, i) => rows.push([String(rows.length + 1), describeMatch(p, i, true), ...describeRule(p, e.rule, wide)]))
    out.stdout.write(await out.table(['#', 'MATCH', 'RULE', 'BACKENDS', 'TIMEOUT', 'RETRY', ...(wide ? ['HEADERS'] : [])], rows))
  }
}
