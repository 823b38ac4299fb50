// The one retry decision of the data path, for HTTP/1 (both codecs: http1/exchange.ts and
// http1/raw/exchange.ts) and HTTP/2 (http2/forward.ts, on what http2/attempt.ts found), so the
// protocols cannot disagree. Retries are the outbound side's (there the balancer can pick another
// endpoint; retrying on both sides would multiply attempts), only while the whole request can be
// sent again, within the route's limit and the retry budget.
//
// The rule, after a failure before any response head:
// - A request that provably never reached the server application is retried whatever its
//   method: the connect failed (or its TLS handshake: nothing was written in the clear to the
//   app), the attempt never got a connection (it waited in the pool and that connect failed),
//   or on HTTP/2 the stream was refused (REFUSED_STREAM, which is also what a stream above a
//   GOAWAY's last stream id gets), was still pending, or its session was closed before it opened.
// - Anything else may have been processed: a request written on a connection that then failed
//   or closed (even one reused from the pool, even with no byte of response: a write that
//   reached the kernel's buffer is no proof the server did not read it). Only idempotent
//   methods (GET, HEAD, OPTIONS, PUT, DELETE, TRACE) and requests marked retryable
//   (`mesh-retryable: true`, a route's `retryable`) are retried then. A POST the app already
//   processed is never sent twice.
// - The stale keep-alive race (a pooled connection the server closed while idle, no response
//   byte) is tried once more even with retries off, but only for those same retryable requests.
// Compare: Envoy's `reset-before-request` retry-on (only resets before the request went out)
// and `retriable_request_headers`; undici's retry handler (idempotent methods only by default).
import {withdrawRetry, type RoutePolicy, type Side} from '../route/side.js'

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

/** What is known of an attempt that failed before any response head. */
export interface AttemptFailure {
  /** Provably never reached the server application (see the rule above). */
  unprocessed: boolean
  /** HTTP/1: it ran on a reused pooled connection and no response byte came (the stale keep-alive race). */
  staleReuse: boolean
}

/** Extra attempts a side allows for a route: the policy's limit outbound, none inbound. */
export function retryLimit(side: Side, policy: RoutePolicy): number {
  return side.direction === 'outbound' ? policy.retry.limit : 0
}

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE'])

/** Idempotent methods (RFC 9110 9.2.2), or a request the application marked `mesh-retryable: true`. */
export function isRetryableRequest(method: string, headers: Record<string, string | string[] | undefined>): boolean {
  return IDEMPOTENT.has(method) || headers['mesh-retryable'] === 'true'
}

/** A response with `status`: retried when it is a retry-on status of a retryable request, within limit and budget. */
export function mayRetryStatus(side: Side, s: RetryState, status: number): boolean {
  if (!s.replayable || !s.retryable || s.attempt >= s.limit || !s.statuses.includes(status)) return false
  return withdrawRetry(side)
}

/** A failure before any response head: the rule above, within limit and budget. */
export function mayRetryFailure(side: Side, s: RetryState, f: AttemptFailure): boolean {
  if (!s.replayable) return false
  const allowed = s.attempt < s.limit && (f.unprocessed || s.retryable)
  if (!allowed && !(f.staleReuse && s.retryable && s.attempt === 0)) return false
  return withdrawRetry(side)
}
