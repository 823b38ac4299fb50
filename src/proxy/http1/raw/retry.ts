// Retry decisions of the raw codec, the node codec's rules (http1/exchange.ts): only on the
// outbound side (where the balancer can pick another endpoint), only while the whole request
// can be sent again (no body, or the body kept), within the route policy's limit and the retry
// budget. A retry-on status, or a reset, is retried for idempotent (or marked retryable)
// requests; a connect failure or a reused pooled connection's failure for any request.
import type {ProxyError} from '../../errors.js'
import type {RequestMeta} from '../../observe.js'
import {withdrawRetry, type RoutePolicy, type Side} from '../../side.js'
import {isRetryableRequest} from '../headers.js'

/** Whether another attempt is allowed at all (before the budget is asked). */
export function retriesAllowed(side: Side, policy: RoutePolicy, replayable: boolean, attempt: number): boolean {
  return side.direction === 'outbound' && replayable && attempt < policy.retry.limit
}

/** The request may be retried after it reached the upstream: idempotent, or marked retryable. */
export function isRetryable(policy: RoutePolicy, meta: RequestMeta): boolean {
  return policy.retry.retryable || isRetryableRequest(meta.method, meta.headers)
}

/** A retryable 5xx of an idempotent (or marked retryable) request, within budget. */
export function mayRetryStatus(side: Side, policy: RoutePolicy, meta: RequestMeta, replayable: boolean, attempt: number, status: number): boolean {
  if (!retriesAllowed(side, policy, replayable, attempt) || !policy.retry.statuses.includes(status)) return false
  if (!isRetryable(policy, meta)) return false
  return withdrawRetry(side)
}

/** A failed attempt (no response yet): never sent, on a reused connection, or retryable; within budget. */
export function mayRetryFailure(side: Side, policy: RoutePolicy, e: ProxyError, reused: boolean, retryable: boolean, replayable: boolean, attempt: number): boolean {
  if (!retriesAllowed(side, policy, replayable, attempt)) return false
  if (e.code !== 'CONNECT_FAILED' && !reused && !retryable) return false
  return withdrawRetry(side)
}
