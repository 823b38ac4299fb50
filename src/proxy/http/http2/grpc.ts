// gRPC over HTTP/2 as the proxy sees it: which requests are gRPC, the `grpc-timeout` header
// (read, and rewritten with the time left), and the trailers-only answers the proxy makes.
import type http2 from 'node:http2'
import {PROXY_ERROR_HEADER} from '../../core/errors.js'

export const GRPC_DEADLINE_EXCEEDED = 4

const UNIT_MS: Record<string, number> = {H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000_001}

/** True for gRPC (and gRPC-Web) requests, by content type. */
export function isGrpc(headers: http2.IncomingHttpHeaders): boolean {
  const ct = headers['content-type']
  return ct !== undefined && ct.startsWith('application/grpc')
}

/**
 * The `grpc-timeout` header in milliseconds (`1S`, `250m`, `100u`; at most 8 digits), rounded
 * up; undefined when absent or malformed (a malformed one is ignored, as gRPC servers do).
 */
export function parseGrpcTimeout(value: string | string[] | undefined): number | undefined {
  if (typeof value !== 'string') return undefined
  const m = /^(\d{1,8})([HMSmun])$/.exec(value)
  if (!m) return undefined
  return Math.ceil(Number(m[1]) * UNIT_MS[m[2]])
}

/** `grpc-timeout` for `ms` milliseconds (ms unit; seconds when ms would need 9 digits). */
export function formatGrpcTimeout(ms: number): string {
  const n = Math.max(1, Math.ceil(ms))
  return n < 100_000_000 ? `${n}m` : `${Math.ceil(n / 1000)}S`
}

/** grpc-status of a header block, when there is one. */
export function grpcStatus(h: http2.IncomingHttpHeaders | undefined): number | undefined {
  const v = h?.['grpc-status']
  return v === undefined ? undefined : Number(v)
}

/** A trailers-only gRPC response carrying `status` and `message` (also in mesh-proxy-error). */
export function grpcTrailersOnly(status: number, message: string): http2.OutgoingHttpHeaders {
  const text = message.replace(/[^\x20-\x7e]|%/g, '?')
  return {':status': 200, 'content-type': 'application/grpc', 'grpc-status': String(status), 'grpc-message': text, [PROXY_ERROR_HEADER]: text}
}
