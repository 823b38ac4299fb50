// What the CLI reads from (and asks of) a proxy's admin server (:4191) beyond /metrics and
// /ready: the contracts `mesh identity`, `mesh identity rotate-anchor`, `mesh explain` and
// `mesh proxy log-level` are written against. Reads go through the API server's pod proxy
// (GET pods/<pod>:4191/proxy/<path>); the log-level write through a pod port-forward (the admin
// server answers writes only to loopback peers, and a port-forward arrives on 127.0.0.1 inside
// the pod). The proxy serves them (src/proxy/admin); proxies of versions before them answer
// 404 (or ignore the TTL), and the CLI says so and falls back to what the pod spec and /metrics
// tell. docs/architecture/diagnostics.md describes each, and what the proxy does.

import type {TrustAnchorInfo} from './trust.js'

/** GET: the proxy's certificate and the anchors it trusts now. JSON, no secrets. */
export const ADMIN_IDENTITY_PATH = '/identity'
/** GET: the most recent errors the proxy saw, newest first. `?peer=<identity or ip>` filters. */
export const ADMIN_ERRORS_PATH = '/errors'
/** GET (level) and PUT (body: a level); PUT `?for=<seconds>` sets it until then (the proxy reverts it). */
export const ADMIN_LOG_LEVEL_PATH = '/proxy-log-level'
/** Answer header of a timed PUT: when the proxy will put the previous level back (ISO 8601). */
export const LOG_LEVEL_UNTIL_HEADER = 'mesh-log-level-until'
/** Longest a timed level may last. */
export const LOG_LEVEL_MAX_SECONDS = 24 * 3600

/** Largest /identity answer the CLI reads. */
export const IDENTITY_REPORT_MAX_BYTES = 256 * 1024
/** Largest /errors answer the CLI reads; the proxy keeps at most ERRORS_RING_SIZE entries. */
export const ERRORS_REPORT_MAX_BYTES = 256 * 1024
export const ERRORS_RING_SIZE = 100

export const PROXY_IDENTITY_REPORT_VERSION = 1

/** GET /identity. */
export interface ProxyIdentityReport {
  version: typeof PROXY_IDENTITY_REPORT_VERSION
  /** The proxy's identity name; absent when it runs without identity (`state: 'disabled'`). */
  identity?: string
  state: 'pending' | 'ready' | 'disabled'
  /** The certificate it presents now. */
  certificate?: {
    notBefore: string
    notAfter: string
    /** Serial number, lower-case hex. */
    serial: string
    /** SHA-256 of the leaf's DER, lower-case hex. */
    sha256: string
    /** The leaf then the chain it sends (public certificates, PEM): what `mesh identity` checks against the anchors. */
    chainPem: string
  }
  /** The anchors it verifies peers with, now: the env at start, then each trust bundle applied. */
  trustAnchors: TrustAnchorInfo[]
  /** The revision of the last trust bundle it applied from the destination stream (src/protocol/trust.ts); absent: only the env's anchors. */
  trustBundleRevision?: string
  /** Renewal bookkeeping, as the proxy's identity status has it. */
  certified: number
  failures: number
  lastError?: string
  nextRenewal?: string
}

/** One entry of GET /errors. */
export interface ProxyErrorEntry {
  /** ISO 8601. */
  time: string
  direction: 'inbound' | 'outbound'
  /** The peer: its identity when known, else ip:port. */
  peer: string
  /** The authority (outbound: the target; inbound: the Host / original destination). */
  authority?: string
  /**
   * What failed: a ProxyErrorCode (src/proxy/errors.ts: NO_ENDPOINTS, ALL_EJECTED,
   * CONNECT_FAILED, ...), an inbound refusal reason (identity_not_allowed, untrusted_certificate,
   * ...) or a bound's reason (detect_timeout, ...).
   */
  kind: string
  message: string
}

export interface ProxyErrorsReport {
  version: 1
  errors: ProxyErrorEntry[]
}
