// One tap subscriber: its filter, its rate limit, the requests it was admitted to (so a
// request's later events follow its requestInit), and the requestInits held back until the
// status is known when it filters on status. All of it bounded.
import type {TapFilter} from '../../protocol/tap.js'
import {TokenBucket} from './token-bucket.js'

/** What the hub needs from a WebSocket (ws's WebSocket fits). */
export interface TapSocket {
  readonly bufferedAmount: number
  readonly readyState: number
  send(data: string): void
}

export interface SubscriberLimits {
  /** Drop events while more than this many bytes wait in the socket (default 1 MiB). */
  maxBufferedBytes: number
  /** Requests tracked at once (admitted or held); the oldest is forgotten past it (default 10,000). */
  maxTracked: number
}

export const DEFAULT_LIMITS: SubscriberLimits = {maxBufferedBytes: 1024 * 1024, maxTracked: 10_000}
const OPEN = 1

export interface SubscriberStats {
  sent: number
  /** Requests not streamed because the subscriber's maxRps was reached. */
  droppedRateLimit: number
  /** Events not sent because the socket's buffer was full (a slow reader). */
  droppedBuffer: number
  /** Held requestInits forgotten because too many requests were in flight. */
  droppedOverflow: number
}

export class Subscriber {
  readonly bucket: TokenBucket
  readonly stats: SubscriberStats = {sent: 0, droppedRateLimit: 0, droppedBuffer: 0, droppedOverflow: 0}
  private readonly admitted = new Set<string>()
  private readonly held = new Map<string, string>()

  constructor(
    readonly socket: TapSocket,
    readonly filter: TapFilter & {maxRps: number},
    readonly limits: SubscriberLimits = DEFAULT_LIMITS,
    now?: () => number,
  ) {
    this.bucket = new TokenBucket(filter.maxRps, now)
  }

  /** Sends one event; false (and counted) when the socket is closed or its buffer is full. */
  send(json: string): boolean {
    if (this.socket.readyState !== OPEN) return false
    if (this.socket.bufferedAmount > this.limits.maxBufferedBytes) {
      this.stats.droppedBuffer++
      return false
    }
    this.socket.send(json)
    this.stats.sent++
    return true
  }

  /** Takes a token for a new request; counts the refusal. */
  admitRate(): boolean {
    if (this.bucket.take()) return true
    this.stats.droppedRateLimit++
    return false
  }

  admit(id: string): void {
    if (this.admitted.size >= this.limits.maxTracked) this.admitted.delete(this.admitted.values().next().value!)
    this.admitted.add(id)
  }

  isAdmitted(id: string): boolean {
    return this.admitted.has(id)
  }

  release(id: string): boolean {
    return this.admitted.delete(id)
  }

  hold(id: string, requestInitJson: string): void {
    if (this.held.size >= this.limits.maxTracked) {
      this.held.delete(this.held.keys().next().value!)
      this.stats.droppedOverflow++
    }
    this.held.set(id, requestInitJson)
  }

  /** Takes back a held requestInit (undefined when none). */
  unhold(id: string): string | undefined {
    const json = this.held.get(id)
    if (json !== undefined) this.held.delete(id)
    return json
  }

  get tracked(): number {
    return this.admitted.size + this.held.size
  }
}
