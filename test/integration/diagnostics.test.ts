/**
 * `mesh diagnostics endpoints`, `mesh diagnostics proxy-metrics` and `mesh proxy log-level` on
 * the real test cluster, each through the path it uses in a cluster:
 * - endpoints: a destination stream through the API server's service proxy to the destination
 *   service (the controller's component, in this process, on a veth address the API server can
 *   reach, published as mesh-system/mesh-dst), compared with the EndpointSlice and the pods'
 *   ServiceAccounts across scale-up and scale-down;
 * - proxy-metrics: the API server's pod proxy to a real proxy's admin server at its pod IP;
 * - log-level: the API server's pod port-forward, served by a kubelet stand-in
 *   (test/cluster/kubelet-standin.ts) that connects on 127.0.0.1, to a real `mesh proxy` process's
 *   admin server (which answers that loopback peer and no other, and reverts a timed level by
 *   itself); and to a stand-in for a proxy of a version before timed levels (it answers 204 and
 *   ignores `for`), for which the command stays and reverts.
 * Root only (veth, network namespace).
 */
import {randomBytes} from 'node:crypto'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import * as k8s from '@kubernetes/client-node'
import {KubernetesRegistry} from '../../src/control/destination/k8s-registry.js'
import {startDestinationService, type DestinationService} from '../../src/control/destination/index.js'
import {ServingCert} from '../../src/control/identity/serving-cert.js'
import {controllerIdentityName} from '../../src/control/identity/index.js'
import {silentLogger} from '../../src/control/logger.js'
import {CONTROL_PLANE_NAMESPACE, ControlPlanePorts} from '../../src/protocol/control-plane.js'
import {DEFAULT_OPAQUE_PORTS, identityName, ProxyEnv} from '../../src/protocol/proxy-env.js'
import http from 'node:http'
import {LOG_LEVEL_UNTIL_HEADER} from '../../src/protocol/proxy-admin.js'
import {startSidecar, type Sidecar} from '../proxy/processes.js'
import {closeServer, listenOn, request} from '../proxy/helpers.js'
import {startKubeletStandIn, type KubeletStandIn} from '../cluster/kubelet-standin.js'
import {testCluster} from '../cluster/cluster.js'
import {eventuallyWith} from '../helpers/eventually.js'
import {requireRoot} from '../helpers/needs.js'
import {fixtureIssuer} from '../install/helpers.js'
import {startMeshPod, type MeshPod} from '../tap/harness.js'
import {serviceProxyRoute, type ServiceProxyRoute} from '../tap/service-proxy.js'
import {core, finalizeNamespace, kc, mesh} from './install-helpers.js'
import {createMeshedPod, setEndpointSlice} from './meshed-pods.js'

requireRoot('test/integration/diagnostics.test.ts', 'it creates a veth pair and a network namespace so the API server can reach in-process servers')
const cluster = testCluster()
const eventually = eventuallyWith({timeoutMs: 30_000, intervalMs: 200})
const ns = `mesh-diag-${randomBytes(3).toString('hex')}`
const books = `books.${ns}.svc.cluster.local:8080`
let route: ServiceProxyRoute
let destination: DestinationService
let serving: ServingCert
let kubelet: KubeletStandIn
let web: MeshPod
/** The proxy web-0's admin port is forwarded to: `mesh proxy` as a process. */
let sidecar: Sidecar
/** old-0's: a proxy before timed log levels (PUT answers 204, `for` ignored). */
let legacy: {server: http.Server; port: number; level: string; puts: string[]}
const OLD_ADMIN_PORT = 4191
const discovery = k8s.DiscoveryV1Api

/** A Running meshed pod (no kubelet: status written here) at `ip`, on the stand-in's node. */
async function pod(name: string, o: {sa: string; ip: string; adminPort?: number}): Promise<void> {
  const env = {[ProxyEnv.IDENTITY_TRUST_ANCHORS_PEM]: fixtureIssuer().anchorsPem, ...(o.adminPort ? {[ProxyEnv.ADMIN_LISTEN_ADDR]: `0.0.0.0:${o.adminPort}`} : {})}
  await createMeshedPod(ns, name, {sa: o.sa, ip: o.ip, env, nodeName: kubelet.node})
}

const setSlice = (pods: Array<{name: string; ip: string}>): Promise<void> => setEndpointSlice(ns, 'books', 8080, pods)

interface View {
  authority: string
  result: string
  endpoints: Array<{address: string; port: number; identity?: string; labels: Record<string, string>; opaque?: boolean}>
  routes?: {rules: unknown[]}
}

async function endpointsJson(authority: string, ...args: string[]): Promise<View> {
  const r = await mesh('diagnostics', 'endpoints', authority, '-o', 'json', ...args)
  if (r.exitCode !== 0) throw new Error(r.stderr)
  return JSON.parse(r.stdout) as View
}

/** What the EndpointSlice and the pods say the answer must be. */
async function expected(): Promise<Array<{address: string; port: number; identity: string; pod: string}>> {
  const slice = await kc.makeApiClient(discovery).readNamespacedEndpointSlice({name: 'books-slice', namespace: ns})
  const out = []
  for (const e of slice.endpoints ?? []) {
    const p = await core.readNamespacedPod({name: e.targetRef!.name!, namespace: ns})
    out.push({address: e.addresses[0]!, port: 8080, identity: identityName(p.spec!.serviceAccountName!, ns, CONTROL_PLANE_NAMESPACE, 'cluster.local'), pod: p.metadata!.name!})
  }
  return out.sort((a, b) => a.address.localeCompare(b.address, 'en', {numeric: true}))
}

const seen = (v: View) => v.endpoints.map((e) => ({address: e.address, port: e.port, identity: e.identity!, pod: e.labels.dst_pod!}))

beforeAll(async () => {
  route = await serviceProxyRoute(kc, {podIps: 5})
  kubelet = await startKubeletStandIn(kc, {
    host: route.ip,
    node: `mesh-diag-node-${randomBytes(2).toString('hex')}`,
    map: (podNs, name, port) => {
      if (podNs !== ns) return undefined
      if (name === 'web-0' && port === web?.admin.address.port) return sidecar.ports.admin
      if (name === 'old-0' && port === OLD_ADMIN_PORT) return legacy.port
      return undefined
    },
  })
  await core.createNamespace({body: {metadata: {name: ns}}})
  for (const sa of ['books', 'books-canary', 'web']) await core.createNamespacedServiceAccount({namespace: ns, body: {metadata: {name: sa}}})
  await core.createNamespacedService({namespace: ns, body: {metadata: {name: 'books'}, spec: {selector: {app: 'books'}, ports: [{name: 'http', port: 8080, targetPort: 8080}]}}})
  await core.createNamespacedService({namespace: ns, body: {metadata: {name: 'empty'}, spec: {selector: {app: 'nothing'}, ports: [{name: 'http', port: 80}]}}})
  const {issuer} = fixtureIssuer()
  serving = new ServingCert({name: controllerIdentityName(), issuer, log: silentLogger})
  await serving.start()
  destination = await startDestinationService({
    registry: new KubernetesRegistry({lib: k8s, kc, defaultOpaquePorts: DEFAULT_OPAQUE_PORTS, log: silentLogger}),
    serving, host: route.ip, port: 0, log: silentLogger,
  })
  await route.publish(destination.port, {name: 'mesh-dst', port: ControlPlanePorts.destination, portName: 'destination'})
  web = await startMeshPod({namespace: ns, name: 'web-0', deployment: 'web', host: route.podIps[4]})
  sidecar = await startSidecar({[ProxyEnv.IDENTITY_DISABLED]: '1', [ProxyEnv.LOG_LEVEL]: 'info'})
  legacy = {server: http.createServer(), port: 0, level: 'info', puts: []}
  legacy.server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    let body = ''
    req.setEncoding('utf8').on('data', (d: string) => (body += d)).on('end', () => {
      if (req.method === 'PUT') {
        legacy.puts.push(req.url ?? '')
        legacy.level = body.trim()
        res.writeHead(204).end()
      } else res.writeHead(200, {'content-length': legacy.level.length + 1}).end(`${legacy.level}\n`)
    })
  })
  legacy.port = await listenOn(legacy.server)
  await pod('web-0', {sa: 'web', ip: route.podIps[4]!, adminPort: web.admin.address.port})
  await pod('old-0', {sa: 'web', ip: route.podIps[3]!, adminPort: OLD_ADMIN_PORT})
}, 120_000)

afterAll(async () => {
  await web?.stop()
  await sidecar?.kill()
  await closeServer(legacy?.server)
  await destination?.stop()
  serving?.stop()
  await kubelet?.close()
  await route?.close()
  await finalizeNamespace(ns).catch(() => {})
})

describe('mesh diagnostics endpoints', () => {
  it('equals the EndpointSlice and the pods\' identities, through scale-up and scale-down', async () => {
    const [b0, b1, b2] = route.podIps
    await pod('books-0', {sa: 'books', ip: b0!})
    await pod('books-1', {sa: 'books', ip: b1!})
    await setSlice([{name: 'books-0', ip: b0!}, {name: 'books-1', ip: b1!}])
    await eventually('two endpoints', async () => ((await endpointsJson(books)).endpoints.length === 2 ? true : undefined))
    let view = await endpointsJson(books)
    expect(view).toMatchObject({authority: books, result: 'endpoints'})
    expect(seen(view)).toEqual(await expected())
    expect(view.routes).toMatchObject({rules: []})
    // Scale up: a third pod, of another ServiceAccount.
    await pod('books-2', {sa: 'books-canary', ip: b2!})
    await setSlice([{name: 'books-0', ip: b0!}, {name: 'books-1', ip: b1!}, {name: 'books-2', ip: b2!}])
    await eventually('three endpoints', async () => ((await endpointsJson(books)).endpoints.length === 3 ? true : undefined))
    view = await endpointsJson(books)
    expect(seen(view)).toEqual(await expected())
    expect(view.endpoints.find((e) => e.address === b2)!.identity).toBe(identityName('books-canary', ns, CONTROL_PLANE_NAMESPACE, 'cluster.local'))
    // Scale down: books-0 leaves the slice and goes.
    await setSlice([{name: 'books-1', ip: b1!}, {name: 'books-2', ip: b2!}])
    await core.deleteNamespacedPod({name: 'books-0', namespace: ns, gracePeriodSeconds: 0})
    await eventually('two endpoints again', async () => ((await endpointsJson(books)).endpoints.length === 2 ? true : undefined))
    view = await endpointsJson(books)
    expect(seen(view)).toEqual(await expected())
    // The bare name in -n asks the same question; the table says the same.
    expect(seen(await endpointsJson('books:8080', '-n', ns))).toEqual(await expected())
    const table = await mesh('diagnostics', 'endpoints', books)
    expect(table.exitCode).toBe(0)
    expect(table.stdout.split('\n')[0]).toMatch(/^ADDRESS\s+PORT\s+POD\s+IDENTITY\s+PROTOCOL$/)
    expect(table.stdout).toMatch(new RegExp(`${b1!.replaceAll('.', '\\.')}\\s+8080\\s+books-1\\s+books\\.${ns}\\.serviceaccount\\.identity\\.mesh-system\\.cluster\\.local\\s+detect`))
  })

  it('says when there are no endpoints, no such port, or the name is not the cluster\'s', async () => {
    expect(await endpointsJson(`empty.${ns}.svc.cluster.local:80`)).toMatchObject({result: 'noEndpoints', exists: true, endpoints: []})
    expect(await endpointsJson(`books.${ns}.svc.cluster.local:9999`)).toMatchObject({result: 'noSuchService', external: false})
    expect(await endpointsJson('example.com:443')).toMatchObject({result: 'noSuchService', external: true})
    const table = await mesh('diagnostics', 'endpoints', `empty.${ns}.svc.cluster.local:80`)
    expect(table.stdout).toBe(`empty.${ns}.svc.cluster.local:80: no endpoints (no ready pod backs it): proxies answer 503\n`)
  })

  it('the server-speaks-first ports are opaque by default (the install\'s list); a pod\'s own annotation replaces the list', async () => {
    for (const [svc, port] of [['mysql', 3306], ['pg', 5432]] as const) {
      await core.createNamespacedService({namespace: ns, body: {metadata: {name: svc}, spec: {selector: {app: svc}, ports: [{name: 'http', port, targetPort: port}]}}})
    }
    await createMeshedPod(ns, 'mysql-0', {sa: 'web', ip: '10.244.9.1'})
    await createMeshedPod(ns, 'pg-0', {sa: 'web', ip: '10.244.9.2', annotations: {'config.mesh.dev/opaque-ports': '9000'}})
    await setEndpointSlice(ns, 'mysql', 3306, [{name: 'mysql-0', ip: '10.244.9.1'}])
    await setEndpointSlice(ns, 'pg', 5432, [{name: 'pg-0', ip: '10.244.9.2'}])
    const mysql = await eventually('mysql endpoints', async () => {
      const v = await endpointsJson(`mysql.${ns}.svc.cluster.local:3306`)
      return v.endpoints.length === 1 ? v : undefined
    })
    expect(mysql.endpoints[0]).toMatchObject({address: '10.244.9.1', port: 3306, opaque: true})
    const pg = await eventually('pg endpoints', async () => {
      const v = await endpointsJson(`pg.${ns}.svc.cluster.local:5432`)
      return v.endpoints.length === 1 ? v : undefined
    })
    expect(pg.endpoints[0]!.opaque).toBeFalsy()
    const table = await mesh('diagnostics', 'endpoints', `mysql.${ns}.svc.cluster.local:3306`)
    expect(table.stdout).toMatch(/10\.244\.9\.1\s+3306\s+mysql-0\s+\S+\s+opaque/)
  })

  it('a user without services/proxy on mesh-dst is told which right is missing', async () => {
    const r = await mesh('diagnostics', 'endpoints', books, '--context', 'restricted')
    expect(r.exitCode).toBe(1)
    expect(r.stdout).toBe('')
    expect(r.stderr).toMatch(/proxy to the destination service answered HTTP 403/)
    expect(r.stderr).toContain('Try this: You need `get services/proxy` on mesh-dst')
  })
})

describe('mesh diagnostics proxy-metrics', () => {
  it('prints the proxy\'s /metrics as it served them, under a pod header', async () => {
    const r = await mesh('diagnostics', 'proxy-metrics', 'po/web-0', '-n', ns)
    expect(r.exitCode, r.stderr).toBe(0)
    expect(r.stdout.startsWith('#\n# POD web-0 (1 of 1)\n#\n')).toBe(true)
    expect(r.stdout).toMatch(/^mesh_proxy_build_info\{.*version="/m)
    expect(r.stdout).toMatch(/^# TYPE mesh_proxy_refused_total counter$/m)
    const none = await mesh('diagnostics', 'proxy-metrics', 'svc/empty', '-n', ns)
    expect(none.exitCode).toBe(1)
    expect(none.stderr).toContain(`svc/empty in namespace ${ns} has no meshed pods`)
  })
})

describe('mesh proxy log-level', () => {
  const level = async (): Promise<string> => (await request(sidecar.ports.admin, {path: '/proxy-log-level'})).body.trim()

  it('sets the level of a real proxy over a port-forward; with --for, the proxy answers when it ends and puts the level back by itself', async () => {
    const set = await mesh('proxy', 'log-level', 'po/web-0', 'debug', '-n', ns)
    expect(set.exitCode, set.stderr).toBe(0)
    expect(set.stdout).toBe('web-0: info -> debug\n')
    expect(await level()).toBe('debug')
    expect(kubelet.forwarded.get(`${ns}/web-0:${web.admin.address.port}`)).toBeGreaterThanOrEqual(2)

    // The command returns with the proxy's end time; nothing of it stays running.
    const timed = await mesh('proxy', 'log-level', 'po/web-0', 'trace', '-n', ns, '--for', '2s')
    expect(timed.exitCode, timed.stderr).toBe(0)
    expect(timed.stdout).toMatch(/^web-0: debug -> trace until (\S+) \(the proxy puts debug back\)\n$/)
    expect(Date.parse(/until (\S+)/.exec(timed.stdout)![1]!)).toBeGreaterThan(Date.now() - 60_000)
    expect(timed.stderr).not.toContain('do not revert timed levels themselves')
    expect(await level()).toBe('trace')
    await eventually('the proxy to put debug back', async () => ((await level()) === 'debug' ? true : undefined))
    await eventually('the proxy to log it', () => (/timed log level over: put back level=debug was=trace/.test(sidecar.stderr()) ? true : undefined))
    // The proxy bounds the duration itself: the CLI's own check aside, a raw PUT beyond a day is refused.
    const raw = await request(sidecar.ports.admin, {method: 'PUT', path: '/proxy-log-level?for=86401', body: 'trace'})
    expect(raw.status).toBe(400)
    expect(raw.headers[LOG_LEVEL_UNTIL_HEADER]).toBeUndefined()
  })

  it('with a proxy from before timed levels (204), the command stays and puts the level back itself', async () => {
    legacy.level = 'debug'
    const r = await mesh('proxy', 'log-level', 'po/old-0', 'trace', '-n', ns, '--for', '2s')
    expect(r.exitCode, r.stderr).toBe(0)
    expect(r.stdout).toBe('old-0: debug -> trace\n')
    expect(r.stderr).toContain('1 of 1 proxies do not revert timed levels themselves (they answered 204): this command sets them back in 2 s')
    expect(r.stderr).toContain('old-0: log level back to debug (after 2 s)')
    expect(legacy.level).toBe('debug')
    expect(legacy.puts).toEqual(['/proxy-log-level?for=2', '/proxy-log-level'])
  })

  it('refuses a bad level (exit 2) and says which right is missing without pods/portforward', async () => {
    const bad = await mesh('proxy', 'log-level', 'po/web-0', 'loud', '-n', ns)
    expect(bad.exitCode).toBe(2)
    expect(bad.stderr).toContain('log level "loud" is not one of error, warn, info, debug, trace')
    // Reading pods, not port-forwarding them (the built-in view role is aggregated by a controller this cluster lacks).
    const rbac = kc.makeApiClient(k8s.RbacAuthorizationV1Api)
    await rbac.createNamespacedRole({namespace: ns, body: {metadata: {name: 'pod-reader'}, rules: [{apiGroups: [''], resources: ['pods'], verbs: ['get', 'list']}]}})
    await rbac.createNamespacedRoleBinding({
      namespace: ns,
      body: {metadata: {name: 'restricted-view'}, roleRef: {apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'pod-reader'}, subjects: [{kind: 'User', name: cluster.users.restricted, apiGroup: 'rbac.authorization.k8s.io'}]},
    })
    let last = ''
    await eventuallyWith({timeoutMs: 30_000, intervalMs: 200, context: () => last})('the view binding', async () => {
      const r = await mesh('proxy', 'log-level', 'po/web-0', 'warn', '-n', ns, '--context', 'restricted')
      last = r.stderr
      return /port-forward/.test(r.stderr) ? r : undefined
    }).then((r) => {
      expect(r.exitCode).toBe(1)
      expect(r.stderr).toMatch(/the port-forward to .*web-0:\d+ was refused: HTTP 403/)
      expect(r.stderr).toContain('Try this: You need `create pods/portforward`')
    })
    expect(await level()).toBe('debug')
  })
})
