// Interfaces the data path depends on, implemented elsewhere: discovery (static routes now,
// the destination service's stream in a cluster or the demo) and identity (none, or a
// certificate from the identity service). The data path never knows which one it has.
import type {SecureContext} from 'node:tls'
import type {AuthzPolicy} from '../../protocol/authz.js'
import type {RoutePolicy as ControlRoutePolicy} from '../../protocol/routes.js'

export interface Endpoint {
  /** ip or hostname */
  host: string
  port: number
  /** The identity the endpoint's proxy presents; absent for non-meshed endpoints (plaintext). */
  identity?: string
  /** dst_namespace, dst_deployment, dst_pod, dst_serviceaccount, ... */
  labels: Record<string, string>
  /** Opaque endpoint: carry as TCP (the peer proxy detects nothing). */
  opaque?: boolean
}

export interface EndpointSet {
  /** Current endpoints; empty means "known service, no endpoints" (fail fast with 503). */
  endpoints: Endpoint[]
}

export interface Resolution {
  /** The current set; updated in place as the stream changes. */
  current(): EndpointSet
  /** Called after every change. Returns an unsubscribe function. */
  onChange(listener: (set: EndpointSet) => void): () => void
  /** Stop watching (the last user of an authority closes the stream). */
  close(): void
}

export class NoSuchServiceError extends Error {
  readonly code = 'MESH_NO_SUCH_SERVICE'
  constructor(readonly authority: string) {
    super(`no such service: ${authority}`)
  }
}

export interface Discovery {
  /**
   * Resolve `host:port`. Resolves once the first set is known; rejects with
   * NoSuchServiceError when the authority is unknown (the proxy answers 503 fast), or returns
   * null when discovery does not handle it (the proxy then connects to the original
   * destination / DNS name directly, plaintext).
   */
  resolve(authority: string): Promise<Resolution | null>
  /**
   * Follow the control plane's route policy of a Service authority (docs/architecture/routes.md):
   * undefined from `current()` until the first policy, and after the control plane answers
   * `error` or `noSuchService` (no control-plane routes then). Absent: discovery has no routes.
   */
  watchRoutes?(authority: string): RoutesWatch
  /**
   * Follow the trust bundle (src/protocol/trust.ts): `onBundle` gets each bundle as the control
   * plane sends it (unchecked: the identity checks it). Absent: discovery has no trust stream.
   */
  watchTrust?(onBundle: (bundle: unknown) => void): {close(): void}
  /**
   * Follow the control plane's authorization policy of this proxy's own pod
   * (docs/architecture/authz.md, "On the wire"), reporting to `events` until closed. Absent:
   * discovery has no authorization policy (the inbound side keeps MESH_PROXY_INBOUND_POLICY).
   */
  watchAuthz?(namespace: string, pod: string, events: AuthzEvents): {close(): void}
  close(): void
}

/** What an authorization policy stream reports (each call on the event loop, never inside a request). */
export interface AuthzEvents {
  /** A policy whose shape the proxy can rely on: it replaces the previous one. */
  policy(policy: AuthzPolicy): void
  /** A message the proxy cannot rely on (not a v1 policy): ignored, the last good policy stays. */
  invalid(problem: string): void
  /**
   * The control plane ended the stream with an error (`BAD_REQUEST`: a control plane older than
   * this, which does not know the request; `UNAVAILABLE`: one without a policy source, or at a
   * stream limit; `FORBIDDEN`: this proxy is not the pod's). The stream is asked for again
   * after a backoff (an upgraded or recovered control plane answers then).
   */
  ended(code: string, message: string): void
}

export interface RoutesWatch {
  /** The latest policy (each message replaces the last), or undefined: no control-plane routes. */
  current(): ControlRoutePolicy | undefined
  /**
   * Whether the control plane has answered: a first policy, `error` or `noSuchService` (the
   * Router's first request to a Service waits for it, bounded). Absent: counts as answered.
   */
  settled?(): boolean
  /** Calls `f` once when the stream is answered (at once when it is). */
  onSettled?(f: () => void): void
  close(): void
}

export interface Identity {
  /** This proxy's identity name, or undefined when running without identity. */
  readonly localName: string | undefined
  /** Resolves once a certificate is held (readiness waits on it). */
  ready(): Promise<void>
  /** Server side of mTLS on the inbound port: requests (does not require) a client cert. */
  serverContext(): SecureContext | undefined
  /** Client side toward a peer proxy. */
  clientContext(): SecureContext | undefined
  /** Verifies that a peer's certificate chains to the trust anchors and names `expected`. */
  verifyPeer(cert: import('node:tls').PeerCertificate, expected: string): Error | undefined
  /** Identity name carried in a verified peer certificate (its single DNS SAN). */
  peerName(cert: import('node:tls').PeerCertificate): string | undefined
  /**
   * Called after the trust anchors changed (a trust bundle applied): what was verified under the
   * old anchors (the inbound side's TLS session tickets) must not be taken on trust any more.
   */
  onTrustChange?(listener: () => void): () => void
  close(): void
}
