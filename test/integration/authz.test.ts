/**
 * Authorization policy on the real test cluster: the controller's parts as `mesh controller`
 * wires them in Kubernetes mode (the registry's informers, the AuthorizationPolicy informer,
 * the destination service, an identity service checking ServiceAccount tokens with
 * TokenReview), and raw WebSocket clients speaking watchAuthz with real mesh certificates
 * certified from TokenRequest tokens. Policies, namespace and pod annotations change with
 * kubectl; the stream follows within the suite's own steps (timing printed, never asserted;
 * bench/ measures). A proxy watching another workload's policy is refused.
 */
import {randomBytes} from 'node:crypto'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import * as k8s from '@kubernetes/client-node'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {stringify} from 'yaml'
import {AuthzMatcher} from '../../src/authz/evaluate.js'
import {AuthzState} from '../../src/control/authz/state.js'
import {AuthzCompiler} from '../../src/control/authz/stream.js'
import {KubernetesAuthz} from '../../src/control/authz/k8s-authz.js'
import {KubernetesWorkloads} from '../../src/control/authz/workloads.js'
import {startDestinationService, type DestinationService} from '../../src/control/destination/index.js'
import {KubernetesRegistry} from '../../src/control/destination/k8s-registry.js'
import {ensureLocalIdentityDir, FileIssuerSource, startIdentityService, type IdentityService, type LocalIdentityDir} from '../../src/control/identity/index.js'
import {KubernetesTokenValidator} from '../../src/control/identity/k8s-tokens.js'
import {createLogger, silentLogger} from '../../src/control/logger.js'
import {RouteState} from '../../src/control/routes/state.js'
import {AUTHZ_GROUP, AUTHZ_PLURAL, type AuthzMessage} from '../../src/protocol/authz.js'
import {identityName} from '../../src/protocol/proxy-env.js'
import {authzSocket, certifyClient, type AuthzSocket, type ClientCert} from '../helpers/authz-client.js'
import {eventually} from '../helpers/eventually.js'
import {cluster, core, kc, mesh} from './install-helpers.js'

const ns = `authz-${randomBytes(3).toString('hex')}`
let tmp: string
let local: LocalIdentityDir
let identity: IdentityService
let registry: KubernetesRegistry
let dest: DestinationService
let source: KubernetesAuthz
let compiler: AuthzCompiler
const logs: string[] = []
const certs: Record<string, ClientCert> = {}

function meshedPod(name: string, sa: string, labels: Record<string, string>, extra: Partial<k8s.V1PodSpec> = {}): k8s.V1Pod {
  return {
    metadata: {name, namespace: ns, labels: {...labels, [`mesh.dev/proxy-deployment`]: labels.app!}},
    spec: {
      serviceAccountName: sa,
      initContainers: [{name: 'mesh-proxy', image: 'mesh', restartPolicy: 'Always'}],
      containers: [{name: 'app', image: sa, ports: [{name: 'http', containerPort: 8080}], readinessProbe: {httpGet: {path: '/ready?deep=1', port: 'http'}}}],
      ...extra,
    },
  }
}

async function apply(obj: unknown): Promise<number> {
  const file = path.join(tmp, `obj-${randomBytes(4).toString('hex')}.yaml`)
  writeFileSync(file, stringify(obj))
  await cluster.kubectl(['apply', '-f', file])
  return Date.now()
}

const policy = (name: string, spec: Record<string, unknown>) => ({apiVersion: 'policy.mesh.dev/v1alpha1', kind: 'AuthorizationPolicy', metadata: {name, namespace: ns}, spec})

async function socket(sa: string): Promise<AuthzSocket> {
  return authzSocket({port: dest.port, anchorsPem: local.anchorsPem, serverName: identity.serviceName, cert: certs[sa], ns})
}

/** How long from `since` until `m` arrived (printed for the report, not asserted). */
function took(what: string, since: number): void {
  process.stderr.write(`authz.test: ${what}: the stream had it ${Date.now() - since} ms after kubectl returned\n`)
}

beforeAll(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'mesh-it-authz-'))
  // The CRD as mesh install renders it (another suite may have applied it already: apply is idempotent).
  const r = await mesh('install', '--crds', '--ignore-cluster')
  writeFileSync(path.join(tmp, 'crds.yaml'), r.stdout)
  await cluster.kubectl(['apply', '--server-side', '-f', path.join(tmp, 'crds.yaml')])
  await cluster.kubectl(['wait', '--for=condition=Established', `crd/${AUTHZ_PLURAL}.${AUTHZ_GROUP}`, '--timeout=60s'])
  await core.createNamespace({body: {metadata: {name: ns}}})
  for (const sa of ['books', 'web', 'admin']) await core.createNamespacedServiceAccount({namespace: ns, body: {metadata: {name: sa}}})
  await core.createNamespacedPod({namespace: ns, body: meshedPod('books-0', 'books', {app: 'books'})})
  await core.createNamespacedPod({namespace: ns, body: meshedPod('web-0', 'web', {app: 'web'})})
  await core.createNamespacedService({namespace: ns, body: {metadata: {name: 'books'}, spec: {selector: {app: 'books'}, ports: [{name: 'http', port: 80, targetPort: 'http'}]}}})

  local = await ensureLocalIdentityDir(path.join(tmp, 'ca'))
  const issuer = new FileIssuerSource(local.dir, silentLogger, 0)
  identity = await startIdentityService({issuer, validator: new KubernetesTokenValidator(k8s, kc), host: '127.0.0.1', port: 0, log: silentLogger})
  const log = createLogger({level: 'debug', write: (l) => void logs.push(l)})
  registry = new KubernetesRegistry({lib: k8s, kc, log: silentLogger})
  const state = new AuthzState(log)
  compiler = new AuthzCompiler(new KubernetesWorkloads(registry, {controlPlaneNamespace: 'mesh-system', trustDomain: 'cluster.local'}), state, new RouteState(), registry, {clusterDefault: 'all-unauthenticated', clusterNetworks: ['10.0.0.0/8'], clusterDomain: 'cluster.local'}, false)
  dest = await startDestinationService({registry, authz: compiler, serving: identity.serving, host: '127.0.0.1', port: 0, log: silentLogger})
  source = new KubernetesAuthz({lib: k8s, kc, state, log, pollMs: 300})
  await source.start()
  void source.synced.then(() => compiler.setReady())
  // Real certificates: a TokenRequest token of each ServiceAccount (audience identity.mesh.dev), checked by TokenReview.
  for (const sa of ['books', 'web', 'admin']) {
    const tr = await core.createNamespacedServiceAccountToken({name: sa, namespace: ns, body: {spec: {audiences: ['identity.mesh.dev'], expirationSeconds: 3600}}})
    certs[sa] = await certifyClient({identityUrl: `https://127.0.0.1:${identity.port}`, anchorsPem: local.anchorsPem, serviceName: identity.serviceName, serviceAccount: sa, namespace: ns, token: tr.status!.token!})
  }
})

afterAll(async () => {
  await source?.stop()
  await dest?.stop()
  compiler?.close()
  await identity?.stop()
  await core.deleteNamespace({name: ns}).catch(() => {})
  if (tmp) rmSync(tmp, {recursive: true, force: true})
})

const get = (target: string) => ({method: 'GET', target, header: () => undefined, grpc: false})

describe('watchAuthz against the API server', () => {
  it('a proxy gets its pod\'s policy: the cluster default and the kubelet probe from its spec (named port resolved)', async () => {
    const c = await socket('books')
    c.watch(1, ns, 'books-0')
    const p = await c.policy(1)
    expect(p).toMatchObject({workload: {namespace: ns, pod: 'books-0', serviceAccount: 'books', identity: identityName('books', ns)}, default: {policy: 'all-unauthenticated', source: 'cluster'}, rules: [], probes: [{port: 8080, method: 'GET', path: '/ready'}]})
    c.close()
  })

  it('kubectl apply and delete of a policy, a namespace annotation and a pod annotation reach the stream, live', async () => {
    const c = await socket('books')
    c.watch(2, ns, 'books-0')
    const first = await c.policy(2)
    let since = await apply(policy('web-to-books', {target: {service: {name: 'books'}}, from: [{serviceAccounts: [{name: 'web'}]}], to: [{ports: ['http']}]}))
    const withPolicy = await c.policy(2, (m) => m.rules.length === 1, 'the policy after kubectl apply')
    took('apply', since)
    expect(withPolicy.rules[0]).toEqual({policy: {namespace: ns, name: 'web-to-books'}, mode: 'enforce', target: {kind: 'service', ports: [8080]}, from: [{identities: [identityName('web', ns)]}], to: [{ports: [8080]}]})
    const m = new AuthzMatcher(withPolicy)
    expect(m.decide(8080, {identity: identityName('web', ns), ip: '10.1.1.1'}, get('/'))).toMatchObject({allow: true, policy: `${ns}/web-to-books`})
    expect(m.decide(8080, {identity: identityName('admin', ns), ip: '10.1.1.1'}, get('/')).allow).toBe(false)
    expect(m.decide(8080, {ip: '10.1.1.1'}, get('/ready')).reason).toBe('probe')

    since = Date.now()
    await cluster.kubectl(['annotate', 'namespace', ns, 'config.mesh.dev/default-inbound-policy=deny'])
    const nsDeny = await c.policy(2, (m2) => m2.default.source === 'namespace', 'the namespace default')
    took('namespace annotation', since)
    expect(nsDeny.default).toEqual({policy: 'deny', source: 'namespace'})

    since = Date.now()
    await cluster.kubectl(['annotate', 'pod', 'books-0', '-n', ns, 'config.mesh.dev/default-inbound-policy=audit'])
    expect((await c.policy(2, (m2) => m2.default.source === 'workload', 'the workload default')).default).toEqual({policy: 'audit', source: 'workload'})
    took('pod annotation', since)

    since = Date.now()
    await cluster.kubectl(['delete', 'authorizationpolicy', 'web-to-books', '-n', ns])
    const after = await c.policy(2, (m2) => m2.rules.length === 0, 'no rules after kubectl delete')
    took('delete', since)
    expect(after.revision).not.toBe(first.revision)
    await cluster.kubectl(['annotate', 'pod', 'books-0', '-n', ns, 'config.mesh.dev/default-inbound-policy-'])
    await cluster.kubectl(['annotate', 'namespace', ns, 'config.mesh.dev/default-inbound-policy-'])
    expect((await c.policy(2, (m2) => m2.default.source === 'cluster', 'the cluster default again')).revision).toBe(first.revision)
    c.close()
  })

  it('a policy the API server admits but the controller refuses (host bits) applies nothing, and the log says why', async () => {
    const c = await socket('books')
    c.watch(3, ns, 'books-0')
    const first = await c.policy(3)
    await apply(policy('loose', {target: {workload: {name: 'books'}}, from: [{networks: [{cidr: '10.1.2.3/8'}]}]}))
    await eventually('the refusal in the log', () => logs.find((l) => l.includes('an AuthorizationPolicy is refused') && l.includes(`${ns}/loose`)), {timeoutMs: 30_000})
    expect(logs.find((l) => l.includes(`${ns}/loose`))).toContain('has host bits set: write 10.0.0.0/8 for the network')
    expect((c.messages.filter((x) => x.id === 3 && x.type === 'authz').pop() as unknown as AuthzMessage).revision).toBe(first.revision)
    await cluster.kubectl(['delete', 'authorizationpolicy', 'loose', '-n', ns])
    c.close()
  })

  it('refuses a proxy watching another workload\'s policy (its certificate names another ServiceAccount)', async () => {
    const c = await socket('web')
    c.watch(1, ns, 'books-0')
    expect(await c.error(1)).toMatchObject({code: 'FORBIDDEN', message: `${identityName('web', ns)} may not watch the authorization policy of pod ${ns}/books-0: only that pod's own proxy (the identity of its ServiceAccount) may`})
    c.watch(2, ns, 'web-0')
    expect((await c.policy(2)).workload.serviceAccount).toBe('web')
    c.close()
  })

  it('a pod created after the watch began gets its policy once the informer sees it', async () => {
    const c = await socket('admin')
    c.watch(1, ns, 'admin-0')
    // Nothing is said about a pod that does not exist. A barrier, not a wait: a known pod watched
    // next on the same connection (another workload's, so the answer is FORBIDDEN) is answered
    // after anything the server had to say about admin-0 (one connection, requests in order).
    c.watch(2, ns, 'books-0')
    expect((await c.error(2)).code).toBe('FORBIDDEN')
    expect(c.messages.filter((m) => m.id === 1)).toEqual([])
    await core.createNamespacedPod({namespace: ns, body: meshedPod('admin-0', 'admin', {app: 'admin'})})
    expect((await c.policy(1)).workload.pod).toBe('admin-0')
    c.close()
  })
})
