// Outbound routing by authority: each authority resolves once through discovery into a Target
// (its endpoints, kept up to date, balanced by P2C), cached for the next request (at most
// MAX_TARGETS: the least recently used one leaves first, and its connections close once nothing
// is in flight on them). Authorities discovery does not handle go straight to the named
// host:port, plaintext, unless that is this proxy itself (loop-guard.ts: 508).
import {checkAuthority} from '../config/authority.js'
import type {Identity, Discovery} from '../core/contracts.js'
import {NoSuchServiceError} from '../core/contracts.js'
import type {EndpointClientOptions} from '../endpoint/endpoint.js'
import {ProxyError} from '../core/errors.js'
import type {Logger} from '../core/log.js'
import type {LoopGuard} from './loop-guard.js'
import {BalancedTarget, type Target} from '../balance/target.js'

export const MAX_TARGETS = 10_000

export interface RouterOptions extends EndpointClientOptions {
  discovery: Discovery
  identity?: Identity
  /** This proxy's own listeners: an authority that reaches one directly would loop. */
  loop: LoopGuard
  log: Logger
  /** At most this many authorities cached (default MAX_TARGETS). */
  maxTargets?: number
}

export class Router {
  private readonly targets = new Map<string, BalancedTarget>()
  private readonly pending = new Map<string, Promise<Target>>()

  constructor(private readonly options: RouterOptions) {}

  /** The cached target (fast path) or a promise of it. */
  resolve(authority: string): Target | Promise<Target> {
    const t = this.targets.get(authority)
    if (t) {
      t.used = true
      return t
    }
    let p = this.pending.get(authority)
    if (!p) {
      p = this.build(authority).finally(() => this.pending.delete(authority))
      this.pending.set(authority, p)
    }
    return p
  }

  /** The cached target of `authority`, if any (no discovery asked). */
  cached(authority: string): BalancedTarget | undefined {
    return this.targets.get(authority)
  }

  /** Authorities cached (tests). */
  get size(): number {
    return this.targets.size
  }

  private async build(authority: string): Promise<Target> {
    // (the sides refused authorities that do not parse, counted; this is the parsed form)
    const parsed = checkAuthority(authority)
    if (typeof parsed === 'string') throw new ProxyError('BAD_REQUEST', `bad authority "${authority.slice(0, 100)}": ${parsed}`)
    // This host on one of this proxy's ports, in any form: whatever discovery would say, a loop.
    const {loop} = this.options
    if (loop.isSelf(parsed.host, parsed.port)) throw loop.refuse(parsed.host, parsed.port)
    let resolution
    try {
      resolution = await this.options.discovery.resolve(authority)
    } catch (err) {
      if (err instanceof NoSuchServiceError) throw new ProxyError('NO_SUCH_SERVICE', `no such service: ${authority}`)
      throw new ProxyError('DISCOVERY_FAILED', `resolving ${authority}: ${(err as Error).message}`, {cause: err})
    }
    let target: BalancedTarget
    if (resolution) {
      target = new BalancedTarget(authority, this.options, () => resolution?.close())
      target.update(resolution.current())
      target.watch(resolution.onChange((set) => target.update(set)))
    } else {
      // Direct: a name that resolves to this proxy is a loop too; checked again on every connect (DNS may change).
      if (parsed.kind === 'name' && await loop.resolvesToSelf(parsed.host, parsed.port, this.options.connectTimeoutMs)) throw loop.refuse(parsed.host, parsed.port)
      target = new BalancedTarget(authority, {...this.options, lookup: loop.lookupFor(parsed.port)})
      target.update({endpoints: [{host: parsed.host, port: parsed.port, labels: {}}]})
    }
    if (this.targets.size >= (this.options.maxTargets ?? MAX_TARGETS)) this.evict()
    this.targets.set(authority, target)
    this.options.log.debug('resolved', {authority, endpoints: (target as BalancedTarget).size, discovered: resolution !== null})
    return target
  }

  /**
   * Drops the least recently used target (second chance: one used since the last look goes to
   * the back, unmarked). Its connections close once nothing is in flight on them.
   */
  private evict(): void {
    for (const [key, t] of this.targets) {
      this.targets.delete(key)
      if (t.used) {
        t.used = false
        this.targets.set(key, t)
        continue
      }
      t.retire()
      this.options.log.debug('route cache full: least recently used authority dropped', {authority: key})
      return
    }
  }

  close(): void {
    for (const t of this.targets.values()) t.close()
    this.targets.clear()
  }
}
