// The injector component of `mesh controller`: its serving certificate (signed by the issuer),
// the namespace and config readers, and the HTTPS server. See docs/architecture/install.md.
import type * as k8s from '@kubernetes/client-node'
import {meshVersion} from '../../lib/version.js'
import {CONTROL_PLANE_NAMESPACE, ControlPlane, ControlPlanePorts} from '../../protocol/control-plane.js'
import type {IssuerSource} from '../identity/issuer.js'
import type {Logger} from '../logger.js'
import {Registry} from '../../metrics/index.js'
import {injectorMetrics, type InjectorMetrics} from './metrics.js'
import type {ReviewDeps} from './review.js'
import {InjectorCert, serviceNames} from './serving-cert.js'
import {startInjectorServer} from './server.js'
import {configReader, namespaceReader} from './sources.js'

export {INJECT_PATH, MAX_BODY_BYTES} from './server.js'
export {review, parseReview, type ReviewDeps} from './review.js'
export {injectorMetrics, type InjectorMetrics} from './metrics.js'

export interface InjectorOptions {
  issuer: IssuerSource
  /** The API server connection (namespaces, mesh-config). */
  kc: k8s.KubeConfig
  lib: typeof k8s
  log: Logger
  host?: string
  /** Default 8443; 0 for an ephemeral port. */
  port?: number
  controlPlaneNamespace?: string
  /** Extra names (IPs, DNS) for the serving certificate, e.g. 127.0.0.1 when the webhook URL points there. */
  extraNames?: string[]
  registry?: Registry
  /** Overrides for tests; by default read through the API server. */
  deps?: Partial<Pick<ReviewDeps, 'namespaceAnnotations' | 'config'>>
}

export interface Injector {
  port: number
  metrics: InjectorMetrics
  stop(): Promise<void>
}

/** Starts the injector; the issuer source must already be started. */
export async function startInjector(opts: InjectorOptions): Promise<Injector> {
  const ns = opts.controlPlaneNamespace ?? CONTROL_PLANE_NAMESPACE
  const log = opts.log.child('injector')
  const cert = new InjectorCert({issuer: opts.issuer, names: [...serviceNames(ControlPlane.injectorService, ns), ...(opts.extraNames ?? [])], log})
  await cert.start()
  const core = opts.kc.makeApiClient(opts.lib.CoreV1Api)
  const metrics = injectorMetrics(opts.registry)
  const deps: ReviewDeps = {
    namespaceAnnotations: opts.deps?.namespaceAnnotations ?? namespaceReader(core),
    config: opts.deps?.config ?? configReader(core, ns),
    createdBy: `mesh/injector ${meshVersion()}`,
    log,
    metrics,
  }
  let server
  try {
    server = await startInjectorServer({tls: cert.tlsOptions(), host: opts.host, port: opts.port ?? ControlPlanePorts.injector, deps})
  } catch (error) {
    cert.stop()
    throw error
  }
  const running = server
  cert.onRenew((tls) => running.updateTls(tls))
  log.info('injector listening', {port: running.port})
  return {
    port: running.port,
    metrics,
    stop: async () => {
      cert.stop()
      await running.close()
    },
  }
}
