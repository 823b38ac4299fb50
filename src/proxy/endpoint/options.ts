// The options every endpoint of a side is made with, the same on both sides: connect timeout,
// failure accrual and its ejection counter and gauge, HTTP/2 keep-alive PINGs.
import type {Direction} from '../../protocol/tap.js'
import type {ProxyConfig} from '../config/config.js'
import type {Observer} from '../core/observe.js'
import type {ProxyStats} from '../core/stats.js'
import type {EndpointClientOptions} from './endpoint.js'

export function endpointOptionsOf(config: ProxyConfig, deps: {observer?: Observer, stats: ProxyStats}, direction: Direction): EndpointClientOptions {
  const l = config.limits
  return {
    connectTimeoutMs: l.connectTimeoutMs,
    accrual: config.failureAccrual,
    h2KeepAlive: {intervalMs: l.h2KeepAliveIntervalMs, timeoutMs: l.h2KeepAliveTimeoutMs},
    ejection: (ep, event) => {
      if (event === 'ejected') {
        deps.stats.ejections++
        deps.observer?.ejected?.(direction, ep.authority, ep.key)
      } else {
        deps.observer?.ejectionOver?.(direction, ep.authority, ep.key, event === 'removed')
      }
    },
  }
}
