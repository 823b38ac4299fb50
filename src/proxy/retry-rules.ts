// When an HTTP/1 attempt is tried again, for both codecs (the node codec's http1/exchange.ts and
// the raw codec's http1/raw/exchange.ts), so that the two cannot drift apart. Retries are the
// outbound side's (there the balancer can pick another endpoint; retrying on both sides would
// multiply attempts), only while the whole request can be sent again, within the route's limit
// and the retry budget. Every retry, a stale pooled connection's included, comes from the budget.
import {neverSent, type ProxyError} from './errors.js'
import {withdrawRetry, type RoutePolicy, type Side} from './side.js'

/** What the decision looks at, as the exchange knows it. */
export interface RetryState {
  /** The whole request can be sent again (no body, or the body kept whole). */
  replayable: boolean
  /** Idempotent, or marked retryable (`mesh-retryable: true`, or the route's `retryable`). */
  retryable: boolean
  /** Attempts made before this one's failure (0 after the first). */
  attempt: number
  /** Extra attempts allowed (retryLimit). */
  limit: number
  /** The route's retry-on statuses. */
  statuses: readonly number[]
}

/** Extra attempts a side allows for a route: the policy's limit outbound, none inbound. */
export function retryLimit(side: Side, policy: RoutePolicy): number {
  return side.direction === 'outbound' ? policy.retry.limit : 0
}

/** A response with `status`: retried when it is a retry-on status of a retryable request, within limit and budget. */
export function mayRetryStatus(side: Side, s: RetryState, status: number): boolean {
  if (!s.replayable || !s.retryable || s.attempt >= s.limit || !s.statuses.includes(status)) return false
  return withdrawRetry(side)
}

/**
 * A failure before any response: retried, within limit and budget, when the request never left
 * (connect failed), went out on a reused connection, or is retryable. `stale` (the first attempt,
 * on a reused pooled connection the upstream had closed while idle, nothing received) is tried
 * once more even with retries off, from the budget too.
 */
export function mayRetryFailure(side: Side, s: RetryState, e: ProxyError, reused: boolean, stale: boolean): boolean {
  const allowed = s.replayable && s.attempt < s.limit && (neverSent(e) || reused || s.retryable)
  if (!allowed && !(stale && s.replayable && s.attempt === 0)) return false
  return withdrawRetry(side)
}
