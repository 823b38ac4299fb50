// The shapes `mesh stat` and `mesh edges` print with -o json, and the tap server serves. A
// contract: keep them stable.
import type {ResourceKind} from '../control/tap/resource.js'

export interface StatRow {
  namespace: string
  kind: ResourceKind
  name: string
  /** Pods running a proxy / all pods of the resource. */
  meshedPods: number
  totalPods: number
  /** Responses in the window; null when no meshed pod could be read. */
  requests: number | null
  /** successes / responses in the window, 0..1; null without responses. */
  successRate: number | null
  /** responses per second over the window; null when no meshed pod could be read. */
  rps: number | null
  /** null without responses. */
  latencyMs: {p50: number | null; p95: number | null; p99: number | null}
  /** Open TCP connections now; null when no meshed pod could be read. */
  tcpConnections: number | null
  /**
   * TCP connections opened per second over the window (HTTP ones included: every request rides
   * one); what shows a TCP-only workload's traffic, whose connections are mostly short and so
   * rarely open at the moment of a scrape. null when no meshed pod could be read.
   */
  tcpConnectionsPerSecond: number | null
  /** Bytes per second the proxies read from / wrote to the peers over the window, on connections that closed in it. */
  readBytesPerSecond: number | null
  writeBytesPerSecond: number | null
  /** The window the numbers cover, in seconds (shorter than asked when the proxies are younger). */
  windowSeconds: number | null
}

export interface StatReport {
  window: string
  rows: StatRow[]
  /** Pods whose /metrics could not be read, with why. */
  errors: {pod: string; error: string}[]
}

export interface EdgeRow {
  src: string
  srcNamespace: string
  dst: string
  dstNamespace: string
  /** True when the traffic on the edge was mTLS. */
  secured: boolean
  clientId: string
  serverId: string
  /** When not secured: why (no_identity, loopback, ...). */
  noTlsReason: string
  /** What kind of evidence: http requests or tcp connections seen. */
  requests: number
  connections: number
}

export interface EdgesReport {
  edges: EdgeRow[]
  errors: {pod: string; error: string}[]
}

/** A Service port, as a route's parent (`mesh stat --routes`). */
export interface ServicePortRef {
  namespace: string
  name: string
  port: number
}

/** Golden numbers of one route or one backend over the window (`mesh stat --routes`). */
export interface RouteNumbers {
  /** Responses in the window. */
  requests: number
  /** successes / responses, 0..1; null without responses. */
  successRate: number | null
  /** responses per second over the window. */
  rps: number
  /** null without responses. */
  latencyMs: {p50: number | null; p95: number | null; p99: number | null}
}

export interface RouteBackendRow extends RouteNumbers {
  /** The proxies' `backend` label: `namespace/name:port`, or `invalid:<problem>` for a share answered 500. */
  backend: string
}

export interface RouteStatRow extends RouteNumbers {
  /** The resource asked about: the Service itself (svc/books), or the client workload (deploy/web). */
  namespace: string
  kind: ResourceKind
  name: string
  /** The Service port the requests were addressed to (the routes' parent); null when the authority is not a Service. */
  service: ServicePortRef | null
  /** The destination as addressed: the Service's canonical name (`books.shop.svc.cluster.local:8080`), else the authority label. */
  authority: string
  /** `HTTPRoute`, `GRPCRoute`, or `default`: the requests no route of the control plane took (no policy, no match). */
  routeKind: string
  /** The route's name; `default` for the default route. */
  route: string
  /** Split traffic: the same numbers per backend the proxies chose (empty for the default route). */
  backends: RouteBackendRow[]
  /** The window the numbers cover, in seconds (shorter than asked when the proxies are younger); null without data. */
  windowSeconds: number | null
}

export interface RouteStatReport {
  window: string
  rows: RouteStatRow[]
  /**
   * A named workload or pod asked about without --to: the Services whose pods include its pods
   * (whose endpoints it is), at most MAX_SERVED_SERVICES, by name. Their routes are applied by
   * their callers' proxies: `mesh stat svc/<name> --routes` gives their numbers.
   */
  served?: {namespace: string; name: string}[]
  /** Pods whose /metrics could not be read, with why. */
  errors: {pod: string; error: string}[]
}
