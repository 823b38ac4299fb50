// What the dashboard's server sends its page: the contract between src/dashboard/ (Node) and
// src/dashboard/web/ (the browser). Types only, so the page's bundle imports nothing from Node.
import type {CheckReport} from '../check/report.js'
import type {RoutesReport} from '../routes/command.js'
import type {EdgeRow, RouteStatRow, StatRow} from '../stat/types.js'
import type {TopSnapshot} from '../tapclient/top-aggregate.js'
import type {TapEvent} from '../protocol/tap.js'

/** An error as the CLI would print it: the message, and what to try. */
export interface ShownError {
  message: string
  suggestions: string[]
}

/** One point of a workload's history (kept by the dashboard's server, up to an hour). */
export interface HistoryPoint {
  /** ms since the epoch */
  t: number
  successRate: number | null
  rps: number | null
}

export interface Workload extends StatRow {
  /** How edges and the CLI name it: `deploy/web`. */
  ref: string
  /**
   * Share of the workload's traffic (requests and TCP connections, in and out, since its
   * proxies started, as `mesh edges` counts them) that was mTLS; null without traffic.
   */
  securedShare: number | null
  history: HistoryPoint[]
}

/** One pair of workloads that talk, whatever the identities: the graph's edge. */
export interface GraphEdge {
  src: string
  srcNamespace: string
  dst: string
  dstNamespace: string
  /** Every connection of the pair was mTLS with both identities known. */
  verified: boolean
  clientIds: string[]
  serverIds: string[]
  noTlsReasons: string[]
  /** Requests and TCP connections seen (since the proxies started). */
  requests: number
  connections: number
  /** Over the window, from `mesh stat <src> --to <dst>`; null when not known. */
  rps: number | null
  successRate: number | null
}

export interface Snapshot {
  /** ms since the epoch: when the numbers were read. */
  time: number
  window: string
  namespace: string
  allNamespaces: boolean
  /** Where the data comes from: "the local demo (pid ...)" or "cluster https://...". */
  source: string
  namespaces: StatRow[]
  workloads: Workload[]
  /** As `mesh edges deploy -o json` gives them. */
  edges: EdgeRow[]
  graph: GraphEdge[]
  /** Pods whose metrics could not be read. */
  podErrors: {pod: string; error: string}[]
  /** Set when the control plane could not be asked (refused, unreachable): then no data. */
  error?: ShownError
}

/** One Service a workload sends requests to, and the control plane's routes on it. */
export interface ServiceRoutes {
  service: {namespace: string; name: string}
  /**
   * `mesh stat <workload> --routes --to svc/<name> -o json`'s rows (a Service it calls), or `mesh
   * stat svc/<name> --routes -o json`'s (a Service it serves): per Service port and route (routes
   * in force without traffic too), `default` for the requests no route took.
   */
  stat: RouteStatRow[]
  /** Set when that read failed (then `stat` holds the Service's rows of the workload's own read). */
  statError?: ShownError
  /** `mesh routes svc/<name> -o json`: the route objects, their status, the rules. */
  routes?: RoutesReport
  /** Why the route objects could not be read (no rights to list them, no such Service...). */
  routesError?: ShownError
}

/** `/api/routes`: a workload page's routes, from the control plane. */
export interface WorkloadRoutes {
  /** ms since the epoch: when this read started. */
  time: number
  window: string
  namespace: string
  resource: string
  /** The Services the workload sent requests to in the window (`mesh stat <workload> --routes`). */
  services: ServiceRoutes[]
  /** Requests to authorities that are not Services (no route applies): their `default` rows. */
  other: RouteStatRow[]
  /** Services not asked about (past MAX_ROUTE_SERVICES). */
  omitted: number
  /**
   * The Services it serves (`served` of `mesh stat <workload> --routes -o json`), with their
   * callers' requests per route (`mesh stat svc/<name> --routes`: `stat`) and route objects.
   */
  served: ServiceRoutes[]
  /** Served Services not asked about (past MAX_ROUTE_SERVICES). */
  servedOmitted: number
  podErrors: {pod: string; error: string}[]
  /** Set when the control plane could not be asked (refused, unreachable): then no data. */
  error?: ShownError
}

/** Messages on /api/live. */
export type LiveMessage = {type: 'snapshot'; snapshot: Snapshot}

/** Messages on /api/tap. */
export type TapMessage =
  | {type: 'event'; pod: string; event: TapEvent}
  | {type: 'routes'; top: TopSnapshot}
  | {type: 'warning'; message: string}
  | {type: 'end'; reason: string}
  | {type: 'error'; error: ShownError}

export interface CheckAnswer {
  time: number
  report?: CheckReport
  error?: ShownError
}
