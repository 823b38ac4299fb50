// What both sides set up the same way around their bounds: the options every endpoint is made
// with (connect timeout, failure accrual and its ejection counter, HTTP/2 keep-alive PINGs) and
// the counter of the listener's connection cap.
import type {Direction} from '../protocol/tap.js'
import type {ProxyConfig} from './config.js'
import type {EndpointClientOptions} from './endpoint.js'
import type {Logger} from './log.js'
import type {Observer} from './observe.js'
import type {RefusalReason} from './refusals.js'
import type {ProxyStats} from './side.js'

/** How often the listener's cap is logged while it fires. */
const WARN_EVERY_MS = 10_000

export function endpointOptionsOf(config: ProxyConfig, deps: {observer?: Observer, stats: ProxyStats}, direction: Direction): EndpointClientOptions {
  const l = config.limits
  return {
    connectTimeoutMs: l.connectTimeoutMs,
    accrual: config.failureAccrual,
    h2KeepAlive: {intervalMs: l.h2KeepAliveIntervalMs, timeoutMs: l.h2KeepAliveTimeoutMs},
    onEject: () => {
      deps.stats.ejections++
      deps.observer?.ejected?.(direction)
    },
  }
}

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
