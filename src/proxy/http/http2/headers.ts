// Header handling for HTTP/2 forwarding: drop what HTTP/2 forbids or what belongs to one hop,
// and tell which requests may be retried on a retryable response.
import type http2 from 'node:http2'
import type {RetryPolicy} from '../../config/config.js'
import {isRetryableRequest} from '../retry-decision.js'

/** Headers HTTP/2 forbids, or that belong to one hop. */
const DROP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'host', 'mesh-retryable'])

export function copyHeaders(h: http2.IncomingHttpHeaders): http2.OutgoingHttpHeaders {
  const out: http2.OutgoingHttpHeaders = {}
  for (const k in h) if (!DROP.has(k)) out[k] = h[k]
  return out
}

/** Idempotent methods, a request marked `mesh-retryable: true` (retry-decision.ts's rule, as HTTP/1's), or a route that says retryable. */
export function mayRetryResponse(method: string, headers: http2.IncomingHttpHeaders, retry: RetryPolicy): boolean {
  return retry.retryable || isRetryableRequest(method, headers)
}
