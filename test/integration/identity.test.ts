/**
 * Identity on the real test cluster: TokenRequest -> certify -> a leaf that chains to the
 * anchor; every refusal; Events on the ServiceAccount; the issuer Secret hot-reloaded; proxies
 * with those certificates under an inbound policy (another ServiceAccount and a foreign root refused).
 */
import {randomBytes} from 'node:crypto'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import tls from 'node:tls'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import * as k8s from '@kubernetes/client-node'
import forge from 'node-forge'
import {testCluster} from '../cluster/cluster.js'
import {identityName} from '../../src/protocol/proxy-env.js'
import {startIdentityService, type IdentityService} from '../../src/control/identity/index.js'
import {KubernetesIssuerSource} from '../../src/control/identity/k8s-issuer.js'
import {KubernetesTokenValidator} from '../../src/control/identity/k8s-tokens.js'
import {KubernetesEventRecorder} from '../../src/control/identity/events.js'
import {silentLogger} from '../../src/control/logger.js'
import {callCertify, CertifyError, startIdentity} from '../../src/proxy/identity/index.js'
import {createCsr, generateIssuer, generateRsaKey, generateTrustAnchor, parseCertificate, publicKeyOf, signLeaf, singleDnsSan, verifyChain, type CaMaterial} from '../../src/tls/index.js'
import type {Discovery} from '../../src/proxy/core/contracts.js'
import {startInbound, type InboundSide$} from '../../src/proxy/inbound/inbound.js'
import {parseInboundPolicy} from '../../src/proxy/config/inbound-policy.js'
import type {ProxyIdentity} from '../../src/proxy/identity/index.js'
import {startProxy, type RunningProxy} from '../../src/proxy/server.js'
import {newStats} from '../../src/proxy/core/stats.js'
import {closeServer, quietLog, request, startEchoApp, testConfig} from '../proxy/helpers.js'
import {eventuallyWith} from '../helpers/eventually.js'

const cluster = testCluster()
const suffix = randomBytes(3).toString('hex')
const cpNs = `mesh-id-${suffix}`
const appNs = `shop-${suffix}`
const kc = new k8s.KubeConfig()
kc.loadFromFile(cluster.kubeconfigPath)
kc.setCurrentContext('admin')
const core = kc.makeApiClient(k8s.CoreV1Api)

let anchor: CaMaterial
let svc: IdentityService
let tmp: string
let key: string

function secretData(issuer: CaMaterial): Record<string, string> {
  const b64 = (s: string) => Buffer.from(s).toString('base64')
  return {'ca.crt': b64(anchor.certPem), 'issuer.crt': b64(issuer.certPem), 'issuer.key': b64(issuer.keyPem)}
}

async function token(sa: string, audiences = ['identity.mesh.dev']): Promise<string> {
  const tr = await core.createNamespacedServiceAccountToken({name: sa, namespace: appNs, body: {spec: {audiences, expirationSeconds: 600}}})
  return tr.status!.token!
}

const call = (body: {identity: string; csr: string; token: string}) =>
  callCertify({url: `https://127.0.0.1:${svc.port}`, anchorsPem: anchor.certPem, serviceName: svc.serviceName}, body)

async function refusal(body: {identity: string; csr: string; token: string}): Promise<CertifyError> {
  const err = await call(body).then(() => undefined, (e: unknown) => e)
  expect(err, 'certify should have been refused').toBeInstanceOf(CertifyError)
  return err as CertifyError
}

const eventually = eventuallyWith({timeoutMs: 15_000})

beforeAll(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'mesh-it-id-'))
  for (const name of [cpNs, appNs]) await core.createNamespace({body: {metadata: {name}}})
  for (const name of ['web', 'db', 'gone']) await core.createNamespacedServiceAccount({namespace: appNs, body: {metadata: {name}}})
  anchor = await generateTrustAnchor()
  const issuer = await generateIssuer(anchor, {commonName: 'issuer-1'})
  await core.createNamespacedSecret({namespace: cpNs, body: {metadata: {name: 'mesh-identity-issuer'}, type: 'kubernetes.io/tls', data: {...secretData(issuer), 'tls.crt': '', 'tls.key': ''}}})
  await core.createNamespacedConfigMap({namespace: cpNs, body: {metadata: {name: 'mesh-identity-trust-roots'}, data: {'ca-bundle.crt': anchor.certPem}}})
  svc = await startIdentityService({
    issuer: new KubernetesIssuerSource({lib: k8s, kc, namespace: cpNs, log: silentLogger}),
    validator: new KubernetesTokenValidator(k8s, kc),
    events: new KubernetesEventRecorder(k8s, kc, silentLogger),
    host: '127.0.0.1',
    port: 0,
    controlPlaneNamespace: cpNs,
    log: silentLogger,
  })
  key = (await generateRsaKey()).keyPem
})

afterAll(async () => {
  await svc?.stop()
  for (const name of [cpNs, appNs]) await core.deleteNamespace({name}).catch(() => {})
  rmSync(tmp, {recursive: true, force: true})
})

const WEB = () => identityName('web', appNs, cpNs)

describe('identity on a real API server', () => {
  it('a proxy with a projected token gets a leaf for its ServiceAccount that chains to the anchor; an Event says so', async () => {
    const tokenFile = path.join(tmp, 'web.token')
    writeFileSync(tokenFile, await token('web'))
    const id = await startIdentity({localName: WEB(), identityAddr: `https://127.0.0.1:${svc.port}`, identityServiceName: svc.serviceName, tokenFile, trustAnchorsPem: anchor.certPem, backoff: {minMs: 100, maxMs: 500}})
    try {
      await id.ready()
      expect(id.status().state).toBe('ready')
      const res = await call({identity: WEB(), csr: createCsr(key, WEB()), token: await token('web')})
      const leaf = parseCertificate(res.certificate)
      expect(singleDnsSan(leaf)).toBe(WEB())
      expect(verifyChain({leaf, intermediates: res.chain.map((c) => parseCertificate(c)), anchors: [parseCertificate(anchor.certPem)]})).toBeUndefined()
      expect(leaf.publicKey.export({type: 'spki', format: 'pem'})).toBe(publicKeyOf(key))
      const ev = await eventually(async () => {
        const list = await core.listNamespacedEvent({namespace: appNs, fieldSelector: 'involvedObject.kind=ServiceAccount,involvedObject.name=web'})
        return list.items.find((e) => e.reason === 'IdentityIssued')
      }, 'an IdentityIssued event')
      expect(ev.type).toBe('Normal')
      expect(ev.message).toContain(WEB())
      expect(ev.involvedObject.uid).toBeTruthy()
    } finally {
      id.close()
    }
  })

  it('proxies certified through TokenReview talk mTLS; under identities:<web> the inbound refuses another ServiceAccount (403) and a foreign root (closed)', async () => {
    await core.createNamespacedServiceAccount({namespace: appNs, body: {metadata: {name: 'intruder'}}})
    const ids: ProxyIdentity[] = []
    const proxies: RunningProxy[] = []
    const app = await startEchoApp()
    let inbound: InboundSide$ | undefined
    try {
      const certified = async (sa: string): Promise<ProxyIdentity> => {
        const tokenFile = path.join(tmp, `${sa}-mtls.token`)
        writeFileSync(tokenFile, await token(sa))
        const id = await startIdentity({localName: identityName(sa, appNs, cpNs), identityAddr: `https://127.0.0.1:${svc.port}`, identityServiceName: svc.serviceName, tokenFile, trustAnchorsPem: anchor.certPem, backoff: {minMs: 100, maxMs: 500}})
        ids.push(id)
        await id.ready()
        return id
      }
      const db = await certified('db')
      inbound = await startInbound({config: testConfig({inboundForward: {host: '127.0.0.1', port: app.port}}), log: quietLog(), identity: db, stats: newStats(), policy: parseInboundPolicy(`identities:${WEB()}`)})
      const port = inbound.listener.port()
      const discovery: Discovery = {
        resolve: (authority) => Promise.resolve(authority !== 'db.shop:80' ? null : {current: () => ({endpoints: [{host: '127.0.0.1', port, identity: identityName('db', appNs, cpNs), labels: {}}]}), onChange: () => () => {}, close: () => {}}),
        close: () => {},
      }
      const client = async (id: ProxyIdentity): Promise<RunningProxy> => {
        const p = await startProxy(testConfig(), {identity: id, discovery, log: quietLog(), originalDst: null})
        proxies.push(p)
        return p
      }
      const web = await client(await certified('web'))
      const ok = await request(web.ports.outbound, {path: '/from-web', headers: {host: 'db.shop'}})
      expect(ok.status).toBe(200)
      expect(JSON.parse(ok.body).url).toBe('/from-web')
      const intruder = await client(await certified('intruder'))
      const before = app.requests
      const no = await request(intruder.ports.outbound, {path: '/from-intruder', headers: {host: 'db.shop'}})
      expect(no.status).toBe(403)
      expect(no.headers['mesh-proxy-error']).toContain(identityName('intruder', appNs, cpNs))
      expect(app.requests).toBe(before)
      // A leaf for web's very name, but from another trust root: closed after the handshake.
      const otherAnchor = await generateTrustAnchor()
      const otherIssuer = await generateIssuer(otherAnchor)
      const k = await generateRsaKey()
      const forged = signLeaf(otherIssuer, {publicKeyPem: k.publicKeyPem, dnsName: WEB()})
      const seen = await new Promise<{out: string; error?: string}>((resolve) => {
        const s = tls.connect({host: '127.0.0.1', port, servername: identityName('db', appNs, cpNs), key: k.keyPem, cert: forged.certPem + otherIssuer.certPem, rejectUnauthorized: false, ALPNProtocols: ['http/1.1']}, () => s.write('GET /forged HTTP/1.1\r\nhost: db\r\nconnection: close\r\n\r\n'))
        let out = ''
        let error: string | undefined
        s.setTimeout(5000, () => s.destroy(new Error('timeout: still open')))
        s.on('data', (c: Buffer) => (out += c.toString()))
        s.on('error', (e) => (error = e.message))
        s.on('close', () => resolve({out, error}))
      })
      expect(seen.out).toBe('')
      expect(seen.error ?? '').not.toMatch(/timeout/)
      expect(app.requests).toBe(before)
      expect(inbound.authz!.refused).toMatchObject({identity_not_allowed: 1, untrusted_certificate: 1})
    } finally {
      await Promise.all(proxies.map((p) => p.close(100)))
      if (inbound) {
        inbound.close()
        inbound.listener.tracker.destroyAll()
        await new Promise((r) => inbound!.listener.server.close(r))
      }
      for (const id of ids) id.close()
      await closeServer(app.server)
    }
  })

  it('refuses a garbage token and a token for another audience (401 TOKEN_INVALID)', async () => {
    const e1 = await refusal({identity: WEB(), csr: createCsr(key, WEB()), token: 'not-a-token'})
    expect([e1.code, e1.status]).toEqual(['TOKEN_INVALID', 401])
    const e2 = await refusal({identity: WEB(), csr: createCsr(key, WEB()), token: await token('web', ['other.example'])})
    expect([e2.code, e2.status]).toEqual(['TOKEN_INVALID', 401])
    expect(e2.message).toMatch(/rejected the token/)
  })

  it("refuses the token of a deleted ServiceAccount", async () => {
    const t = await token('gone')
    await core.deleteNamespacedServiceAccount({name: 'gone', namespace: appNs})
    const gone = identityName('gone', appNs, cpNs)
    const e = await eventually(async () => {
      const err = await refusal({identity: gone, csr: createCsr(key, gone), token: t})
      return err.code === 'TOKEN_INVALID' ? err : undefined
    }, 'a refusal for the deleted ServiceAccount')
    expect(e.status).toBe(401)
  })

  it("refuses another ServiceAccount's name (403 IDENTITY_MISMATCH) and records a Warning event", async () => {
    const db = identityName('db', appNs, cpNs)
    const e = await refusal({identity: db, csr: createCsr(key, db), token: await token('web')})
    expect([e.code, e.status]).toEqual(['IDENTITY_MISMATCH', 403])
    expect(e.message).toContain(`${appNs}/web`)
    const ev = await eventually(async () => {
      const list = await core.listNamespacedEvent({namespace: appNs, fieldSelector: 'involvedObject.name=web'})
      return list.items.find((x) => x.reason === 'IdentityRefused')
    }, 'an IdentityRefused event')
    expect(ev.type).toBe('Warning')
  })

  it('refuses extra SANs and a CSR for another name (403 CSR_EXTRA_SANS)', async () => {
    const csr = forge.pki.createCertificationRequest()
    csr.publicKey = forge.pki.publicKeyFromPem(publicKeyOf(key))
    csr.setAttributes([{name: 'extensionRequest', extensions: [{name: 'subjectAltName', altNames: [{type: 2, value: WEB()}, {type: 7, ip: '10.0.0.1'}]}]}])
    csr.sign(forge.pki.privateKeyFromPem(key), forge.md.sha256.create())
    const e = await refusal({identity: WEB(), csr: forge.pki.certificationRequestToPem(csr), token: await token('web')})
    expect([e.code, e.status]).toEqual(['CSR_EXTRA_SANS', 403])
    expect(e.message).toContain('IP:10.0.0.1')
    const e2 = await refusal({identity: WEB(), csr: createCsr(key, identityName('db', appNs, cpNs)), token: await token('web')})
    expect(e2.code).toBe('CSR_EXTRA_SANS')
  })

  it('hot-reloads the issuer Secret, then refuses with ISSUER_EXPIRED (503) when it has expired', async () => {
    const body = async () => ({identity: WEB(), csr: createCsr(key, WEB()), token: await token('web')})
    const b = await body()
    const issuer2 = await generateIssuer(anchor, {commonName: 'issuer-2'})
    await core.replaceNamespacedSecret({name: 'mesh-identity-issuer', namespace: cpNs, body: {metadata: {name: 'mesh-identity-issuer'}, type: 'kubernetes.io/tls', data: {...secretData(issuer2), 'tls.crt': '', 'tls.key': ''}}})
    await eventually(async () => (parseCertificate((await call(b)).chain[0]!).subject.includes('issuer-2') ? true : undefined), 'the rotated issuer')
    const oldAnchorIssuer = await generateIssuer(anchor, {commonName: 'issuer-old', validityDays: 1, now: new Date(Date.now() - 2 * 86400_000)})
    await core.replaceNamespacedSecret({name: 'mesh-identity-issuer', namespace: cpNs, body: {metadata: {name: 'mesh-identity-issuer'}, type: 'kubernetes.io/tls', data: {...secretData(oldAnchorIssuer), 'tls.crt': '', 'tls.key': ''}}})
    const e = await eventually(async () => {
      const err = await call(b).then(() => undefined, (x: unknown) => x as CertifyError)
      return err?.code === 'ISSUER_EXPIRED' ? err : undefined
    }, 'ISSUER_EXPIRED')
    expect(e.status).toBe(503)
    expect(e.message).toMatch(/expired at .*rotate the issuer \(secret /)
  })

  it('does not start without the issuer Secret, and says what to create', async () => {
    const empty = `mesh-empty-${suffix}`
    await core.createNamespace({body: {metadata: {name: empty}}})
    const err = await startIdentityService({
      issuer: new KubernetesIssuerSource({lib: k8s, kc, namespace: empty, log: silentLogger}),
      validator: new KubernetesTokenValidator(k8s, kc),
      host: '127.0.0.1',
      port: 0,
      log: silentLogger,
    }).then(() => undefined, (x: unknown) => x as Error)
    expect(err?.message).toBe(`Secret ${empty}/mesh-identity-issuer not found: create it with keys ca.crt, issuer.crt, issuer.key (mesh install does)`)
    await core.deleteNamespace({name: empty}).catch(() => {})
  })
})
