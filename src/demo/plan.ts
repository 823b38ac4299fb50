// The demo laid out before anything starts: every port, identity and process, as data the
// orchestrator runs, `mesh demo status` prints and the tests read (state.json).
import path from 'node:path'
import {CONTROLLER_SERVICE_ACCOUNT} from '../protocol/identity.js'
import {identityName, PROXY_RUNTIME_ENV, ProxyEnv} from '../protocol/proxy-env.js'
import {DEMO_NAMESPACE, DEMO_SERVICES, SERVICE_PORTS, serviceAuthority, type DemoService} from './apps/catalog.js'
import type {DemoPaths} from './paths.js'

export interface ServicePlan {
  name: DemoService
  /** The "pod": one replica per service. */
  pod: string
  serviceAccount: string
  identity: string
  authority: string
  servicePort: number
  appPort: number
  proxy: {inbound: number; outbound: number; admin: number; tap: number}
}

export interface DemoPlan {
  namespace: string
  controller: LocalController
  /** The local tap server (in the demo process). */
  tapPort: number
  services: ServicePlan[]
  load: {rps: number; failEvery: number; slowMs: number}
}

export interface PlanOptions {
  rps?: number
  failEvery?: number
  slowMs?: number
}

/** How many ports a demo needs: controller (3), the demo's tap server (1), and five per service. */
export const PORTS_NEEDED = 4 + DEMO_SERVICES.length * 5

export function buildPlan(ports: number[], o: PlanOptions = {}): DemoPlan {
  if (ports.length < PORTS_NEEDED) throw new Error(`the demo needs ${PORTS_NEEDED} ports, got ${ports.length}`)
  const next = (() => {
    let i = 0
    return () => ports[i++]!
  })()
  const controller = {identityPort: next(), destinationPort: next(), tapPort: 0, identity: identityName(CONTROLLER_SERVICE_ACCOUNT, 'mesh-system')}
  const tapPort = next()
  controller.tapPort = next()
  const services = DEMO_SERVICES.map((name): ServicePlan => ({
    name,
    pod: `${name}-0`,
    serviceAccount: name,
    identity: identityName(name, DEMO_NAMESPACE),
    authority: serviceAuthority(name),
    servicePort: SERVICE_PORTS[name],
    appPort: next(),
    proxy: {inbound: next(), outbound: next(), admin: next(), tap: next()},
  }))
  return {namespace: DEMO_NAMESPACE, controller, tapPort, services, load: {rps: o.rps ?? 10, failEvery: o.failEvery ?? 10, slowMs: o.slowMs ?? 200}}
}

/** The file-backed registry the local controller serves: each service's endpoint is its proxy's inbound port. */
export function registryDocument(plan: DemoPlan): string {
  const doc = {
    services: plan.services.map((s) => ({
      name: s.name,
      namespace: plan.namespace,
      ports: [{port: s.servicePort, endpoints: [{address: '127.0.0.1', port: s.proxy.inbound, serviceAccount: s.serviceAccount, pod: s.pod, deployment: s.name}]}],
    })),
    routes: demoRoutes(plan),
    // The controller's own tap server reads the pods from here (src/control/tap/local-pods.ts).
    pods: plan.services.map((s) => ({
      name: s.pod, namespace: plan.namespace, deployment: s.name, serviceAccount: s.serviceAccount, services: [s.name],
      tap: `127.0.0.1:${s.proxy.tap}`, admin: `127.0.0.1:${s.proxy.admin}`, inbound: `127.0.0.1:${s.proxy.inbound}`,
    })),
  }
  return JSON.stringify(doc, null, 2) + '\n'
}

export interface ProcessSpec {
  /** Unique key: controller, proxy/web, app/web, load. */
  key: string
  role: 'controller' | 'proxy' | 'app' | 'load'
  service?: DemoService
  args: string[]
  env: Record<string, string>
  log: string
}

/** What a local-mode controller listens on, and where the proxies find it. */
export interface LocalController {
  identityPort: number
  destinationPort: number
  tapPort: number
  /** Its identity (it serves identity, destination and tap with it). */
  identity: string
}

/** `mesh controller --mode local` arguments (the demo's, the proxy bench's mTLS pair's). */
export function localControllerArgs(c: LocalController, identityDir: string, registryFile: string): string[] {
  return ['controller', '--mode', 'local', '--identity-dir', identityDir, '--registry-file', registryFile, '--listen-host', '127.0.0.1',
    '--identity-port', String(c.identityPort), '--destination-port', String(c.destinationPort), '--tap-port', String(c.tapPort), '--log-level', 'warn']
}

export function controllerSpec(plan: DemoPlan, p: DemoPaths): ProcessSpec {
  return {
    key: 'controller',
    role: 'controller',
    args: localControllerArgs(plan.controller, p.identity, p.registry),
    env: {},
    log: path.join(p.logs, 'controller.log'),
  }
}

export interface LocalProxy {
  ports: {inbound: number; outbound: number; admin: number; tap: number}
  /** The app the inbound side forwards to (127.0.0.1:port). */
  appPort?: number
  /** Its identity name, and where its key and certificate, and its token, are. */
  identity: string
  identityDir: string
  tokenFile: string
  namespace: string
}

/**
 * The environment of a proxy under a local-mode controller (the demo's, the proxy bench's mTLS
 * pair's): listeners, discovery and identity from the controller, with mTLS between proxies.
 * `anchorsPem`: the trust anchors themselves (the variable takes PEM or a file; PEM works for every reader).
 */
export function localProxyEnv(c: LocalController, o: LocalProxy, anchorsPem: string): Record<string, string> {
  const a = (port: number): string => `127.0.0.1:${port}`
  return {
    [ProxyEnv.INBOUND_LISTEN_ADDR]: a(o.ports.inbound),
    [ProxyEnv.OUTBOUND_LISTEN_ADDR]: a(o.ports.outbound),
    [ProxyEnv.ADMIN_LISTEN_ADDR]: a(o.ports.admin),
    [ProxyEnv.TAP_LISTEN_ADDR]: a(o.ports.tap),
    ...(o.appPort === undefined ? {} : {[ProxyEnv.INBOUND_FORWARD_ADDR]: a(o.appPort)}),
    [ProxyEnv.DESTINATION_ADDR]: `wss://127.0.0.1:${c.destinationPort}`,
    [ProxyEnv.DESTINATION_IDENTITY]: c.identity,
    [ProxyEnv.IDENTITY_ADDR]: `https://127.0.0.1:${c.identityPort}`,
    [ProxyEnv.IDENTITY_SVC_NAME]: c.identity,
    [ProxyEnv.IDENTITY_LOCAL_NAME]: o.identity,
    [ProxyEnv.IDENTITY_DIR]: o.identityDir,
    [ProxyEnv.IDENTITY_TOKEN_FILE]: o.tokenFile,
    [ProxyEnv.IDENTITY_TRUST_ANCHORS_PEM]: anchorsPem,
    // The tap server holds the controller's identity, as the controller's does in a cluster.
    [ProxyEnv.TAP_SVC_NAME]: c.identity,
    [ProxyEnv.POD_NAMESPACE]: o.namespace,
  }
}

/**
 * The demo's routes (HTTPRoute and GRPCRoute objects in the registry file, as `kubectl apply`
 * would give a cluster): what `mesh routes`, `mesh stat --routes` and `mesh top --routes` show.
 * web calls books' list and items (one route for every item, a RegularExpression rule, not a
 * row per id), books calls authors' two gRPC methods. Every call the apps make matches a route;
 * anything else to books or authors gets 404 / UNIMPLEMENTED from the caller's proxy.
 */
export function demoRoutes(plan: Pick<DemoPlan, 'namespace'>): unknown[] {
  const ns = plan.namespace
  const parent = (name: DemoService) => ({group: '', kind: 'Service', name, port: SERVICE_PORTS[name]})
  const http = (name: string, path: {type: string; value: string}) => ({
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: {name, namespace: ns},
    spec: {parentRefs: [parent('books')], rules: [{matches: [{method: 'GET', path}], timeouts: {request: '2s'}}]},
  })
  const grpc = (name: string, method: string) => ({
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'GRPCRoute',
    metadata: {name, namespace: ns},
    spec: {parentRefs: [parent('authors')], rules: [{matches: [{method: {service: 'demo.Authors', method}}]}]},
  })
  return [
    http('books-list', {type: 'Exact', value: '/books'}),
    http('books-by-id', {type: 'RegularExpression', value: '/books/[a-z0-9]+'}),
    grpc('authors-get', 'GetAuthor'),
    grpc('authors-list', 'ListAuthors'),
  ]
}

/** `anchorsPem`: the trust anchors themselves. */
export function proxySpec(plan: DemoPlan, s: ServicePlan, p: DemoPaths, anchorsPem: string): ProcessSpec {
  return {
    key: `proxy/${s.name}`,
    role: 'proxy',
    service: s.name,
    args: ['proxy'],
    env: {
      ...localProxyEnv(plan.controller, {
        ports: s.proxy, appPort: s.appPort, identity: s.identity, identityDir: path.join(p.proxies, s.name), tokenFile: path.join(p.tokens, s.name), namespace: plan.namespace,
      }, anchorsPem),
      [ProxyEnv.POD_NAME]: s.pod,
      [ProxyEnv.WORKLOAD_KIND]: 'deployment',
      [ProxyEnv.WORKLOAD_NAME]: s.name,
      [ProxyEnv.LOG_LEVEL]: 'warn',
      [ProxyEnv.SHUTDOWN_GRACE_PERIOD]: '2',
      // The runtime tuning injected pods get.
      ...PROXY_RUNTIME_ENV,
    },
    log: path.join(p.logs, `proxy-${s.name}.log`),
  }
}

export function appSpec(plan: DemoPlan, s: ServicePlan, p: DemoPaths): ProcessSpec {
  return {
    key: `app/${s.name}`,
    role: 'app',
    service: s.name,
    args: ['demo', 'app', s.name, '--port', String(s.appPort), '--via', `127.0.0.1:${s.proxy.outbound}`, '--demo-namespace', plan.namespace,
      '--fail-every', String(plan.load.failEvery), '--slow-ms', String(plan.load.slowMs)],
    env: {},
    log: path.join(p.logs, `app-${s.name}.log`),
  }
}

export function loadSpec(plan: DemoPlan, p: DemoPaths): ProcessSpec {
  const web = plan.services.find((s) => s.name === 'web')!
  return {
    key: 'load',
    role: 'load',
    args: ['demo', 'app', 'load', '--via', `127.0.0.1:${web.proxy.inbound}`, '--demo-namespace', plan.namespace, '--rps', String(plan.load.rps)],
    env: {},
    log: path.join(p.logs, 'load.log'),
  }
}
