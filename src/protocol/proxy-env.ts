// The contract between the injector (which writes the sidecar's env) and the proxy (which
// reads it), and between `mesh proxy-init` and both. Change a name here and both sides move.

export const PROXY_UID = 2102

export const PROXY_PORTS = {
  inbound: 4143,
  outbound: 4140,
  admin: 4191,
  tap: 4190,
} as const

export const ProxyEnv = {
  /** error | warn | info | debug | trace (default info). */
  LOG_LEVEL: 'MESH_PROXY_LOG_LEVEL',
  /** plain | json (default plain). */
  LOG_FORMAT: 'MESH_PROXY_LOG_FORMAT',
  INBOUND_LISTEN_ADDR: 'MESH_PROXY_INBOUND_LISTEN_ADDR',
  OUTBOUND_LISTEN_ADDR: 'MESH_PROXY_OUTBOUND_LISTEN_ADDR',
  ADMIN_LISTEN_ADDR: 'MESH_PROXY_ADMIN_LISTEN_ADDR',
  TAP_LISTEN_ADDR: 'MESH_PROXY_TAP_LISTEN_ADDR',
  /** host:port the inbound side forwards to instead of the original destination. */
  INBOUND_FORWARD_ADDR: 'MESH_PROXY_INBOUND_FORWARD_ADDR',
  /** `authority=addr,addr;authority=addr` routes used when there is no destination service. */
  STATIC_ROUTES: 'MESH_PROXY_STATIC_ROUTES',
  /**
   * Per-route timeouts and retries, `authority [METHOD] [/prefix]=setting,...;...`, e.g.
   * `web:80 GET /api/=timeout:2s,retries:2,retry-on:502+503;* POST /pay=timeout:5s,retries:0`.
   */
  ROUTES: 'MESH_PROXY_ROUTES',
  /**
   * Comma-separated ports (and ranges a-b) carried as opaque TCP without detection (default
   * DEFAULT_OPAQUE_PORTS). Server-first protocols (the server speaks first) must be listed: on
   * other ports a connection that sends nothing within the detect timeout is closed.
   */
  OPAQUE_PORTS: 'MESH_PROXY_OPAQUE_PORTS',
  /** Time a new connection has to show its protocol (default 10s; `500ms`, `10s`, or seconds). */
  DETECT_TIMEOUT: 'MESH_PROXY_DETECT_TIMEOUT',
  /** Time an HTTP/1 request head has to arrive whole, from its first byte (default 20s). */
  HEADER_READ_TIMEOUT: 'MESH_PROXY_HEADER_READ_TIMEOUT',
  /** Connections per listener (default 10000); at the cap the oldest still in detection is closed first. */
  MAX_CONNECTIONS: 'MESH_PROXY_MAX_CONNECTIONS',
  /** HTTP/2 streams a client connection may have open at once (default 100). */
  H2_MAX_CONCURRENT_STREAMS: 'MESH_PROXY_H2_MAX_CONCURRENT_STREAMS',
  /** How often an upstream HTTP/2 session is PINGed to find a dead peer (default 10s; 0 never). */
  H2_KEEPALIVE_INTERVAL: 'MESH_PROXY_H2_KEEPALIVE_INTERVAL',
  /** How long a PING may go unanswered before the session is dropped (default 5s). */
  H2_KEEPALIVE_TIMEOUT: 'MESH_PROXY_H2_KEEPALIVE_TIMEOUT',
  /**
   * How long the first request to a Service waits for its route policy from the control plane
   * (default 1500ms; 0: no wait, the first request takes the default route; at most 60s).
   */
  ROUTE_POLICY_WAIT: 'MESH_PROXY_ROUTE_POLICY_WAIT',
  /** Who the inbound side serves: `all-unauthenticated` (default), `all-authenticated`, `identities:<id>,<id>`. */
  INBOUND_POLICY: 'MESH_PROXY_INBOUND_POLICY',
  /**
   * The pod's kubelet probes the inbound side lets through in plaintext under any policy, as the
   * injector reads them from the pod spec: JSON `[{"port":8080,"method":"GET","path":"/healthz"}]`
   * (gRPC probes are `POST /grpc.health.v1.Health/Check`).
   */
  INBOUND_PROBES: 'MESH_PROXY_INBOUND_PROBES',
  /** Ports the inbound side never sees (also passed to proxy-init). */
  INBOUND_PORTS_TO_IGNORE: 'MESH_PROXY_INBOUND_PORTS_TO_IGNORE',
  OUTBOUND_PORTS_TO_IGNORE: 'MESH_PROXY_OUTBOUND_PORTS_TO_IGNORE',
  /** Base URL of the destination service, e.g. `wss://mesh-destination.mesh-system.svc.cluster.local:8086`. */
  DESTINATION_ADDR: 'MESH_PROXY_DESTINATION_ADDR',
  /** Identity the destination service presents (verified over mTLS). */
  DESTINATION_IDENTITY: 'MESH_PROXY_DESTINATION_IDENTITY',
  /** Base URL of the identity service, e.g. `https://mesh-identity.mesh-system.svc.cluster.local:8080`. */
  IDENTITY_ADDR: 'MESH_PROXY_IDENTITY_ADDR',
  /** This proxy's identity name: `<sa>.<ns>.serviceaccount.identity.mesh-system.<trust-domain>`. */
  IDENTITY_LOCAL_NAME: 'MESH_PROXY_IDENTITY_LOCAL_NAME',
  /** Directory (an emptyDir, memory-backed) where the proxy keeps its key and certificate. */
  IDENTITY_DIR: 'MESH_PROXY_IDENTITY_DIR',
  /** The projected ServiceAccount token file (audience identity.mesh.dev). */
  IDENTITY_TOKEN_FILE: 'MESH_PROXY_IDENTITY_TOKEN_FILE',
  /** PEM bundle of trust anchors. */
  IDENTITY_TRUST_ANCHORS_PEM: 'MESH_PROXY_IDENTITY_TRUST_ANCHORS_PEM',
  /** Identity the identity service presents (default `mesh-controller.<cp-ns>.serviceaccount.identity.<cp-ns>.<trust-domain>`). */
  IDENTITY_SVC_NAME: 'MESH_PROXY_IDENTITY_SVC_NAME',
  /** Set to `1` to run without identity (plaintext); the default with no identity address. */
  IDENTITY_DISABLED: 'MESH_PROXY_IDENTITY_DISABLED',
  /** Identity of the tap server, the only peer allowed to connect to the tap port over mTLS. */
  TAP_SVC_NAME: 'MESH_PROXY_TAP_SVC_NAME',
  /** Pod metadata for labels and the destination context. */
  POD_NAME: 'MESH_PROXY_POD_NAME',
  POD_NAMESPACE: 'MESH_PROXY_POD_NAMESPACE',
  /** e.g. `deployment` and `web`: the workload owning the pod, for metric labels. */
  WORKLOAD_KIND: 'MESH_PROXY_WORKLOAD_KIND',
  WORKLOAD_NAME: 'MESH_PROXY_WORKLOAD_NAME',
  /** Seconds in-flight requests get after SIGTERM (default 30). */
  SHUTDOWN_GRACE_PERIOD: 'MESH_PROXY_SHUTDOWN_GRACE_PERIOD',
  /** The control plane namespace (default mesh-system). */
  CONTROL_PLANE_NAMESPACE: 'MESH_PROXY_CONTROL_PLANE_NAMESPACE',
  /** Trust domain (default cluster.local). */
  TRUST_DOMAIN: 'MESH_PROXY_TRUST_DOMAIN',
} as const

/**
 * Ports carried as opaque TCP when MESH_PROXY_OPAQUE_PORTS is not set: the server-first protocols
 * Linkerd lists by default (SMTP 25 and 587, MySQL 3306, Galera 4444, PostgreSQL 5432, Redis
 * 6379, Elasticsearch 9300, Memcached 11211). Detection on them would wait for a client that
 * waits for the server, until the detect timeout closes the connection.
 */
export const DEFAULT_OPAQUE_PORTS = '25,587,3306,4444,5432,6379,9300,11211'

export type ProxyEnvName = (typeof ProxyEnv)[keyof typeof ProxyEnv]

/**
 * Memory tuning of the proxy's Node runtime, given to every proxy we start (injected pods, the
 * demo) and to the benchmark's: a 1 MB young generation and two malloc arenas take ~15 MB off a
 * loaded proxy's RSS at no measurable CPU cost (bench/proxy, docs/architecture/proxy.md). Larger
 * semi-spaces (2, 4, 8 MB, V8's default) were measured against it: fewer scavenges, no CPU per
 * request or throughput gain beyond the noise, 2-4 MB more private memory under load from 4 MB up
 * (docs/architecture/proxy.md, "Issue 25: semi-space against GC").
 */
export const PROXY_RUNTIME_ENV: Readonly<Record<string, string>> = {
  NODE_OPTIONS: '--max-semi-space-size=1',
  MALLOC_ARENA_MAX: '2',
}

/** `<sa>.<ns>.serviceaccount.identity.<controlPlaneNs>.<trustDomain>` */
export function identityName(serviceAccount: string, namespace: string, controlPlaneNamespace = 'mesh-system', trustDomain = 'cluster.local'): string {
  return `${serviceAccount}.${namespace}.serviceaccount.identity.${controlPlaneNamespace}.${trustDomain}`
}
