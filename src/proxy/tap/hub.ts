// The tap Observer. With no subscriber every call is one boolean check. Otherwise each event is
// built and serialized once, then sent to every subscriber whose filter matches.
//
// Rate limits count requests, not events: a token is taken when a request is admitted, and its
// responseInit and responseEnd follow it, so a subscriber never sees half a request.
// A status filter is only decidable when the response starts: for such subscribers the
// requestInit is held (per request, bounded) and sent just before the responseInit, or dropped
// when the status differs.
import type {Registry} from '../../metrics/registry.js'
import type {TapFilter} from '../../protocol/tap.js'
import type {ConnEndMeta, ConnMeta, Observer, RequestMeta, ResponseEndMeta} from '../core/observe.js'
import {TapEventBuilder} from './events.js'
import {matchesRequest} from './filter.js'
import {DEFAULT_LIMITS, Subscriber, type SubscriberLimits, type TapSocket} from './subscriber.js'

export interface TapHubOptions {
  localLabels?: Record<string, string>
  limits?: Partial<SubscriberLimits>
  /** When given, mesh_proxy_tap_subscribers and mesh_proxy_tap_dropped_total are kept there. */
  registry?: Registry
  now?: () => number
}

export class TapHub implements Observer {
  private readonly subscribers = new Set<Subscriber>()
  private active = false
  private readonly builder: TapEventBuilder
  private readonly limits: SubscriberLimits
  private readonly gauge
  private readonly dropped

  constructor(private readonly options: TapHubOptions = {}) {
    this.builder = new TapEventBuilder(options.localLabels)
    this.limits = {...DEFAULT_LIMITS, ...options.limits}
    this.gauge = options.registry?.gauge({name: 'mesh_proxy_tap_subscribers', help: 'Tap subscribers connected.'}).labels()
    const d = options.registry?.counter({
      name: 'mesh_proxy_tap_dropped_total',
      help: 'Tap events (reason buffer) or requests (reason rate_limit, overflow) not streamed to a subscriber.',
      labelNames: ['reason'],
    })
    this.dropped = d && {rate: d.labels('rate_limit'), buffer: d.labels('buffer'), overflow: d.labels('overflow')}
  }

  get subscriberCount(): number {
    return this.subscribers.size
  }

  subscribe(socket: TapSocket, filter: TapFilter & {maxRps: number}): Subscriber {
    const s = new Subscriber(socket, filter, this.limits, this.options.now)
    this.subscribers.add(s)
    this.active = true
    this.gauge?.set(this.subscribers.size)
    return s
  }

  unsubscribe(s: Subscriber): void {
    if (!this.subscribers.delete(s)) return
    this.active = this.subscribers.size > 0
    this.gauge?.set(this.subscribers.size)
    if (this.dropped) {
      this.dropped.rate.inc(s.stats.droppedRateLimit)
      this.dropped.buffer.inc(s.stats.droppedBuffer)
      this.dropped.overflow.inc(s.stats.droppedOverflow)
    }
  }

  requestInit(req: RequestMeta): void {
    if (!this.active) return
    let json: string | undefined
    for (const s of this.subscribers) {
      if (!matchesRequest(s.filter, req)) continue
      if (s.filter.status !== undefined) s.hold(req.id, (json ??= JSON.stringify(this.builder.requestInit(req))))
      else if (s.admitRate() && s.send((json ??= JSON.stringify(this.builder.requestInit(req))))) s.admit(req.id)
    }
  }

  responseInit(req: RequestMeta, status: number): void {
    if (!this.active) return
    let json: string | undefined
    for (const s of this.subscribers) {
      if (s.filter.status !== undefined) {
        const held = s.unhold(req.id)
        if (held === undefined || status !== s.filter.status || !s.admitRate() || !s.send(held)) continue
        s.admit(req.id)
      } else if (!s.isAdmitted(req.id)) continue
      json ??= JSON.stringify(this.builder.responseInit(req, status))
      s.send(json)
    }
  }

  responseEnd(req: RequestMeta, end: ResponseEndMeta): void {
    if (!this.active) return
    let json: string | undefined
    for (const s of this.subscribers) {
      if (s.filter.status !== undefined) {
        // Ended before any response headers (a reset): decide on the end's status, if any.
        const held = s.unhold(req.id)
        if (held !== undefined && end.status === s.filter.status && s.admitRate() && s.send(held)) s.admit(req.id)
      }
      if (!s.release(req.id)) continue
      json ??= JSON.stringify(this.builder.responseEnd(req, end))
      s.send(json)
    }
  }

  tcpOpen(_conn: ConnMeta): void {}

  tcpClose(_conn: ConnMeta, _end: ConnEndMeta): void {}
}
