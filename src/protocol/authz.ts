// Authorization policy: what the destination service streams to a proxy about its own workload
// (which clients its inbound side may serve), computed by the controller from the default
// inbound policy (cluster, namespace, workload), the AuthorizationPolicies
// (policy.mesh.dev/v1alpha1) that target the workload, a Service of it, or a route to it, and
// the pod's kubelet probes. See docs/architecture/authz.md for what a proxy must do with it;
// src/authz/evaluate.ts is the reference implementation of the decision.
//
// Carried on DESTINATIONS_PATH (src/protocol/destination.ts) as a stream kind of its own:
//   client -> server  {type: 'watchAuthz', id, namespace, pod, version: AUTHZ_POLICY_VERSION}
//                     {type: 'unwatch', id}
//   server -> client  {type: 'authz', id, ...AuthzPolicy}         the whole policy, every time
//                     {type: 'error', id, code, message}          the stream ends
// Authenticated: the client must present its mesh certificate, and its identity must be the
// pod's (its ServiceAccount's) identity; otherwise `error` FORBIDDEN. While the controller does
// not know the pod yet (a proxy can start before the controller's informer sees its pod), the
// stream stays open and silent; the first message comes when it does.
// Versioning as for routes: a proxy asks with the highest version it implements, the server
// answers with a version no higher and never sends a field that version does not define; a
// control plane older than this answers `error` BAD_REQUEST (unknown request type) and the
// proxy keeps its MESH_PROXY_INBOUND_POLICY. Fields added within a version are hints a proxy
// may ignore; anything that changes a decision needs a new version.
import type {PathMatch, RouteMatch} from './routes.js'

/** The policy version this code implements (client: the highest it understands). */
export const AUTHZ_POLICY_VERSION = 1

/** The API group, version and kind of the CRD mesh installs. */
export const AUTHZ_GROUP = 'policy.mesh.dev'
export const AUTHZ_VERSION = 'v1alpha1'
export const AUTHZ_KIND = 'AuthorizationPolicy'
export const AUTHZ_PLURAL = 'authorizationpolicies'

/** Namespace and pod template annotation: the default inbound policy there. */
export const DEFAULT_INBOUND_POLICY_ANNOTATION = 'config.mesh.dev/default-inbound-policy'

/**
 * What a workload's inbound side does with a request no enforce-mode policy covers:
 * - deny: refuse it (probes stay allowed);
 * - audit: serve it, and count it as `would be denied` (deny, in audit mode);
 * - all-authenticated: serve clients with a verified mesh identity (mTLS) only;
 * - cluster-authenticated: the same, and only from the cluster's networks (clusterNetworks);
 * - all-unauthenticated: serve everyone (mesh's default, as today's proxies do).
 */
export const DEFAULT_INBOUND_POLICIES = ['deny', 'audit', 'all-authenticated', 'cluster-authenticated', 'all-unauthenticated'] as const
export type DefaultInboundPolicy = (typeof DEFAULT_INBOUND_POLICIES)[number]

/** The private ranges (RFC 1918, RFC 6598, RFC 4193): where a cluster's pods and nodes usually are (Linkerd's default too). */
export const DEFAULT_CLUSTER_NETWORKS: readonly string[] = ['10.0.0.0/8', '100.64.0.0/10', '172.16.0.0/12', '192.168.0.0/16', 'fd00::/8']

/** Client to server on DESTINATIONS_PATH: follow the authorization policy of pod namespace/pod as stream `id`. */
export interface WatchAuthzRequest {
  type: 'watchAuthz'
  id: number
  /** The pod's namespace (a DNS label). */
  namespace: string
  /** The pod's name (MESH_PROXY_POD_NAME). */
  pod: string
  /** The highest AuthzPolicy version the client implements. */
  version: number
}

/** Where the workload's default came from (most specific wins, in this order from last to first). */
export type DefaultSource = 'cluster' | 'namespace' | 'inbound-policy' | 'workload'

export interface AuthzDefault {
  policy: DefaultInboundPolicy
  source: DefaultSource
  /**
   * Only from the pod's `config.mesh.dev/inbound-policy: identities:<id>,...` (source
   * `inbound-policy`; `policy` is then `deny`): these identities are served, nobody else.
   */
  identities?: string[]
}

/** A policy (or a default) as metric labels and 403 messages name it. */
export interface AuthzPolicyRef {
  namespace: string
  name: string
}

/**
 * Who a rule lets in. `identities` (the client's verified mesh identity; present: the client
 * must be authenticated) and `networks` (the client's address) are ANDed when both are present.
 * An identity pattern is an exact identity, `*` (any verified identity) or `*.<suffix>` (any
 * identity ending in `.<suffix>`, at least one label before it).
 */
export interface AuthzSource {
  identities?: string[]
  networks?: AuthzNetwork[]
}

/** `cidr` (canonical: no host bits; a bare address is /32 or /128) minus the `except` ranges. */
export interface AuthzNetwork {
  cidr: string
  except?: string[]
}

/** What a rule allows: every field present must hold (AND). Absent fields allow any value. */
export interface AuthzOperation {
  /** The pod ports (the connection's original destination port), named ports already resolved. */
  ports?: number[]
  /** Upper-case HTTP methods (HTTP requests only: a TCP connection never matches a method). */
  methods?: string[]
  /** Path matches as in routes (`exact`, `prefix` by whole segments, RE2 `regex`), HTTP only. */
  paths?: PathMatch[]
}

/**
 * What one AuthorizationPolicy covers on this pod, and what it allows there.
 * Coverage (which requests the policy speaks about):
 * - `workload`: every connection and request to the pod, on any port;
 * - `service`: those to `ports` (the target ports of the Service's ports on this pod);
 * - `route`: HTTP/gRPC requests to `ports` that select `route` in the port's route table
 *   (AuthzPolicy.routes), by the routes' own precedence.
 * A covered request is allowed by the policy when some `from` entry matches the client and some
 * `to` entry matches the request (`to` empty: any request it covers).
 */
export interface AuthzRule {
  policy: AuthzPolicyRef
  mode: 'enforce' | 'audit'
  target:
    | {kind: 'workload'}
    | {kind: 'service'; ports: number[]}
    | {kind: 'route'; ports: number[]; route: AuthzRouteRef}
  /** Never empty. */
  from: AuthzSource[]
  to: AuthzOperation[]
}

export interface AuthzRouteRef {
  kind: 'HTTPRoute' | 'GRPCRoute'
  namespace: string
  name: string
}

/** One entry of a port's route table: the first entry whose match holds selects its route. */
export interface AuthzRouteEntry {
  match: RouteMatch
  route: AuthzRouteRef
}

/**
 * The routes of the Services whose target port is `port` on this pod, merged and in Gateway API
 * precedence (src/routes/policy.ts). Present only for ports a route-targeted policy covers. A
 * gRPC request (content-type application/grpc...) uses `grpc` when it is not empty, else `http`.
 */
export interface AuthzRouteTable {
  port: number
  http: AuthzRouteEntry[]
  grpc: AuthzRouteEntry[]
}

/**
 * A kubelet probe the proxy must let through whatever the policy says: a plaintext request with
 * this method to this port whose path (up to the first `?`) is exactly `path`. httpGet probes
 * are GET; gRPC probes are POST /grpc.health.v1.Health/Check.
 */
export interface AuthzProbe {
  port: number
  method: 'GET' | 'POST'
  path: string
}

/** The whole authorization policy of one pod. A proxy replaces what it held with each message. */
export interface AuthzPolicy {
  version: typeof AUTHZ_POLICY_VERSION
  /** Changes whenever anything below except `notes` changes; equal revisions are equal policies. */
  revision: string
  workload: {namespace: string; pod: string; serviceAccount: string; identity: string}
  default: AuthzDefault
  /** The cluster's networks (canonical CIDRs), for `cluster-authenticated`. */
  clusterNetworks: string[]
  probes: AuthzProbe[]
  routes: AuthzRouteTable[]
  /** One per AuthorizationPolicy that covers anything on this pod, sorted by namespace/name. */
  rules: AuthzRule[]
  /** The AuthorizationPolicies in force on this pod, for display and logs. */
  policies: Array<AuthzPolicyRef & {mode: 'enforce' | 'audit'; generation: number}>
  /** What the controller could not apply as written (unresolvable named ports, refused policies, bounds), for display. */
  notes?: string[]
}

/** Server to client: the policy of an authz stream (the first message and every change). */
export type AuthzMessage = {type: 'authz'} & AuthzPolicy

/** Largest authz message the server sends (bytes): past it the pod gets `deny` and a note (fail closed). */
export const AUTHZ_POLICY_MAX_BYTES = 1024 * 1024

/**
 * The `policy` label value of a decision: `<namespace>/<name>` of an AuthorizationPolicy,
 * `default:<policy>` for the default, `probe` for a kubelet probe.
 */
export function policyLabel(ref: AuthzPolicyRef | {default: DefaultInboundPolicy} | 'probe'): string {
  if (ref === 'probe') return 'probe'
  return 'default' in ref ? `default:${ref.default}` : `${ref.namespace}/${ref.name}`
}

/**
 * Metric families the proxy half exports (counted per HTTP request, or per TCP connection
 * decided at connection time), read by `mesh authz`. Labels: `policy` (policyLabel), `client_id`
 * (the verified identity; absent for unauthenticated clients). Cardinality is bounded by the
 * proxy's series cap (10,000 per family).
 */
export const AuthzMetrics = {
  /** Served, by the policy (or default, or probe) that allowed it. */
  allowed: 'mesh_proxy_inbound_policy_allowed_total',
  /** Refused with 403 / a closed connection, by the first covering enforce policy (or the default). */
  denied: 'mesh_proxy_inbound_policy_denied_total',
  /** Served, but an audit-mode policy (or the `audit` default) would deny it: one per such policy. */
  audit: 'mesh_proxy_inbound_policy_audit_total',
} as const

/** The header naming why the proxy refused a request (403), e.g. `forbidden by authorization policy shop/books-readers`. */
export const PROXY_ERROR_HEADER = 'mesh-proxy-error'
