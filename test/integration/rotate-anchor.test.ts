/**
 * `mesh identity` and `mesh identity rotate-anchor` on the real test cluster: the stages' writes
 * (trust roots, the webhook's caBundle, mesh-config, the issuer Secret) as the API server stores
 * them, the controller's identity component (in this process, watching those objects) following
 * each one without a restart, and the gates reading the meshed pods. The test cluster has no
 * kubelet and these pods run no proxy (their IPs answer nothing), which is how the command meets
 * proxies of a version before GET /identity: the gates judge them by their pod spec: gate 2 holds
 * until the pods are "restarted" with the new bundle (recreated with the anchors mesh-config now
 * gives), gate 4 cannot tell until they are gone. The gates' logic on proxies that do report is
 * tested in test/diagnostics/rotate-anchor.test.ts; a rotation against live proxies that apply
 * the streamed bundle, under load, in test/e2e/day2.test.ts.
 */
import {createHash, randomBytes, X509Certificate} from 'node:crypto'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import * as k8s from '@kubernetes/client-node'
import {KubernetesIssuerSource} from '../../src/control/identity/k8s-issuer.js'
import {silentLogger} from '../../src/control/logger.js'
import {meshVersion} from '../../src/lib/version.js'
import {CONTROL_PLANE_NAMESPACE, ControlPlane} from '../../src/protocol/control-plane.js'
import {generateIssuer, generateTrustAnchor, parseCertificates, type CaMaterial} from '../../src/tls/index.js'
import {controllerPod, meshedPod, setPodStatus} from '../check/cluster-fixtures.js'
import {eventuallyWith} from '../helpers/eventually.js'
import {core, finalizeNamespace, kc, mesh, removeControlPlane} from './install-helpers.js'

const eventually = eventuallyWith({timeoutMs: 30_000, intervalMs: 200})
const appNs = `mesh-rot-${randomBytes(3).toString('hex')}`
let tmp: string
let oldA: CaMaterial
let newA: CaMaterial
let source: KubernetesIssuerSource
const sha = (pem: string) => createHash('sha256').update(new X509Certificate(pem).raw).digest('hex')
const file = (n: string, t: string) => {
  const p = path.join(tmp, n)
  writeFileSync(p, t)
  return p
}

async function bundleShas(): Promise<string[]> {
  const cm = await core.readNamespacedConfigMap({name: ControlPlane.trustRootsConfigMap, namespace: CONTROL_PLANE_NAMESPACE})
  return parseCertificates(cm.data!['ca-bundle.crt']!).map((c) => sha(c.toString()))
}
async function injectedPem(): Promise<string> {
  const cm = await core.readNamespacedConfigMap({name: ControlPlane.configMap, namespace: CONTROL_PLANE_NAMESPACE})
  return (JSON.parse(cm.data!.values!) as {trustAnchorsPEM: string}).trustAnchorsPEM
}
async function webhookShas(): Promise<string[]> {
  const hook = await kc.makeApiClient(k8s.AdmissionregistrationV1Api).readMutatingWebhookConfiguration({name: ControlPlane.webhookConfiguration})
  return parseCertificates(Buffer.from(hook.webhooks![0]!.clientConfig.caBundle!, 'base64').toString()).map((c) => sha(c.toString()))
}

/** A meshed pod as the injector makes it (anchors in the proxy's env), Running at a pod IP no one serves. */
async function runningMeshedPod(name: string, anchorsPem: string, ip: string): Promise<void> {
  const pod = meshedPod(appNs, name, CONTROL_PLANE_NAMESPACE, {version: meshVersion(), anchorsPem})
  pod.spec!.serviceAccountName = 'web'
  await core.createNamespacedPod({namespace: appNs, body: pod})
  await setPodStatus(kc, pod, true)
  const current = await core.readNamespacedPod({name, namespace: appNs})
  current.status = {...current.status, podIP: ip, podIPs: [{ip}]}
  await core.replaceNamespacedPodStatus({name, namespace: appNs, body: current})
}

const rotate = (...args: string[]) => mesh('identity', 'rotate-anchor', '--new', file('ca2.crt', newA.certPem), ...args)

beforeAll(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'mesh-it-rot-'))
  await mesh('uninstall', '--force')
  await removeControlPlane()
  oldA = await generateTrustAnchor({commonName: 'rot-old-root'})
  newA = await generateTrustAnchor({commonName: 'rot-new-root'})
  const issuer = await generateIssuer(oldA, {commonName: 'rot-issuer-1'})
  const r = await mesh('install', '--apply', '--identity-trust-anchors-file', file('ca.crt', oldA.certPem), '--identity-issuer-certificate-file', file('i.crt', issuer.certPem), '--identity-issuer-key-file', file('i.key', issuer.keyPem))
  if (r.exitCode !== 0) throw new Error(r.stderr)
  const deploy = await kc.makeApiClient(k8s.AppsV1Api).readNamespacedDeployment({name: ControlPlane.controller, namespace: CONTROL_PLANE_NAMESPACE})
  const cp = controllerPod(CONTROL_PLANE_NAMESPACE, 'mesh-controller-rot', deploy.spec!.template.spec!.containers[0]!.image!)
  await core.createNamespacedPod({namespace: CONTROL_PLANE_NAMESPACE, body: cp})
  await setPodStatus(kc, cp, true)
  await core.createNamespace({body: {metadata: {name: appNs}}})
  source = new KubernetesIssuerSource({lib: k8s, kc, namespace: CONTROL_PLANE_NAMESPACE, log: silentLogger})
  await source.start()
  await runningMeshedPod('web-0', oldA.certPem, '10.254.7.10')
  await runningMeshedPod('web-1', oldA.certPem, '10.254.7.11')
}, 180_000)

afterAll(async () => {
  await source?.stop()
  await removeControlPlane().catch(() => {})
  await finalizeNamespace(appNs).catch(() => {})
  rmSync(tmp, {recursive: true, force: true})
})

describe('mesh identity', () => {
  it('shows each pod from its spec when its proxy does not report, with the anchors it trusts against the current ones', async () => {
    const r = await mesh('identity', `ns/${appNs}`, '-o', 'json')
    expect(r.exitCode, r.stderr).toBe(0)
    const doc = JSON.parse(r.stdout) as {pods: Array<{pod: string; identity: string; source: string; certificate?: unknown; missingCurrentAnchors: unknown[]; trustedAnchors: Array<{sha256: string}>; unreachable?: string}>; currentAnchors: Array<{sha256: string}>}
    expect(doc.currentAnchors.map((a) => a.sha256)).toEqual([sha(oldA.certPem)])
    expect(doc.pods.map((p) => [p.pod, p.identity, p.source, p.certificate, p.missingCurrentAnchors])).toEqual([
      ['web-0', `web.${appNs}.serviceaccount.identity.mesh-system.cluster.local`, 'pod spec', undefined, []],
      ['web-1', `web.${appNs}.serviceaccount.identity.mesh-system.cluster.local`, 'pod spec', undefined, []],
    ])
    expect(doc.pods[0]!.unreachable).toBeTruthy()
    const table = await mesh('identity', 'po/web-0', '-n', appNs)
    expect(table.exitCode).toBe(0)
    expect(table.stdout.split('\n')[0]).toMatch(/^POD\s+IDENTITY\s+ISSUER\s+NOT AFTER\s+ANCHOR\s+TRUSTS\s+SOURCE$/)
    expect(table.stdout).toMatch(/web-0\s+web\.\S+\s+unknown\s+unknown\s+unknown\s+all current\s+pod spec/)
    const missing = await mesh('identity', 'deploy/nothing', '-n', appNs)
    expect(missing.exitCode).toBe(1)
    expect(missing.stderr).toContain(`deployment/nothing in namespace ${appNs} not found`)
  })
})

describe('mesh identity rotate-anchor', () => {
  it('walks the stages as the data plane allows, the controller following each write without a restart', async () => {
    // Dry run: the plan, nothing written.
    const dry = await rotate()
    expect(dry.exitCode, dry.stderr).toBe(0)
    expect(dry.stdout).toMatch(/^→ 1\. add the new anchor to the bundle: ready$/m)
    expect(dry.stdout).toMatch(/^· 2\. every proxy trusts both anchors: waiting$/m)
    expect(dry.stderr).toContain('Dry run: nothing was written')
    expect(await bundleShas()).toEqual([sha(oldA.certPem)])

    // --apply: stage 1 is written; gate 2 stops it (the pods were injected with the old anchor only).
    const first = await rotate('--apply')
    expect(first.exitCode).toBe(1)
    expect(first.stderr).toContain('√ added the new anchor to the bundle')
    expect(first.stderr).toMatch(/Error: the rotation stopped at "every proxy trusts both anchors": 2 of 2 live proxies do not trust every anchor yet: .*web-0; .*web-1\. 2 of them do not report the anchors they trust now/)
    expect(first.stderr).toContain('Try this: Rerun the same command')
    expect(await bundleShas()).toEqual([sha(oldA.certPem), sha(newA.certPem)])
    expect(await webhookShas()).toEqual([sha(oldA.certPem), sha(newA.certPem)])
    const injected = await injectedPem()
    expect(parseCertificates(injected).map((c) => sha(c.toString()))).toEqual([sha(oldA.certPem), sha(newA.certPem)])
    await eventually('the controller to hold both anchors', () => (source.current()!.anchors.length === 2 ? true : undefined))

    // "Restart" the pods: recreated with the anchors mesh-config now gives (what the injector does).
    for (const [name, ip] of [['web-0', '10.254.7.10'], ['web-1', '10.254.7.11']] as const) {
      await core.deleteNamespacedPod({name, namespace: appNs, gracePeriodSeconds: 0})
      await eventually(`${name} to be gone`, async () => (await core.readNamespacedPod({name, namespace: appNs}).then(() => undefined, () => true)))
      await runningMeshedPod(name, injected, ip)
    }

    // Gate 2 passes; stage 3 makes the issuer here from the new anchor's key; gate 4 cannot tell (no /identity).
    const second = await rotate('--apply', '--new-anchor-key', file('ca2.key', newA.keyPem))
    expect(second.exitCode).toBe(1)
    expect(second.stderr).toContain(`√ wrote the new issuer to Secret ${CONTROL_PLANE_NAMESPACE}/${ControlPlane.issuerSecret}`)
    expect(second.stderr).toMatch(/stopped at "every proxy renewed its certificate": 2 do not report their certificate .*cannot tell/)
    await eventually('the controller to sign with the new issuer', () => {
      const s = source.current()!
      return s.issuerCert.checkIssued(new X509Certificate(newA.certPem)) ? true : undefined
    })
    // Nothing dropped while a proxy that could not be seen may still hold an old certificate.
    expect(await bundleShas()).toEqual([sha(oldA.certPem), sha(newA.certPem)])

    // The workload goes away: no live certificate is left, so the old anchor goes.
    for (const name of ['web-0', 'web-1']) await core.deleteNamespacedPod({name, namespace: appNs, gracePeriodSeconds: 0})
    await eventually('the pods to be gone', async () => ((await core.listNamespacedPod({namespace: appNs})).items.length === 0 ? true : undefined))
    const last = await rotate('--apply', '-o', 'json')
    expect(last.exitCode, last.stderr).toBe(0)
    const doc = JSON.parse(last.stdout) as {done: boolean; applied: string[]; stages: Array<{id: string; state: string}>}
    expect(doc).toMatchObject({done: true, applied: ['drop-old-anchor']})
    expect(doc.stages.every((s) => s.state === 'done')).toBe(true)
    expect(await bundleShas()).toEqual([sha(newA.certPem)])
    expect(await webhookShas()).toEqual([sha(newA.certPem)])
    await eventually('the controller to hold the new anchor alone', () => (source.current()!.anchors.length === 1 ? true : undefined))
    expect(sha(source.current()!.anchors[0]!.toString())).toBe(sha(newA.certPem))
    // Rerun: nothing to do.
    const again = await rotate('--apply')
    expect(again.exitCode).toBe(0)
    expect(again.stderr).toContain('The rotation is complete')

    const check = await mesh('check', '-o', 'json')
    const results = (JSON.parse(check.stdout) as {categories: Array<{checks: Array<{id: string; result: string; error: string}>}>}).categories.flatMap((c) => c.checks)
    expect(results.filter((c) => c.result !== 'success' && !c.id.startsWith('MESH13')).map((c) => `${c.id}: ${c.error}`)).toEqual([])
  })

  it('refuses bad input before touching anything: a non-CA, a key that is not the anchor\'s, half the issuer files', async () => {
    const leafish = await generateIssuer(newA, {commonName: 'x'})
    const notCa = await mesh('identity', 'rotate-anchor', '--new', file('key-not.crt', newA.certPem), '--new-anchor-key', file('other.key', leafish.keyPem))
    expect(notCa.exitCode).toBe(1)
    expect(notCa.stderr).toMatch(/--new-anchor-key .*other\.key is not the key of --new/)
    const half = await rotate('--issuer-certificate-file', file('x.crt', leafish.certPem))
    expect(half.exitCode).toBe(2)
    expect(half.stderr).toContain('--issuer-certificate-file and --issuer-key-file go together')
  })
})
