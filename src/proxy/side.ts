// What the protocol layers (HTTP/1, HTTP/2, TCP) share for one direction: where requests go
// (a Target per authority), the reliability policy, the observer, the log, counters, and
// whether the proxy is draining.
import type {Direction} from '../protocol/tap.js'
import type {ProxyConfig} from './config.js'
import type {ConnCtx} from './conn.js'
import type {Logger} from './log.js'
import type {Observer} from './observe.js'
import type {Target} from './outbound/router.js'
import type {RetryBudget} from './outbound/retry-budget.js'
import {countRefusal, newRefusalCounts, type RefusalCounts, type RefusalReason} from './refusals.js'
import {routeTable, type RoutePolicy} from './route-policy.js'

export type {RoutePolicy} from './route-policy.js'

/** Events that have no Observer hook, counted here (read by tests and the admin side). */
export interface ProxyStats {
  rejectedConnections: number
  retries: number
  retriesDenied: number
  /** Endpoints ejected by failure accrual. */
  ejections: number
  /** Refusals by reason (refusals.ts); also on /metrics as mesh_proxy_refused_total. */
  refused: RefusalCounts
}

export function newStats(): ProxyStats {
  return {rejectedConnections: 0, retries: 0, retriesDenied: 0, ejections: 0, refused: newRefusalCounts()}
}

/** Counts a refusal on this side (stats and /metrics). */
export function refuseInput(side: Side, reason: RefusalReason): void {
  countRefusal(side.stats.refused, side.observer, side.direction, reason)
}

export interface Side {
  readonly direction: Direction
  readonly config: ProxyConfig
  readonly log: Logger
  readonly observer: Observer | undefined
  readonly budget: RetryBudget
  readonly stats: ProxyStats
  draining: boolean
  /** The target for an authority (outbound) or for the connection's destination (inbound). */
  target(authority: string, conn: ConnCtx): Target | Promise<Target>
}

/**
 * The policy of one request on a side: outbound, the most specific MESH_PROXY_ROUTES rule (or
 * the proxy's defaults); inbound, the global timeout and no retries (retries are the client
 * proxy's job: retrying on both sides multiplies attempts). No allocation per call.
 */
export function policyOf(side: Side, authority: string, path: string, method: string): RoutePolicy {
  const table = routeTable(side.config)
  return side.direction === 'inbound' ? table.inbound : table.lookup(authority, path, method)
}

/** Takes a retry from the side's budget, counting the outcome (retries / retriesDenied). */
export function withdrawRetry(side: Side): boolean {
  if (side.budget.withdraw()) {
    side.stats.retries++
    side.observer?.retried?.(side.direction, 'retried')
    return true
  }
  side.stats.retriesDenied++
  side.observer?.retried?.(side.direction, 'budget_exhausted')
  return false
}

let seq = 0
/** Request ids, unique within this process. */
export function nextRequestId(): string {
  return (++seq).toString(36)
}
