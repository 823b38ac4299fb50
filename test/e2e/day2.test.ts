// PRIVILEGED (root, iproute2, iptables): issue 24's proof on the test cluster, with pods realized
// as network namespaces by the pod runner and real interception (docs/architecture/e2e.md):
// certificates that change under load without a failed request or a restart.
//   1. `mesh install --identity-external-issuer`: cert-manager owns the issuer, an ECDSA P-256
//      kubernetes.io/tls Secret this file writes as cert-manager would; the controller on the host
//      with leaves of 1 minute (every proxy renews every ~42 s).
//   2. an app meshed by `mesh inject`: client -> books (2 replicas) over mTLS; `mesh identity`
//      reads each proxy's GET /identity through the API server.
//   3. cert-manager renews the issuer (same anchor) under load: every proxy moves to it.
//   4. `mesh identity rotate-anchor --apply --wait` replaces the anchor under load, gated on the
//      live proxies (they apply the trust bundle the destination service streams); cert-manager
//      switches the issuer when the rotation waits for it.
//   5. mesh uninstall leaves nothing of ours behind.
import {execFileSync} from 'node:child_process'
import {existsSync, rmSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {X509Certificate} from 'node:crypto'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {PodRunner} from './runner/runner.js'
import {BRIDGE, listOurNetns} from './runner/net.js'
import type {Obj} from './runner/kube.js'
import {eventually, finalizeNamespace, identity, LONG_STEP_MS, LONG_TEST_MS, progress, proxyMetrics, runStep, STEP_MS, sumMetric} from './journey-kit.js'
import {cluster, deployment, expectOk, kubectl, mesh, meshCheckPasses, mirrorControllerPod, service, startHostController, type HostController} from './mesh-env.js'
import type {ClientSummary} from './runner/runner.js'
import type {IdentityReport} from '../../src/diagnostics/identity-command.js'
import {generateIssuer, generateTrustAnchor, type CaMaterial} from '../../src/tls/index.js'
import {sha256Hex} from '../../src/tls/anchor-info.js'

const NS = 'day2'
const BOOKS_URL = `http://books.${NS}.svc.cluster.local/day2`
let runner: PodRunner
let controller: HostController | undefined
let installManifest = ''
let anchorA: CaMaterial
let anchorB: CaMaterial
/** Step 5 ran: nothing of ours is left in the cluster for the next file. */
let cleaned = false
const t0 = Date.now()

function step<T>(fn: () => Promise<T>, budgetMs = STEP_MS): Promise<T> {
  return runStep(fn, budgetMs, () => [`--- pods ---\n${runner?.describe() ?? '(no runner)'}`, controller ? `--- controller log ---\n${controller.log(80)}` : '--- controller: not started ---'])
}

function podsOf(app: string): string[] {
  return [...runner.pods.values()].filter((p) => p.metadata.namespace === NS && p.metadata.labels?.app === app).map((p) => p.metadata.name as string).sort()
}

const sha = (pem: string): string => sha256Hex(new X509Certificate(pem))

/** Requests the books proxies served (inbound), read in their pods. */
async function booksServed(): Promise<number> {
  let n = 0
  for (const b of podsOf('books')) n += sumMetric(await proxyMetrics(runner, NS, b), 'request_total', {direction: 'inbound'})
  return n
}

/** Waits until the books proxies served `more` requests past now: traffic on the certificates in force now. */
async function servedMore(more: number): Promise<void> {
  const base = await booksServed()
  await eventually(`${more} more requests served`, async () => ((await booksServed()) >= base + more ? true : undefined), {timeoutMs: 60_000, intervalMs: 500})
}

/** What cert-manager writes for a Certificate {isCA: true, privateKey: {algorithm: ECDSA, size: 256}, secretName: mesh-identity-issuer}. */
async function certManagerWrites(issuer: CaMaterial, ca: CaMaterial): Promise<void> {
  const b64 = (s: string) => Buffer.from(s).toString('base64')
  await kubectl(['apply', '-f', '-'], JSON.stringify({
    apiVersion: 'v1', kind: 'Secret', type: 'kubernetes.io/tls',
    metadata: {name: 'mesh-identity-issuer', namespace: 'mesh-system', annotations: {'cert-manager.io/certificate-name': 'mesh-identity-issuer'}},
    data: {'tls.crt': b64(issuer.certPem), 'tls.key': b64(issuer.keyPem), 'ca.crt': b64(ca.certPem)},
  }))
}

async function identities(): Promise<IdentityReport> {
  return JSON.parse(expectOk(await mesh('identity', `ns/${NS}`, '-o', 'json'), 'mesh identity')) as IdentityReport
}

/** Every meshed pod's container restarts and uid, as the API has them. */
async function podState(): Promise<Record<string, string>> {
  const list = JSON.parse(await kubectl(['get', 'pods', '-n', NS, '-o', 'json'])) as {items: Obj[]}
  return Object.fromEntries(list.items.map((p) => [p.metadata.name as string, `${p.metadata.uid} restarts=${((p.status?.containerStatuses ?? []) as Obj[]).concat((p.status?.initContainerStatuses ?? []) as Obj[]).reduce((a: number, c: Obj) => a + Number(c.restartCount ?? 0), 0)}`]))
}

/**
 * Client -> books, one request per 30 ms (at most 8,000), from the client pod, until `stop()`:
 * the client marks its first request in a file and stops when the stop file exists.
 */
function load(tag: string): {started(): boolean; stop(): Promise<ClientSummary>} {
  const stopFile = path.join(os.tmpdir(), `mesh-e2e-day2-${tag}-${process.pid}`)
  const startedFile = `${stopFile}.started`
  for (const f of [stopFile, startedFile]) rmSync(f, {force: true})
  const run = runner.client(NS, podsOf('client')[0]!, ['http', `${BOOKS_URL}/${tag}`, '8000', '30', stopFile], {timeoutMs: 300_000})
  return {
    started: () => existsSync(startedFile),
    stop: async () => {
      writeFileSync(stopFile, '')
      return run.finally(() => { for (const f of [stopFile, startedFile]) rmSync(f, {force: true}) })
    },
  }
}

/**
 * After 30 more requests served (on what is in force now), stops the load: none failed, and the
 * pods are the ones `before` saw, with no container restarted.
 */
async function stopClean(traffic: ReturnType<typeof load>, before: Record<string, string>, stepName: string): Promise<void> {
  await servedMore(30)
  const r = await traffic.stop()
  progress(`${stepName}: ${r.ok} requests answered, ${r.failed} failed, over ${(r.ms / 1000).toFixed(1)} s`)
  expect(r.failed, r.raw).toBe(0)
  expect(r.ok, r.raw).toBeGreaterThan(100)
  expect(await podState()).toEqual(before)
}

beforeAll(async () => {
  runner = await PodRunner.start(cluster, {namespaces: [NS], hostNamespaces: ['mesh-system']})
  anchorA = await generateTrustAnchor({keyType: 'ecdsa', commonName: 'day2-root-a'})
  anchorB = await generateTrustAnchor({keyType: 'ecdsa', commonName: 'day2-root-b'})
}, 60_000)

afterAll(async () => {
  if (!cleaned) {
    // A step failed before step 5: leave the cluster as the next file expects it, as far as we can.
    await mesh('uninstall', '--apply', '--force').catch(() => undefined)
    for (const ns of ['mesh-system', NS]) await finalizeNamespace(ns).catch(() => undefined)
  }
  await controller?.stop()
  await runner?.stop()
  process.stderr.write(`[e2e] day2 ran ${((Date.now() - t0) / 1000).toFixed(1)} s\n`)
  expect(listOurNetns()).toEqual([])
  const links = execFileSync('ip', ['-o', 'link', 'show']).toString()
  expect(links).not.toContain(BRIDGE)
})

describe('day two: certificates change under load, nothing fails', () => {
  it('1. cert-manager owns an ECDSA issuer (kubernetes.io/tls); the controller follows its Secret; mesh check passes', () => step(async () => {
    const anchorFile = path.join(runner.dir, 'ca-a.crt')
    writeFileSync(anchorFile, anchorA.certPem)
    installManifest = expectOk(await mesh('install', '--identity-external-issuer', '--identity-trust-anchors-file', anchorFile), 'mesh install --identity-external-issuer')
    expect(installManifest).not.toContain('issuer.key')
    await kubectl(['apply', '-f', '-'], installManifest)
    await certManagerWrites(await generateIssuer(anchorA, {commonName: 'day2-issuer-1', keyType: 'ecdsa'}), anchorA)
    controller = await startHostController(runner.dir, ['--identity-issuer-scheme', 'kubernetes.io/tls'])
    await mirrorControllerPod()
    await meshCheckPasses()
  }))

  it('2. an injected app talks over mTLS; mesh identity reads each proxy\'s certificate and anchors from the proxy itself', () => step(async () => {
    const file = path.join(runner.dir, 'day2.yaml')
    writeFileSync(file, [
      `apiVersion: v1\nkind: Namespace\nmetadata: {name: ${NS}}\n`,
      deployment(NS, 'books', 'mesh-e2e/http-echo:1', 8080, {replicas: 2}), service(NS, 'books', 80, 8080),
      deployment(NS, 'client', 'mesh-e2e/tcp-echo:1', 9009),
    ].join('---\n'))
    await kubectl(['apply', '-f', '-'], expectOk(await mesh('inject', file), 'mesh inject'))
    await eventually('the pods', () => (podsOf('books').length === 2 && podsOf('client').length === 1 ? true : undefined), {timeoutMs: 60_000, intervalMs: 100})
    await runner.waitReady([...podsOf('books'), ...podsOf('client')].map((n) => `${NS}/${n}`), 200_000)
    const r = await runner.client(NS, podsOf('client')[0]!, ['http', BOOKS_URL, '10'])
    expect(r, r.raw).toMatchObject({ok: 10, failed: 0})
    const report = await identities()
    expect(report.currentAnchors!.map((a) => a.sha256)).toEqual([sha(anchorA.certPem)])
    for (const p of report.pods) {
      expect(p, JSON.stringify(p)).toMatchObject({source: 'proxy', anchor: {sha256: sha(anchorA.certPem)}, missingCurrentAnchors: [], certificate: {issuer: 'CN=day2-issuer-1'}})
    }
    expect(report.pods.map((p) => p.identity).sort()).toEqual([identity('books', NS), identity('books', NS), identity('client', NS)])
  }, LONG_STEP_MS), LONG_TEST_MS)

  it('3. cert-manager renews the issuer under load: every proxy moves to it; no request fails, no restart', () => step(async () => {
    const before = await podState()
    const traffic = load('renew')
    await eventually('the load to start', () => (traffic.started() ? true : undefined), {timeoutMs: 60_000, intervalMs: 100})
    await certManagerWrites(await generateIssuer(anchorA, {commonName: 'day2-issuer-2', keyType: 'ecdsa'}), anchorA)
    const tRenewed = Date.now()
    await eventually('every proxy to present a certificate from the renewed issuer', async () => ((await identities()).pods.every((p) => p.certificate?.issuer === 'CN=day2-issuer-2') ? true : undefined), {timeoutMs: 150_000, intervalMs: 2000})
    progress(`3: every proxy renewed from the new issuer ${((Date.now() - tRenewed) / 1000).toFixed(1)} s after cert-manager wrote it`)
    // Traffic on the new certificates before the load stops.
    await stopClean(traffic, before, '3')
  }, LONG_STEP_MS), LONG_TEST_MS)

  it('4. mesh identity rotate-anchor replaces the anchor under load, each stage gated on the live proxies; no request fails, no restart', () => step(async () => {
    const before = await podState()
    const newFile = path.join(runner.dir, 'ca-b.crt')
    writeFileSync(newFile, anchorB.certPem)
    const traffic = load('rotate')
    await eventually('the load to start', () => (traffic.started() ? true : undefined), {timeoutMs: 60_000, intervalMs: 100})
    // One run carries out every stage that is ready and waits at the gates the data plane opens
    // (every proxy trusts both; every proxy renewed); cert-manager's switch is this test's part.
    const rotation = mesh('identity', 'rotate-anchor', '--new', newFile, '--apply', '--wait', '4m', '-o', 'json')
    const stagesNow = async () => (JSON.parse(expectOk(await mesh('identity', 'rotate-anchor', '--new', newFile, '-o', 'json'), 'rotate-anchor (plan)')) as {stages: Array<{id: string; state: string; detail: string}>}).stages
    // Gate 2 opens once the running proxies applied the streamed bundle A+B (no restart).
    await eventually('every proxy to trust both anchors', async () => ((await identities()).pods.every((p) => p.trustedAnchors.length === 2) ? true : undefined), {timeoutMs: 120_000, intervalMs: 2000})
    progress('4: every proxy trusts both anchors')
    const blocked = await eventually('the rotation to wait for cert-manager', async () => {
      const s = await stagesNow()
      return s.find((x) => x.id === 'new-issuer')?.state === 'blocked' && s.slice(0, 2).every((x) => x.state === 'done') ? s : undefined
    }, {timeoutMs: 60_000, intervalMs: 2000})
    expect(blocked.find((x) => x.id === 'new-issuer')!.detail).toContain('cert-manager owns the issuer')
    // cert-manager's Issuer now points at the new CA: it writes an issuer signed by B.
    await certManagerWrites(await generateIssuer(anchorB, {commonName: 'day2-issuer-b', keyType: 'ecdsa'}), anchorB)
    const r = await rotation
    const done = JSON.parse(expectOk(r, 'mesh identity rotate-anchor --apply --wait 4m')) as {done: boolean; applied: string[]; stages: Array<{state: string}>}
    expect(done, r.stdout).toMatchObject({done: true})
    expect(done.applied).toEqual(['add-anchor', 'drop-old-anchor'])
    expect(r.stderr).toContain('waiting at "every proxy renewed its certificate"')
    progress('4: the rotation is complete')
    await eventually('every proxy to trust B alone', async () => ((await identities()).pods.every((p) => p.trustedAnchors.length === 1 && p.trustedAnchors[0]!.sha256 === sha(anchorB.certPem)) ? true : undefined), {timeoutMs: 60_000, intervalMs: 1000})
    const after = await identities()
    for (const p of after.pods) expect(p, JSON.stringify(p)).toMatchObject({source: 'proxy', anchor: {sha256: sha(anchorB.certPem)}, missingCurrentAnchors: [], certificate: {issuer: 'CN=day2-issuer-b'}})
    expect(after.currentAnchors!.map((a) => a.sha256)).toEqual([sha(anchorB.certPem)])
    // Traffic with the old anchor gone before the load stops.
    await stopClean(traffic, before, '4')
    const check = JSON.parse((await mesh('check', '-o', 'json')).stdout) as {categories: Array<{checks: Array<{id: string; result: string; error: string}>}>}
    expect(check.categories.flatMap((c) => c.checks).filter((c) => c.result !== 'success' && !c.id.startsWith('MESH13')).map((c) => `${c.id}: ${c.error}`)).toEqual([])
  }, LONG_STEP_MS), LONG_TEST_MS)

  it('5. mesh uninstall leaves nothing of ours behind', () => step(async () => {
    await kubectl(['delete', 'deployments', '--all', '-n', NS])
    await eventually('the runner to see the deployments gone', () => ([...runner.deployments.values()].some((d) => d.metadata.namespace === NS) ? undefined : true), {timeoutMs: 30_000, intervalMs: 50})
    await kubectl(['delete', 'pods', '--all', '-n', NS])
    const manifest = expectOk(await mesh('uninstall'), 'mesh uninstall')
    await kubectl(['delete', '-f', '-', '--wait=false'], manifest)
    await controller?.stop()
    await kubectl(['delete', 'pod', 'mesh-controller-host', '-n', 'mesh-system', '--ignore-not-found'])
    await kubectl(['delete', 'secret', 'mesh-identity-issuer', '-n', 'mesh-system', '--ignore-not-found'])
    await finalizeNamespace('mesh-system')
    await kubectl(['delete', 'namespace', NS, '--wait=false'])
    await finalizeNamespace(NS)
    const left = await kubectl(['get', '-f', '-', '--ignore-not-found', '-o', 'name'], installManifest)
    expect(left.trim(), 'objects of mesh install still present').toBe('')
    cleaned = true
  }))
})
