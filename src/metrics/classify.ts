// Response classification as Linkerd does it: a gRPC status decides when present, else the
// HTTP status; a stream reset or a missing response is a failure.

/** gRPC codes counted as failures: Unknown, DeadlineExceeded, PermissionDenied, Internal, Unavailable, DataLoss. */
export const GRPC_FAILURE_CODES: ReadonlySet<number> = new Set([2, 4, 7, 13, 14, 15])

export type Classification = 'success' | 'failure'

export function classify(status: number | undefined, grpcStatus?: number, resetError?: string): Classification {
  if (resetError !== undefined && resetError !== '') return 'failure'
  if (grpcStatus !== undefined) return GRPC_FAILURE_CODES.has(grpcStatus) ? 'failure' : 'success'
  if (status === undefined || status >= 500) return 'failure'
  return 'success'
}
