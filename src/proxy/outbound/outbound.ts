// The outbound side: accept -> detect -> HTTP/1 | HTTP/2 routed by authority (Host,
// :authority, absolute-form, CONNECT) | TCP routed by original destination -> a balanced
// endpoint of the resolved service. An HTTP authority discovery does not know, on a redirected
// connection, goes to the original destination instead (discovery/orig-dst-fallback.ts).
import type net from 'node:net'
import {forwardTcp, serveHttp, type Side$} from '../accept/accept.js'
import {limitCounter} from '../accept/conn-limit.js'
import {LazyH2Server} from '../accept/lazy-h2.js'
import {listen, type Listener} from '../accept/listener.js'
import type {OriginalDstFn} from '../accept/orig-dst.js'
import {detect} from '../detect/detect.js'
import {requireAuthority} from '../http/authority-gate.js'
import {enforceHeaderTimeout} from '../http/head-timeout.js'
import {createHttp1Server} from '../http/http1/server.js'
import {LoopGuard} from '../route/loop-guard.js'
import {RetryBudget} from '../route/retry-budget.js'
import {Router} from '../route/router.js'
import type {Prepared, Side} from '../route/side.js'
import type {Target} from '../balance/target.js'
import {endpointOptionsOf} from '../endpoint/options.js'
import {OrigDstFallback} from '../discovery/orig-dst-fallback.js'
import {ChainDiscovery, StaticDiscovery} from '../discovery/static.js'
import {newConnCtx} from '../core/conn.js'
import type {Discovery, Identity} from '../core/contracts.js'
import type {Logger} from '../core/log.js'
import type {Observer} from '../core/observe.js'
import {countRefusal, type RefusalReason} from '../core/refusals.js'
import {connectionFailed} from '../core/failures.js'
import type {ProxyStats} from '../core/stats.js'
import type {ProxyConfig} from '../config/config.js'

export interface OutboundDeps {
  config: ProxyConfig
  log: Logger
  observer?: Observer
  identity?: Identity
  discovery?: Discovery
  originalDst?: OriginalDstFn
  /** Why there is no originalDst, told at start. */
  originalDstUnavailable?: string
  stats: ProxyStats
  /** This proxy's listener ports (each side adds its own once listening): the loop guard's. */
  selfPorts?: number[]
}

const OUTBOUND_TLS = {tls: false, noTlsReason: 'loopback'} as const

export async function startOutbound(deps: OutboundDeps): Promise<Side$> {
  const {config, log} = deps
  const statics = new StaticDiscovery(config.staticRoutes)
  const discovery = new OrigDstFallback(deps.discovery ? new ChainDiscovery([statics, deps.discovery]) : statics)
  const refused = (reason: RefusalReason): void => countRefusal(deps.stats.refused, deps.observer, 'outbound', reason)
  const selfPorts = deps.selfPorts ?? []
  const router = new Router({
    ...endpointOptionsOf(config, deps, 'outbound'),
    discovery, identity: deps.identity, log, loop: new LoopGuard(selfPorts, () => refused('loop')),
    watchRoutes: deps.discovery?.watchRoutes?.bind(deps.discovery),
    routesWaitMs: config.routesWaitMs,
    onRoutesWait: (outcome) => deps.observer?.routePolicyWait?.(outcome),
  })
  const byAuthority = (a: string): ReturnType<Router['resolve']> => router.resolve(a)
  const side: Side = {
    direction: 'outbound', config, log, observer: deps.observer, stats: deps.stats, draining: false,
    budget: new RetryBudget(config.retry.budgetRatio, config.retry.budgetMinPerSecond),
    target: (authority, conn) => {
      requireAuthority(side, authority)
      return discovery.target(byAuthority, authority, conn)
    },
    routes: (authority) => router.routes(authority),
    // The first request to a Service takes its route policy, not the default route: it waits
    // (bounded) for the authority's resolution and first routes message (routes.md).
    prepare: deps.discovery?.watchRoutes === undefined ? undefined : (authority, conn) => {
      if (!router.mustWait(authority) || discovery.isExternal(authority)) return undefined
      if (router.cached(authority)) return router.routesPending(authority)?.then(() => undefined)
      const then = (target: Target): Promise<Prepared> | Prepared => {
        const w = router.routesPending(authority)
        return w ? w.then(() => ({target})) : {target}
      }
      let t: Target | Promise<Target>
      try {
        t = side.target(authority, conn)
      } catch (error) {
        return Promise.resolve({error})
      }
      return t instanceof Promise ? t.then(then, (error: unknown): Prepared => ({error})) : Promise.resolve(then(t))
    },
  }
  const servers = {h1: enforceHeaderTimeout(createHttp1Server(side), config.limits.headerReadTimeoutMs), h2: new LazyH2Server(side)}

  const onConnection = async (socket: net.Socket): Promise<void> => {
    const orig = deps.originalDst?.(socket)
    const conn = newConnCtx('outbound', socket, orig, OUTBOUND_TLS, {})
    // Opaque: a port of MESH_PROXY_OPAQUE_PORTS, or a destination discovery marked opaque (the
    // server's config.mesh.dev/opaque-ports), once its target is known.
    const opaque = orig !== undefined && (config.opaquePorts.has(orig.port) || router.cached(conn.authority)?.opaque === true)
    const d = await detect(socket, config.limits.detectTimeoutMs, opaque)
    if (d.closed) return void socket.destroy()
    if (d.timedOut && !(orig && await opaqueDestination(conn.authority))) {
      // Nothing recognisable in time: closed (a server-first protocol's port belongs in MESH_PROXY_OPAQUE_PORTS).
      refused('detect_timeout')
      deps.observer?.detectTimedOut?.('outbound', conn.origDst.port)
      log.debug('outbound connection closed: no protocol within the detect timeout', {source: `${conn.source.ip}:${conn.source.port}`, destination: conn.authority, bytes: d.head.length})
      connectionFailed(deps.observer, conn, 'detect_timeout', `no protocol within the detect timeout (${config.limits.detectTimeoutMs} ms, ${d.head.length} bytes read) to ${conn.authority}, which is not opaque`)
      return void socket.destroy()
    }
    listener.tracker.detected(socket)
    if (d.protocol === 'http1' || d.protocol === 'h2') return serveHttp(side, servers, socket, conn, d)
    if (!orig) {
      log.debug('opaque outbound connection without an original destination: closed', {source: `${conn.source.ip}:${conn.source.port}`})
      return void socket.destroy()
    }
    const t = router.resolve(conn.authority)
    const ep = (t instanceof Promise ? await t : t).pick()
    forwardTcp(side, socket, conn, d.head, ep)
  }

  /** Whether discovery marks the destination opaque (its first connection waited the detect timeout). */
  const opaqueDestination = async (authority: string): Promise<boolean> => {
    try {
      const t = router.resolve(authority)
      return (t instanceof Promise ? await t : t).opaque === true
    } catch {
      return false
    }
  }

  const waitForIdentity = identityGate(deps.identity, log)
  const listener: Listener = await listen(config.outbound, config.limits.maxConnections, (s) => {
    onConnection(s).catch((err: unknown) => {
      log.debug('outbound connection failed', {error: (err as Error).message})
      s.destroy()
    })
  }, limitCounter(deps.stats, log, 'outbound', refused), waitForIdentity.gate)
  const port = listener.port()
  selfPorts.push(port)
  if (!deps.originalDst) {
    // HTTP still goes by its authority; what only the original destination names cannot.
    log.warn('outbound cannot read original destinations: opaque (non-HTTP) connections redirected here are closed, and HTTP goes by its authority alone (no fallback to the address the application dialled)', {
      reason: deps.originalDstUnavailable ?? 'no SO_ORIGINAL_DST reader',
      fix: 'build the SO_ORIGINAL_DST addon on Linux (scripts/build-native.sh, part of npm run build); HTTP sent to this port on purpose (as to a proxy) needs none',
    })
  }
  log.info('outbound listening', {addr: `${config.outbound.host}:${port}`, routes: config.staticRoutes.size, originalDst: deps.originalDst ? undefined : 'unreadable'})
  return {side, listener, servers, close: () => { waitForIdentity.stop(); router.close(); discovery.close() }}
}

/**
 * With an identity, outbound connections wait until it holds a certificate (as Linkerd's proxy
 * serves only once certified): served earlier, they would reach meshed endpoints in plaintext,
 * and stay plaintext while pooled. A warning every 15 s while they wait.
 */
function identityGate(identity: Identity | undefined, log: Logger): {gate?: Promise<void>, stop(): void} {
  if (!identity || identity.clientContext()) return {stop: () => {}}
  const warn = setInterval(() => log.warn('this proxy\'s identity is not certified yet: outbound connections wait for it'), 15_000)
  warn.unref()
  const stop = (): void => clearInterval(warn)
  return {gate: identity.ready().then(stop), stop}
}
