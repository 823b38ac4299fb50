// `mesh authz` and `mesh authz suggest` end to end in local mode: the controller as `mesh
// controller --mode local` runs it (identity, destination, the authz compiler over the registry
// file, the tap server), real proxies with identities it certified (web and reviews call books
// over mTLS through their outbound sides, discovered from the controller), and the CLI in
// process through the local context file. The suggestion is then written into the registry file
// in enforce mode: the policy the controller sends books' proxy lets exactly the observed
// callers in (decided by the reference evaluator, src/authz/evaluate.ts, which the proxy half
// will apply) and refuses a caller it never saw.
import {mkdtempSync, renameSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {parseAllDocuments, stringify} from 'yaml'
import {AuthzMatcher} from '../../src/authz/evaluate.js'
import type {AuthzReport} from '../../src/authz/report.js'
import {validatePolicy} from '../../src/authz/validate.js'
import {startController, type RunningController} from '../../src/control/controller.js'
import {controllerIdentityName, ensureLocalIdentityDir, issueLocalToken} from '../../src/control/identity/index.js'
import {createLogger} from '../../src/control/logger.js'
import type {AuthzPolicy} from '../../src/protocol/authz.js'
import {identityName} from '../../src/protocol/proxy-env.js'
import {DestinationClient} from '../../src/proxy/discovery/destination-client.js'
import {startIdentity, type ProxyIdentity} from '../../src/proxy/identity/index.js'
import {writeLocalContext} from '../../src/tapclient/local-context.js'
import {eventually} from '../helpers/eventually.js'
import {runMesh} from '../helpers/run.js'
import {send, startMeshPod, withEnv, type MeshPod} from '../tap/harness.js'

const NS = 'shop'
const BOOKS = 'books.shop.svc.cluster.local'
let dir: string
let registryFile: string
let controller: RunningController
let books: MeshPod
let web: MeshPod
let reviews: MeshPod
const ids: ProxyIdentity[] = []
const clients: DestinationClient[] = []
let restoreEnv: () => void

function writeRegistry(doc: Record<string, unknown>): void {
  writeFileSync(`${registryFile}.tmp`, stringify(doc))
  renameSync(`${registryFile}.tmp`, registryFile)
}

function registry(policies: unknown[]): Record<string, unknown> {
  const pod = (p: MeshPod, sa: string) => ({name: p.info.name, namespace: NS, deployment: p.info.owner.name, serviceAccount: sa, tap: p.info.tapAddress, admin: p.info.adminAddress, inbound: p.info.inboundAddress})
  return {
    services: [{name: 'books', namespace: NS, ports: [{port: 80, endpoints: [{address: '127.0.0.1', port: books.proxy.ports.inbound, serviceAccount: 'books', pod: 'books-0', deployment: 'books', labels: {app: 'books'}}]}]}],
    pods: [pod(books, 'books'), pod(web, 'web'), pod(reviews, 'reviews')],
    authorizationPolicies: policies,
  }
}

async function policyOfBooks(pred: (p: AuthzPolicy) => boolean, what: string): Promise<AuthzPolicy> {
  return eventually(what, () => {
    const p = controller.ctx.authz!.get(NS, 'books-0')
    return p.kind === 'policy' && pred(p.policy) ? p.policy : undefined
  }, {timeoutMs: 20_000})
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'mesh-authz-cli-'))
  registryFile = path.join(dir, 'registry.yaml')
  writeFileSync(registryFile, 'services: []\n')
  const identityDir = path.join(dir, 'identity')
  controller = await startController({
    mode: 'local', identityDir, registryFile, identityPort: 0, destinationPort: 0, tapPort: 0,
    log: createLogger({level: 'error', write: () => {}}),
  })
  const local = await ensureLocalIdentityDir(identityDir)
  const identity = async (sa: string): Promise<ProxyIdentity> => {
    const tokenFile = path.join(dir, `${sa}.token`)
    writeFileSync(tokenFile, issueLocalToken(sa, NS, local.tokenSecret))
    const id = await startIdentity({
      localName: identityName(sa, NS), identityAddr: `https://127.0.0.1:${controller.ctx.identity!.port}`, identityServiceName: controller.ctx.identity!.serviceName,
      tokenFile, trustAnchorsPem: local.anchorsPem,
    })
    ids.push(id)
    await id.ready()
    return id
  }
  const discovery = (id: ProxyIdentity): DestinationClient => {
    const c = new DestinationClient({addr: `wss://127.0.0.1:${controller.ctx.destination!.port}`, namespace: NS, identity: id, trustAnchorsPem: local.anchorsPem, serverName: controllerIdentityName()})
    clients.push(c)
    return c
  }
  books = await startMeshPod({namespace: NS, name: 'books-0', deployment: 'books', identity: await identity('books')})
  const webId = await identity('web')
  web = await startMeshPod({namespace: NS, name: 'web-0', deployment: 'web', identity: webId, discovery: discovery(webId)})
  const reviewsId = await identity('reviews')
  reviews = await startMeshPod({namespace: NS, name: 'reviews-0', deployment: 'reviews', identity: reviewsId, discovery: discovery(reviewsId)})
  writeRegistry(registry([{metadata: {name: 'web-only', namespace: NS}, spec: {mode: 'audit', target: {workload: {name: 'books'}}, from: [{serviceAccounts: [{name: 'web'}]}]}}]))
  await policyOfBooks((p) => p.rules.length === 1, 'the audit policy on books-0')
  // Bounded traffic: web 6 requests, reviews 3, each through its outbound proxy, over mTLS.
  for (let i = 0; i < 6; i++) expect((await send(web, BOOKS, `/web/${i}`)).status).toBe(200)
  for (let i = 0; i < 3; i++) expect((await send(reviews, BOOKS, `/reviews/${i}`)).status).toBe(200)
  const home = path.join(dir, 'home')
  writeLocalContext({version: 1, pid: process.pid, tap: controller.ctx.tap!.server!.url, token: controller.ctx.tap!.token!, namespace: NS}, {MESH_HOME: home})
  restoreEnv = withEnv({MESH_HOME: home, KUBECONFIG: '/nonexistent/kubeconfig'})
}, 120_000)

afterAll(async () => {
  restoreEnv?.()
  for (const c of clients) c.close()
  await Promise.all([books?.stop(), web?.stop(), reviews?.stop()])
  for (const id of ids) id.close()
  await controller?.stop()
  if (dir) rmSync(dir, {recursive: true, force: true})
})

describe('mesh authz <workload> (local control plane, real proxies over mTLS)', () => {
  it('-o json: the policy the controller sends the pod, and who called it, by verified identity and port', async () => {
    const r = await runMesh(['authz', 'deploy/books', '-o', 'json'])
    expect(r.stderr).toBe('')
    expect(r.exitCode).toBe(0)
    const report = JSON.parse(r.stdout) as AuthzReport
    expect(report).toMatchObject({resource: 'deployment/books', namespace: NS, workload: {kind: 'Deployment', name: 'books'}, scraped: 1, refused: []})
    expect(report.pods.map((p) => p.pod)).toEqual(['books-0'])
    const policy = report.pods[0]!.policy!
    expect(policy).toEqual(controller.ctx.authz!.view().policyOf(NS, 'books-0'))
    expect(policy.default).toEqual({policy: 'all-unauthenticated', source: 'cluster'})
    expect(policy.rules).toEqual([{policy: {namespace: NS, name: 'web-only'}, mode: 'audit', target: {kind: 'workload'}, from: [{identities: [identityName('web', NS)]}], to: []}])
    const port = books.proxy.ports.inbound
    expect(report.observed.callers.map((c) => [c.clientId, c.ports, c.requests])).toEqual([
      [identityName('reviews', NS), [port], 3],
      [identityName('web', NS), [port], 6],
    ])
    for (const c of report.observed.callers) expect(c.connections).toBeGreaterThanOrEqual(1)
  })

  it('the table: default and its source, each policy with what it covers, who it lets in; callers and how the policy in force treats them', async () => {
    const r = await runMesh(['authz', 'deploy/books'])
    expect(r.exitCode).toBe(0)
    const out = r.stdout
    expect(out).toContain(`deployment/books in namespace ${NS}: 1 meshed pod (books-0)`)
    expect(out).toContain('Default inbound policy: all-unauthenticated, from the cluster\'s (mesh install)')
    const row = out.split('\n').find((l) => l.startsWith('web-only'))!.split(/\s{2,}/)
    expect(row).toEqual(['web-only', 'audit', 'the workload', `sa/web.${NS}`, 'everything', '-', '-', '-'])
    // reviews is served (the policy is in audit mode) but web-only would refuse it; web is not audited.
    expect(out).toMatch(new RegExp(`sa/reviews\\.${NS}\\s+${books.proxy.ports.inbound}\\s+3\\s+\\d+\\s+allowed by default:all-unauthenticated \\(audit: ${NS}/web-only would deny\\)\n`))
    expect(out).toMatch(new RegExp(`sa/web\\.${NS}\\s+${books.proxy.ports.inbound}\\s+6\\s+\\d+\\s+allowed by default:all-unauthenticated\n`))
    // Today's proxies export no per-policy counters: said on stderr, never shown as zeros.
    expect(r.stderr).toContain('not available: these proxies do not export mesh_proxy_inbound_policy_allowed_total')
  })

  it('refuses what is not one workload (exit 2, nothing on stdout), and a workload without meshed pods (exit 1)', async () => {
    for (const bad of ['svc/books', 'deploy', 'ns/shop', 'books']) {
      const r = await runMesh(['authz', bad])
      expect(r.exitCode, bad).toBe(2)
      expect(r.stdout, bad).toBe('')
    }
    const r = await runMesh(['authz', 'deploy/nothing-here'])
    expect(r.exitCode).toBe(1)
    expect(r.stdout).toBe('')
    expect(r.stderr).toContain('deployment nothing-here not found in namespace shop')
  })
})

describe('mesh authz suggest <workload>', () => {
  it('writes one AuthorizationPolicy (audit by default) naming exactly the ServiceAccounts seen, on the port they used; the validator admits it', async () => {
    const r = await runMesh(['authz', 'suggest', 'deploy/books'])
    expect(r.exitCode).toBe(0)
    const docs = parseAllDocuments(r.stdout)
    expect(docs).toHaveLength(1)
    expect(docs[0]!.errors).toEqual([])
    expect(r.stdout).toContain(`# Seen calling deployment/books on port ${books.proxy.ports.inbound}:`)
    const obj = docs[0]!.toJS() as {metadata: {name: string; namespace: string}; spec: unknown}
    expect(obj).toEqual({
      apiVersion: 'policy.mesh.dev/v1alpha1', kind: 'AuthorizationPolicy', metadata: {name: 'books-callers', namespace: NS},
      spec: {mode: 'audit', target: {workload: {kind: 'Deployment', name: 'books'}}, from: [{serviceAccounts: [{name: 'reviews'}, {name: 'web'}]}], to: [{ports: [books.proxy.ports.inbound]}]},
    })
    expect(validatePolicy({...obj, metadata: {...obj.metadata, generation: 1, creationTimestamp: new Date(0).toISOString()}})!.verdict).toMatchObject({ok: true})
    expect(r.stderr).toContain('1 AuthorizationPolicy in audit mode')
  })

  it('applied in enforce mode, the policy the controller then streams lets the observed callers in and refuses a new one', async () => {
    const r = await runMesh(['authz', 'suggest', 'deploy/books', '--mode', 'enforce', '-o', 'json'])
    expect(r.exitCode).toBe(0)
    const list = JSON.parse(r.stdout) as {kind: string; items: Array<{spec: {mode: string}}>}
    expect(list.kind).toBe('List')
    expect(list.items.map((i) => i.spec.mode)).toEqual(['enforce'])
    writeRegistry(registry(list.items))
    const policy = await policyOfBooks((p) => p.rules.some((x) => x.policy.name === 'books-callers'), 'the suggested policy on books-0')
    const m = new AuthzMatcher(policy)
    const port = books.proxy.ports.inbound
    const req = {method: 'GET', target: '/', header: () => undefined, grpc: false}
    for (const sa of ['web', 'reviews']) expect(m.decide(port, {identity: identityName(sa, NS), ip: '127.0.0.1'}, req), sa).toMatchObject({allow: true, policy: `${NS}/books-callers`})
    expect(m.decide(port, {identity: identityName('stranger', NS), ip: '127.0.0.1'}, req)).toMatchObject({allow: false, policy: `${NS}/books-callers`})
    expect(m.decide(port + 1, {identity: identityName('web', NS), ip: '127.0.0.1'}, req).allow).toBe(false)
    // And mesh authz reads the new policy back.
    const table = await runMesh(['authz', 'deploy/books'])
    expect(table.stdout.split('\n').find((l) => l.startsWith('books-callers'))).toMatch(/^books-callers\s+enforce\s+the workload\s+sa\/reviews\.shop, sa\/web\.shop\s+\d+/)
  })

  it('--name must be an object name (exit 2); a workload nobody with an identity called is an error, not an empty document (exit 1)', async () => {
    const bad = await runMesh(['authz', 'suggest', 'deploy/books', '--name', 'Not_A_Name'])
    expect(bad.exitCode).toBe(2)
    expect(bad.stdout).toBe('')
    expect(bad.stderr).toContain('--name "Not_A_Name" is not an object name')
    const none = await runMesh(['authz', 'suggest', 'deploy/web'])
    expect(none.exitCode).toBe(1)
    expect(none.stdout).toBe('')
    expect(none.stderr).toContain('counted no caller with a mesh identity')
  })
})

