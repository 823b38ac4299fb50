// Bytes a peer sent that the data path ignores, by reason: neither forwarded nor answered, and no
// refusal (nothing is refused: the connection was already closing). One list, so the metric
// (mesh_proxy_ignored_bytes_total{direction,reason}) has every series from the start at 0.
import type {Direction} from '../../protocol/tap.js'
import type {Observer} from './observe.js'
import {zeroCounts} from './refusals.js'

export const IGNORED_REASONS = {
  after_close: 'bytes an HTTP/1 client sent after a request that closes the connection (Connection: close, HTTP/1.0 without keep-alive, the last request of a drain), as nginx ignores them',
} as const

export type IgnoredReason = keyof typeof IGNORED_REASONS

export const IGNORED_REASON_NAMES = Object.keys(IGNORED_REASONS) as IgnoredReason[]

/** Bytes by reason, per process (tests read them). */
export type IgnoredCounts = Record<IgnoredReason, number>

export function newIgnoredCounts(): IgnoredCounts {
  return zeroCounts(IGNORED_REASON_NAMES)
}

/** Counts `bytes` ignored: in the process's counts and on the observer (the metric family). */
export function countIgnored(counts: IgnoredCounts, observer: Pick<Observer, 'ignored'> | undefined, direction: Direction, reason: IgnoredReason, bytes: number): void {
  if (bytes <= 0) return
  counts[reason] += bytes
  observer?.ignored?.(direction, reason, bytes)
}
