// Retry decisions of the raw codec: only bodyless requests, only on the outbound side (where the
// balancer can pick another endpoint), within the route policy's limit and the retry budget.
import type {RequestMeta} from '../../observe.js'
import {withdrawRetry, type RoutePolicy, type Side} from '../../side.js'
import {isRetryableRequest} from '../headers.js'

/** Whether another attempt is allowed at all (before the budget is asked). */
export function retriesAllowed(side: Side, policy: RoutePolicy, bodyless: boolean, attempt: number): boolean {
  return side.direction === 'outbound' && bodyless && attempt < policy.retry.limit
}

/** A retryable 5xx of an idempotent (or marked retryable) request, within budget. */
export function mayRetryStatus(side: Side, policy: RoutePolicy, meta: RequestMeta, bodyless: boolean, attempt: number, status: number): boolean {
  const retry = policy.retry
  if (!retriesAllowed(side, policy, bodyless, attempt) || !retry.statuses.includes(status)) return false
  if (!retry.retryable && !isRetryableRequest(meta.method, meta.headers)) return false
  return withdrawRetry(side)
}
