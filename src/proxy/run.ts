// The whole sidecar as `mesh proxy` runs it: identity (when configured), discovery (the
// destination service, else static routes), metrics, tap, the data path, and the admin server,
// wired together; the trust bundle the destination service streams goes to the identity;
// stop() drains and closes them in order.
import type {ProxyConfig} from './config/config.js'
import type {Discovery} from './core/contracts.js'
import {parseLogLevel} from './config/log-level.js'
import {Logger} from './core/log.js'
import {countRefusal} from './core/refusals.js'
import type {ProxyIdentity} from './identity/proxy-identity.js'
import {ProxyEnv} from '../protocol/proxy-env.js'
import {startProxy, type RunningProxy} from './server.js'

export const UNCAUGHT_FAMILY = 'mesh_proxy_uncaught_exceptions_total'

export interface Sidecar {
  proxy: RunningProxy
  ports: {inbound: number, outbound: number, admin: number, tap: number}
  /** Resolves when something asks the proxy to stop (POST /shutdown). */
  shutdownRequested: Promise<void>
  /** Counts an exception no entry point contained (uncaught.ts): mesh_proxy_uncaught_exceptions_total. */
  countUncaught(): void
  stop(graceMs?: number): Promise<void>
}

export async function runSidecar(config: ProxyConfig, env: NodeJS.ProcessEnv = process.env, log = new Logger(config.logLevel, config.logFormat)): Promise<Sidecar> {
  const [{createProxyMetrics, localLabelsFromEnv}, {startAdmin, ErrorRing}, {TapHub, startTapServer}] = await Promise.all([
    import('../metrics/proxy-metrics.js'), import('./admin/index.js'), import('./tap/index.js'),
  ])
  const localLabels = localLabelsFromEnv(env)
  const identity = await startIdentityFromEnv(env, log)
  const discovery = await startDiscoveryFromEnv(env, identity, log)
  const metrics = createProxyMetrics({localLabels})
  const uncaught = metrics.registry.counter({
    name: UNCAUGHT_FAMILY,
    help: 'Exceptions and promise rejections no entry point of the data path contained; logged with their stack, the proxy kept serving (docs/architecture/proxy.md, Containment).',
  }).labels()
  const hub = new TapHub({localLabels, registry: metrics.registry})
  const errors = new ErrorRing()
  const closers: (() => unknown)[] = []
  try {
    const proxy = await startProxy(config, {identity, discovery, observers: [metrics.observer, hub, errors], log})
    closers.push(() => proxy.close(0))
    // The anchors follow the destination service's trust bundle; a bundle the identity refuses is
    // logged and counted, and the anchors in use stay.
    const trust = identity && discovery?.watchTrust?.((bundle) => {
      try {
        identity.applyTrustBundle(bundle)
      } catch (err) {
        countRefusal(proxy.stats.refused, metrics.observer, 'outbound', 'trust_bundle_invalid')
        log.warn('trust bundle refused; the anchors in use stay', {error: (err as Error).message.slice(0, 300)})
      }
    })
    if (trust) closers.push(() => trust.close())
    let requestShutdown = (): void => {}
    const shutdownRequested = new Promise<void>((resolve) => (requestShutdown = resolve))
    const admin = await startAdmin({
      listen: config.admin,
      registry: metrics.registry,
      ready: () => proxy.isReady(),
      onShutdown: () => requestShutdown(),
      getLogLevel: () => log.currentLevel,
      setLogLevel: (level) => log.setLevel(parseLogLevel(level)),
      // Logged at the level put back when that is quieter than info, so the line is seen.
      onLogLevelReverted: (level, was) => log.log(level === 'error' ? 'error' : level === 'warn' ? 'warn' : 'info', 'timed log level over: put back', {level, was}),
      identityReport: identity ? () => identity.report() : undefined,
      errors,
    })
    closers.push(() => admin.close())
    const tap = await startTapServer({listen: config.tap, hub, identity, tapServiceName: env[ProxyEnv.TAP_SVC_NAME]})
    closers.push(() => tap.close())
    log.info('admin listening', {addr: `${admin.address.host}:${admin.address.port}`})
    log.info('tap listening', {addr: `${tap.address.host}:${tap.address.port}`})
    return {
      proxy,
      ports: {...proxy.ports, admin: admin.address.port, tap: tap.address.port},
      shutdownRequested,
      countUncaught: () => uncaught.inc(),
      async stop(graceMs = config.shutdownGraceMs) {
        trust?.close()
        await proxy.close(graceMs)
        await Promise.all([admin.close(), tap.close()])
        discovery?.close()
        identity?.close()
      },
    }
  } catch (err) {
    for (const c of closers.reverse()) await c()
    discovery?.close()
    identity?.close()
    throw err
  }
}

/** The identity client when MESH_PROXY_IDENTITY_* is configured (and not disabled). */
async function startIdentityFromEnv(env: NodeJS.ProcessEnv, log: Logger): Promise<ProxyIdentity | undefined> {
  if (env[ProxyEnv.IDENTITY_DISABLED] === '1' || !env[ProxyEnv.IDENTITY_ADDR]) return undefined
  const {identityConfigFromEnv, startIdentity} = await import('./identity/index.js')
  const cfg = identityConfigFromEnv(env)
  if (!cfg) return undefined
  return startIdentity({...cfg, log: {debug: (m, f) => log.debug(m, f as never), info: (m, f) => log.info(m, f as never), warn: (m, f) => log.warn(m, f as never)}})
}

/** The destination service's client when MESH_PROXY_DESTINATION_ADDR is set. */
async function startDiscoveryFromEnv(env: NodeJS.ProcessEnv, identity: ProxyIdentity | undefined, log: Logger): Promise<Discovery | undefined> {
  const addr = env[ProxyEnv.DESTINATION_ADDR]
  if (!addr) return undefined
  const {DestinationClient} = await import('./discovery/destination-client.js')
  return new DestinationClient({
    addr, identity, namespace: env[ProxyEnv.POD_NAMESPACE], serverName: env[ProxyEnv.DESTINATION_IDENTITY],
    trustAnchorsPem: env[ProxyEnv.IDENTITY_TRUST_ANCHORS_PEM],
    log: {debug: (m, f) => log.debug(m, f as never), warn: (m, f) => log.warn(m, f as never)},
  })
}
