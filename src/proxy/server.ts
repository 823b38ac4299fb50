// startProxy: the data plane in one call, for `mesh proxy`, `mesh demo` and tests. It starts the
// inbound and outbound listeners (admin and tap are separate pieces the caller adds) and
// returns their ports, a readiness promise, counters, and a graceful close.
import type {ProxyConfig} from './config/config.js'
import type {Discovery, Identity} from './core/contracts.js'
import type {Side$} from './accept/accept.js'
import {startInbound} from './inbound/inbound.js'
import {Logger} from './core/log.js'
import {combineObservers, type Observer} from './core/observe.js'
import {loadOriginalDst, type OriginalDstFn, type OriginalDstLoad} from './accept/orig-dst.js'
import {startOutbound} from './outbound/outbound.js'
import {newStats, type ProxyStats} from './core/stats.js'
import {drain} from './shutdown.js'

export interface StartOptions {
  identity?: Identity
  discovery?: Discovery
  observers?: Observer[]
  log?: Logger
  /** SO_ORIGINAL_DST reader; default: the native addon when built. `null` turns it off. */
  originalDst?: OriginalDstFn | null
}

export interface RunningProxy {
  ports: {inbound: number, outbound: number}
  /** Resolves when the proxy can serve (listening, and the identity holds a certificate). */
  ready: Promise<void>
  isReady(): boolean
  stats: ProxyStats
  log: Logger
  /** Stops accepting, drains in-flight work for up to `graceMs` (default: the config's). */
  close(graceMs?: number): Promise<{forced: number}>
}

export async function startProxy(config: ProxyConfig, options: StartOptions = {}): Promise<RunningProxy> {
  const log = options.log ?? new Logger(config.logLevel, config.logFormat)
  const observers = options.observers ?? []
  const observer = observers.length === 0 ? undefined : combineObservers(observers)
  const orig: OriginalDstLoad = options.originalDst === null ? {unavailable: 'turned off by the caller (startProxy\'s originalDst: null)'} : options.originalDst ? {read: options.originalDst} : await loadOriginalDst()
  const originalDst = orig.read
  const stats = newStats()
  // Each side adds its listener's port: a destination there is this proxy (a loop).
  const selfPorts: number[] = []
  const common = {config, log, observer, identity: options.identity, originalDst, originalDstUnavailable: orig.unavailable, stats, selfPorts}
  const inbound = await startInbound({...common, discovery: options.discovery})
  let outbound: Side$
  try {
    outbound = await startOutbound({...common, discovery: options.discovery})
  } catch (err) {
    inbound.listener.server.close()
    throw err
  }
  let isReady = false
  const ready = (options.identity ? options.identity.ready() : Promise.resolve()).then(() => { isReady = true })
  ready.catch(() => {})
  let closing: Promise<{forced: number}> | undefined
  return {
    ports: {inbound: inbound.listener.port(), outbound: outbound.listener.port()},
    ready,
    isReady: () => isReady,
    stats,
    log,
    close(graceMs = config.shutdownGraceMs) {
      closing ??= drain([inbound, outbound], graceMs).then((r) => {
        log.info('proxy stopped', {forced: r.forced})
        return r
      })
      return closing
    },
  }
}
