// Every bound or refusal the data path applies to what a peer sends, by reason. One list, so the
// metric (mesh_proxy_refused_total{direction,reason}) has every series from the start at 0 and a
// dashboard sees a bound before it first fires. Add a reason here when adding a bound.
import type {Direction} from '../../protocol/tap.js'
import type {Observer} from './observe.js'

export const REFUSAL_REASONS = {
  malformed_request: 'a request the HTTP parser refused (400/431, or the connection closed)',
  malformed_response: 'a response from upstream the HTTP parser refused (502)',
  detect_timeout: 'a connection that sent nothing recognisable within the detect timeout',
  tls_handshake: 'an mTLS connection to this proxy whose handshake did not finish within the detect timeout, or whose TLS the proxy refused (closed)',
  internal_error: 'an unexpected exception in the data path, contained: its connection closed, the process kept serving',
  bad_authority: 'a request whose authority (Host, :authority, absolute-form, CONNECT) does not parse (400)',
  loop: 'a request or connection whose destination is this proxy itself (508)',
  header_timeout: 'an HTTP/1 request head not complete within the header read timeout (408)',
  connection_limit: 'a connection refused, or an idle one closed, because the listener was at its connection cap',
  h2_reset_flood: 'an HTTP/2 connection that reset too many streams before their response (GOAWAY ENHANCE_YOUR_CALM)',
  h2_stream_limit: 'an HTTP/2 connection that opened streams beyond the concurrent-stream limit (GOAWAY ENHANCE_YOUR_CALM)',
  h2_flood: 'an HTTP/2 connection nghttp2 ended for a flood of frames that carry no request: PING or SETTINGS faster than their acknowledgements go out, or CONTINUATION frames past its bound (closed)',
  trust_bundle_invalid: 'a trust bundle from the destination service the proxy could not apply (oversized, unparsable, empty, not CAs, or without the anchor its own certificate chains to); the anchors in use stay',
  pipeline_limit: 'an HTTP/1 connection with more pipelined requests waiting than the bound (MAX_PIPELINED_WAITING): closed',
  forbidden: 'an inbound request (403, gRPC PERMISSION_DENIED) or connection (closed) the authorization policy refused',
} as const

export type RefusalReason = keyof typeof REFUSAL_REASONS

export const REFUSAL_REASON_NAMES = Object.keys(REFUSAL_REASONS) as RefusalReason[]

/** Counts by reason, per process (tests and the admin side read them). */
export type RefusalCounts = Record<RefusalReason, number>

export function newRefusalCounts(): RefusalCounts {
  return zeroCounts(REFUSAL_REASON_NAMES)
}

/** A count at 0 for each of `names` (refusals here, ignored bytes in ignored.ts). */
export function zeroCounts<K extends string>(names: readonly K[]): Record<K, number> {
  return Object.fromEntries(names.map((r) => [r, 0])) as Record<K, number>
}

/** Counts one refusal: in the process's counts and on the observer (the metric family). */
export function countRefusal(counts: RefusalCounts, observer: Pick<Observer, 'refused'> | undefined, direction: Direction, reason: RefusalReason): void {
  counts[reason]++
  observer?.refused?.(direction, reason)
}
