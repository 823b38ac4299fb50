// Outbound routing by authority: each authority resolves once through discovery into a Target
// (its endpoints, kept up to date, balanced by P2C), cached for the next request (at most
// MAX_TARGETS: the least recently used one leaves first, and its connections close once nothing
// is in flight on them). Authorities discovery does not handle go straight to the named
// host:port, plaintext, unless that is this proxy itself (loop-guard.ts: 508).
import {checkAuthority} from '../config/authority.js'
import {DEFAULT_ROUTES_WAIT_MS} from '../config/config.js'
import type {Identity, Discovery, RoutesWatch} from '../core/contracts.js'
import {PolicyMatcher} from '../../routes/match.js'
import {NoSuchServiceError} from '../core/contracts.js'
import type {EndpointClientOptions} from '../endpoint/endpoint.js'
import {ProxyError} from '../core/errors.js'
import type {Logger} from '../core/log.js'
import type {LoopGuard} from './loop-guard.js'
import type {RoutesWaitOutcome} from '../core/observe.js'
import {BalancedTarget, type Target} from '../balance/target.js'

export const MAX_TARGETS = 10_000

export interface RouterOptions extends EndpointClientOptions {
  discovery: Discovery
  identity?: Identity
  /** This proxy's own listeners: an authority that reaches one directly would loop. */
  loop: LoopGuard
  log: Logger
  /** Opens the control plane's route policy stream of a discovered authority (Discovery.watchRoutes). */
  watchRoutes?: (authority: string) => RoutesWatch
  /** At most this many authorities cached (default MAX_TARGETS). */
  maxTargets?: number
  /** How long a first request waits for an authority's route policy (default DEFAULT_ROUTES_WAIT_MS, 1.5 s; 0: no wait). */
  routesWaitMs?: number
  /** Each wait for a route policy, as it ends (metrics: mesh_proxy_route_policy_waits_total). */
  onRoutesWait?: (outcome: RoutesWaitOutcome) => void
}

interface RouteWatchEntry {
  watch: RoutesWatch
  matcher?: PolicyMatcher
  failed?: object
  /** No request waits any more: the control plane answered, or one wait ran out. */
  ready?: boolean
  /** The wait in progress, shared by the requests that arrive during it. */
  wait?: Promise<void>
}

export class Router {
  private readonly targets = new Map<string, BalancedTarget>()
  private readonly pending = new Map<string, Promise<Target>>()
  /** The control plane's route policy of each discovered authority, compiled when it changes. */
  private readonly routeWatches = new Map<string, RouteWatchEntry>()

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

  /**
   * The compiled route policy of a discovered authority (its watchRoutes stream opened when
   * the authority was resolved), or undefined: no control-plane routes (none yet, none sent,
   * or an `error`). A new policy is compiled once, on the first request after it arrives.
   */
  routes(authority: string): PolicyMatcher | undefined {
    const w = this.routeWatches.get(authority)
    if (!w) return undefined
    const t = this.targets.get(authority)
    if (t) t.used = true
    const policy = w.watch.current()
    if (!policy) return undefined
    if (w.matcher?.policy === policy) return w.matcher
    if (w.failed === policy) return undefined
    try {
      w.matcher = new PolicyMatcher(policy)
    } catch (err) {
      // A policy that does not compile is none (the default route), said once per message.
      w.failed = policy
      this.options.log.warn('route policy not applied: it does not compile', {authority, error: (err as Error).message})
      return undefined
    }
    return w.matcher
  }

  /**
   * Whether a request to `authority` must wait before it takes its route policy: the authority
   * is not resolved yet, or it is a Service whose routes stream has not been answered and has
   * not run out its wait. False for everything once settled (the fast path: two map lookups).
   */
  mustWait(authority: string): boolean {
    if (!this.targets.has(authority)) return true
    const w = this.routeWatches.get(authority)
    return w !== undefined && !w.ready && !this.answered(w)
  }

  /**
   * Undefined when the route policy of a resolved `authority` is settled (answered, none to wait
   * for, or a wait already ran out); else the wait, bounded by routesWaitMs: it ends when the
   * control plane answers (`arrived`) or the deadline passes (`timeout`: the request goes on
   * with the default route, logged and counted; later requests do not wait again).
   */
  routesPending(authority: string): Promise<void> | undefined {
    const w = this.routeWatches.get(authority)
    if (w === undefined || w.ready || this.answered(w)) return undefined
    const ms = this.options.routesWaitMs ?? DEFAULT_ROUTES_WAIT_MS
    if (ms <= 0) {
      w.ready = true
      return undefined
    }
    w.wait ??= new Promise<void>((resolve) => {
      const done = (outcome: RoutesWaitOutcome): void => {
        if (w.ready) return
        w.ready = true
        w.wait = undefined
        clearTimeout(timer)
        this.options.onRoutesWait?.(outcome)
        if (outcome === 'timeout') this.options.log.info('no route policy within the wait: the request takes the default route', {authority, waitMs: ms})
        resolve()
      }
      const timer = setTimeout(() => done('timeout'), ms)
      w.watch.onSettled!(() => done('arrived'))
    })
    return w.wait
  }

  private answered(w: RouteWatchEntry): boolean {
    if (w.watch.settled === undefined || w.watch.onSettled === undefined || w.watch.settled()) {
      w.ready = true
      return true
    }
    return false
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
      const watch = this.options.watchRoutes?.(authority)
      if (watch) this.routeWatches.set(authority, {watch})
      target = new BalancedTarget(authority, this.options, () => {
        resolution?.close()
        if (watch) {
          watch.close()
          if (this.routeWatches.get(authority)?.watch === watch) this.routeWatches.delete(authority)
        }
      })
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
