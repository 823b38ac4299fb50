// The Side: what the protocol layers above (accept, HTTP/1, HTTP/2, TCP) share for one
// direction, and all they see of routing: where requests go (a Target per authority), the
// reliability policy (the route's timeout and retries, the retry budget), the observer, the
// log, counters, and whether the proxy is draining.
import type {Direction} from '../../protocol/tap.js'
import type {ProxyConfig} from '../config/config.js'
import type {ConnCtx} from '../core/conn.js'
import type {Logger} from '../core/log.js'
import type {Observer} from '../core/observe.js'
import type {Target} from '../balance/target.js'
import type {RetryBudget} from './retry-budget.js'
import {countRefusal, type RefusalReason} from '../core/refusals.js'
import type {ProxyStats} from '../core/stats.js'
import {routeTable, type RoutePolicy} from '../config/route-policy.js'
import type {PolicyMatcher} from '../../routes/match.js'
import type {ProxyError} from '../core/errors.js'

export type {RoutePolicy} from '../config/route-policy.js'

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
  /** Outbound: the control plane's route policy of an authority, when one is held (routes.ts). */
  routes?(authority: string): PolicyMatcher | undefined
  /**
   * Outbound, with a control plane: undefined when a request to `authority` can take its route
   * policy now (the fast path); else a promise that settles once it can: the authority resolved
   * and, for a Service, its first route policy arrived or the wait for it ran out (Router,
   * routesPending). It carries what `target(authority, conn)` gave, for a request on the
   * default route to use instead of asking again (undefined: ask).
   */
  prepare?(authority: string, conn: ConnCtx): Promise<Prepared> | undefined
  /**
   * Inbound: the authorization decision on one request (inbound/live-authz.ts, inbound/authz.ts),
   * asked by every codec through routePolicyOf before anything goes to the application; the
   * request's facts are made of `method`, `target` and `req` (routes.ts requestFacts) only when a
   * decision needs them. Undefined: nothing to say.
   */
  authorize?(conn: ConnCtx, method: string, target: string, req: HeaderSource): RequestAuthz | undefined
}

/**
 * Where a request's header record (lower-cased names) comes from: `headers` is read only when a
 * route's header match, an authorization or a gRPC check asks (the raw codec's head makes it
 * from its text then; Node's IncomingMessage, on first read too).
 */
export interface HeaderSource {
  readonly headers: Record<string, string | string[] | undefined>
}

/** What authorization says of one inbound request: refused (403), and the route labels. */
export interface RequestAuthz {
  refusal?: ProxyError
  /** `route`/`route_kind` of the inbound series, from the policy's route table (one object per route). */
  labels?: {readonly route: string; readonly routeKind: string}
}

/** What Side.prepare resolved: the authority's own target, or why it has none. */
export type Prepared = {target: Target} | {error: unknown} | undefined

/**
 * The target of a request whose policy is known: the prepared one when the request goes to the
 * authority itself (the default route), else `side.target` (a route's backend, or nothing prepared).
 */
export function targetFor(side: Side, policy: RoutePolicy, authority: string, conn: ConnCtx, prepared: Prepared): Target | Promise<Target> {
  if (prepared === undefined || policy.backendAuthority !== undefined) return side.target(policy.backendAuthority ?? authority, conn)
  if ('error' in prepared) throw prepared.error
  return prepared.target
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
  return requestIdOf(nextRequestSeq())
}

/** The number of the next request id (requestIdOf makes the id): for a codec that makes the text only when it is read. */
export function nextRequestSeq(): number {
  return ++seq
}

/** The request id of a number nextRequestSeq gave. */
export function requestIdOf(n: number): string {
  return n.toString(36)
}
