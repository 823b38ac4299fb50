// Authorization policy from the control plane, enforced by a running proxy
// (docs/architecture/authz.md, "What a proxy must do"): the real controller in local mode
// (AuthorizationPolicies and HTTPRoutes in its registry file, the cluster default given at
// start) streams the pod's policy over the real destination connection to a real proxy, which
// holds the real certificate that controller's identity service issued for its ServiceAccount;
// clients are real HTTP/1, HTTP/2, gRPC and TCP clients, over mTLS with certificates of other
// ServiceAccounts (web, reviews) or plaintext from chosen loopback addresses. Every change is a
// file edit, applied without restart; counts are read from the proxy's /metrics and through
// `mesh authz`. Runs under the HTTP/1 codec MESH_PROXY_HTTP1_CODEC selects (run it under both).
import {mkdtempSync, renameSync, rmSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {stringify} from 'yaml'
import type {AuthzReport} from '../../src/authz/report.js'
import {parseMetrics} from '../../src/metrics/parse.js'
import {startController, type RunningController} from '../../src/control/controller.js'
import {controllerIdentityName, ensureLocalIdentityDir, issueLocalToken} from '../../src/control/identity/index.js'
import {createLogger} from '../../src/control/logger.js'
import type {AuthzPolicy, DefaultInboundPolicy} from '../../src/protocol/authz.js'
import {identityName} from '../../src/protocol/proxy-env.js'
import {DestinationClient} from '../../src/proxy/discovery/destination-client.js'
import {startIdentity, type ProxyIdentity} from '../../src/proxy/identity/index.js'
import {writeLocalContext} from '../../src/tapclient/local-context.js'
import {certifyClient} from '../helpers/authz-client.js'
import {eventually} from '../helpers/eventually.js'
import {runMesh} from '../helpers/run.js'
import {withEnv} from '../tap/harness.js'
import {agentFor, grpcSay, h1, h2, openTcp, seriesValue, startAuthzPod, tcpEcho, type AuthzPod, type ClientCert} from './authz-harness.js'

const NS = 'shop'
const GRPC_HEALTH = '/grpc.health.v1.Health/Check'

interface World {
  dir: string
  registryFile: string
  controller: RunningController
  identity: ProxyIdentity
  discovery: DestinationClient
  pod: AuthzPod
  web: ClientCert
  reviews: ClientCert
  stop(): Promise<void>
}

const policy = (name: string, spec: Record<string, unknown>) => ({apiVersion: 'policy.mesh.dev/v1alpha1', kind: 'AuthorizationPolicy', metadata: {name, namespace: NS}, spec})

function registry(w: Pick<World, 'pod'>, policies: unknown[], routes: unknown[] = []): Record<string, unknown> {
  const ep = (port: number) => ({address: '127.0.0.1', port, pod: 'books-0', serviceAccount: 'books', deployment: 'books', labels: {app: 'books'}})
  const p = w.pod.ports
  return {
    services: [
      {name: 'books', namespace: NS, ports: [{port: 8080, endpoints: [ep(p.http)]}]},
      {name: 'books-h2', namespace: NS, ports: [{port: 8081, endpoints: [ep(p.h2)]}]},
      {name: 'books-grpc', namespace: NS, ports: [{port: 9090, endpoints: [ep(p.grpc)]}]},
      {name: 'books-tcp', namespace: NS, ports: [{port: 7000, endpoints: [ep(p.tcp)]}]},
    ],
    pods: [{name: 'books-0', namespace: NS, deployment: 'books', serviceAccount: 'books', admin: `127.0.0.1:${w.pod.admin.address.port}`}],
    authorizationPolicies: policies,
    routes,
  }
}

function write(w: World, doc: Record<string, unknown>): void {
  writeFileSync(`${w.registryFile}.tmp`, stringify(doc))
  renameSync(`${w.registryFile}.tmp`, w.registryFile)
}

/** Writes the file and waits until the proxy holds the policy the controller compiled from it (`pred`). */
async function apply(w: World, policies: unknown[], pred: (p: AuthzPolicy) => boolean, routes: unknown[] = []): Promise<AuthzPolicy> {
  write(w, registry(w, policies, routes))
  const p = await eventually('the controller compiles the file', () => {
    const r = w.controller.ctx.authz!.get(NS, 'books-0')
    return r.kind === 'policy' && pred(r.policy) ? r.policy : undefined
  }, {timeoutMs: 30_000, intervalMs: 20})
  await eventually(`the proxy holds revision ${p.revision}`, () => (w.pod.logs.some((l) => l.includes(`revision=${p.revision}`)) ? true : undefined), {timeoutMs: 30_000, intervalMs: 20, context: () => w.pod.logs.slice(-5).join('')})
  return p
}

async function world(defaultInboundPolicy: DefaultInboundPolicy, probes: Array<{kind: 'http' | 'grpc'; method: 'GET' | 'POST'; path: string}> = []): Promise<World> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mesh-proxy-authz-'))
  const registryFile = path.join(dir, 'registry.yaml')
  writeFileSync(registryFile, 'services: []\n')
  const identityDir = path.join(dir, 'identity')
  const controller = await startController({
    mode: 'local', identityDir, registryFile, identityPort: 0, destinationPort: 0, tapPort: 0, defaultInboundPolicy,
    log: createLogger({level: 'error', write: () => {}}),
  })
  const local = await ensureLocalIdentityDir(identityDir)
  const idService = controller.ctx.identity!
  const tokenFile = path.join(dir, 'books.token')
  writeFileSync(tokenFile, issueLocalToken('books', NS, local.tokenSecret))
  const identity = await startIdentity({
    localName: identityName('books', NS), identityAddr: `https://127.0.0.1:${idService.port}`, identityServiceName: idService.serviceName,
    tokenFile, trustAnchorsPem: local.anchorsPem,
  })
  await identity.ready()
  const discovery = new DestinationClient({addr: `wss://127.0.0.1:${controller.ctx.destination!.port}`, namespace: NS, identity, trustAnchorsPem: local.anchorsPem, serverName: controllerIdentityName()})
  const pod = await startAuthzPod({namespace: NS, pod: 'books-0', identity: identity as ProxyIdentity & {localName: string}, anchorsPem: local.anchorsPem, discovery, probeKinds: probes})
  const cert = (sa: string): Promise<ClientCert> => certifyClient({identityUrl: `https://127.0.0.1:${idService.port}`, anchorsPem: local.anchorsPem, serviceName: idService.serviceName, serviceAccount: sa, namespace: NS, token: issueLocalToken(sa, NS, local.tokenSecret)})
  const [web, reviews] = await Promise.all([cert('web'), cert('reviews')])
  const w: World = {
    dir, registryFile, controller, identity, discovery, pod, web, reviews,
    stop: async () => {
      await pod.stop()
      discovery.close()
      identity.close()
      await controller.stop()
      rmSync(dir, {recursive: true, force: true})
    },
  }
  await apply(w, [], (p) => p.rules.length === 0)
  return w
}

const forbidden = (name: string) => `forbidden by authorization policy ${NS}/${name}: none allows this client`
const metric = (w: World, family: string, labels: Record<string, string>) => seriesValue(w.pod.metrics(), family, labels) ?? 0

describe('under the default all-unauthenticated (mesh\'s default), policies from the control plane', () => {
  let w: World
  beforeAll(async () => {
    w = await world('all-unauthenticated')
  }, 120_000)
  afterAll(async () => {
    await w?.stop()
  })

  it('before any policy: the default serves plaintext and mTLS clients, counted by default:all-unauthenticated', async () => {
    expect((await h1(w.pod, '/a', {from: '127.0.0.2'})).status).toBe(200)
    expect((await h1(w.pod, '/a', {cert: w.web})).status).toBe(200)
    expect(metric(w, 'mesh_proxy_inbound_policy_allowed_total', {policy: 'default:all-unauthenticated'})).toBe(1)
    expect(metric(w, 'mesh_proxy_inbound_policy_allowed_total', {policy: 'default:all-unauthenticated', client_id: w.web.identity})).toBe(1)
  })

  it('an enforce policy lets its ServiceAccount in on its ports, methods and paths; everyone else gets 403 naming it (HTTP/1, HTTP/2), PERMISSION_DENIED (gRPC), a closed connection (TCP); nothing refused reaches an app', async () => {
    const p = w.pod.ports
    await apply(w, [policy('web-to-books', {
      target: {workload: {name: 'books'}}, from: [{serviceAccounts: [{name: 'web'}]}],
      to: [{ports: [p.http], methods: ['GET'], paths: [{type: 'PathPrefix', value: '/api'}]}, {ports: [p.h2, p.grpc, p.tcp]}],
    })], (x) => x.rules.length === 1)
    const before = {...w.pod.arrivals}
    const refusedBefore = metric(w, 'mesh_proxy_refused_total', {reason: 'forbidden'})
    // HTTP/1
    expect((await h1(w.pod, '/api/books/1', {cert: w.web})).status).toBe(200)
    for (const [path, method, caller] of [['/api/books/1', 'POST', {cert: w.web}], ['/other', 'GET', {cert: w.web}], ['/api/books/1', 'GET', {cert: w.reviews}], ['/api/books/1', 'GET', {from: '127.0.0.2'}]] as const) {
      const r = await h1(w.pod, path, caller, {method})
      expect(r.status, `${method} ${path}`).toBe(403)
      expect(r.headers['mesh-proxy-error']).toBe(forbidden('web-to-books'))
      expect(r.body).toBe(`${forbidden('web-to-books')}\n`)
    }
    // An Upgrade (WebSocket) request is a request like the others.
    const up = await h1(w.pod, '/api/socket', {cert: w.reviews}, {headers: {connection: 'Upgrade', upgrade: 'websocket'}})
    expect([up.status, up.headers['mesh-proxy-error']]).toEqual([403, forbidden('web-to-books')])
    // HTTP/2 (over mTLS and h2c), on one connection each
    const [ok] = await h2(w.pod, 'h2', [{path: '/x'}], {cert: w.web})
    expect([ok!.status, ok!.body]).toEqual([200, 'h2 GET /x'])
    const denied = await h2(w.pod, 'h2', [{path: '/x'}, {path: '/y'}], {cert: w.reviews})
    expect(denied.map((r) => [r.status, r.headers['mesh-proxy-error']])).toEqual([[403, forbidden('web-to-books')], [403, forbidden('web-to-books')]])
    // gRPC
    expect(await grpcSay(w.pod, 'hello', {cert: w.web})).toEqual({code: 0, details: '', echo: 'hello'})
    expect(await grpcSay(w.pod, 'hello', {cert: w.reviews})).toEqual({code: 7, details: forbidden('web-to-books'), proxyError: forbidden('web-to-books')})
    // Opaque TCP
    expect((await tcpEcho(w.pod, {cert: w.web})).toString('latin1')).toBe('\x00\x01\x02\x03ok')
    expect((await tcpEcho(w.pod, {cert: w.reviews})).length).toBe(0)
    expect((await tcpEcho(w.pod, {from: '127.0.0.2'})).length).toBe(0)
    expect(w.pod.arrivals).toEqual({http: before.http + 1, h2: before.h2 + 1, grpc: before.grpc + 1, tcp: before.tcp + 1})
    // The refused TCP connection is in /errors for `mesh explain`, under the caller's identity.
    expect(w.pod.errors.report(w.reviews.identity).errors).toContainEqual(expect.objectContaining({direction: 'inbound', kind: 'forbidden', message: expect.stringContaining('web-to-books')}))
    // Counted: per policy and client, and as refusals.
    expect(metric(w, 'mesh_proxy_inbound_policy_allowed_total', {policy: `${NS}/web-to-books`, client_id: w.web.identity})).toBe(4)
    expect(metric(w, 'mesh_proxy_inbound_policy_denied_total', {policy: `${NS}/web-to-books`, client_id: w.web.identity})).toBe(2)
    expect(metric(w, 'mesh_proxy_inbound_policy_denied_total', {policy: `${NS}/web-to-books`, client_id: w.reviews.identity})).toBe(6)
    expect(metric(w, 'mesh_proxy_inbound_policy_denied_total', {policy: `${NS}/web-to-books`})).toBe(2)
    expect(metric(w, 'mesh_proxy_refused_total', {reason: 'forbidden'}) - refusedBefore).toBe(10)
  })

  it('a change applies to the next request on a kept-alive connection, without restart; the connection stays usable after a 403', async () => {
    const both = (sas: string[]) => policy('web-to-books', {target: {workload: {name: 'books'}}, from: [{serviceAccounts: sas.map((name) => ({name}))}]})
    await apply(w, [both(['web', 'reviews'])], (x) => x.rules[0]?.from[0]?.identities?.length === 2)
    const agent = agentFor(w.pod, {cert: w.reviews})
    try {
      expect((await h1(w.pod, '/k/1', {cert: w.reviews}, {agent})).status).toBe(200)
      await apply(w, [both(['web'])], (x) => x.rules[0]?.from[0]?.identities?.length === 1)
      const second = await h1(w.pod, '/k/2', {cert: w.reviews}, {agent})
      expect([second.status, second.reused]).toEqual([403, true])
      const third = await h1(w.pod, '/k/3', {cert: w.reviews}, {agent})
      expect([third.status, third.reused]).toEqual([403, true])
      await apply(w, [both(['web', 'reviews'])], (x) => x.rules[0]?.from[0]?.identities?.length === 2)
      const fourth = await h1(w.pod, '/k/4', {cert: w.reviews}, {agent})
      expect([fourth.status, fourth.reused]).toEqual([200, true])
    } finally {
      agent.destroy()
    }
  })

  it('a change closes the open TCP connections it no longer allows, counted and recorded; the ones it allows keep flowing', async () => {
    const both = (sas: string[]) => policy('tcp-open', {target: {workload: {name: 'books'}}, from: [{serviceAccounts: sas.map((name) => ({name}))}], to: [{ports: [w.pod.ports.tcp]}]})
    await apply(w, [both(['web', 'reviews'])], (x) => x.rules[0]?.from[0]?.identities?.length === 2)
    const web = await openTcp(w.pod, {cert: w.web})
    const reviews = await openTcp(w.pod, {cert: w.reviews})
    try {
      expect((await web.echo(Buffer.from('one'))).toString()).toBe('one')
      expect((await reviews.echo(Buffer.from('one'))).toString()).toBe('one')
      // A connection that closed before the change is no longer followed: the change counts
      // only the one still open (a closed one left behind would be counted, and would leak).
      const closes = () => (parseMetrics(w.pod.metrics()).get('tcp_close_total')?.samples ?? []).reduce((a, x) => a + x.value, 0)
      const closedBefore = closes()
      const early = await openTcp(w.pod, {cert: w.reviews})
      expect((await early.echo(Buffer.from('early'))).toString()).toBe('early')
      early.destroy()
      await eventually('the proxy to see the early connection close', () => (closes() > closedBefore ? true : undefined), {timeoutMs: 10_000, intervalMs: 20})
      const refused = metric(w, 'mesh_proxy_refused_total', {reason: 'forbidden'})
      const denied = metric(w, 'mesh_proxy_inbound_policy_denied_total', {policy: `${NS}/tcp-open`, client_id: w.reviews.identity})
      await apply(w, [both(['web'])], (x) => x.rules[0]?.from[0]?.identities?.length === 1)
      await eventually('the proxy to close the connection the policy no longer allows', () => (reviews.isClosed() ? true : undefined), {timeoutMs: 10_000, intervalMs: 20})
      expect(metric(w, 'mesh_proxy_refused_total', {reason: 'forbidden'})).toBe(refused + 1)
      expect(metric(w, 'mesh_proxy_inbound_policy_denied_total', {policy: `${NS}/tcp-open`, client_id: w.reviews.identity})).toBe(denied + 1)
      expect(w.pod.errors.report(w.reviews.identity).errors[0]).toMatchObject({direction: 'inbound', kind: 'forbidden', message: expect.stringMatching(/tcp-open no longer allows this connection/)})
      // web's stays open and carries bytes.
      expect((await web.echo(Buffer.from('two'))).toString()).toBe('two')
      // A change that still allows it leaves it alone.
      await apply(w, [both(['web', 'reviews'])], (x) => x.rules[0]?.from[0]?.identities?.length === 2)
      expect((await web.echo(Buffer.from('three'))).toString()).toBe('three')
    } finally {
      web.destroy()
      reviews.destroy()
    }
  })

  it('audit mode: what the policy would deny is served, counted per policy and client, and logged once a minute per caller', async () => {
    await apply(w, [policy('audit-web', {mode: 'audit', target: {workload: {name: 'books'}}, from: [{serviceAccounts: [{name: 'web'}]}]})], (x) => x.rules[0]?.mode === 'audit')
    const before = w.pod.arrivals.http
    for (let i = 0; i < 3; i++) expect((await h1(w.pod, `/audit/${i}?q=secret`, {cert: w.reviews})).status).toBe(200)
    expect((await h1(w.pod, '/audit/web', {cert: w.web})).status).toBe(200)
    expect(w.pod.arrivals.http).toBe(before + 4)
    expect(metric(w, 'mesh_proxy_inbound_policy_audit_total', {policy: `${NS}/audit-web`, client_id: w.reviews.identity})).toBe(3)
    expect(metric(w, 'mesh_proxy_inbound_policy_audit_total', {policy: `${NS}/audit-web`, client_id: w.web.identity})).toBe(0)
    const lines = w.pod.logs.filter((l) => l.includes('authz audit:'))
    expect(lines).toHaveLength(1)
    expect(lines[0]).toContain(`INFO  authz audit: ${NS}/audit-web would deny ${w.reviews.identity} on port ${w.pod.ports.http} GET /audit/0`)
    expect(lines[0]).not.toContain('secret')
  })

  it('networks: plaintext clients from an allowed CIDR pass, others (and the excepted range) are refused', async () => {
    await apply(w, [policy('lan', {target: {workload: {name: 'books'}}, from: [{networks: [{cidr: '127.0.0.0/29', except: ['127.0.0.3/32']}]}]})], (x) => x.rules[0]?.policy.name === 'lan')
    expect((await h1(w.pod, '/n', {from: '127.0.0.2'})).status).toBe(200)
    expect((await h1(w.pod, '/n', {from: '127.0.0.3'})).status).toBe(403)
    expect((await h1(w.pod, '/n', {from: '127.0.0.9'})).status).toBe(403)
    expect((await tcpEcho(w.pod, {from: '127.0.0.4'})).toString('latin1')).toBe('\x00\x01\x02\x03ok')
    expect((await tcpEcho(w.pod, {from: '127.0.0.9'})).length).toBe(0)
  })

  it('a route-targeted policy covers the requests its route selects; inbound series carry the route labels', async () => {
    const route = {kind: 'HTTPRoute', metadata: {name: 'books-admin', namespace: NS}, spec: {parentRefs: [{group: '', kind: 'Service', name: 'books', port: 8080}], rules: [{matches: [{path: {type: 'PathPrefix', value: '/admin'}}]}]}}
    await apply(w, [policy('admins', {target: {route: {kind: 'HTTPRoute', name: 'books-admin'}}, from: [{serviceAccounts: [{name: 'web'}]}]})], (x) => x.rules[0]?.target.kind === 'route', [route])
    expect((await h1(w.pod, '/admin/x', {cert: w.web})).status).toBe(200)
    const r = await h1(w.pod, '/admin/y', {cert: w.reviews})
    expect([r.status, r.headers['mesh-proxy-error']]).toEqual([403, forbidden('admins')])
    // Not the route's: the default decides.
    expect((await h1(w.pod, '/public', {cert: w.reviews})).status).toBe(200)
    const text = w.pod.metrics()
    expect(seriesValue(text, 'request_total', {route: 'books-admin', route_kind: 'HTTPRoute', client_id: w.reviews.identity}, ['direction', 'namespace', 'pod', 'deployment', 'authority', 'tls', 'server_id', 'dst_namespace', 'dst_pod'])).toBe(1)
    // A request the route does not select has none.
    expect(seriesValue(text, 'request_total', {client_id: w.reviews.identity}, ['direction', 'namespace', 'pod', 'deployment', 'authority', 'tls', 'server_id', 'dst_namespace', 'dst_pod'])).toBeGreaterThanOrEqual(1)
  })

  it('mesh authz reads the proxy\'s allowed and denied counts per policy', async () => {
    await apply(w, [policy('web-to-books', {target: {workload: {name: 'books'}}, from: [{serviceAccounts: [{name: 'web'}]}]})], (x) => x.rules[0]?.policy.name === 'web-to-books' && x.rules[0].to.length === 0)
    expect((await h1(w.pod, '/c', {cert: w.reviews})).status).toBe(403)
    const home = path.join(w.dir, 'home')
    writeLocalContext({version: 1, pid: process.pid, tap: w.controller.ctx.tap!.server!.url, token: w.controller.ctx.tap!.token!, namespace: NS}, {MESH_HOME: home})
    const restore = withEnv({MESH_HOME: home, KUBECONFIG: '/nonexistent/kubeconfig'})
    try {
      const r = await runMesh(['authz', 'deploy/books', '-o', 'json'])
      expect(r.exitCode, r.stderr).toBe(0)
      const report = JSON.parse(r.stdout) as AuthzReport
      const text = w.pod.metrics()
      const counts = (label: string) => ({
        allowed: seriesValue(text, 'mesh_proxy_inbound_policy_allowed_total', {policy: label}, ['direction', 'client_id']) ?? 0,
        denied: seriesValue(text, 'mesh_proxy_inbound_policy_denied_total', {policy: label}, ['direction', 'client_id']) ?? 0,
        audit: seriesValue(text, 'mesh_proxy_inbound_policy_audit_total', {policy: label}, ['direction', 'client_id']) ?? 0,
      })
      for (const label of [`${NS}/web-to-books`, `${NS}/audit-web`, 'default:all-unauthenticated']) expect(report.observed.policies?.[label], label).toEqual(counts(label))
      expect(report.observed.policies?.[`${NS}/web-to-books`]?.denied).toBeGreaterThan(0)
      // Per caller too (what `mesh authz suggest` leaves out a caller on: refused every time).
      const byClient = (family: string, id: string) => seriesValue(text, family, {client_id: id}, ['direction', 'policy']) ?? 0
      for (const id of [w.web.identity, w.reviews.identity]) {
        expect(report.observed.callers.find((c) => c.clientId === id)?.decisions, id).toEqual({allowed: byClient('mesh_proxy_inbound_policy_allowed_total', id), denied: byClient('mesh_proxy_inbound_policy_denied_total', id), audit: byClient('mesh_proxy_inbound_policy_audit_total', id)})
      }
      const table = await runMesh(['authz', 'deploy/books'])
      expect(table.stderr).not.toContain('not available')
    } finally {
      restore()
    }
  })

  it('deleting the policies restores the default', async () => {
    await apply(w, [], (x) => x.rules.length === 0)
    expect((await h1(w.pod, '/d', {cert: w.reviews})).status).toBe(200)
    expect((await h1(w.pod, '/d', {from: '127.0.0.9'})).status).toBe(200)
    expect((await grpcSay(w.pod, 'back', {cert: w.reviews})).code).toBe(0)
  })
})

describe('under the default deny', () => {
  let w: World
  beforeAll(async () => {
    w = await world('deny', [{kind: 'http', method: 'GET', path: '/healthz'}, {kind: 'grpc', method: 'POST', path: GRPC_HEALTH}])
  }, 120_000)
  afterAll(async () => {
    await w?.stop()
  })

  it('kubelet probes pass in plaintext (method, port and exact path); nothing else does, mTLS included', async () => {
    const before = w.pod.arrivals.http
    expect((await h1(w.pod, '/healthz', {from: '127.0.0.2'})).status).toBe(200)
    expect((await h1(w.pod, '/healthz?verbose=1', {from: '127.0.0.2'})).status).toBe(200)
    expect(w.pod.arrivals.http).toBe(before + 2)
    const deny = `forbidden by the default inbound policy deny (cluster)`
    for (const [p, method, caller] of [['/healthz/x', 'GET', {}], ['/healthz', 'POST', {}], ['/healthz', 'GET', {cert: w.web}], ['/', 'GET', {}]] as const) {
      const r = await h1(w.pod, p, caller, {method})
      expect([r.status, r.headers['mesh-proxy-error']], `${method} ${p}`).toEqual([403, deny])
    }
    expect(w.pod.arrivals.http).toBe(before + 2)
    // The gRPC health check reaches the app (which has no health service: UNIMPLEMENTED, from grpc-js).
    const [probe, other] = await h2(w.pod, 'grpc', [{path: GRPC_HEALTH, method: 'POST', headers: {'content-type': 'application/grpc'}}, {path: '/e2e.Echo/Say', method: 'POST', headers: {'content-type': 'application/grpc'}}])
    expect([probe!.status, probe!.headers['grpc-status'] ?? probe!.trailers['grpc-status']]).toEqual([200, '12'])
    expect([other!.status, other!.headers['grpc-status'], other!.headers['mesh-proxy-error']]).toEqual([200, '7', deny])
    expect((await grpcSay(w.pod, 'x', {cert: w.web})).code).toBe(7)
    expect((await tcpEcho(w.pod, {cert: w.web})).length).toBe(0)
    expect(metric(w, 'mesh_proxy_inbound_policy_allowed_total', {policy: 'probe'})).toBe(3)
  })

  it('a policy opens exactly what it names; deleting it restores deny', async () => {
    await apply(w, [policy('web-tcp', {target: {workload: {name: 'books'}}, from: [{serviceAccounts: [{name: 'web'}]}], to: [{ports: [w.pod.ports.tcp]}]})], (x) => x.rules.length === 1)
    expect((await tcpEcho(w.pod, {cert: w.web})).toString('latin1')).toBe('\x00\x01\x02\x03ok')
    expect((await tcpEcho(w.pod, {cert: w.reviews})).length).toBe(0)
    expect((await h1(w.pod, '/x', {cert: w.web})).status).toBe(403)
    expect((await h1(w.pod, '/healthz', {from: '127.0.0.2'})).status).toBe(200)
    await apply(w, [], (x) => x.rules.length === 0)
    expect((await tcpEcho(w.pod, {cert: w.web})).length).toBe(0)
  })
})
