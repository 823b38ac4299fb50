// Outbound routing by authority: each authority resolves once through discovery into a Target
// (its endpoints, kept up to date, balanced by P2C), cached for the next request. Authorities
// discovery does not handle go straight to the named host:port, plaintext.
import type {Identity, Discovery, EndpointSet} from '../contracts.js'
import {NoSuchServiceError} from '../contracts.js'
import {EndpointClient, type EndpointClientOptions} from '../endpoint.js'
import {ProxyError} from '../errors.js'
import type {Logger} from '../log.js'
import {pickP2C} from './balancer.js'

export interface Target {
  readonly authority: string
  /** An endpoint to send to; throws a ProxyError (503) when there is none. */
  pick(): EndpointClient
  close(): void
}

const MAX_TARGETS = 10_000

export class BalancedTarget implements Target {
  private endpoints: EndpointClient[] = []
  private unsubscribe?: () => void

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
        next.push(new EndpointClient(ep, this.options))
      }
    }
    for (const gone of old.values()) gone.close()
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

  close(): void {
    this.unsubscribe?.()
    this.onClose?.()
    for (const e of this.endpoints) e.close()
    this.endpoints = []
  }
}

export interface RouterOptions extends EndpointClientOptions {
  discovery: Discovery
  identity?: Identity
  /** Addresses of this proxy's own listeners: going there directly would loop. */
  selfAddrs: string[]
  log: Logger
}

export class Router {
  private readonly targets = new Map<string, Target>()
  private readonly pending = new Map<string, Promise<Target>>()

  constructor(private readonly options: RouterOptions) {}

  /** The cached target (fast path) or a promise of it. */
  resolve(authority: string): Target | Promise<Target> {
    const t = this.targets.get(authority)
    if (t) return t
    let p = this.pending.get(authority)
    if (!p) {
      p = this.build(authority).finally(() => this.pending.delete(authority))
      this.pending.set(authority, p)
    }
    return p
  }

  private async build(authority: string): Promise<Target> {
    let resolution
    try {
      resolution = await this.options.discovery.resolve(authority)
    } catch (err) {
      if (err instanceof NoSuchServiceError) throw new ProxyError('NO_SUCH_SERVICE', `no such service: ${authority}`)
      throw new ProxyError('DISCOVERY_FAILED', `resolving ${authority}: ${(err as Error).message}`, {cause: err})
    }
    const target = new BalancedTarget(authority, this.options, () => resolution?.close())
    if (resolution) {
      target.update(resolution.current())
      target.watch(resolution.onChange((set) => target.update(set)))
    } else {
      if (this.options.selfAddrs.includes(authority)) throw new ProxyError('LOOP', `${authority} is this proxy: the request would loop`)
      const colon = authority.lastIndexOf(':')
      const host = authority.slice(0, colon).replace(/^\[|\]$/g, '')
      target.update({endpoints: [{host, port: Number(authority.slice(colon + 1)), labels: {}}]})
    }
    if (this.targets.size >= MAX_TARGETS) {
      const oldest = this.targets.keys().next().value as string
      this.targets.get(oldest)?.close()
      this.targets.delete(oldest)
    }
    this.targets.set(authority, target)
    this.options.log.debug('resolved', {authority, endpoints: (target as BalancedTarget).size, discovered: resolution !== null})
    return target
  }

  close(): void {
    for (const t of this.targets.values()) t.close()
    this.targets.clear()
  }
}
