import {execFileSync} from 'node:child_process'
import {mkdtempSync, writeFileSync, rmSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {X509Certificate} from 'node:crypto'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import forge from 'node-forge'
import {
  checkCsrNames,
  createCsr,
  CsrError,
  dnsSans,
  generateIssuer,
  generateRsaKey,
  generateTrustAnchor,
  parseCertificate,
  parseCertificates,
  parseCsr,
  publicKeyOf,
  rsaBits,
  signLeaf,
  singleDnsSan,
  splitPem,
  verifyChain,
  type CaMaterial,
} from '../../src/tls/index.js'

const NAME = 'web.shop.serviceaccount.identity.mesh-system.cluster.local'
let anchor: CaMaterial
let issuer: CaMaterial
let tmp: string

beforeAll(async () => {
  anchor = await generateTrustAnchor()
  issuer = await generateIssuer(anchor)
  tmp = mkdtempSync(path.join(os.tmpdir(), 'mesh-tls-'))
})
afterAll(() => rmSync(tmp, {recursive: true, force: true}))

describe('trust anchor and issuer', () => {
  it('the anchor is a self-signed CA and the issuer a CA it signed', () => {
    const a = parseCertificate(anchor.certPem)
    const i = parseCertificate(issuer.certPem)
    expect(a.ca).toBe(true)
    expect(i.ca).toBe(true)
    expect(a.checkIssued(a)).toBe(true)
    expect(a.verify(a.publicKey)).toBe(true)
    expect(i.checkIssued(a)).toBe(true)
    expect(i.verify(a.publicKey)).toBe(true)
    expect(rsaBits(anchor.keyPem)).toBe(2048)
    expect(verifyChain({leaf: i, anchors: [a]})).toBeUndefined()
  })

  it('honours validity and key options', async () => {
    const key = await generateRsaKey(2048)
    const short = await generateIssuer(anchor, {validityDays: 2, keyPem: key.keyPem, commonName: 'x.example'})
    const c = parseCertificate(short.certPem)
    expect(c.subject).toContain('CN=x.example')
    expect(new Date(c.validTo).getTime() - Date.now()).toBeLessThan(2 * 86400_000 + 1000)
    expect(c.publicKey.export({type: 'spki', format: 'pem'}).toString()).toBe(key.publicKeyPem)
  })
})

describe('CSR and leaf', () => {
  it('a CSR round-trips its single DNS SAN and public key', async () => {
    const key = await generateRsaKey()
    const csr = parseCsr(createCsr(key.keyPem, NAME))
    expect(csr.dnsNames).toEqual([NAME])
    expect(csr.otherSans).toEqual([])
    expect(csr.commonName).toBe(NAME)
    expect(csr.publicKeyPem).toBe(key.publicKeyPem)
    expect(() => checkCsrNames(csr, NAME)).not.toThrow()
  })

  it('signs a 24 h leaf with one DNS SAN that chains to the anchor (Node and openssl agree)', async () => {
    const key = await generateRsaKey()
    const leaf = signLeaf(issuer, {publicKeyPem: key.publicKeyPem, dnsName: NAME})
    const cert = parseCertificate(leaf.certPem)
    expect(singleDnsSan(cert)).toBe(NAME)
    expect(cert.ca).toBe(false)
    const life = new Date(cert.validTo).getTime() - Date.now()
    expect(life).toBeGreaterThan(24 * 3600_000 - 60_000)
    expect(life).toBeLessThanOrEqual(24 * 3600_000)
    expect(leaf.notAfter.getTime()).toBe(new Date(cert.validTo).getTime())
    const a = parseCertificate(anchor.certPem)
    const i = parseCertificate(issuer.certPem)
    expect(verifyChain({leaf: cert, intermediates: [i], anchors: [a]})).toBeUndefined()
    expect(verifyChain({leaf: cert, anchors: [a]})).toMatch(/not signed by a trust anchor/)
    // openssl, independently: leaf -> untrusted issuer -> trusted anchor, for TLS client and server.
    for (const [name, content] of Object.entries({'ca.pem': anchor.certPem, 'issuer.pem': issuer.certPem, 'leaf.pem': leaf.certPem})) {
      writeFileSync(path.join(tmp, name), content)
    }
    for (const purpose of ['sslserver', 'sslclient']) {
      const out = execFileSync('openssl', ['verify', '-purpose', purpose, '-CAfile', path.join(tmp, 'ca.pem'), '-untrusted', path.join(tmp, 'issuer.pem'), path.join(tmp, 'leaf.pem')], {encoding: 'utf8'})
      expect(out).toContain('OK')
    }
    // And the key in the cert is the CSR's key: a signature by the private key verifies.
    expect(cert.publicKey.export({type: 'spki', format: 'pem'}).toString()).toBe(publicKeyOf(key.keyPem))
  })

  it("caps the leaf at the issuer's expiry", async () => {
    const shortIssuer = await generateIssuer(anchor, {validityDays: 0.5})
    const key = await generateRsaKey()
    const leaf = signLeaf(shortIssuer, {publicKeyPem: key.publicKeyPem, dnsName: NAME})
    expect(leaf.notAfter.getTime()).toBeLessThanOrEqual(new Date(parseCertificate(shortIssuer.certPem).validTo).getTime())
  })

  it('verifyChain reports an expired leaf and an expired issuer', async () => {
    const key = await generateRsaKey()
    const old = new Date(Date.now() - 3 * 86400_000)
    const leaf = signLeaf(issuer, {publicKeyPem: key.publicKeyPem, dnsName: NAME, now: old})
    const a = [parseCertificate(anchor.certPem)]
    expect(verifyChain({leaf: parseCertificate(leaf.certPem), intermediates: [parseCertificate(issuer.certPem)], anchors: a})).toMatch(/expired/)
    const oldAnchor = await generateTrustAnchor({now: old})
    const oldIssuer = await generateIssuer(oldAnchor, {validityDays: 1, now: old})
    const leaf2 = signLeaf(oldIssuer, {publicKeyPem: key.publicKeyPem, dnsName: NAME, now: new Date(Date.now() - 2.5 * 86400_000), lifetimeMs: 3600_000})
    // The leaf itself is capped and expired too; check the issuer at a time the leaf was valid.
    const at = new Date(Date.now() - 2.5 * 86400_000 + 60_000)
    const oa = [parseCertificate(oldAnchor.certPem)]
    const chain = {leaf: parseCertificate(leaf2.certPem), intermediates: [parseCertificate(oldIssuer.certPem)], anchors: oa}
    expect(verifyChain({...chain, at})).toBeUndefined()
    expect(verifyChain(chain)).toMatch(/expired/)
    // At a time the leaf is valid but the issuer is not (forged window): the issuer is named.
    const leaf3 = signLeaf({...oldIssuer}, {publicKeyPem: key.publicKeyPem, dnsName: NAME, lifetimeMs: 3600_000, now: at})
    expect(verifyChain({...chain, leaf: parseCertificate(leaf3.certPem), at: new Date(Date.now() - 1.2 * 86400_000)})).toMatch(/expired/)
  })
})

describe('CSR checks refuse', () => {
  function forgeCsr(keyPem: string, altNames: object[], cn?: string): string {
    const csr = forge.pki.createCertificationRequest()
    csr.publicKey = forge.pki.publicKeyFromPem(publicKeyOf(keyPem))
    csr.setSubject(cn ? [{name: 'commonName', value: cn}] : [])
    if (altNames.length) csr.setAttributes([{name: 'extensionRequest', extensions: [{name: 'subjectAltName', altNames}]}])
    csr.sign(forge.pki.privateKeyFromPem(keyPem), forge.md.sha256.create())
    return forge.pki.certificationRequestToPem(csr)
  }
  const code = (fn: () => void): string | undefined => {
    try {
      fn()
      return undefined
    } catch (err) {
      expect(err).toBeInstanceOf(CsrError)
      return (err as CsrError).code
    }
  }
  let key: string
  beforeAll(async () => {
    key = (await generateRsaKey()).keyPem
  })

  it('a second DNS SAN, an IP SAN, a different name, no SAN, a different CN', () => {
    expect(code(() => checkCsrNames(parseCsr(forgeCsr(key, [{type: 2, value: NAME}, {type: 2, value: 'evil.example'}])), NAME))).toBe('CSR_EXTRA_SANS')
    expect(code(() => checkCsrNames(parseCsr(forgeCsr(key, [{type: 2, value: NAME}, {type: 7, ip: '10.0.0.1'}])), NAME))).toBe('CSR_EXTRA_SANS')
    expect(code(() => checkCsrNames(parseCsr(forgeCsr(key, [{type: 2, value: 'db.shop.serviceaccount.identity.mesh-system.cluster.local'}])), NAME))).toBe('CSR_EXTRA_SANS')
    expect(code(() => checkCsrNames(parseCsr(forgeCsr(key, [], NAME)), NAME))).toBe('CSR_NO_SAN')
    expect(code(() => checkCsrNames(parseCsr(forgeCsr(key, [{type: 2, value: NAME}], 'admin')), NAME))).toBe('CSR_EXTRA_SANS')
    expect(code(() => checkCsrNames(parseCsr(forgeCsr(key, [{type: 2, value: NAME}])), NAME))).toBeUndefined()
  })

  it('garbage, a tampered signature, a weak key', async () => {
    expect(code(() => parseCsr('not a csr'))).toBe('CSR_INVALID')
    const good = createCsr(key, NAME)
    const der = Buffer.from(good.replace(/-----[^-]+-----|\s/g, ''), 'base64')
    der[der.length - 5]! ^= 0xff
    const tampered = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64').match(/.{1,64}/g)!.join('\n')}\n-----END CERTIFICATE REQUEST-----\n`
    expect(code(() => parseCsr(tampered))).toBe('CSR_BAD_SIGNATURE')
    const weak = await generateRsaKey(1024)
    expect(code(() => parseCsr(createCsr(weak.keyPem, NAME)))).toBe('CSR_WEAK_KEY')
  })
})

describe('PEM helpers', () => {
  it('splits bundles and parses every certificate', () => {
    const bundle = anchor.certPem + '\n' + issuer.certPem.replace(/\n/g, '\r\n')
    expect(splitPem(bundle)).toHaveLength(2)
    const certs = parseCertificates(bundle)
    expect(certs[1]).toBeInstanceOf(X509Certificate)
    expect(() => parseCertificates('nothing', 'ca.crt')).toThrow(/ca.crt: no PEM CERTIFICATE/)
    expect(dnsSans(certs[0]!)).toEqual([])
  })
})
