// The rotation's gates (src/diagnostics/rotate-anchor.ts planRotation) on made-up data planes:
// real certificates from src/tls, proxies described as the identity report or the pod spec
// would describe them. Each gate passes only on what it must see, and the old anchor is never
// dropped while a live certificate chains to it. (The cluster writes are tested on the real API
// server in test/integration/rotate-anchor.test.ts.)
import type {X509Certificate} from 'node:crypto'
import {beforeAll, describe, expect, it} from 'vitest'
import {sha256Of, type ProxyIdentityState} from '../../src/diagnostics/identity-report.js'
import {planRotation, type Observed, type Stage} from '../../src/diagnostics/rotate-anchor.js'
import {generateIssuer, generateRsaKey, generateTrustAnchor, parseCertificate, parseCertificates, signLeaf, type CaMaterial} from '../../src/tls/index.js'

let oldA: CaMaterial
let newA: CaMaterial
let oldIssuer: CaMaterial
let newIssuer: CaMaterial
let key: string
const x = (pem: string): X509Certificate => parseCertificate(pem)

beforeAll(async () => {
  oldA = await generateTrustAnchor({commonName: 'old-root'})
  newA = await generateTrustAnchor({commonName: 'new-root'})
  oldIssuer = await generateIssuer(oldA, {commonName: 'old-issuer'})
  newIssuer = await generateIssuer(newA, {commonName: 'new-issuer'})
  key = (await generateRsaKey()).publicKeyPem
})

function observed(o: {bundle: CaMaterial[]; issuer: CaMaterial; injected?: CaMaterial[]; webhook?: CaMaterial[]; scheme?: Observed['scheme']}): Observed {
  return {
    bundle: o.bundle.map((a) => x(a.certPem)),
    scheme: o.scheme ?? 'mesh.dev/tls',
    issuerChain: [x(o.issuer.certPem)],
    injectedAnchors: (o.injected ?? o.bundle).map((a) => x(a.certPem)),
    webhookCaBundles: [(o.webhook ?? o.bundle).map((a) => x(a.certPem))],
  }
}

function proxy(name: string, o: {trusts: CaMaterial[]; leafFrom?: CaMaterial; source?: 'proxy' | 'pod spec'; running?: boolean}): ProxyIdentityState {
  const chain = o.leafFrom ? parseCertificates(signLeaf(o.leafFrom, {publicKeyPem: key, dnsName: `${name}.shop.serviceaccount.identity.mesh-system.cluster.local`}).certPem + o.leafFrom.certPem) : undefined
  const anchors = o.trusts.map((a) => x(a.certPem))
  const source = o.source ?? 'proxy'
  return {
    namespace: 'shop', name, meshed: true, running: o.running ?? true, source,
    ...(source === 'proxy' ? {chain} : {unreachable: 'its proxy does not serve /identity (a version before the identity report)'}),
    trustAnchors: anchors, trustedSha256: anchors.map(sha256Of),
  }
}

const states = (s: Stage[]) => Object.fromEntries(s.map((st) => [st.id, st.state]))
const detail = (s: Stage[], id: Stage['id']) => s.find((st) => st.id === id)!.detail

describe('planRotation', () => {
  it('from the start: adding the anchor is ready, everything after waits', () => {
    const s = planRotation({observed: observed({bundle: [oldA], issuer: oldIssuer}), newAnchor: x(newA.certPem), proxies: [proxy('web', {trusts: [oldA], leafFrom: oldIssuer})]})
    expect(states(s)).toEqual({'add-anchor': 'ready', 'proxies-trust-both': 'waiting', 'new-issuer': 'waiting', 'leaves-renewed': 'waiting', 'drop-old-anchor': 'waiting'})
    expect(detail(s, 'add-anchor')).toMatch(/^write CN=old-root \(\w{12}\) \+ CN=new-root \(\w{12}\) to ConfigMap mesh-identity-trust-roots, ConfigMap mesh-config \(trustAnchorsPEM\), the caBundle of mesh-proxy-injector-webhook-config$/)
  })

  it('the bundle alone is not enough: the webhook and mesh-config must carry the new anchor too', () => {
    const s = planRotation({observed: observed({bundle: [oldA, newA], issuer: oldIssuer, injected: [oldA], webhook: [oldA, newA]}), newAnchor: x(newA.certPem), proxies: []})
    expect(states(s)['add-anchor']).toBe('ready')
    expect(detail(s, 'add-anchor')).toContain('to ConfigMap mesh-config (trustAnchorsPEM)')
    expect(detail(s, 'add-anchor')).not.toContain('caBundle')
  })

  it('gate 2 holds while any live proxy lacks the new anchor; a pod-spec proxy says why and what to do; stopped pods do not count', () => {
    const base = {observed: observed({bundle: [oldA, newA], issuer: oldIssuer}), newAnchor: x(newA.certPem)}
    const blocked = planRotation({...base, proxies: [proxy('web', {trusts: [oldA, newA], leafFrom: oldIssuer}), proxy('db', {trusts: [oldA], source: 'pod spec'}), proxy('old', {trusts: [oldA], running: false})]})
    expect(states(blocked)).toMatchObject({'add-anchor': 'done', 'proxies-trust-both': 'blocked', 'new-issuer': 'waiting'})
    expect(detail(blocked, 'proxies-trust-both')).toMatch(/^1 of 2 live proxies do not trust every anchor yet: shop\/db\. 1 of them do not report the anchors they trust now .*Restart them/)
    const ok = planRotation({...base, proxies: [proxy('web', {trusts: [oldA, newA], leafFrom: oldIssuer}), proxy('db', {trusts: [newA, oldA], source: 'pod spec'})], nextIssuer: {chain: [x(newIssuer.certPem)]}})
    expect(states(ok)).toMatchObject({'proxies-trust-both': 'done', 'new-issuer': 'ready'})
    expect(detail(ok, 'proxies-trust-both')).toBe('2 live proxies trust 2 anchors (1 said so themselves, 1 from their pod spec)')
  })

  it('stage 3 needs an issuer from the new anchor: given files, or cert-manager to renew it', () => {
    const both = {bundle: [oldA, newA], issuer: oldIssuer}
    const trusting = [proxy('web', {trusts: [oldA, newA], leafFrom: oldIssuer})]
    expect(detail(planRotation({observed: observed(both), newAnchor: x(newA.certPem), proxies: trusting}), 'new-issuer')).toMatch(/no issuer signed by the new anchor was given: pass --issuer-certificate-file/)
    const cm = planRotation({observed: observed({...both, scheme: 'kubernetes.io/tls'}), newAnchor: x(newA.certPem), proxies: trusting, nextIssuer: {chain: [x(newIssuer.certPem)]}})
    expect(states(cm)['new-issuer']).toBe('blocked')
    expect(detail(cm, 'new-issuer')).toMatch(/^cert-manager owns the issuer: point its Issuer at the new CA .* `cmctl renew mesh-identity-issuer/)
  })

  it('gate 4 waits for every live leaf to chain to the new anchor, and cannot pass on proxies that do not report theirs', () => {
    const after = {observed: observed({bundle: [oldA, newA], issuer: newIssuer}), newAnchor: x(newA.certPem)}
    const stale = planRotation({...after, proxies: [proxy('web', {trusts: [oldA, newA], leafFrom: newIssuer}), proxy('db', {trusts: [oldA, newA], leafFrom: oldIssuer})]})
    expect(states(stale)).toMatchObject({'new-issuer': 'done', 'leaves-renewed': 'blocked', 'drop-old-anchor': 'waiting'})
    expect(detail(stale, 'leaves-renewed')).toMatch(/^1 still present a certificate from the old issuer .*: shop\/db$/)
    const unknown = planRotation({...after, proxies: [proxy('web', {trusts: [oldA, newA], leafFrom: newIssuer}), proxy('db', {trusts: [oldA, newA], source: 'pod spec'})]})
    expect(detail(unknown, 'leaves-renewed')).toMatch(/^1 do not report their certificate .*cannot tell, so this stage cannot pass.*: shop\/db$/)
    const renewed = planRotation({...after, proxies: [proxy('web', {trusts: [oldA, newA], leafFrom: newIssuer}), proxy('db', {trusts: [newA, oldA], leafFrom: newIssuer})]})
    expect(states(renewed)).toMatchObject({'leaves-renewed': 'done', 'drop-old-anchor': 'ready'})
    expect(detail(renewed, 'drop-old-anchor')).toMatch(/^write CN=new-root \(\w{12}\) alone to .* dropping CN=old-root/)
  })

  it('never drops an anchor a live certificate chains to: an issuer chain that reaches the old anchor too (cross-signed) blocks stage 5 itself', async () => {
    // The new root, cross-signed by the old one, sent as the issuer's intermediate: the issuer chains to both anchors.
    const {buildCertificate} = await import('../../src/tls/cert-builder.js')
    const {publicKeyOf} = await import('../../src/tls/keys.js')
    const crossSigned = buildCertificate(
      {publicKeyPem: publicKeyOf(newA.keyPem), subjectCommonName: 'new-root', notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + 86400_000), extensions: [{name: 'basicConstraints', cA: true, pathLenConstraint: 1, critical: true}, {name: 'keyUsage', keyCertSign: true, critical: true}]},
      {issuerCertPem: oldA.certPem, issuerKeyPem: oldA.keyPem},
    )
    const obs = {...observed({bundle: [oldA, newA], issuer: newIssuer}), issuerChain: [x(newIssuer.certPem), x(crossSigned)]}
    const s = planRotation({observed: obs, newAnchor: x(newA.certPem), proxies: [proxy('web', {trusts: [oldA, newA], leafFrom: newIssuer})]})
    expect(states(s)).toMatchObject({'new-issuer': 'done', 'leaves-renewed': 'done', 'drop-old-anchor': 'blocked'})
    expect(detail(s, 'drop-old-anchor')).toMatch(/^refusing to drop an anchor a live certificate still chains to: the issuer chains to CN=old-root/)
    // A stale leaf is held at gate 4, before stage 5 could drop its anchor.
    const stale = planRotation({observed: observed({bundle: [oldA, newA], issuer: newIssuer}), newAnchor: x(newA.certPem), proxies: [proxy('db', {trusts: [oldA, newA], leafFrom: oldIssuer})]})
    expect(states(stale)).toMatchObject({'leaves-renewed': 'blocked', 'drop-old-anchor': 'waiting'})
  })

  it('complete: the new anchor alone, the issuer from it; nothing left to do, whatever proxies report', () => {
    const s = planRotation({observed: observed({bundle: [newA], issuer: newIssuer}), newAnchor: x(newA.certPem), proxies: [proxy('db', {trusts: [oldA], source: 'pod spec'})]})
    expect(Object.values(states(s))).toEqual(['done', 'done', 'done', 'done', 'done'])
  })
})
