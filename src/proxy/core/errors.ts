// Failures the proxy answers itself, each with a stable code, the status it maps to, and the
// text of the `mesh-proxy-error` response header.
export const PROXY_ERROR_HEADER = 'mesh-proxy-error'

export type ProxyErrorCode =
  | 'NO_ENDPOINTS' | 'NO_SUCH_SERVICE' | 'ALL_EJECTED' | 'CONNECT_FAILED' | 'UPSTREAM_RESET'
  | 'TIMEOUT' | 'LOOP' | 'BAD_REQUEST' | 'NO_DESTINATION' | 'DISCOVERY_FAILED' | 'SHUTTING_DOWN'
  | 'INTERNAL' | 'NO_ROUTE' | 'BACKEND_INVALID' | 'FORBIDDEN'

const STATUS: Record<ProxyErrorCode, number> = {
  NO_ENDPOINTS: 503, NO_SUCH_SERVICE: 503, ALL_EJECTED: 503, CONNECT_FAILED: 502, UPSTREAM_RESET: 502,
  TIMEOUT: 504, LOOP: 508, BAD_REQUEST: 400, NO_DESTINATION: 502, DISCOVERY_FAILED: 503, SHUTTING_DOWN: 503,
  INTERNAL: 502, NO_ROUTE: 404, BACKEND_INVALID: 500, FORBIDDEN: 403,
}

export class ProxyError extends Error {
  readonly status: number
  constructor(readonly code: ProxyErrorCode, message: string, options?: {cause?: unknown}) {
    super(message, options)
    this.name = 'ProxyError'
    this.status = STATUS[code]
  }
}

/** Any failure reaching an upstream becomes a ProxyError (connect refused, reset, TLS). */
export function upstreamError(err: unknown, target: string): ProxyError {
  if (err instanceof ProxyError) return err
  const e = err as NodeJS.ErrnoException
  // A stream cancelled because its session failed: the session's error is the cause.
  if (e?.code === 'ERR_HTTP2_STREAM_CANCEL' && e.cause !== undefined) return upstreamError(e.cause, target)
  const code = e?.code ?? ''
  if (code === 'ECONNREFUSED' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH' || code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'ETIMEDOUT' || code === 'ECONNECT_TIMEOUT') {
    return new ProxyError('CONNECT_FAILED', `connecting to ${target}: ${code}`, {cause: err})
  }
  return new ProxyError('UPSTREAM_RESET', `${target}: ${code || e?.message || String(err)}`, {cause: err})
}

/** True when the request certainly never reached the upstream application (safe to retry). */
export function neverSent(err: ProxyError): boolean {
  return err.code === 'CONNECT_FAILED'
}
