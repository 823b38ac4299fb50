// The proxy's counters of events that have no Observer hook, shared by both sides (one set per
// proxy, made by server.ts).
import {newIgnoredCounts, type IgnoredCounts} from './ignored.js'
import {newRefusalCounts, type RefusalCounts} from './refusals.js'

/** Events that have no Observer hook, counted here (read by tests and the admin side). */
export interface ProxyStats {
  rejectedConnections: number
  retries: number
  retriesDenied: number
  /** Endpoints ejected by failure accrual. */
  ejections: number
  /** Refusals by reason (refusals.ts); also on /metrics as mesh_proxy_refused_total. */
  refused: RefusalCounts
  /** Bytes ignored by reason (ignored.ts); also on /metrics as mesh_proxy_ignored_bytes_total. */
  ignoredBytes: IgnoredCounts
}

export function newStats(): ProxyStats {
  return {rejectedConnections: 0, retries: 0, retriesDenied: 0, ejections: 0, refused: newRefusalCounts(), ignoredBytes: newIgnoredCounts()}
}
