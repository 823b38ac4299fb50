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
