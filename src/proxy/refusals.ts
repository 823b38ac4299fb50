// Every bound or refusal the data path applies to what a peer sends, by reason. One list, so the
// metric (mesh_proxy_refused_total{direction,reason}) has every series from the start at 0 and a
// dashboard sees a bound before it first fires. Add a reason here when adding a bound.
import type {Direction} from '../protocol/tap.js'
import type {Observer} from './observe.js'

export const REFUSAL_REASONS = {
  malformed_request: 'a request the HTTP parser refused (400/431, or the connection closed)',
  malformed_response: 'a response from upstream the HTTP parser refused (502)',
  detect_timeout: 'a connection that sent nothing recognisable within the detect timeout',
  internal_error: 'an unexpected exception in the data path, contained: its connection closed, the process kept serving',
} as const

export type RefusalReason = keyof typeof REFUSAL_REASONS

export const REFUSAL_REASON_NAMES = Object.keys(REFUSAL_REASONS) as RefusalReason[]

/** Counts by reason, per process (tests and the admin side read them). */
export type RefusalCounts = Record<RefusalReason, number>

export function newRefusalCounts(): RefusalCounts {
  return Object.fromEntries(REFUSAL_REASON_NAMES.map((r) => [r, 0])) as RefusalCounts
}

/** Counts one refusal: in the process's counts and on the observer (the metric family). */
export function countRefusal(counts: RefusalCounts, observer: Pick<Observer, 'refused'> | undefined, direction: Direction, reason: RefusalReason): void {
  counts[reason]++
  observer?.refused?.(direction, reason)
}
