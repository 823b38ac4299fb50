// The counter of the listener's connection cap, the same on both sides.
import type {Direction} from '../../protocol/tap.js'
import type {Logger} from '../core/log.js'
import type {RefusalReason} from '../core/refusals.js'
import type {ProxyStats} from '../core/stats.js'

/** How often the listener's cap is logged while it fires. */
const WARN_EVERY_MS = 10_000

/** The listener's cap fired (a connection refused, or one still in detection closed): counted, logged at most every 10 s. */
export function limitCounter(stats: ProxyStats, log: Logger, direction: Direction, refused: (reason: RefusalReason) => void): (what: 'refused' | 'evicted') => void {
  let warnedAt = -Infinity
  let since = 0
  return (what) => {
    stats.rejectedConnections++
    refused('connection_limit')
    since++
    const now = performance.now()
    if (now - warnedAt < WARN_EVERY_MS) return
    log.warn(`${direction} listener at its connection cap (${what === 'refused' ? 'a new connection refused' : 'the oldest connection still in detection closed'})`, {times: since})
    warnedAt = now
    since = 0
  }
}
