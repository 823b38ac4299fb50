// Route policy: what the destination service streams to a proxy for one authority (a Service
// port), compiled from the HTTPRoutes and GRPCRoutes (gateway.networking.k8s.io/v1) whose
// parentRef is that Service and port (the GAMMA pattern), or from the local registry file.
// See docs/architecture/routes.md for the semantics a proxy must implement.
//
// Carried on DESTINATIONS_PATH (src/protocol/destination.ts) as a watch kind of its own:
//   client -> server  {type: 'watchRoutes', id, authority, version: ROUTE_POLICY_VERSION}
//                     {type: 'unwatch', id}                       (as for endpoint streams)
//   server -> client  {type: 'routes', id, ...RoutePolicy}        the whole policy, every time
//                     {type: 'noSuchService', id, authority, external}   first and last message
//                     {type: 'error', id, code, message}                 the stream ends
// Versioning: a proxy that does not know routes never asks, so it never receives any of this.
// A proxy asks with the highest policy version it implements; the server answers with a
// version <= that one (today always 1) and never sends a field that version does not define.
// A control plane older than routes answers the watchRoutes request with `error` BAD_REQUEST
// (unknown request type): the proxy then runs without control-plane routes (MESH_PROXY_ROUTES
// and its defaults), exactly as before. Fields added later within a version are optional hints
// that a proxy may ignore; anything that changes which requests a rule matches or where they
// go needs a new version.

/** The policy version this code implements (client: the highest it understands). */
export const ROUTE_POLICY_VERSION = 1

/** Client to server on DESTINATIONS_PATH: follow the route policy of `authority` as stream `id`. */
export interface WatchRoutesRequest {
  type: 'watchRoutes'
  id: number
  authority: string
  /** The highest RoutePolicy version the client implements. */
  version: number
}

/** How a path, header, query parameter or gRPC name is compared. */
export type StringMatchType = 'exact' | 'regex'

/**
 * A path match. `prefix` matches whole path segments (`/books` matches `/books`, `/books/` and
 * `/books/1`, not `/booksy`); the value never ends in `/` except the root `/`. `regex` is
 * RE2 syntax (src/routes/regex.ts) matched against the whole path. The path is the request's
 * path as received, up to the first `?`, without decoding.
 */
export interface PathMatch {
  type: 'exact' | 'prefix' | 'regex'
  value: string
}

/** Header names are lower-case; several values of one header are compared joined by `,`. */
export interface HeaderMatch {
  name: string
  type: StringMatchType
  value: string
}

/** Query parameter names are compared exactly (case-sensitive); the first occurrence counts. */
export interface QueryParamMatch {
  name: string
  type: StringMatchType
  value: string
}

/**
 * A gRPC method match on the request path `/<service>/<method>`. An absent part matches any
 * value; `regex` is RE2 matched against that whole part.
 */
export interface GrpcMethodMatch {
  type: StringMatchType
  service?: string
  method?: string
}

/** Every field present must match (AND); an empty match matches every request of its kind. */
export interface RouteMatch {
  /** HTTPRoute entries only. */
  path?: PathMatch
  /** HTTPRoute entries only: upper-case method. */
  method?: string
  /** GRPCRoute entries only. */
  grpc?: GrpcMethodMatch
  headers?: HeaderMatch[]
  queryParams?: QueryParamMatch[]
}

/** Which route rule an entry belongs to: the metric labels and `mesh routes` name it. */
export interface RouteRef {
  kind: 'HTTPRoute' | 'GRPCRoute'
  namespace: string
  name: string
  /** Index of the rule in `spec.rules`. */
  rule: number
  /** `spec.rules[].name` when set. */
  ruleName?: string
}

/** Why a backend cannot take traffic: its share of requests is answered 500 by the proxy. */
export type BackendProblem = 'BackendNotFound' | 'RefNotPermitted' | 'InvalidKind'

/**
 * One backend of a rule. Requests are spread by weight over the backends (weight / sum of
 * weights; weight 0 takes nothing). A valid backend is a Service port, named by the authority
 * the proxy resolves through its endpoint streams like any other; an invalid one takes its
 * share of the requests and answers each with 500 (Gateway API: "500 for the proportion of
 * requests that would have gone to an invalid backend").
 */
export interface RouteBackend {
  weight: number
  /** `name.namespace.svc.<cluster domain>:port` (absent when `problem` is set). */
  authority?: string
  /** The Service, for the `backend` metric label (`namespace/name:port`). */
  service?: {namespace: string; name: string; port: number}
  problem?: BackendProblem
}

export interface HeaderModifier {
  /** Replace (or add) these headers. Names lower-case. */
  set?: Array<{name: string; value: string}>
  /** Append these values (a header already present gets another value). */
  add?: Array<{name: string; value: string}>
  /** Remove these headers (lower-case names). */
  remove?: string[]
}

/** What a matched request gets. Absent settings take the proxy's defaults. */
export interface RoutePolicyRule {
  route: RouteRef
  timeouts?: {
    /** The whole request, every attempt, until the response headers arrive (0: none). */
    requestMs?: number
    /** One attempt (0: none); never longer than requestMs. */
    backendRequestMs?: number
  }
  /**
   * Present when the route configures retries (Gateway API `retry`, or the retry.mesh.dev/*
   * annotations). A route that configures retries makes its requests retryable whatever their
   * method (bodies up to the proxy's replay bound), as if each carried `mesh-retryable: true`.
   */
  retry?: {
    /** Extra attempts (0: none). */
    limit: number
    /** Response statuses that are retried, as inclusive ranges: [[500, 599]] is every 5xx, [[503, 503]] one status. */
    httpStatuses: Array<[number, number]>
    /** gRPC statuses (numbers) of trailers-only responses that are retried. */
    grpcStatuses: number[]
    /** Wait between attempts (Gateway API retry.backoff). */
    backoffMs?: number
  }
  /** Applied to the request before it is sent to the backend. */
  requestHeaders?: HeaderModifier
  /** Never empty: a rule without backendRefs sends to its parent Service. */
  backends: RouteBackend[]
}

/** One match of one rule; entries are listed in precedence order. */
export interface RouteEntry {
  match: RouteMatch
  /** Index into RoutePolicy.rules. */
  rule: number
}

/** The routes in force for a Service port, for display and logs. */
export interface RouteSummary {
  kind: 'HTTPRoute' | 'GRPCRoute'
  namespace: string
  name: string
  /** metadata.generation of the spec in force (a refused newer generation keeps this one). */
  generation: number
}

/**
 * The whole route policy of one authority. A proxy replaces what it held with each message.
 *
 * Choosing a rule for a request:
 * - A gRPC request (content-type application/grpc, with or without +suffix) is matched
 *   against `grpc` when `grpc` is not empty; every other request, and gRPC requests when `grpc`
 *   is empty, against `http`. The two lists are never merged.
 * - The first entry of that list whose match holds wins. The list is already in Gateway API
 *   precedence order (docs/architecture/routes.md): the proxy must not reorder it.
 * - When both lists are empty there are no routes: the default route (`route_kind="default"`,
 *   `route="default"`): the authority itself, MESH_PROXY_ROUTES and the proxy's defaults,
 *   exactly as without a control plane.
 * - When the list used is not empty and no entry matches: 404 (gRPC: status 12 UNIMPLEMENTED)
 *   with `mesh-proxy-error: no route matches`, as the Gateway API requires.
 */
export interface RoutePolicy {
  version: typeof ROUTE_POLICY_VERSION
  /** The canonical authority of the Service port (`books.shop.svc.cluster.local:8080`). */
  authority: string
  /** Changes whenever anything below changes; equal revisions are equal policies. */
  revision: string
  routes: RouteSummary[]
  rules: RoutePolicyRule[]
  http: RouteEntry[]
  grpc: RouteEntry[]
}

/** Server to client: the policy of a routes stream (the first message and every change). */
export type RoutesMessage = {type: 'routes'} & RoutePolicy

/** Largest routes message the server sends (bytes); the proxy's client accepts 4 MiB. */
export const ROUTE_POLICY_MAX_BYTES = 1024 * 1024

/** Metric label values for an entry's rule (`route_kind="default"` when no route is attached). */
export function routeLabels(rule: RoutePolicyRule | undefined): {route: string; route_kind: string} {
  return rule ? {route: rule.route.name, route_kind: rule.route.kind} : {route: 'default', route_kind: 'default'}
}

/** The `backend` metric label of a backend: `namespace/name:port`, or the problem. */
export function backendLabel(b: RouteBackend): string {
  return b.service ? `${b.service.namespace}/${b.service.name}:${b.service.port}` : `invalid:${b.problem ?? 'unknown'}`
}

/** gRPC status names a route may retry on (retry.mesh.dev/grpc), to their codes. */
export const GRPC_STATUS_CODES: Readonly<Record<string, number>> = {
  cancelled: 1, unknown: 2, 'invalid-argument': 3, 'deadline-exceeded': 4, 'not-found': 5, 'already-exists': 6, 'permission-denied': 7,
  'resource-exhausted': 8, 'failed-precondition': 9, aborted: 10, 'out-of-range': 11, unimplemented: 12, internal: 13, unavailable: 14,
  'data-loss': 15, unauthenticated: 16,
}
