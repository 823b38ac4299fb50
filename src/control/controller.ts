// `mesh controller`: the control plane as a list of components, started in order and stopped
// in reverse. Identity and destination live here; the injector and tap join by adding their
// Component to the list (see buildComponents).
import path from 'node:path'
import {IDENTITY_PORT, type IssuerScheme} from '../protocol/identity.js'
import {DESTINATION_PORT} from '../protocol/destination.js'
import type {Logger} from './logger.js'
import {startIdentityService, ensureLocalIdentityDir, FileIssuerSource, LocalTokenValidator, type IdentityService} from './identity/index.js'
import {startDestinationService, LocalRegistry, type DestinationService} from './destination/index.js'
import type {IssuerSource} from './identity/issuer.js'
import type {TokenValidator} from './identity/tokens.js'
import type {EventRecorder} from './identity/events.js'
import type {Registry as EndpointRegistry} from './destination/registry.js'
import {Registry, registerBuildInfo, registerProcessMetrics} from '../metrics/index.js'
import {meshVersion} from '../lib/version.js'
import {startControllerAdmin, type ControllerAdmin} from './admin.js'
import {injectorComponent} from './injector/component.js'
import {tapComponent, type TapComponent} from './tap/component.js'
import {RouteState} from './routes/state.js'
import {syncLocalRoutes} from './routes/local-routes.js'
import {registryServiceView} from './routes/view.js'
import {AuthzState} from './authz/state.js'
import {AuthzCompiler} from './authz/stream.js'
import {syncLocalPolicies} from './authz/local-authz.js'
import {LocalWorkloads, type WorkloadSource} from './authz/workloads.js'
import {DEFAULT_CLUSTER_NETWORKS, type DefaultInboundPolicy} from '../protocol/authz.js'

export interface Component {
  name: string
  start(): Promise<void>
  stop(): Promise<void>
}

export interface ControllerOptions {
  mode: 'kubernetes' | 'local'
  /** Listen address for every server (default 0.0.0.0; 127.0.0.1 in local mode). */
  host?: string
  identityPort?: number
  destinationPort?: number
  /** kubernetes mode: port of the proxy injector (admission webhook), default 8443. */
  injectorPort?: number
  /** Port of the tap server, default 8089 (0: any free port). */
  tapPort?: number
  /** Port of the admin server (/live, /ready, /metrics; 0: any free port); none when undefined. */
  adminPort?: number
  /** local mode: the bearer token `mesh tap/top/stat` must present (generated when absent; see ctx.tap.token). */
  tapToken?: string
  controlPlaneNamespace?: string
  trustDomain?: string
  clusterDomain?: string
  leafLifetimeMs?: number
  /** kubernetes mode: the issuer Secret's layout (default mesh.dev/tls; kubernetes.io/tls for cert-manager). */
  issuerScheme?: IssuerScheme
  /** local mode: anchor, issuer and token secret (created when missing). */
  identityDir?: string
  /** local mode: the registry file. */
  registryFile?: string
  /** kubernetes mode. */
  kube?: {kubeconfig?: string; context?: string}
  /** kubernetes mode: ports opaque on pods without a config.mesh.dev/opaque-ports annotation (`25,3306,...`). */
  defaultOpaquePorts?: string
  /** kubernetes mode: how often to look for the Gateway API CRDs (default 30 s). */
  routesPollMs?: number
  /** The cluster's default inbound policy (default all-unauthenticated). */
  defaultInboundPolicy?: DefaultInboundPolicy
  /** Canonical CIDRs of the cluster's networks, for cluster-authenticated (default: the private ranges). */
  clusterNetworks?: string[]
  /** kubernetes mode: how often to look for the AuthorizationPolicy CRD while it is missing (default 30 s). */
  authzPollMs?: number
  /** More components (injector, tap), started after identity and destination. */
  extraComponents?: (ctx: ControllerContext) => Component[]
  log: Logger
}

/** What later components may use from the ones before them. */
export interface ControllerContext {
  /** The tap server (its url, and in local mode its token for ~/.mesh/local.json). */
  tap?: TapComponent
  identity?: IdentityService
  destination?: DestinationService
  /** HTTPRoutes/GRPCRoutes as the destination service applies them. */
  routes?: RouteState
  /** Each pod's authorization policy, as the destination service streams it. */
  authz?: AuthzCompiler
}

export interface RunningController {
  ctx: ControllerContext
  components: string[]
  /** The controller's metrics (the injector's counters, process metrics), served on the admin port. */
  metrics: Registry
  /** The admin server, when adminPort was given. */
  admin?: ControllerAdmin
  stop(): Promise<void>
}

interface Backends {
  issuer: IssuerSource
  validator: TokenValidator
  events?: EventRecorder
  registry: EndpointRegistry
  routes: RouteState
  /** Starts what feeds `routes` once the registry has its first view (kubernetes: the route informers and status). */
  routeSource?: (log: Logger) => Component
  authz: AuthzState
  workloads: WorkloadSource
  /** Starts what feeds `authz` (kubernetes: the AuthorizationPolicy informer); absent: ready at once. */
  authzSource?: (log: Logger) => {synced: Promise<void>; start(): Promise<void>; stop(): Promise<void>}
}

async function backends(o: ControllerOptions): Promise<Backends> {
  const cpNs = o.controlPlaneNamespace ?? 'mesh-system'
  const trustDomain = o.trustDomain ?? 'cluster.local'
  if (o.mode === 'local') {
    const dir = path.resolve(o.identityDir!)
    const local = await ensureLocalIdentityDir(dir)
    if (local.created) o.log.info('created a local trust anchor, issuer and token secret', {dir})
    const registry = new LocalRegistry({file: path.resolve(o.registryFile!), controlPlaneNamespace: cpNs, trustDomain, log: o.log.child('registry')})
    const routes = new RouteState()
    // Subscribed before the destination server, so its streams see the routes of each reload.
    syncLocalRoutes(registry, routes)
    const authz = new AuthzState(o.log.child('authz'))
    syncLocalPolicies(registry, authz)
    return {
      issuer: new FileIssuerSource(dir, o.log.child('identity')),
      validator: new LocalTokenValidator(local.tokenSecret),
      registry,
      routes,
      authz,
      workloads: new LocalWorkloads(registry, {controlPlaneNamespace: cpNs, trustDomain}),
    }
  }
  const {loadKube} = await import('../k8s/client.js')
  const kube = await loadKube({kubeconfig: o.kube?.kubeconfig, context: o.kube?.context})
  const [{KubernetesIssuerSource}, {KubernetesTokenValidator}, {KubernetesEventRecorder}, {KubernetesRegistry}, {KubernetesRoutes}, {KubernetesAuthz}, {KubernetesWorkloads}] = await Promise.all([
    import('./identity/k8s-issuer.js'),
    import('./identity/k8s-tokens.js'),
    import('./identity/events.js'),
    import('./destination/k8s-registry.js'),
    import('./routes/k8s-routes.js'),
    import('./authz/k8s-authz.js'),
    import('./authz/workloads.js'),
  ])
  const registry = new KubernetesRegistry({lib: kube.k8s, kc: kube.kc, controlPlaneNamespace: cpNs, trustDomain, defaultOpaquePorts: o.defaultOpaquePorts, log: o.log.child('registry')})
  const routes = new RouteState()
  const authzState = new AuthzState(o.log.child('authz'))
  return {
    issuer: new KubernetesIssuerSource({lib: kube.k8s, kc: kube.kc, namespace: cpNs, scheme: o.issuerScheme, log: o.log.child('identity')}),
    validator: new KubernetesTokenValidator(kube.k8s, kube.kc),
    events: new KubernetesEventRecorder(kube.k8s, kube.kc, o.log.child('events')),
    registry,
    routes,
    routeSource: (log) => {
      const source = new KubernetesRoutes({lib: kube.k8s, kc: kube.kc, registry, state: routes, log, pollMs: o.routesPollMs})
      return {name: 'routes', start: () => source.start(), stop: () => source.stop()}
    },
    authz: authzState,
    workloads: new KubernetesWorkloads(registry, {controlPlaneNamespace: cpNs, trustDomain}),
    authzSource: (log) => new KubernetesAuthz({lib: kube.k8s, kc: kube.kc, state: authzState, log, pollMs: o.authzPollMs, controlPlaneNamespace: cpNs, trustDomain}),
  }
}

export function buildComponents(o: ControllerOptions, b: Backends, ctx: ControllerContext, metrics?: Registry): Component[] {
  const host = o.host ?? (o.mode === 'local' ? '127.0.0.1' : '0.0.0.0')
  const settings = {clusterDefault: o.defaultInboundPolicy ?? 'all-unauthenticated', clusterNetworks: o.clusterNetworks ?? DEFAULT_CLUSTER_NETWORKS, clusterDomain: o.clusterDomain ?? 'cluster.local'} as const
  // Not ready (streams silent) until the policy and route sources have their first view.
  const compiler = new AuthzCompiler(b.workloads, b.authz, b.routes, b.registry, {...settings, clusterNetworks: [...settings.clusterNetworks]}, !b.authzSource)
  const components: Component[] = [
    {
      name: 'identity',
      start: async () => {
        ctx.identity = await startIdentityService({
          issuer: b.issuer,
          validator: b.validator,
          events: b.events,
          host,
          port: o.identityPort ?? IDENTITY_PORT,
          controlPlaneNamespace: o.controlPlaneNamespace,
          trustDomain: o.trustDomain,
          leafLifetimeMs: o.leafLifetimeMs,
          log: o.log.child('identity'),
        })
      },
      stop: async () => ctx.identity?.stop(),
    },
    {
      name: 'destination',
      start: async () => {
        ctx.routes = b.routes
        ctx.authz = compiler
        ctx.destination = await startDestinationService({
          registry: b.registry,
          routes: b.routes,
          trust: b.issuer,
          authz: compiler,
          serving: ctx.identity!.serving,
          host,
          port: o.destinationPort ?? DESTINATION_PORT,
          clusterDomain: o.clusterDomain,
          // mesh_destination_refused_total{reason} on the controller's /metrics (admin port).
          metrics,
          log: o.log.child('destination'),
        })
      },
      stop: async () => ctx.destination?.stop(),
    },
  ]
  // After destination, whose start syncs the registry the route status is computed against.
  if (b.routeSource) components.push(b.routeSource(o.log.child('routes')))
  if (b.authzSource) {
    const source = b.authzSource(o.log.child('authz'))
    components.push({
      name: 'authz',
      start: async () => {
        await source.start()
        void source.synced.then(() => compiler.setReady())
      },
      stop: async () => {
        await source.stop()
        compiler.close()
      },
    })
  }
  if (o.mode === 'kubernetes') {
    components.push(injectorComponent({issuer: b.issuer, kube: o.kube, host, port: o.injectorPort, controlPlaneNamespace: o.controlPlaneNamespace, registry: metrics, log: o.log}))
  }
  const tap = tapComponent({
    mode: o.mode, host, port: o.tapPort, kube: o.kube, registryFile: o.registryFile, token: o.tapToken, log: o.log.child('tap'),
    serving: () => ({source: ctx.identity!.serving, name: ctx.identity!.serviceName}),
    authz: () => compiler.view(),
    services: registryServiceView(b.registry, b.routes, settings.clusterDomain),
  })
  ctx.tap = tap
  components.push(tap)
  return components
}

export async function startController(o: ControllerOptions): Promise<RunningController> {
  const ctx: ControllerContext = {}
  const metrics = new Registry()
  registerProcessMetrics(metrics)
  registerBuildInfo(metrics, meshVersion(), {node_version: process.version}, 'controller')
  const b = await backends(o)
  const components = buildComponents(o, b, ctx, metrics)
  const started: Component[] = []
  let starting: string | undefined = 'starting'
  // First, so the kubelet's liveness probe is answered while the rest starts (readiness says 503).
  const admin = o.adminPort === undefined ? undefined : await startControllerAdmin({
    host: o.host ?? (o.mode === 'local' ? '127.0.0.1' : '0.0.0.0'),
    port: o.adminPort,
    registry: metrics,
    notReady: () => starting ?? (b.issuer.current() ? undefined : 'no issuer loaded (see the controller log and `mesh check`)'),
    log: o.log.child('admin'),
  })
  const stopAll = async (): Promise<void> => {
    starting = 'stopping'
    for (const c of [...started].reverse()) {
      try {
        await c.stop()
      } catch (err) {
        o.log.warn('component did not stop cleanly', {component: c.name, error: (err as Error).message})
      }
    }
    started.length = 0
    await admin?.close()
  }
  try {
    for (const c of components) {
      starting = `starting ${c.name}`
      await c.start()
      started.push(c)
    }
    for (const c of o.extraComponents?.(ctx) ?? []) {
      starting = `starting ${c.name}`
      await c.start()
      started.push(c)
    }
  } catch (err) {
    await stopAll()
    throw err
  }
  starting = undefined
  return {ctx, components: started.map((c) => c.name), metrics, admin, stop: stopAll}
}
