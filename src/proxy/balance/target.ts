// A Target: where the requests of one authority (outbound) or one application port (inbound)
// go. BalancedTarget keeps the target's endpoint set up to date (discovery's updates keep the
// pools and stats of endpoints that stay) and picks one endpoint per request by P2C
// (balancer.ts), skipping ejected ones.
import type {EndpointSet} from '../core/contracts.js'
import {EndpointClient, type EndpointClientOptions} from '../endpoint/endpoint.js'
import {ProxyError} from '../core/errors.js'
import {pickP2C} from './balancer.js'

export interface Target {
  readonly authority: string
  /** Discovery marks its endpoints opaque (carried as TCP without detection). */
  readonly opaque?: boolean
  /** An endpoint to send to; throws a ProxyError (503) when there is none. */
  pick(): EndpointClient
  close(): void
}

export class BalancedTarget implements Target {
  private endpoints: EndpointClient[] = []
  private unsubscribe?: () => void
  /** Used since the cache last looked (the cache's second chance: least recently used goes first). */
  used = false

  constructor(readonly authority: string, private readonly options: EndpointClientOptions, private readonly onClose?: () => void) {}

  /** Applies a new endpoint set, keeping the pools and stats of endpoints that stay. */
  update(set: EndpointSet): void {
    const old = new Map(this.endpoints.map((e) => [e.key, e]))
    const next: EndpointClient[] = []
    for (const ep of set.endpoints) {
      const key = `${ep.host}:${ep.port}`
      const existing = old.get(key)
      if (existing && existing.endpoint.identity === ep.identity) {
        old.delete(key)
        next.push(existing)
      } else {
        next.push(new EndpointClient(ep, this.options, this.authority))
      }
    }
    for (const gone of old.values()) gone.retire()
    this.endpoints = next
  }

  watch(unsubscribe: () => void): void {
    this.unsubscribe = unsubscribe
  }

  pick(): EndpointClient {
    if (this.endpoints.length === 0) throw new ProxyError('NO_ENDPOINTS', `service ${this.authority} has no endpoints`)
    const ep = pickP2C(this.endpoints)
    if (!ep) throw new ProxyError('ALL_EJECTED', `every endpoint of ${this.authority} is failing and ejected`)
    return ep
  }

  get size(): number {
    return this.endpoints.length
  }

  get opaque(): boolean {
    return this.endpoints.some((e) => e.endpoint.opaque === true)
  }

  close(): void {
    this.unsubscribe?.()
    this.onClose?.()
    for (const e of this.endpoints) e.close()
    this.endpoints = []
  }

  /** Leaves the cache: no longer updated; each endpoint closes once nothing is in flight on it. */
  retire(): void {
    this.unsubscribe?.()
    this.onClose?.()
    for (const e of this.endpoints) e.retire()
    this.endpoints = []
  }
}
