// The tap server's memory of scrapes, so `mesh stat --window 1m` has a baseline without a
// Prometheus: every query scrapes the pods it needs and keeps the scrape; pods queried in the
// last `interestMs` are re-scraped every `intervalMs` in the background. Bounded: at most
// `maxAgeMs` of history per pod, one scrape per `intervalMs / 2`, at most `maxPods` pods.
import type {PodInfo} from './types.js'
import type {Scrape} from '../../stat/window.js'
import {scrapeMetrics} from './scrape.js'

export interface MetricsStoreOptions {
  intervalMs?: number
  maxAgeMs?: number
  interestMs?: number
  maxPods?: number
  scrape?: (adminAddress: string) => Promise<Scrape>
  now?: () => number
}

interface Entry {
  pod: PodInfo
  history: Scrape[]
  lastWanted: number
}

export class MetricsStore {
  readonly intervalMs: number
  readonly maxAgeMs: number
  private readonly interestMs: number
  private readonly maxPods: number
  private readonly scrape: (adminAddress: string) => Promise<Scrape>
  private readonly now: () => number
  private readonly entries = new Map<string, Entry>()
  private timer: NodeJS.Timeout | undefined

  constructor(opts: MetricsStoreOptions = {}) {
    this.intervalMs = opts.intervalMs ?? 10_000
    this.maxAgeMs = opts.maxAgeMs ?? 60 * 60_000
    this.interestMs = opts.interestMs ?? 15 * 60_000
    this.maxPods = opts.maxPods ?? 5_000
    this.now = opts.now ?? Date.now
    this.scrape = opts.scrape ?? ((a) => scrapeMetrics(a, this.now))
  }

  start(): void {
    if (this.timer) return
    this.timer = setInterval(() => void this.tick(), this.intervalMs)
    this.timer.unref()
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer)
    this.timer = undefined
  }

  /** Scrapes the pod now; returns the new scrape and the history before it (oldest first). */
  async current(pod: PodInfo): Promise<{current: Scrape; history: Scrape[]}> {
    if (!pod.adminAddress) throw new Error('no admin address (the pod has no proxy)')
    const key = entryKey(pod)
    let e = this.entries.get(key)
    if (!e) {
      if (this.entries.size >= this.maxPods) this.evictOldest()
      e = {pod, history: [], lastWanted: 0}
      this.entries.set(key, e)
    }
    e.pod = pod
    e.lastWanted = this.now()
    const current = await this.scrape(pod.adminAddress)
    const history = [...e.history]
    this.keep(e, current)
    return {current, history}
  }

  private keep(e: Entry, s: Scrape): void {
    const last = e.history[e.history.length - 1]
    if (!last || s.at - last.at >= this.intervalMs / 2) e.history.push(s)
    const oldest = s.at - this.maxAgeMs
    while (e.history.length > 0 && e.history[0].at < oldest) e.history.shift()
  }

  private evictOldest(): void {
    let oldestKey: string | undefined
    let oldest = Infinity
    for (const [k, e] of this.entries) if (e.lastWanted < oldest) [oldest, oldestKey] = [e.lastWanted, k]
    if (oldestKey) this.entries.delete(oldestKey)
  }

  private async tick(): Promise<void> {
    const now = this.now()
    await Promise.all(
      [...this.entries].map(async ([key, e]) => {
        if (now - e.lastWanted > this.interestMs) {
          this.entries.delete(key)
          return
        }
        try {
          this.keep(e, await this.scrape(e.pod.adminAddress!))
        } catch {
          // the next query reports the error
        }
      }),
    )
  }
}

function entryKey(p: PodInfo): string {
  return `${p.namespace}/${p.name}@${p.adminAddress}`
}
