// "Not discovered" answers for IP authorities expire. A cluster IP or pod IP the destination
// service did not know when first asked (the proxy can be faster than the controller's
// informers) is reached directly, plaintext, as before; but it is asked about again, first after
// ~5 s, then at growing intervals (up to 60 s), for as long as the router holds its target.
// When discovery learns it, the same Resolution switches to the discovered endpoints (with
// their identities: mTLS) and follows them from then on, like any positive answer.
// Bounds: at most one lookup in flight per authority, at most `maxInFlight` for all of them,
// at most `maxKeys` authorities re-checked at once (beyond that, negative answers stay as they
// are, as they did before).
import type {Discovery, EndpointSet, Resolution} from '../core/contracts.js'

export interface RecheckOptions {
  /** First re-ask after about this long (default 5 s). */
  minMs?: number
  /** The interval doubles per negative answer up to this (default 60 s). */
  maxMs?: number
  /** Lookups in flight at once, all authorities together (default 4). */
  maxInFlight?: number
  /** Authorities re-checked at once (default 10,000, the router's cap on targets). */
  maxKeys?: number
}

const DEFAULTS: Required<RecheckOptions> = {minMs: 5000, maxMs: 60_000, maxInFlight: 4, maxKeys: 10_000}

/** Schedules and bounds the re-asking for every authority of one discovery. */
export class Rechecker {
  readonly o: Required<RecheckOptions>
  private readonly inFlight = new Set<string>()
  private readonly live = new Set<RecheckedResolution>()
  private closed = false

  constructor(private readonly discovery: Discovery, options: RecheckOptions = {}) {
    this.o = {...DEFAULTS, ...options}
  }

  /** A direct Resolution that keeps asking about `authority`; undefined when too many are held. */
  watch(authority: string, direct: {host: string; port: number}, onFound: () => void): Resolution | undefined {
    if (this.closed || this.live.size >= this.o.maxKeys) return undefined
    const r = new RecheckedResolution(authority, direct, this, onFound)
    this.live.add(r)
    return r
  }

  /** Jittered wait before the re-ask after `negatives` negative answers. */
  delay(negatives: number): number {
    const base = Math.min(this.o.maxMs, this.o.minMs * 2 ** Math.min(negatives, 20))
    return Math.round(base * (0.8 + Math.random() * 0.4))
  }

  /** Asks discovery about `authority`; undefined (try later) when it or too many are in flight. */
  lookup(authority: string): Promise<Resolution | null> | undefined {
    if (this.closed || this.inFlight.has(authority) || this.inFlight.size >= this.o.maxInFlight) return undefined
    this.inFlight.add(authority)
    return this.discovery.resolve(authority).finally(() => this.inFlight.delete(authority))
  }

  /** Lookups running now (tests, admin). */
  running(): number {
    return this.inFlight.size
  }

  /** Authorities being re-checked now. */
  watching(): number {
    return this.live.size
  }

  forget(r: RecheckedResolution): void {
    this.live.delete(r)
  }

  close(): void {
    this.closed = true
    for (const r of [...this.live]) r.close()
  }
}

/** Direct to `host:port` until discovery knows the authority; then its endpoints. */
export class RecheckedResolution implements Resolution {
  private readonly direct: EndpointSet
  private readonly listeners = new Set<(set: EndpointSet) => void>()
  private found: Resolution | undefined
  private unsubscribe: (() => void) | undefined
  private timer: NodeJS.Timeout | undefined
  private negatives = 0
  private closed = false

  constructor(private readonly authority: string, direct: {host: string; port: number}, private readonly rechecker: Rechecker, private readonly onFound: () => void) {
    this.direct = {endpoints: [{host: direct.host, port: direct.port, labels: {}}]}
    this.schedule()
  }

  current(): EndpointSet {
    return this.found ? this.found.current() : this.direct
  }

  onChange(listener: (set: EndpointSet) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  /** Whether discovery has learnt the authority. */
  discovered(): boolean {
    return this.found !== undefined
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    clearTimeout(this.timer)
    this.unsubscribe?.()
    this.found?.close()
    this.listeners.clear()
    this.rechecker.forget(this)
  }

  /** The next re-ask, after `ms` or the interval the negative answers so far call for. */
  private schedule(ms = this.rechecker.delay(this.negatives)): void {
    this.timer = setTimeout(() => void this.recheck(), ms)
    this.timer.unref()
  }

  private async recheck(): Promise<void> {
    this.timer = undefined
    if (this.closed) return
    const lookup = this.rechecker.lookup(this.authority)
    // Busy: try again after the shortest interval, without counting it as an answer.
    if (!lookup) return this.schedule(this.rechecker.delay(0))
    const r = await lookup.catch(() => null)
    if (this.closed) return void r?.close()
    if (!r) {
      this.negatives++
      return this.schedule()
    }
    this.found = r
    this.unsubscribe = r.onChange((set) => this.emit(set))
    // The target first, then "no longer external": no request sees the one without the other.
    this.emit(r.current())
    this.onFound()
  }

  private emit(set: EndpointSet): void {
    for (const l of this.listeners) l(set)
  }
}
