// Load balancing: power of two choices over peak-EWMA latency (cost = latency estimate x
// (in-flight + 1)), and failure accrual: an endpoint that fails `consecutiveFailures` times in a
// row is ejected for a backoff that doubles with each ejection (with jitter), then tried again.
import type {FailureAccrual} from '../config.js'

/** Latency assumed for an endpoint before its first response (ms). */
const DEFAULT_RTT_MS = 30
/** A failure counts as this slow (ms): a fast-failing endpoint must not look like the best one. */
const FAILURE_PENALTY_MS = 1000
/** Decay time of the EWMA (ms): old samples fade over ~10 s. */
const DECAY_MS = 10_000

export class EndpointStats {
  inflight = 0
  rttMs = DEFAULT_RTT_MS
  private stamp = performance.now()
  consecutiveFailures = 0
  ejectedUntil = 0
  ejections = 0

  constructor(private readonly accrual: FailureAccrual, private readonly onEject?: () => void) {}

  cost(): number {
    return this.rttMs * (this.inflight + 1)
  }

  available(now: number): boolean {
    return now >= this.ejectedUntil
  }

  /** Call when a request starts; returns the start time to pass to end(). */
  start(): number {
    this.inflight++
    return performance.now()
  }

  /** Records a finished request: its latency (peak-EWMA) and whether it failed. */
  end(started: number, ok: boolean): void {
    this.inflight--
    const now = performance.now()
    const rtt = ok ? now - started : Math.max(now - started, FAILURE_PENALTY_MS)
    if (rtt > this.rttMs) {
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
  const now = performance.now()
  if (n === 1) return items[0].stats.available(now) ? items[0] : undefined
  const i = Math.floor(Math.random() * n)
  let j = Math.floor(Math.random() * (n - 1))
  if (j >= i) j++
  const a = items[i]
  const b = items[j]
  const aOk = a.stats.available(now)
  const bOk = b.stats.available(now)
  if (aOk && bOk) return a.stats.cost() <= b.stats.cost() ? a : b
  if (aOk) return a
  if (bOk) return b
  // Both ejected: any endpoint still available, else none.
  for (const it of items) if (it.stats.available(now)) return it
  return undefined
}
