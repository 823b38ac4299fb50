/**
 * Certificates that never cause an outage, on the real test cluster (kube-apiserver + etcd):
 *
 * 1. An issuer that has already expired is replaced with `mesh upgrade --identity-* --apply`:
 *    the installed (expired) issuer is never checked, the identity service (the controller's
 *    component, running in this process against the API server) picks the new one up without a
 *    restart, a proxy identity that could not renew meanwhile recovers by itself, and `mesh check`
 *    passes again.
 * 2. cert-manager owns the issuer (`--identity-external-issuer`, a kubernetes.io/tls Secret with
 *    tls.crt, tls.key, ca.crt; ECDSA P-256): the controller reads it, and a renewal by
 *    "cert-manager" (the Secret's data replaced, as cert-manager does) is picked up without a
 *    restart while two real proxies talk mTLS through it: both renew from the new issuer and no
 *    request fails.
 */
import {randomBytes, X509Certificate} from 'node:crypto'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import * as k8s from '@kubernetes/client-node'
import {startIdentityService, type IdentityService} from '../../src/control/identity/index.js'
import {KubernetesIssuerSource} from '../../src/control/identity/k8s-issuer.js'
import {KubernetesTokenValidator} from '../../src/control/identity/k8s-tokens.js'
import {silentLogger} from '../../src/control/logger.js'
import {CONTROL_PLANE_NAMESPACE, ControlPlane} from '../../src/protocol/control-plane.js'
import type {IssuerScheme} from '../../src/protocol/identity.js'
import {identityName} from '../../src/protocol/proxy-env.js'
import type {Discovery} from '../../src/proxy/core/contracts.js'
import {CERT_FILE, startIdentity, type ProxyIdentity} from '../../src/proxy/identity/index.js'
import type {Side$} from '../../src/proxy/accept/accept.js'
import {startInbound} from '../../src/proxy/inbound/inbound.js'
import {startProxy, type RunningProxy} from '../../src/proxy/server.js'
import {newStats} from '../../src/proxy/core/stats.js'
import {generateIssuer, generateTrustAnchor, type CaMaterial} from '../../src/tls/index.js'
import {eventuallyWith} from '../helpers/eventually.js'
import {closeServer, quietLog, request, startEchoApp, testConfig} from '../proxy/helpers.js'
import {checkResults, controllerPodReady as controllerPodReadyNamed, core, finalizeNamespace, kc, mesh, removeControlPlane} from './install-helpers.js'

const eventually = eventuallyWith({timeoutMs: 60_000, intervalMs: 200})
const appNs = `mesh-day2-${randomBytes(3).toString('hex')}`
const DAY = 86400_000
let tmp: string

const b64 = (s: string) => Buffer.from(s).toString('base64')
function files(name: string, m: {anchors: string; issuer?: CaMaterial}): string[] {
  const f = (n: string, t: string) => {
    const p = path.join(tmp, `${name}-${n}`)
    writeFileSync(p, t)
    return p
  }
  return [
    '--identity-trust-anchors-file', f('ca.crt', m.anchors),
    ...(m.issuer ? ['--identity-issuer-certificate-file', f('issuer.crt', m.issuer.certPem), '--identity-issuer-key-file', f('issuer.key', m.issuer.keyPem)] : []),
  ]
}

const checkJson = () => checkResults()
const controllerPodReady = () => controllerPodReadyNamed('mesh-controller-day2')

async function serviceAccountToken(sa: string): Promise<string> {
  const tr = await core.createNamespacedServiceAccountToken({name: sa, namespace: appNs, body: {spec: {audiences: ['identity.mesh.dev'], expirationSeconds: 3600}}})
  return tr.status!.token!
}

async function identityService(scheme: IssuerScheme, leafLifetimeMs?: number): Promise<IdentityService> {
  return startIdentityService({
    issuer: new KubernetesIssuerSource({lib: k8s, kc, namespace: CONTROL_PLANE_NAMESPACE, scheme, log: silentLogger}),
    validator: new KubernetesTokenValidator(k8s, kc),
    host: '127.0.0.1',
    port: 0,
    leafLifetimeMs,
    log: silentLogger,
  })
}

/** A proxy identity for `sa`, keeping its certificate in a directory the test reads. */
async function proxyIdentity(svc: IdentityService, sa: string, anchorsPem: string): Promise<{id: ProxyIdentity; certIssuer: () => string | undefined}> {
  const dir = mkdtempSync(path.join(tmp, `${sa}-`))
  const tokenFile = path.join(dir, 'token')
  writeFileSync(tokenFile, await serviceAccountToken(sa))
  const id = await startIdentity({
    localName: identityName(sa, appNs, CONTROL_PLANE_NAMESPACE),
    identityAddr: `https://127.0.0.1:${svc.port}`,
    identityServiceName: svc.serviceName,
    tokenFile,
    trustAnchorsPem: anchorsPem,
    dir,
    backoff: {minMs: 100, maxMs: 1000},
  })
  const certIssuer = () => {
    try {
      return new X509Certificate(readFileSync(path.join(dir, CERT_FILE), 'utf8')).issuer.replace(/\n/g, ', ')
    } catch {
      return undefined
    }
  }
  return {id, certIssuer}
}

beforeAll(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'mesh-it-day2-'))
  await mesh('uninstall', '--force')
  await removeControlPlane()
  await core.createNamespace({body: {metadata: {name: appNs}}})
  for (const sa of ['web', 'db']) await core.createNamespacedServiceAccount({namespace: appNs, body: {metadata: {name: sa}}})
}, 180_000)

afterAll(async () => {
  await removeControlPlane().catch(() => {})
  await finalizeNamespace(appNs).catch(() => {})
  rmSync(tmp, {recursive: true, force: true})
})

describe('recovering from an issuer that has already expired', () => {
  let svc: IdentityService | undefined
  let web: {id: ProxyIdentity; certIssuer: () => string | undefined} | undefined
  afterAll(async () => {
    web?.id.close()
    await svc?.stop()
    await removeControlPlane()
  })

  it('install, expire the issuer, upgrade with new files: the controller and a proxy recover without restarts, mesh check passes', async () => {
    const anchor = await generateTrustAnchor({commonName: 'day2-root'})
    const issuer1 = await generateIssuer(anchor, {commonName: 'day2-issuer-1'})
    const installed = await mesh('install', '--apply', ...files('one', {anchors: anchor.certPem, issuer: issuer1}))
    expect(installed.exitCode, installed.stderr).toBe(0)
    await controllerPodReady()
    // Leaves of 6 s: the proxy renews every ~4 s on its own schedule.
    svc = await identityService('mesh.dev/tls', 6_000)
    web = await proxyIdentity(svc, 'web', anchor.certPem)
    await web.id.ready()
    expect(web.certIssuer()).toBe('CN=day2-issuer-1')

    // Time passes: the issuer in the Secret is one that expired yesterday (same anchor).
    const expired = await generateIssuer(anchor, {commonName: 'day2-issuer-expired', validityDays: 1, now: new Date(Date.now() - 2 * DAY)})
    const secret = await core.readNamespacedSecret({name: ControlPlane.issuerSecret, namespace: CONTROL_PLANE_NAMESPACE})
    secret.data = {...secret.data, 'issuer.crt': b64(expired.certPem), 'issuer.key': b64(expired.keyPem)}
    await core.replaceNamespacedSecret({name: ControlPlane.issuerSecret, namespace: CONTROL_PLANE_NAMESPACE, body: secret})
    // The proxy's next renewals are refused (ISSUER_EXPIRED): it keeps its current certificate and retries.
    const failuresBefore = web.id.status().failures
    await eventually('the proxy to be refused by the expired issuer', () => {
      const st = web!.id.status()
      return st.failures > failuresBefore && /ISSUER_EXPIRED|expired/.test(st.lastError ?? '') ? st : undefined
    })

    const broken = await checkJson()
    expect(broken.results.MESH2103).toMatch(/^error: issuer certificate in Secret mesh-system\/mesh-identity-issuer \(CN=day2-issuer-expired\) expired at /)
    expect(broken.exitCode).toBe(1)
    const keep = await mesh('upgrade')
    expect(keep.exitCode).toBe(1)
    expect(keep.stdout).toBe('')
    expect(keep.stderr).toMatch(/^Error: the installed identity cannot be kept: .*expired at/m)
    expect(keep.stderr).toContain('Try this: Replace the issuer: `mesh upgrade --identity-trust-anchors-file ca.crt')

    // The way out: a new issuer from the same anchor.
    const issuer2 = await generateIssuer(anchor, {commonName: 'day2-issuer-2'})
    const up = await mesh('upgrade', '--apply', ...files('two', {anchors: anchor.certPem, issuer: issuer2}))
    expect(up.exitCode, up.stderr).toBe(0)
    expect(up.stderr).toContain('Replacing the installed identity issuer with the given files')
    expect(up.stderr).not.toContain('leave out')
    // The same identity service, never restarted, issues from the new issuer; the proxy's own retry gets one.
    await eventually('the proxy to hold a certificate from the new issuer', () => (web!.certIssuer() === 'CN=day2-issuer-2' ? true : undefined))
    const healthy = await checkJson()
    const bad = Object.entries(healthy.results).filter(([id, r]) => r !== 'success' && !id.startsWith('MESH13'))
    expect(bad).toEqual([])
    expect(healthy.exitCode).toBe(0)
  })
})

describe('cert-manager owns an ECDSA issuer (kubernetes.io/tls)', () => {
  let svc: IdentityService | undefined
  const ids: ProxyIdentity[] = []
  const closers: Array<() => Promise<void> | void> = []
  afterAll(async () => {
    for (const c of closers.reverse()) await c()
    for (const id of ids) id.close()
    await svc?.stop()
  })

  it('the controller reads the Secret, and a renewal under traffic between two proxies reaches both without a restart or a failed request', async () => {
    const anchor = await generateTrustAnchor({commonName: 'cm-root', keyType: 'ecdsa'})
    const install = await mesh('install', '--apply', '--identity-external-issuer', ...files('cm', {anchors: anchor.certPem}))
    expect(install.exitCode, install.stderr).toBe(0)
    expect(install.stderr).toContain(`Secret ${CONTROL_PLANE_NAMESPACE}/${ControlPlane.issuerSecret} does not exist yet`)
    expect(install.stderr).not.toMatch(/^Secret \S+ created$/m)
    await controllerPodReady()
    // What cert-manager writes for a Certificate {isCA: true, privateKey: {algorithm: ECDSA, size: 256}, secretName: mesh-identity-issuer}.
    const cmSecret = (issuer: CaMaterial): k8s.V1Secret => ({
      metadata: {name: ControlPlane.issuerSecret, namespace: CONTROL_PLANE_NAMESPACE, annotations: {'cert-manager.io/certificate-name': 'mesh-identity-issuer'}},
      type: 'kubernetes.io/tls',
      data: {'tls.crt': b64(issuer.certPem), 'tls.key': b64(issuer.keyPem), 'ca.crt': b64(anchor.certPem)},
    })
    const e1 = await generateIssuer(anchor, {commonName: 'cm-issuer-1', keyType: 'ecdsa'})
    await core.createNamespacedSecret({namespace: CONTROL_PLANE_NAMESPACE, body: cmSecret(e1)})
    const check1 = await checkJson()
    expect(Object.entries(check1.results).filter(([id, r]) => r !== 'success' && !id.startsWith('MESH13'))).toEqual([])

    // Leaves of 6 s: each proxy renews every ~4 s, several times across the renewal below.
    svc = await identityService('kubernetes.io/tls', 6_000)
    const db = await proxyIdentity(svc, 'db', anchor.certPem)
    const web = await proxyIdentity(svc, 'web', anchor.certPem)
    ids.push(db.id, web.id)
    await Promise.all([db.id.ready(), web.id.ready()])
    expect([db.certIssuer(), web.certIssuer()]).toEqual(['CN=cm-issuer-1', 'CN=cm-issuer-1'])
    const app = await startEchoApp()
    closers.push(() => closeServer(app.server))
    const inbound: Side$ = await startInbound({config: testConfig({inboundForward: {host: '127.0.0.1', port: app.port}}), log: quietLog(), identity: db.id, stats: newStats()})
    closers.push(async () => {
      inbound.close()
      inbound.listener.tracker.destroyAll()
      await new Promise((r) => inbound.listener.server.close(r))
    })
    const port = inbound.listener.port()
    const dbName = identityName('db', appNs, CONTROL_PLANE_NAMESPACE)
    const discovery: Discovery = {
      resolve: (authority) => Promise.resolve(authority !== 'db.shop:80' ? null : {current: () => ({endpoints: [{host: '127.0.0.1', port, identity: dbName, labels: {}}]}), onChange: () => () => {}, close: () => {}}),
      close: () => {},
    }
    const proxy: RunningProxy = await startProxy(testConfig(), {identity: web.id, discovery, log: quietLog(), originalDst: null})
    closers.push(async () => void (await proxy.close(100)))

    // Traffic, one request after another, for the whole renewal.
    let stop = false
    const statuses: number[] = []
    const errors: string[] = []
    const traffic = (async () => {
      while (!stop) {
        try {
          const r = await request(proxy.ports.outbound, {path: `/r${statuses.length}`, headers: {host: 'db.shop'}})
          statuses.push(r.status)
        } catch (err) {
          errors.push((err as Error).message)
        }
        await new Promise((r) => setTimeout(r, 25))
      }
    })()
    await eventually('traffic to flow', () => (statuses.length >= 10 ? true : undefined))

    // cert-manager renews: a new key and certificate in the same Secret, same anchor.
    const e2 = await generateIssuer(anchor, {commonName: 'cm-issuer-2', keyType: 'ecdsa'})
    const current = await core.readNamespacedSecret({name: ControlPlane.issuerSecret, namespace: CONTROL_PLANE_NAMESPACE})
    await core.replaceNamespacedSecret({name: ControlPlane.issuerSecret, namespace: CONTROL_PLANE_NAMESPACE, body: {...current, data: cmSecret(e2).data}})
    await eventually('both proxies to hold certificates from the renewed issuer', () => (db.certIssuer() === 'CN=cm-issuer-2' && web.certIssuer() === 'CN=cm-issuer-2' ? true : undefined))
    const renewedAt = statuses.length
    // And once more each after that, still serving.
    const certified = [db.id.status().certified, web.id.status().certified]
    await eventually('another renewal of each', () => (db.id.status().certified > certified[0]! && web.id.status().certified > certified[1]! ? true : undefined))
    await eventually('traffic after the renewal', () => (statuses.length >= renewedAt + 10 ? true : undefined))
    stop = true
    await traffic
    expect(errors).toEqual([])
    expect(statuses.filter((s) => s !== 200)).toEqual([])
    expect(statuses.length).toBeGreaterThan(20)
    const check2 = await checkJson()
    expect(Object.entries(check2.results).filter(([id, r]) => r !== 'success' && !id.startsWith('MESH13'))).toEqual([])
  })
})
