// PRIVILEGED (as journey.test.ts): authorization policy end to end on the test cluster (issue
// 23), pods realized as network namespaces with real iptables interception. The controller on
// the host watches AuthorizationPolicies and Namespaces through the API server and streams each
// pod's policy to its proxy; callers are meshed pods with their own ServiceAccounts (web,
// reviews, stranger: mTLS through their own proxies), an unmeshed pod and the node (the host,
// where the pod runner's kubelet probes come from). Every change is a kubectl command; nothing
// is restarted. Counts are bounded; the time from `kubectl apply` to the first 403 is printed.
import {execFileSync} from 'node:child_process'
import {writeFileSync} from 'node:fs'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {parseAllDocuments} from 'yaml'
import type {AuthzReport} from '../../src/authz/report.js'
import {PodRunner} from './runner/runner.js'
import {BRIDGE, listOurNetns} from './runner/net.js'
import {eventually, finalizeNamespace, identity, installMesh, progress, proxyMetrics, runStep, STEP_MS, LONG_STEP_MS, LONG_TEST_MS, sumMetric, uninstallMesh} from './journey-kit.js'
import {cluster, controlPlaneEndpoints, deployment, expectOk, kubectl, mesh, meshAs, service, tokenKubeconfig, type HostController} from './mesh-env.js'

const NS = 'authz'
const LAN = 'authz-lan'
let runner: PodRunner
let controller: HostController | undefined
let kc = ''
const t0 = Date.now()

function step<T>(fn: () => Promise<T>, budgetMs = STEP_MS): Promise<T> {
  return runStep(fn, budgetMs, () => [`--- pods ---\n${runner?.describe() ?? '(no runner)'}`, controller ? `--- controller log ---\n${controller.log(60)}` : '--- controller: not started ---'])
}

const podOf = (ns: string, app: string): string => {
  const p = [...runner.pods.values()].find((x) => x.metadata.namespace === ns && x.metadata.labels?.app === app)
  if (!p) throw new Error(`no pod of ${app} in ${ns}`)
  return p.metadata.name as string
}
const books = () => podOf(NS, 'books')
const booksIp = () => runner.instance(NS, books())!.ip
const BOOKS_URL = `http://books.${NS}.svc.cluster.local/`

/**
 * From a meshed caller's pod: GET books until the status is `want` (every 100 ms, at most 60 s),
 * then its status, mesh-proxy-error, and the time since `since` (epoch ms, the same clock).
 */
async function until(caller: string, want: number, since = Date.now()): Promise<{status: number; header: string; ms: number}> {
  const script = `const [url, want, since] = process.argv.slice(1); const end = Date.now() + 60000
for (;;) {
  let status = 0, header = ''
  try { const r = await fetch(url); status = r.status; header = r.headers.get('mesh-proxy-error') ?? ''; await r.text() } catch (e) { header = String(e) }
  if (status === Number(want) || Date.now() > end) { process.stdout.write(JSON.stringify({status, header, ms: Date.now() - Number(since)})); break }
  await new Promise((r) => setTimeout(r, 100))
}`
  const r = await runner.exec(NS, podOf(NS, caller), [process.execPath, '--input-type=module', '-e', script, BOOKS_URL, String(want), String(since)])
  if (r.code !== 0) throw new Error(`polling books from ${caller}: ${r.stderr}`)
  return JSON.parse(r.stdout) as {status: number; header: string; ms: number}
}

/** `count` GETs to books from a meshed caller (through its proxy): the statuses. */
async function send(caller: string, count: number, url = BOOKS_URL, ns = NS): Promise<Record<string, number>> {
  const r = await runner.client(ns, podOf(ns, caller), ['http', url, String(count)])
  expect(r.ok + r.failed, r.raw).toBe(count)
  return r.statuses
}

/** A plaintext GET from the node (this host, on the pods' bridge) to the books pod itself. */
async function fromNode(p: string): Promise<{status: number; header: string | null}> {
  const r = await fetch(`http://${booksIp()}:8080${p}`, {signal: AbortSignal.timeout(20_000)})
  await r.text()
  return {status: r.status, header: r.headers.get('mesh-proxy-error')}
}

const metrics = (): Promise<string> => proxyMetrics(runner, NS, books())
const proxyLog = (): string => runner.instance(NS, books())!.log('mesh-proxy')

function policy(name: string, spec: Record<string, unknown>): string {
  return JSON.stringify({apiVersion: 'policy.mesh.dev/v1alpha1', kind: 'AuthorizationPolicy', metadata: {name, namespace: NS}, spec})
}

beforeAll(async () => {
  runner = await PodRunner.start(cluster, {namespaces: [NS, LAN], hostNamespaces: ['mesh-system']})
}, 60_000)

afterAll(async () => {
  await controller?.stop()
  await runner?.stop()
  process.stderr.write(`[e2e] authz ran ${((Date.now() - t0) / 1000).toFixed(1)} s\n`)
  expect(listOurNetns()).toEqual([])
  expect(execFileSync('ip', ['-o', 'link', 'show']).toString()).not.toContain(BRIDGE)
})

describe('authorization policy on the test cluster', () => {
  it('1. mesh installed; books (HTTP, an httpGet readiness probe) and three callers meshed by mesh inject; an unmeshed pod elsewhere', () => step(async () => {
    await installMesh(runner.dir, (c) => (controller = c))
    await controlPlaneEndpoints()
    kc = tokenKubeconfig(runner.dir)
    const app = [
      `apiVersion: v1\nkind: Namespace\nmetadata: {name: ${NS}}\n`,
      deployment(NS, 'books', 'mesh-e2e/http-echo:1', 8080, {httpProbe: '/ready'}), service(NS, 'books', 80, 8080),
      deployment(NS, 'web', 'mesh-e2e/tcp-echo:1', 9009), deployment(NS, 'reviews', 'mesh-e2e/tcp-echo:1', 9009), deployment(NS, 'stranger', 'mesh-e2e/tcp-echo:1', 9009),
    ].join('---\n')
    const file = path.join(runner.dir, 'authz-app.yaml')
    writeFileSync(file, app)
    await kubectl(['apply', '-f', '-'], expectOk(await mesh('inject', file), 'mesh inject'))
    await kubectl(['apply', '-f', '-'], [`apiVersion: v1\nkind: Namespace\nmetadata: {name: ${LAN}}\n`, deployment(LAN, 'lan', 'mesh-e2e/tcp-echo:1', 9009)].join('---\n'))
    await eventually('the pods', () => {
      try {
        return [books(), podOf(NS, 'web'), podOf(NS, 'reviews'), podOf(NS, 'stranger'), podOf(LAN, 'lan')]
      } catch {
        return undefined
      }
    }, {timeoutMs: 90_000, intervalMs: 100})
    await runner.waitReady([`${NS}/${books()}`, `${NS}/${podOf(NS, 'web')}`, `${NS}/${podOf(NS, 'reviews')}`, `${NS}/${podOf(NS, 'stranger')}`, `${LAN}/${podOf(LAN, 'lan')}`], 200_000)
    // The injector gave the proxy the probe; the default (all-unauthenticated) serves everyone.
    expect(runner.pods.get(`${NS}/${books()}`)!.spec.initContainers.find((c: {name: string}) => c.name === 'mesh-proxy').env).toContainEqual({name: 'MESH_PROXY_INBOUND_PROBES', value: JSON.stringify([{port: 8080, method: 'GET', path: '/ready'}])})
    expect(await send('web', 2)).toEqual({200: 2})
    expect(await send('reviews', 2)).toEqual({200: 2})
  }, LONG_STEP_MS), LONG_TEST_MS)

  it('2. kubectl apply of a policy: web passes, reviews gets 403 naming the policy within seconds, no restart', () => step(async () => {
    await kubectl(['apply', '-f', '-'], policy('web-only', {target: {workload: {kind: 'Deployment', name: 'books'}}, from: [{serviceAccounts: [{name: 'web'}]}]}))
    const applied = Date.now()
    const r = await until('reviews', 403, applied)
    progress(`2: reviews refused ${r.ms} ms after kubectl apply returned`)
    expect(r).toMatchObject({status: 403, header: `forbidden by authorization policy ${NS}/web-only: none allows this client`})
    expect(await send('web', 3)).toEqual({200: 3})
    expect(await send('reviews', 2)).toEqual({403: 2})
    const m = await metrics()
    expect(sumMetric(m, 'mesh_proxy_inbound_policy_denied_total', {policy: `${NS}/web-only`, client_id: identity('reviews', NS)})).toBeGreaterThanOrEqual(3)
    expect(sumMetric(m, 'mesh_proxy_inbound_policy_allowed_total', {policy: `${NS}/web-only`, client_id: identity('web', NS)})).toBe(3)
    expect(proxyLog().match(/ inbound listening /g), 'the proxy started once').toHaveLength(1)
  }))

  it('3. deleting the policy restores the default', () => step(async () => {
    await kubectl(['delete', 'authorizationpolicy', 'web-only', '-n', NS])
    expect(await until('reviews', 200)).toMatchObject({status: 200})
    expect(await send('reviews', 2)).toEqual({200: 2})
  }))

  it('4. audit mode serves what the policy would deny, counts it and logs it', () => step(async () => {
    await kubectl(['apply', '-f', '-'], policy('web-only', {mode: 'audit', target: {workload: {kind: 'Deployment', name: 'books'}}, from: [{serviceAccounts: [{name: 'web'}]}]}))
    const audited = async () => sumMetric(await metrics(), 'mesh_proxy_inbound_policy_audit_total', {policy: `${NS}/web-only`, client_id: identity('reviews', NS)})
    await eventually('the audit policy in force', async () => ((await send('reviews', 1))['200'] === 1 && (await audited()) > 0 ? true : undefined), {timeoutMs: 60_000})
    const before = await audited()
    expect(await send('reviews', 4)).toEqual({200: 4})
    expect((await audited()) - before).toBe(4)
    expect(proxyLog()).toContain(`authz audit: ${NS}/web-only would deny ${identity('reviews', NS)} on port 8080 GET /`)
    await kubectl(['delete', 'authorizationpolicy', 'web-only', '-n', NS])
  }))

  it('5. under the namespace default deny, kubelet-style probes from the node still get 200 (the runner\'s own probes keep books Ready); nothing else does', () => step(async () => {
    await kubectl(['annotate', 'namespace', NS, 'config.mesh.dev/default-inbound-policy=deny', '--overwrite'])
    const r = await until('reviews', 403)
    expect(r).toMatchObject({status: 403, header: 'forbidden by the default inbound policy deny (namespace)'})
    for (const p of ['/ready', '/ready?full=1']) expect((await fromNode(p)).status, p).toBe(200)
    expect(await fromNode('/other')).toEqual({status: 403, header: 'forbidden by the default inbound policy deny (namespace)'})
    expect(await send('web', 2)).toEqual({403: 2})
    // The runner's own readiness probes (GET /ready from the node, every second, NotReady after 3
    // failures in a row) keep passing under deny: 3 more allowed as probes, and books still Ready.
    const probes = async () => sumMetric(await metrics(), 'mesh_proxy_inbound_policy_allowed_total', {policy: 'probe'})
    const before = await probes()
    expect(before).toBeGreaterThanOrEqual(2)
    await eventually('3 of the runner\'s probes under deny', async () => ((await probes()) >= before + 3 ? true : undefined), {timeoutMs: 60_000})
    expect(runner.instance(NS, books())!.isReady()).toBe(true)
    await kubectl(['annotate', 'namespace', NS, 'config.mesh.dev/default-inbound-policy-'])
    expect(await until('reviews', 200)).toMatchObject({status: 200})
  }))

  it('6. networks: a plaintext client from the allowed CIDR passes, one from another is refused', () => step(async () => {
    const lanIp = runner.instance(LAN, podOf(LAN, 'lan'))!.ip
    await kubectl(['apply', '-f', '-'], policy('lan-only', {target: {workload: {kind: 'Deployment', name: 'books'}}, from: [{networks: [{cidr: `${lanIp}/32`}]}]}))
    expect(await until('reviews', 403)).toMatchObject({status: 403})
    expect(await send('lan', 3, `http://${booksIp()}:8080/`, LAN)).toEqual({200: 3})
    expect(await fromNode('/other')).toEqual({status: 403, header: `forbidden by authorization policy ${NS}/lan-only: none allows this client`})
    await kubectl(['delete', 'authorizationpolicy', 'lan-only', '-n', NS])
    expect(await until('reviews', 200)).toMatchObject({status: 200})
  }))

  it('7. mesh authz suggest, applied in enforce mode, lets the observed callers through and refuses a new one; mesh authz counts them', () => step(async () => {
    const yaml = expectOk(await meshAs(kc, 'authz', 'suggest', 'deploy/books', '-n', NS, '--mode', 'enforce'), 'mesh authz suggest')
    const docs = parseAllDocuments(yaml).map((d) => d.toJS() as {metadata: {name: string}; spec: {from: unknown}})
    expect(docs.map((d) => d.metadata.name)).toEqual(['books-callers'])
    expect(docs[0]!.spec.from).toEqual([{serviceAccounts: [{name: 'reviews'}, {name: 'web'}]}])
    await kubectl(['apply', '-f', '-'], yaml)
    const r = await until('stranger', 403)
    expect(r).toMatchObject({status: 403, header: `forbidden by authorization policy ${NS}/books-callers: none allows this client`})
    expect(await send('web', 2)).toEqual({200: 2})
    expect(await send('reviews', 2)).toEqual({200: 2})
    const report = JSON.parse(expectOk(await meshAs(kc, 'authz', 'deploy/books', '-n', NS, '-o', 'json'), 'mesh authz')) as AuthzReport
    expect(report.observed.policies?.[`${NS}/books-callers`]).toMatchObject({allowed: 4})
    expect(report.observed.policies?.[`${NS}/books-callers`]?.denied).toBeGreaterThanOrEqual(1)
  }))

  it('8. mesh uninstall removes the policies with the CRD; the namespaces go too (the cluster is shared with the journey)', () => step(async () => {
    await uninstallMesh(runner, [NS, LAN], controller)
    await eventually('the CRD gone', async () => ((await kubectl(['get', 'crd', '-o', 'name'])).includes('authorizationpolicies.policy.mesh.dev') ? undefined : true), {timeoutMs: 60_000})
    for (const ns of [NS, LAN]) {
      await kubectl(['delete', 'namespace', ns, '--wait=false'])
      await finalizeNamespace(ns)
    }
  }))
})
