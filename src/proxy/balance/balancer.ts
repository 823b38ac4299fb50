// Load balancing: power of two choices over peak-EWMA latency (cost = latency estimate x
// (in-flight + 1)), skipping endpoints failure accrual ejected (the estimates and the accrual
// are each endpoint's own: endpoint/stats.ts).
//
// No endpoint starves. An estimate only moves when its endpoint answers, so two rules keep an
// endpoint that is not chosen from staying unchosen forever (sequential requests never have one
// in flight, so in-flight counts alone cannot break the tie):
// - an endpoint that has never answered is assumed as fast as the one it is compared with, or
//   30 ms if that one is slower (a new replica gets its share at once instead of losing every
//   comparison on a 30 ms guess, and still wins against a failing or slow one);
// - an idle endpoint's estimate fades toward zero with the decay time when read, as Tower's
//   PeakEwma does (linkerd2-proxy's balancer), so an endpoint that was once slow is tried again.
import {DEFAULT_RTT_MS, type EndpointStats} from '../endpoint/stats.js'

export interface Balanced {
  readonly stats: EndpointStats
}

/** Picks one of `items` by power of two choices; undefined when all are ejected. */
export function pickP2C<T extends Balanced>(items: readonly T[]): T | undefined {
  const n = items.length
  if (n === 0) return undefined
  const now = items[0].stats.now()
  if (n === 1) return items[0].stats.available(now) ? items[0] : undefined
  const i = Math.floor(Math.random() * n)
  let j = Math.floor(Math.random() * (n - 1))
  if (j >= i) j++
  const a = items[i]
  const b = items[j]
  const aOk = a.stats.available(now)
  const bOk = b.stats.available(now)
  if (aOk && bOk) {
    // An endpoint that has never answered is priced as its rival when the rival is faster than
    // the default, else at the default (a new endpoint beats one that is failing or slow).
    const ea = a.stats.estimate(now)
    const eb = b.stats.estimate(now)
    const ca = a.stats.cost(now, Math.min(eb ?? DEFAULT_RTT_MS, DEFAULT_RTT_MS))
    const cb = b.stats.cost(now, Math.min(ea ?? DEFAULT_RTT_MS, DEFAULT_RTT_MS))
    // `a` is the random draw, so a tie goes either way with equal chance.
    return ca <= cb ? a : b
  }
  if (aOk) return a
  if (bOk) return b
  // Both ejected: any endpoint still available, else none.
  for (const it of items) if (it.stats.available(now)) return it
  return undefined
}
