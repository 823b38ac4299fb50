/**
 * Routes on the real test cluster: the controller's route source (informers, validation, status)
 * with a KubernetesRegistry and the destination service, and a raw WebSocket client speaking
 * watchRoutes as a proxy will. The Gateway API CRDs come from the sigs.k8s.io/gateway-api Go
 * module (test/cluster/gateway-api.ts); the suite first removes them to see the controller run
 * without them, then installs them as a user would (kubectl apply --server-side) and sees them
 * picked up. Routes are applied with kubectl. Timing is never asserted (bench/ measures it).
 */
import {randomBytes} from 'node:crypto'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import WebSocket from 'ws'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import * as k8s from '@kubernetes/client-node'
import {stringify} from 'yaml'
import {testCluster} from '../cluster/cluster.js'
import {gatewayApiCrds} from '../cluster/gateway-api.js'
import {controllerIdentityName, ensureLocalIdentityDir, FileIssuerSource, ServingCert, type LocalIdentityDir} from '../../src/control/identity/index.js'
import {startDestinationService, type DestinationService} from '../../src/control/destination/index.js'
import {KubernetesRegistry} from '../../src/control/destination/k8s-registry.js'
import {KubernetesRoutes} from '../../src/control/routes/k8s-routes.js'
import {RouteState} from '../../src/control/routes/state.js'
import {createLogger, silentLogger} from '../../src/control/logger.js'
import {CONTROLLER_NAME} from '../../src/routes/validate.js'
import type {RoutesMessage} from '../../src/protocol/routes.js'
import {eventuallyWith} from '../helpers/eventually.js'
import {mesh} from './install-helpers.js'

const cluster = testCluster()
const ns = `routes-${randomBytes(3).toString('hex')}`
const kc = new k8s.KubeConfig()
kc.loadFromFile(cluster.kubeconfigPath)
kc.setCurrentContext('admin')
const core = kc.makeApiClient(k8s.CoreV1Api)
const custom = kc.makeApiClient(k8s.CustomObjectsApi)
const eventually = eventuallyWith({timeoutMs: 60_000, intervalMs: 100})
const G = 'gateway.networking.k8s.io'
const CRDS = ['httproutes.gateway.networking.k8s.io', 'grpcroutes.gateway.networking.k8s.io']

let tmp: string
let local: LocalIdentityDir
let issuer: FileIssuerSource
let serving: ServingCert
let registry: KubernetesRegistry
let dest: DestinationService
let routes: KubernetesRoutes
const state = new RouteState()
const logs: string[] = []

const kubectl = (args: string[]) => cluster.kubectl(args)
async function apply(obj: unknown): Promise<void> {
  const file = path.join(tmp, `obj-${randomBytes(4).toString('hex')}.yaml`)
  writeFileSync(file, stringify(obj))
  await kubectl(['apply', '-f', file])
}

const svcParent = (name = 'books', port?: number) => ({group: '', kind: 'Service', name, ...(port ? {port} : {})})
function httpRoute(name: string, spec: Record<string, unknown>, annotations?: Record<string, string>) {
  return {apiVersion: `${G}/v1`, kind: 'HTTPRoute', metadata: {name, namespace: ns, ...(annotations ? {annotations} : {})}, spec: {parentRefs: [svcParent('books', 8080)], ...spec}}
}

async function routeObject(plural: string, name: string): Promise<{metadata: {generation: number}; status?: {parents?: Array<{controllerName: string; parentRef: Record<string, unknown>; conditions: Array<{type: string; status: string; reason: string; message: string; observedGeneration: number}>}>}}> {
  return (await custom.getNamespacedCustomObject({group: G, version: 'v1', namespace: ns, plural, name})) as never
}

/** Our status entry's conditions, once they describe the route's current generation and pass `pred`. */
async function ourConditions(name: string, pred: (c: Record<string, {status: string; reason: string; message: string}>) => boolean = () => true, plural = 'httproutes', parentIndex = 0) {
  return eventually(`the status of ${plural}/${name}`, async () => {
    const o = await routeObject(plural, name)
    const mine = o.status?.parents?.filter((p) => p.controllerName === CONTROLLER_NAME)[parentIndex]
    if (!mine || mine.conditions.some((c) => c.observedGeneration !== o.metadata.generation)) return undefined
    const byType = Object.fromEntries(mine.conditions.map((c) => [c.type, c]))
    return pred(byType) ? byType : undefined
  })
}

/** Both CRDs report Established (kubectl wait fails while a new CRD has no conditions yet). */
async function established(): Promise<void> {
  const ext = kc.makeApiClient(k8s.ApiextensionsV1Api)
  await eventually('the CRDs to be Established', async () => {
    for (const name of CRDS) {
      const crd = await ext.readCustomResourceDefinition({name})
      if (!crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) return undefined
    }
    return true
  })
}

async function socket(): Promise<{ws: WebSocket; messages: Array<Record<string, unknown>>}> {
  const ws = new WebSocket(`wss://127.0.0.1:${dest.port}/v1/destinations?ns=${ns}`, {ca: local.anchorsPem, servername: controllerIdentityName()} as unknown as WebSocket.ClientOptions)
  const messages: Array<Record<string, unknown>> = []
  ws.on('message', (d) => messages.push(JSON.parse(String(d)) as Record<string, unknown>))
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject))
  return {ws, messages}
}
function latestPolicy(messages: Array<Record<string, unknown>>, id: number, pred: (m: RoutesMessage) => boolean, what: string): Promise<RoutesMessage> {
  return eventually(what, () => {
    const mine = messages.filter((m) => m.id === id && m.type === 'routes') as unknown as RoutesMessage[]
    const last = mine[mine.length - 1]
    return last && pred(last) ? last : undefined
  }, {context: () => `last message: ${JSON.stringify(messages[messages.length - 1])?.slice(0, 2000)}\ncontroller log:\n${logs.slice(-20).join('')}`})
}

beforeAll(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'mesh-it-routes-'))
  // The CRDs belong to the cluster: another suite (or run) may have installed them. Start without.
  // The API server finalizes a CRD after its objects are gone: on a loaded machine that took
  // longer than kubectl's default 60 s guard once (a hang guard, not a bound on speed).
  await cluster.kubectl(['delete', 'crd', ...CRDS, '--ignore-not-found', '--wait=true'], {timeoutMs: 300_000})
  await core.createNamespace({body: {metadata: {name: ns}}})
  for (const name of ['books', 'books-canary']) {
    await core.createNamespacedService({namespace: ns, body: {metadata: {name}, spec: {ports: [{name: 'http', port: 8080, targetPort: 8080}], selector: {app: name}}}})
  }
  local = await ensureLocalIdentityDir(path.join(tmp, 'ca'))
  issuer = new FileIssuerSource(local.dir, silentLogger, 0)
  await issuer.start()
  serving = new ServingCert({name: controllerIdentityName(), issuer, log: silentLogger})
  await serving.start()
  const log = createLogger({level: 'debug', write: (l) => void logs.push(l)})
  registry = new KubernetesRegistry({lib: k8s, kc, log: silentLogger})
  dest = await startDestinationService({registry, routes: state, serving, host: '127.0.0.1', port: 0, log: silentLogger})
  routes = new KubernetesRoutes({lib: k8s, kc, registry, state, log, pollMs: 300})
  await routes.start()
})

afterAll(async () => {
  await routes?.stop()
  await dest?.stop()
  serving?.stop()
  await issuer?.stop()
  await core.deleteNamespace({name: ns}).catch(() => {})
  if (tmp) rmSync(tmp, {recursive: true, force: true})
})

describe('routes from the API server', () => {
  it('without the CRDs the controller serves, says so once, and a routes stream has no routes', async () => {
    expect(routes.watching()).toEqual([])
    const said = logs.filter((l) => l.includes('httproutes.gateway.networking.k8s.io/v1 is not installed'))
    expect(said).toHaveLength(1)
    expect(said[0]).toContain('kubectl apply --server-side -f https://github.com/kubernetes-sigs/gateway-api/releases/download/')
    const {ws, messages} = await socket()
    ws.send(JSON.stringify({type: 'watchRoutes', id: 1, authority: `books.${ns}:8080`, version: 1}))
    const p = await latestPolicy(messages, 1, () => true, 'the first policy')
    expect(p).toMatchObject({authority: `books.${ns}.svc.cluster.local:8080`, routes: [], http: [], grpc: []})
    ws.close()
  })

  it('picks the CRDs up when they are installed (kubectl apply --server-side, from the gateway-api module)', async () => {
    const crds = gatewayApiCrds()
    await kubectl(['apply', '--server-side', '-f', crds.standard])
    await established()
    await eventually('both kinds watched', () => (routes.watching().length === 2 ? true : undefined))
    expect(logs.some((l) => l.includes('httproutes.gateway.networking.k8s.io/v1 is served: watching HTTPRoutes'))).toBe(true)
  })

  it('a valid route: Accepted and ResolvedRefs, and its policy reaches a connected client; delete reverts', async () => {
    const {ws, messages} = await socket()
    ws.send(JSON.stringify({type: 'watchRoutes', id: 5, authority: `books.${ns}.svc.cluster.local:8080`, version: 1}))
    await latestPolicy(messages, 5, (m) => m.routes.length === 0, 'the empty policy')
    await apply(httpRoute('split', {rules: [
      {matches: [{headers: [{name: 'x-canary', value: 'always'}]}], backendRefs: [{name: 'books-canary', port: 8080}]},
      {timeouts: {request: '1s'}, backendRefs: [{name: 'books', port: 8080, weight: 90}, {name: 'books-canary', port: 8080, weight: 10}]},
    ]}, {'retry.mesh.dev/http': 'gateway-error', 'retry.mesh.dev/limit': '2'}))
    const c = await ourConditions('split')
    expect(c.Accepted).toMatchObject({status: 'True', reason: 'Accepted'})
    expect(c.ResolvedRefs).toMatchObject({status: 'True', reason: 'ResolvedRefs'})
    const p = await latestPolicy(messages, 5, (m) => m.routes.length === 1, 'the route policy')
    expect(p.routes).toEqual([{kind: 'HTTPRoute', namespace: ns, name: 'split', generation: 1}])
    expect(p.rules[1]).toMatchObject({timeouts: {requestMs: 1000}, retry: {limit: 2, httpStatuses: [[502, 504]], grpcStatuses: []}})
    expect(p.rules[1]!.backends.map((b) => [b.authority, b.weight])).toEqual([[`books.${ns}.svc.cluster.local:8080`, 90], [`books-canary.${ns}.svc.cluster.local:8080`, 10]])
    // 90/10 -> 0/100: the client sees the new weights.
    await apply(httpRoute('split', {rules: [
      {matches: [{headers: [{name: 'x-canary', value: 'always'}]}], backendRefs: [{name: 'books-canary', port: 8080}]},
      {timeouts: {request: '1s'}, backendRefs: [{name: 'books', port: 8080, weight: 0}, {name: 'books-canary', port: 8080, weight: 100}]},
    ]}, {'retry.mesh.dev/http': 'gateway-error', 'retry.mesh.dev/limit': '2'}))
    await latestPolicy(messages, 5, (m) => m.rules[1]?.backends[0]?.weight === 0, 'the 0/100 split')
    await kubectl(['delete', 'httproute', 'split', '-n', ns])
    await latestPolicy(messages, 5, (m) => m.routes.length === 0, 'no routes after the delete')
    ws.close()
  })

  it('invalid routes get the standard reasons: unsupported field, wrong parent, missing backend, RefNotPermitted, InvalidKind', async () => {
    await apply(httpRoute('rewrite', {rules: [{filters: [{type: 'URLRewrite', urlRewrite: {hostname: 'elsewhere'}}]}]}))
    await apply({...httpRoute('lost', {}), spec: {parentRefs: [svcParent('nope', 8080)]}})
    await apply({...httpRoute('badport', {}), spec: {parentRefs: [svcParent('books', 9999)]}})
    await apply(httpRoute('missing', {rules: [{backendRefs: [{name: 'books-v9', port: 8080}]}]}))
    await apply(httpRoute('elsewhere', {rules: [{backendRefs: [{name: 'books', namespace: 'default', port: 8080}]}]}))
    await apply(httpRoute('kind', {rules: [{backendRefs: [{group: 'example.com', kind: 'Bucket', name: 'b'}]}]}))
    const rewrite = await ourConditions('rewrite')
    expect(rewrite.Accepted).toMatchObject({status: 'False', reason: 'UnsupportedValue'})
    expect(rewrite.Accepted!.message).toBe('spec.rules[0].filters[0].type "URLRewrite" is not supported by mesh (supported: RequestHeaderModifier); the route is not applied')
    expect((await ourConditions('lost')).Accepted).toMatchObject({status: 'False', reason: 'NoMatchingParent', message: `Service ${ns}/nope not found`})
    expect((await ourConditions('badport')).Accepted).toMatchObject({status: 'False', reason: 'NoMatchingParent', message: `Service ${ns}/books has no port 9999 (ports: 8080)`})
    const missing = await ourConditions('missing')
    expect(missing.Accepted).toMatchObject({status: 'True', reason: 'Accepted'})
    expect(missing.ResolvedRefs).toMatchObject({status: 'False', reason: 'BackendNotFound', message: `backendRef books-v9: Service ${ns}/books-v9 not found`})
    expect((await ourConditions('elsewhere')).ResolvedRefs).toMatchObject({status: 'False', reason: 'RefNotPermitted'})
    expect((await ourConditions('kind')).ResolvedRefs).toMatchObject({status: 'False', reason: 'InvalidKind'})
    // The missing backend appears: ResolvedRefs turns True without any change to the route.
    await core.createNamespacedService({namespace: ns, body: {metadata: {name: 'books-v9'}, spec: {ports: [{name: 'http', port: 8080}], selector: {app: 'v9'}}}})
    expect((await ourConditions('missing', (c) => c.ResolvedRefs!.status === 'True')).ResolvedRefs!.reason).toBe('ResolvedRefs')
    for (const n of ['rewrite', 'lost', 'badport', 'missing', 'elsewhere', 'kind']) await kubectl(['delete', 'httproute', n, '-n', ns])
  })

  it('a bad update keeps the last good policy in force, and says so', async () => {
    const {ws, messages} = await socket()
    ws.send(JSON.stringify({type: 'watchRoutes', id: 9, authority: `books.${ns}:8080`, version: 1}))
    await apply(httpRoute('steady', {rules: [{timeouts: {request: '2s'}}]}))
    const good = await latestPolicy(messages, 9, (m) => m.routes.length === 1, 'the first policy')
    expect(good.rules[0]!.timeouts).toEqual({requestMs: 2000})
    await apply(httpRoute('steady', {rules: [{timeouts: {request: '2s'}, filters: [{type: 'RequestMirror', requestMirror: {backendRef: {name: 'books-canary', port: 8080}}}]}]}))
    const c = await ourConditions('steady', (x) => x.Accepted!.status === 'False')
    expect(c.Accepted!.message).toBe('spec.rules[0].filters[0].type "RequestMirror" is not supported by mesh (supported: RequestHeaderModifier); generation 1 stays in force')
    // The policy stands (no new message changed it).
    const last = messages.filter((m) => m.id === 9 && m.type === 'routes').pop() as unknown as RoutesMessage
    expect(last.revision).toBe(good.revision)
    // Fixed: the new generation applies.
    await apply(httpRoute('steady', {rules: [{timeouts: {request: '3s'}}]}))
    const fixed = await latestPolicy(messages, 9, (m) => m.rules[0]?.timeouts?.requestMs === 3000, 'the fixed policy')
    expect(fixed.routes[0]!.generation).toBe(3)
    await kubectl(['delete', 'httproute', 'steady', '-n', ns])
    ws.close()
  })

  it('keeps other controllers\' status entries, and writes none for Gateway parents', async () => {
    const other = {group: G, kind: 'Gateway', name: 'edge'}
    await apply({...httpRoute('shared', {}), spec: {parentRefs: [other, svcParent('books', 8080)]}})
    await ourConditions('shared')
    // Another controller (a Gateway's) writes its entry beside ours.
    const obj = (await custom.getNamespacedCustomObject({group: G, version: 'v1', namespace: ns, plural: 'httproutes', name: 'shared'})) as {status: {parents: unknown[]}}
    const theirs = {parentRef: other, controllerName: 'example.com/gateway', conditions: [{type: 'Accepted', status: 'True', reason: 'Accepted', message: 'theirs', lastTransitionTime: '2024-01-01T00:00:00Z', observedGeneration: 1}]}
    await custom.replaceNamespacedCustomObjectStatus({group: G, version: 'v1', namespace: ns, plural: 'httproutes', name: 'shared', body: {...obj, status: {parents: [theirs, ...obj.status.parents]}}})
    // A change that makes us write again (the route's backend vanishes and comes back).
    await apply({...httpRoute('shared', {rules: [{backendRefs: [{name: 'books-v9', port: 8080}]}]}), spec: {parentRefs: [other, svcParent('books', 8080)], rules: [{backendRefs: [{name: 'books-v9', port: 8080}]}]}})
    await core.deleteNamespacedService({name: 'books-v9', namespace: ns})
    await ourConditions('shared', (c) => c.ResolvedRefs!.status === 'False')
    const after = await routeObject('httproutes', 'shared')
    expect(after.status!.parents!.map((p) => p.controllerName)).toEqual(['example.com/gateway', CONTROLLER_NAME])
    expect(after.status!.parents![0]!.conditions[0]!.message).toBe('theirs')
    // Gateway parents only: not ours, no entry.
    await apply({...httpRoute('gw-only', {}), spec: {parentRefs: [other]}})
    await new Promise((r) => setTimeout(r, 1500)) // proving a negative: a status pass has had time to run
    expect((await routeObject('httproutes', 'gw-only')).status?.parents ?? []).toEqual([])
  })

  it('GRPCRoute: accepted, and its entries reach the grpc list', async () => {
    const {ws, messages} = await socket()
    ws.send(JSON.stringify({type: 'watchRoutes', id: 3, authority: `books.${ns}:8080`, version: 1}))
    await apply({apiVersion: `${G}/v1`, kind: 'GRPCRoute', metadata: {name: 'rpc', namespace: ns, annotations: {'retry.mesh.dev/grpc': 'unavailable'}}, spec: {parentRefs: [svcParent('books', 8080)], rules: [{matches: [{method: {service: 'books.v1.Books', method: 'Get'}}]}]}})
    expect((await ourConditions('rpc', () => true, 'grpcroutes')).Accepted).toMatchObject({status: 'True'})
    const p = await latestPolicy(messages, 3, (m) => m.grpc.length === 1, 'the gRPC entries')
    expect(p.grpc[0]!.match).toEqual({grpc: {type: 'exact', service: 'books.v1.Books', method: 'Get'}})
    expect(p.rules[p.grpc[0]!.rule]!.retry).toEqual({limit: 1, httpStatuses: [], grpcStatuses: [14]})
    ws.close()
  })

  it('mesh routes (the real binary): the routes of a Service, their status, the rules in precedence order', async () => {
    await apply(httpRoute('cli', {rules: [
      {matches: [{path: {type: 'PathPrefix', value: '/books'}}], timeouts: {request: '2s'}, backendRefs: [{name: 'books', port: 8080, weight: 9}, {name: 'books-canary', port: 8080, weight: 1}]},
      {matches: [{path: {type: 'Exact', value: '/books/special'}, method: 'GET'}]},
    ]}))
    await ourConditions('cli')
    const json = await mesh('routes', 'svc/books', '-n', ns, '-o', 'json')
    expect(json.exitCode, json.stderr).toBe(0)
    const report = JSON.parse(json.stdout) as {service: unknown; routes: Array<{kind: string; name: string; conditions: Array<{type: string; status: string}>}>; policies: RoutesMessage[]}
    expect(report.service).toEqual({namespace: ns, name: 'books', ports: [8080]})
    const cli = report.routes.find((r) => r.name === 'cli')!
    expect(cli.conditions.map((c) => [c.type, c.status])).toEqual([['Accepted', 'True'], ['ResolvedRefs', 'True']])
    const p = report.policies[0]!
    const order = p.http.map((e) => `${p.rules[e.rule]!.route.name}#${p.rules[e.rule]!.route.rule}`)
    expect(order.indexOf('cli#1')).toBeLessThan(order.indexOf('cli#0')) // the exact path first
    const table = await mesh('routes', 'svc/books', '-n', ns)
    expect(table.exitCode, table.stderr).toBe(0)
    expect(table.stdout).toMatch(/HTTPRoute\s+cli\s+1\s+yes \(Accepted\)\s+yes \(ResolvedRefs\)/)
    expect(table.stdout).toContain('Rules for books:8080, in precedence order')
    expect(table.stdout).toMatch(/GET = \/books\/special\s+http cli#1/)
    expect(table.stdout).toMatch(/\/books\/\*\s+http cli#0\s+books:8080 90%, books-canary:8080 10%\s+request 2s/)
    const usage = await mesh('routes', 'deploy/books', '-n', ns)
    expect(usage.exitCode).toBe(2)
    expect(usage.stderr).toContain('"deploy/books" is not a Service')
    const missing = await mesh('routes', 'svc/nope', '-n', ns)
    expect(missing.exitCode).toBe(1)
    expect(missing.stderr).toContain(`Service ${ns}/nope not found`)
    expect(missing.stdout).toBe('')
    await kubectl(['delete', 'httproute', 'cli', '-n', ns])
  })

  it('the retry field is honoured where the installed CRD has it (experimental channel)', async () => {
    await kubectl(['apply', '--server-side', '--force-conflicts', '-f', gatewayApiCrds().experimental])
    await established()
    // The API server keeps serving a watch opened before a CRD's schema changed with the old
    // schema (fields the new one adds are pruned from its events): a controller picks such fields
    // up when its watch is opened again, here by starting it again (docs/architecture/routes.md).
    await routes.stop()
    routes = new KubernetesRoutes({lib: k8s, kc, registry, state, log: createLogger({level: 'debug', write: (l) => void logs.push(l)}), pollMs: 300})
    await routes.start()
    await eventually('the retry field to be kept by the API server', async () => {
      await apply(httpRoute('retrying', {rules: [{retry: {attempts: 3, codes: [503]}}]}))
      const o = (await custom.getNamespacedCustomObject({group: G, version: 'v1', namespace: ns, plural: 'httproutes', name: 'retrying'})) as {spec: {rules: Array<{retry?: unknown}>}}
      return o.spec.rules[0]!.retry ? true : undefined
    })
    const {ws, messages} = await socket()
    ws.send(JSON.stringify({type: 'watchRoutes', id: 4, authority: `books.${ns}:8080`, version: 1}))
    const p = await latestPolicy(messages, 4, (m) => m.routes.some((r) => r.name === 'retrying') && !!m.rules.find((r) => r.route.name === 'retrying')?.retry, 'the retry policy')
    expect(p.rules.find((r) => r.route.name === 'retrying')!.retry).toEqual({limit: 3, httpStatuses: [[503, 503]], grpcStatuses: []})
    ws.close()
    // Back to the standard channel for the suites after this one.
    await kubectl(['apply', '--server-side', '--force-conflicts', '-f', gatewayApiCrds().standard])
  })
})
