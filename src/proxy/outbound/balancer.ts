// Load balancing: power of two choices over peak-EWMA latency (cost = latency estimate x
// (in-flight + 1)), and failure accrual: an endpoint that fails `consecutiveFailures` times in a
// row is ejected for a backoff that doubles with each ejection (with jitter), then tried again.
//
// No endpoint starves. An estimate only moves when its endpoint answers, so two rules keep an
// endpoint that is not chosen from staying unchosen forever (sequential requests never have one
// in flight, so in-flight counts alone cannot break the tie):
// - an endpoint that has never answered is assumed as fast as the one it is compared with, or
//   30 ms if that one is slower (a new replica gets its share at once instead of losing every
//   comparison on a 30 ms guess, and still wins against a failing or slow one);
// - an idle endpoint's estimate fades toward zero with the decay time when read, as Tower's
//   PeakEwma does (linkerd2-proxy's balancer), so an endpoint that was once slow is tried again.
import type {FailureAccrual} from '../config.js'

/** Latency assumed for an endpoint before its first response (ms). */
const DEFAULT_RTT_MS = 30
/** A failure counts as this slow (ms): a fast-failing endpoint must not look like the best one. */
const FAILURE_PENALTY_MS = 1000
/** Decay time of the EWMA (ms): old samples fade over ~10 s. */
const DECAY_MS = 10_000

export type Clock = () => number

export class EndpointStats {
  inflight = 0
  /** The latency estimate as of the last response (ms); undefined before the first. */
  private rttMs: number | undefined
  private stamp: number
  consecutiveFailures = 0
  ejectedUntil = 0
  ejections = 0

  constructor(
    private readonly accrual: FailureAccrual,
    private readonly onEject?: () => void,
    private readonly clock: Clock = () => performance.now(),
  ) {
    this.stamp = clock()
  }

  /** The latency estimate at `now` (ms): faded toward zero by the time since the last response. */
  estimate(now: number = this.clock()): number | undefined {
    if (this.rttMs === undefined) return undefined
    return this.rttMs * Math.exp(-Math.max(0, now - this.stamp) / DECAY_MS)
  }

  /** Cost at `now`; an endpoint that has never answered is priced at `assumedRttMs`. */
  cost(now: number = this.clock(), assumedRttMs = DEFAULT_RTT_MS): number {
    return (this.estimate(now) ?? assumedRttMs) * (this.inflight + 1)
  }

  now(): number {
    return this.clock()
  }

  available(now: number): boolean {
    return now >= this.ejectedUntil
  }

  /** Call when a request starts; returns the start time to pass to end(). */
  start(): number {
    this.inflight++
    return this.clock()
  }

  /** Records a finished request: its latency (peak-EWMA) and whether it failed. */
  end(started: number, ok: boolean): void {
    this.inflight--
    const now = this.clock()
    const rtt = ok ? now - started : Math.max(now - started, FAILURE_PENALTY_MS)
    if (this.rttMs === undefined || rtt > this.rttMs) {
      this.rttMs = rtt
    } else {
      const w = Math.exp(-(now - this.stamp) / DECAY_MS)
      this.rttMs = this.rttMs * w + rtt * (1 - w)
    }
    this.stamp = now
    if (ok) {
      this.consecutiveFailures = 0
      if (this.ejectedUntil !== 0 && now >= this.ejectedUntil) {
        this.ejectedUntil = 0
        this.ejections = 0
      }
      return
    }
    if (++this.consecutiveFailures >= this.accrual.consecutiveFailures) this.eject(now)
  }

  private eject(now: number): void {
    const base = Math.min(this.accrual.backoffMaxMs, this.accrual.backoffMinMs * 2 ** this.ejections)
    this.ejectedUntil = now + base * (0.75 + Math.random() * 0.25)
    this.ejections++
    this.consecutiveFailures = 0
    this.onEject?.()
  }
}

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
