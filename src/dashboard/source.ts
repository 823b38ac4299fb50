// Where the dashboard's numbers come from: the same library calls as `mesh stat`, `mesh edges`,
// `mesh tap`/`mesh top` and `mesh check`, against the same control plane target (the API
// server's service proxy with the user's own credentials, or the local demo). Nothing here
// talks to the tap server by itself, so the dashboard sees what the CLI sees, and is refused
// what the CLI is refused.
import type {CheckReport} from '../check/report.js'
import {TapApi} from '../control/tap/api.js'
import {shortKind} from '../control/tap/resource.js'
import {MeshError} from '../lib/errors.js'
import type {KubeOptions} from '../k8s/client.js'
import {fetchServiceRoutes} from '../routes/command.js'
import {fetchEdges, fetchRouteStat, fetchStat, type StatParams} from '../stat/run.js'
import type {EdgeRow, RouteStatRow, StatReport, StatRow} from '../stat/types.js'
import {openTapStream, type TapStream} from '../tapclient/client.js'
import {tapQuery, type TapFlags} from '../tapclient/tap-run.js'
import type {ControlPlaneTarget} from '../tapclient/target.js'
import type {TapStreamMessage} from '../control/tap/api.js'
import type {GraphEdge, HistoryPoint, ServiceRoutes, ShownError, Snapshot, Workload, WorkloadRoutes} from './types.js'

/** The workload kinds the dashboard lists (what `mesh stat` knows as workloads). */
export const WORKLOAD_KINDS = ['deploy', 'sts', 'ds'] as const
/** Per-pair numbers are asked for at most this many graph edges per refresh. */
export const MAX_PAIR_STATS = 50
/** A workload page asks for the routes of at most this many of the Services the workload calls. */
export const MAX_ROUTE_SERVICES = 20
const HISTORY_MS = 60 * 60 * 1000
const MAX_HISTORY_SERIES = 5_000

export interface DashboardScope {
  namespace: string
  allNamespaces: boolean
  window: string
}

export function shownError(err: unknown): ShownError {
  if (err instanceof MeshError) return {message: err.message, suggestions: [...err.suggestions]}
  return {message: err instanceof Error ? err.message : String(err), suggestions: []}
}

/** Success rate and request rate per workload over the last hour, from the dashboard's own reads. */
export class History {
  private readonly series = new Map<string, HistoryPoint[]>()

  add(rows: readonly StatRow[], t: number): void {
    for (const r of rows) {
      const key = workloadKey(r)
      let s = this.series.get(key)
      if (!s) {
        if (this.series.size >= MAX_HISTORY_SERIES) continue
        this.series.set(key, (s = []))
      }
      s.push({t, successRate: r.successRate, rps: r.rps})
      while (s.length > 0 && s[0]!.t < t - HISTORY_MS) s.shift()
    }
  }

  of(r: StatRow): HistoryPoint[] {
    return [...(this.series.get(workloadKey(r)) ?? [])]
  }
}

/** `deploy/web`: how `mesh edges` and the CLI name a workload. */
export function workloadRef(r: Pick<StatRow, 'kind' | 'name'>): string {
  return `${shortKind(r.kind)}/${r.name}`
}

export function workloadKey(r: {namespace: string; kind: string; name: string}): string {
  return `${r.namespace}/${r.kind}/${r.name}`
}

/** `mesh edges` rows grouped per pair of workloads: one graph edge each. */
export function groupEdges(edges: readonly EdgeRow[]): GraphEdge[] {
  const pairs = new Map<string, GraphEdge>()
  for (const e of edges) {
    const key = [e.srcNamespace, e.src, e.dstNamespace, e.dst].join('\u0000')
    let g = pairs.get(key)
    if (!g) {
      g = {src: e.src, srcNamespace: e.srcNamespace, dst: e.dst, dstNamespace: e.dstNamespace, verified: true, clientIds: [], serverIds: [], noTlsReasons: [], requests: 0, connections: 0, rps: null, successRate: null}
      pairs.set(key, g)
    }
    g.verified &&= e.secured && e.clientId !== '' && e.serverId !== ''
    if (e.clientId && !g.clientIds.includes(e.clientId)) g.clientIds.push(e.clientId)
    if (e.serverId && !g.serverIds.includes(e.serverId)) g.serverIds.push(e.serverId)
    if (e.noTlsReason && !g.noTlsReasons.includes(e.noTlsReason)) g.noTlsReasons.push(e.noTlsReason)
    g.requests += e.requests
    g.connections += e.connections
  }
  return [...pairs.values()]
}

/** The share of a workload's traffic (in and out) that was mTLS, from the edges; null without traffic. */
export function securedShare(edges: readonly EdgeRow[], w: Pick<StatRow, 'namespace' | 'kind' | 'name'>): number | null {
  const me = workloadRef(w)
  let all = 0
  let secured = 0
  for (const e of edges) {
    const mine = (e.src === me && e.srcNamespace === w.namespace) || (e.dst === me && e.dstNamespace === w.namespace)
    if (!mine) continue
    const n = e.requests + e.connections
    all += n
    if (e.secured) secured += n
  }
  return all > 0 ? secured / all : null
}

const isWorkload = (name: string): boolean => WORKLOAD_KINDS.some((k) => name.startsWith(`${k}/`))

function dedupeEdges(edges: EdgeRow[]): EdgeRow[] {
  const seen = new Map<string, EdgeRow>()
  for (const e of edges) seen.set(JSON.stringify([e.src, e.srcNamespace, e.dst, e.dstNamespace, e.secured, e.clientId, e.serverId, e.noTlsReason]), e)
  return [...seen.values()]
}

/** Runs `fn` over `items`, at most `limit` at a time. */
async function inBatches<T, R>(items: readonly T[], limit: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = []
  for (let i = 0; i < items.length; i += limit) out.push(...(await Promise.all(items.slice(i, i + limit).map(fn))))
  return out
}

export class DashboardSource {
  readonly history = new History()

  constructor(
    readonly target: ControlPlaneTarget,
    readonly scope: DashboardScope,
    /** `mesh check` for this target: the control plane (and data plane) checks, as a report. */
    private readonly runCheck: () => Promise<CheckReport>,
    /** The kubeconfig, context and deadline `mesh routes` reads the route objects with (a cluster). */
    private readonly kube: KubeOptions = {},
  ) {}

  /** Everything the pages show, read now; an error instead of data when the control plane refuses. */
  async snapshot(now = Date.now): Promise<Snapshot> {
    const {namespace, allNamespaces, window} = this.scope
    const base: Snapshot = {time: now(), window, namespace, allNamespaces, source: this.target.description, namespaces: [], workloads: [], edges: [], graph: [], podErrors: []}
    try {
      const stat = (resource: string): Promise<StatReport> => fetchStat(this.target, {resource, namespace, allNamespaces, window})
      const [ns, ...kinds] = await Promise.all([stat(allNamespaces ? 'ns' : `ns/${namespace}`), ...WORKLOAD_KINDS.map(stat)])
      const edgeReports = await Promise.all(WORKLOAD_KINDS.map((resource) => fetchEdges(this.target, {resource, namespace, allNamespaces})))
      const edges = dedupeEdges(edgeReports.flatMap((r) => r.edges))
      const rows = kinds.flatMap((k) => k.rows)
      const t = now()
      this.history.add(rows, t)
      const graph = groupEdges(edges)
      await inBatches(graph.filter((g) => isWorkload(g.src) && isWorkload(g.dst)).slice(0, MAX_PAIR_STATS), 8, async (g) => {
        const r = await fetchStat(this.target, {resource: g.src, namespace: g.srcNamespace, window, to: g.dst, toNamespace: g.dstNamespace})
        const row = r.rows[0]
        if (row) {
          g.rps = row.rps
          g.successRate = row.successRate
        }
      })
      const workloads: Workload[] = rows.map((r) => ({...r, ref: workloadRef(r), securedShare: securedShare(edges, r), history: this.history.of(r)}))
      const podErrors = [ns, ...kinds, ...edgeReports].flatMap((r) => r.errors)
      return {...base, time: t, namespaces: ns.rows, workloads, edges, graph, podErrors: dedupeBy(podErrors, (e) => e.pod)}
    } catch (err) {
      return {...base, error: shownError(err)}
    }
  }

  /**
   * The control plane's routes on a workload's outbound traffic, with their numbers: `mesh stat
   * <workload> --routes` names the Services it sent requests to over the window; for each,
   * `mesh stat <workload> --routes --to svc/<name>` (every route in force, with or without
   * traffic, and [default]) and `mesh routes svc/<name>` (the route objects and their status).
   * The same report names the Services the workload serves (whose endpoints are its pods); for
   * each, `mesh stat svc/<name> --routes` (what its callers sent it, per route) and `mesh routes`.
   */
  async routes(namespace: string, resource: string, now = Date.now): Promise<WorkloadRoutes> {
    const {window} = this.scope
    const base: WorkloadRoutes = {time: now(), window, namespace, resource, services: [], other: [], omitted: 0, served: [], servedOmitted: 0, podErrors: []}
    try {
      const all = await fetchRouteStat(this.target, {resource, namespace, window})
      const named = dedupeBy(all.rows.flatMap((r) => (r.service ? [{namespace: r.service.namespace, name: r.service.name}] : [])), (s) => `${s.namespace}/${s.name}`)
      const asked = named.slice(0, MAX_ROUTE_SERVICES)
      const podErrors = [...all.errors]
      const services = await inBatches(asked, 4, (service) =>
        this.serviceRoutes(service, {resource, namespace, window, to: `svc/${service.name}`, toNamespace: service.namespace}, podErrors, all.rows.filter((r) => r.service?.namespace === service.namespace && r.service.name === service.name)),
      )
      // The Services it serves: their callers' requests per route, `mesh stat svc/<name> --routes`.
      const servedNamed = all.served ?? []
      const servedAsked = servedNamed.slice(0, MAX_ROUTE_SERVICES)
      const served = await inBatches(servedAsked, 4, (service) => this.serviceRoutes(service, {resource: `svc/${service.name}`, namespace: service.namespace, window}, podErrors, []))
      const other: RouteStatRow[] = all.rows.filter((r) => r.service === null)
      return {...base, services, other, omitted: named.length - asked.length, served, servedOmitted: servedNamed.length - servedAsked.length, podErrors: dedupeBy(podErrors, (e) => e.pod)}
    } catch (err) {
      return {...base, error: shownError(err)}
    }
  }

  /** One Service's numbers per route (`mesh stat ... --routes`, `stat`) and route objects (`mesh routes svc/<name>`); each read's failure shown apart. */
  private async serviceRoutes(service: {namespace: string; name: string}, stat: StatParams, podErrors: WorkloadRoutes['podErrors'], fallback: RouteStatRow[]): Promise<ServiceRoutes> {
    const [numbers, routes] = await Promise.allSettled([
      fetchRouteStat(this.target, stat),
      fetchServiceRoutes(this.target, service.name, {kubeconfig: this.kube.kubeconfig, context: this.kube.context, 'request-timeout': this.kube.requestTimeoutMs, namespace: service.namespace}),
    ])
    if (numbers.status === 'fulfilled') podErrors.push(...numbers.value.errors)
    return {
      service,
      stat: numbers.status === 'fulfilled' ? numbers.value.rows : fallback,
      ...(numbers.status === 'rejected' ? {statError: shownError(numbers.reason)} : {}),
      ...(routes.status === 'fulfilled' ? {routes: routes.value} : {routesError: shownError(routes.reason)}),
    }
  }

  check(): Promise<CheckReport> {
    return this.runCheck()
  }

  /**
   * A tap stream for the page, with `mesh tap`'s filters checked by `mesh tap`'s own code
   * (a bad filter throws a UsageError before anything is opened).
   */
  tap(resource: string, filters: Partial<Pick<TapFlags, 'method' | 'path' | 'authority' | 'status' | 'to'>> & {namespace?: string}, onMessage: (m: TapStreamMessage) => void): TapStream {
    const query = tapQuery({resource, namespace: filters.namespace ?? this.scope.namespace, flags: {...filters, 'max-rps': 100}})
    return openTapStream(this.target, TapApi.tap, query, onMessage)
  }
}

function dedupeBy<T>(items: T[], key: (t: T) => string): T[] {
  return [...new Map(items.map((i) => [key(i), i])).values()]
}
