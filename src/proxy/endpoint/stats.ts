// An endpoint's load and health as the balancer reads them (balance/balancer.ts): in-flight
// requests, a peak-EWMA latency estimate that fades while the endpoint is idle, and failure
// accrual: `consecutiveFailures` failures in a row eject the endpoint for a backoff that doubles
// with each ejection (with jitter). Each EndpointClient keeps one, and records every request on it.
// An ejected endpoint is back once it answers again after its backoff (onChange(false)).
import type {FailureAccrual} from '../config/config.js'

/** Latency assumed for an endpoint before its first response (ms). */
export const DEFAULT_RTT_MS = 30
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
    /** true: ejected (each time); false: answered again after an ejection. */
    private readonly onChange?: (ejected: boolean) => void,
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
        this.onChange?.(false)
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
    this.onChange?.(true)
  }
}
