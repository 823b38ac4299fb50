// The certificate builder (src/tls/cert-builder.ts: DER + Node's crypto, RSA and ECDSA
// issuers) against independent readers: openssl (verify for TLS server and client, and its text
// dump), Node's X509Certificate, and issuers made by openssl itself, whose Names and key
// identifiers the builder must copy, not rebuild. Generated names, addresses and validity
// windows (fast-check) go through both readers.
import {execFileSync, spawnSync} from 'node:child_process'
import {generateKeyPairSync, X509Certificate} from 'node:crypto'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import fc from 'fast-check'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {buildCertificate, certificateParts, keyIdentifier} from '../../src/tls/cert-builder.js'
import {children, readTlv} from '../../src/tls/der.js'
import {generateIssuer, generateTrustAnchor, generateRsaKey, signLeaf, verifyChain, parseCertificate, type CaMaterial} from '../../src/tls/index.js'

const NAME = 'web.shop.serviceaccount.identity.mesh-system.cluster.local'
const dir = mkdtempSync(path.join(os.tmpdir(), 'mesh-x509-'))
afterAll(() => rmSync(dir, {recursive: true, force: true}))

let n = 0
function file(content: string): string {
  const f = path.join(dir, `f${n++}.pem`)
  writeFileSync(f, content)
  return f
}

function opensslVerify(anchor: string, chain: string[], leaf: string, purpose: string): {ok: boolean; said: string} {
  const args = ['verify', '-purpose', purpose, '-CAfile', file(anchor)]
  if (chain.length) args.push('-untrusted', file(chain.join('')))
  args.push(file(leaf))
  const r = spawnSync('openssl', args, {encoding: 'utf8'})
  const said = `${r.stdout}${r.stderr}`
  return {ok: r.status === 0 && /: OK\s*$/m.test(said), said}
}

const text = (pem: string): string => execFileSync('openssl', ['x509', '-noout', '-text', '-in', file(pem)], {encoding: 'utf8'})

let rsaKey: string
beforeAll(async () => {
  rsaKey = (await generateRsaKey()).publicKeyPem
})

describe('ECDSA issuers', () => {
  let anchor: CaMaterial
  let issuer: CaMaterial
  beforeAll(async () => {
    anchor = await generateTrustAnchor({keyType: 'ecdsa'})
    issuer = await generateIssuer(anchor, {keyType: 'ecdsa'})
  })

  it('a P-256 anchor and issuer sign an RSA leaf that openssl verifies for TLS server and client', () => {
    const leaf = signLeaf(issuer, {publicKeyPem: rsaKey, dnsName: NAME})
    for (const purpose of ['sslserver', 'sslclient']) {
      const r = opensslVerify(anchor.certPem, [issuer.certPem], leaf.certPem, purpose)
      expect(r.ok, r.said).toBe(true)
    }
    const dump = text(leaf.certPem)
    expect(dump).toMatch(/Signature Algorithm: ecdsa-with-SHA256/)
    expect(dump).toMatch(/Public-Key: \(2048 bit\)/)
    expect(dump).toMatch(/X509v3 Basic Constraints: critical\s*\n\s*CA:FALSE/)
    expect(dump).toMatch(/X509v3 Key Usage: critical\s*\n\s*Digital Signature, Key Encipherment/)
    expect(dump).toMatch(/X509v3 Extended Key Usage:\s*\n\s*TLS Web Server Authentication, TLS Web Client Authentication/)
    expect(dump).toMatch(new RegExp(`X509v3 Subject Alternative Name:\\s*\\n\\s*DNS:${NAME.replaceAll('.', '\\.')}\\s*\\n`))
    expect(verifyChain({leaf: parseCertificate(leaf.certPem), intermediates: [parseCertificate(issuer.certPem)], anchors: [parseCertificate(anchor.certPem)]})).toBeUndefined()
    const iss = text(issuer.certPem)
    expect(iss).toMatch(/X509v3 Basic Constraints: critical\s*\n\s*CA:TRUE, pathlen:0/)
    expect(iss).toMatch(/X509v3 Key Usage: critical\s*\n\s*Certificate Sign, CRL Sign/)
    expect(iss).toMatch(/ASN1 OID: prime256v1/)
  })

  it('Node verifies a TLS handshake with the ECDSA chain (the proxies\' mTLS path)', async () => {
    const tls = await import('node:tls')
    const key = await generateRsaKey()
    const leaf = signLeaf(issuer, {publicKeyPem: key.publicKeyPem, dnsName: NAME})
    const server = tls.createServer({key: key.keyPem, cert: leaf.certPem + issuer.certPem}, (s) => s.end('ok'))
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    const port = (server.address() as {port: number}).port
    const got = await new Promise<string>((resolve, reject) => {
      const c = tls.connect({host: '127.0.0.1', port, ca: anchor.certPem, servername: NAME, checkServerIdentity: () => undefined}, () => {
        c.on('data', (d) => resolve(`${c.authorized}:${String(d)}`))
      })
      c.on('error', reject)
    })
    server.close()
    expect(got).toBe('true:ok')
  })

  it('P-384 signs ecdsa-with-SHA384; other curves and key types are refused, naming them', () => {
    const p384 = generateKeyPairSync('ec', {namedCurve: 'secp384r1', privateKeyEncoding: {type: 'pkcs8', format: 'pem'}, publicKeyEncoding: {type: 'spki', format: 'pem'}})
    const root = buildCertificate(
      {publicKeyPem: p384.publicKey, subjectCommonName: 'p384', notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + 86400_000), extensions: [{name: 'basicConstraints', cA: true, critical: true}, {name: 'keyUsage', keyCertSign: true, critical: true}]},
      {selfKeyPem: p384.privateKey},
    )
    const leaf = signLeaf({certPem: root, keyPem: p384.privateKey}, {publicKeyPem: rsaKey, dnsName: NAME})
    expect(text(leaf.certPem)).toMatch(/Signature Algorithm: ecdsa-with-SHA384/)
    expect(opensslVerify(root, [], leaf.certPem, 'sslserver').ok).toBe(true)
    for (const [type, opts, msg] of [
      ['ec', {namedCurve: 'secp521r1'}, /ECDSA on curve secp521r1/],
      ['ed25519', {}, /the signing key is ed25519/],
    ] as const) {
      const k = generateKeyPairSync(type as 'ec', {...opts, privateKeyEncoding: {type: 'pkcs8', format: 'pem'}, publicKeyEncoding: {type: 'spki', format: 'pem'}} as never) as unknown as {privateKey: string; publicKey: string}
      expect(() =>
        buildCertificate({publicKeyPem: rsaKey, subjectCommonName: 'x', notBefore: new Date(), notAfter: new Date(Date.now() + 1000), extensions: []}, {selfKeyPem: k.privateKey}),
      ).toThrow(msg)
    }
  })
})

describe('issuers made elsewhere (openssl, as cert-manager or a corporate CA would)', () => {
  function opensslCa(args: {subj: string; ext: string; keyType: 'rsa' | 'ec'; signer?: {cert: string; key: string}}): {cert: string; key: string} {
    const keyFile = path.join(dir, `k${n++}.pem`)
    if (args.keyType === 'ec') execFileSync('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', keyFile])
    else execFileSync('openssl', ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', keyFile])
    const extFile = file(`[v3]\n${args.ext}\n`)
    const certFile = path.join(dir, `c${n++}.pem`)
    if (!args.signer) {
      execFileSync('openssl', ['req', '-x509', '-new', '-key', keyFile, '-subj', args.subj, '-days', '30', '-config', extFile, '-extensions', 'v3', '-out', certFile, '-sha256'], {env: {...process.env, OPENSSL_CONF: extFile}})
    } else {
      const csr = path.join(dir, `r${n++}.csr`)
      execFileSync('openssl', ['req', '-new', '-key', keyFile, '-subj', args.subj, '-out', csr, '-config', extFile], {env: {...process.env, OPENSSL_CONF: extFile}})
      execFileSync('openssl', ['x509', '-req', '-in', csr, '-CA', file(args.signer.cert), '-CAkey', file(args.signer.key), '-CAcreateserial', '-days', '30', '-extfile', extFile, '-extensions', 'v3', '-out', certFile, '-sha256'])
    }
    return {cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8')}
  }

  it('copies a multi-attribute issuer Name byte for byte and uses its own key identifier as the AKI', () => {
    const root = opensslCa({subj: '/C=DE/O=Example Corp/OU=Platform/CN=Example Root CA', ext: 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash', keyType: 'ec'})
    const issuer = opensslCa({
      subj: '/C=DE/O=Example Corp/CN=mesh issuer (cert-manager)',
      ext: 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid',
      keyType: 'ec',
      signer: root,
    })
    const leaf = signLeaf({certPem: issuer.cert, keyPem: issuer.key}, {publicKeyPem: rsaKey, dnsName: NAME})
    const l = new X509Certificate(leaf.certPem)
    const i = new X509Certificate(issuer.cert)
    expect(l.issuer).toBe(i.subject)
    expect(l.checkIssued(i)).toBe(true)
    expect(certificateParts(l).subject.length).toBeGreaterThan(0)
    const leafDump = text(leaf.certPem)
    const issuerDump = text(issuer.cert)
    const ski = /X509v3 Subject Key Identifier:\s*\n\s*([0-9A-F:]+)/.exec(issuerDump)![1]
    expect(leafDump).toMatch(new RegExp(`X509v3 Authority Key Identifier:\\s*\\n\\s*(keyid:)?${ski}`))
    expect(opensslVerify(root.cert, [issuer.cert], leaf.certPem, 'sslclient').ok).toBe(true)
  })

  it('an issuer without a subject key identifier: the AKI is computed from its key (RFC 5280 method 1)', () => {
    const root = opensslCa({subj: '/CN=no-ski root', ext: 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign\nsubjectKeyIdentifier=none\nauthorityKeyIdentifier=none', keyType: 'rsa'})
    expect(text(root.cert)).not.toMatch(/Subject Key Identifier/)
    const leaf = signLeaf({certPem: root.cert, keyPem: root.key}, {publicKeyPem: rsaKey, dnsName: NAME})
    const expected = keyIdentifier(new X509Certificate(root.cert).publicKey.export({type: 'spki', format: 'der'}))
    expect(text(leaf.certPem).replace(/:/g, '')).toContain(expected.toString('hex').toUpperCase())
    expect(opensslVerify(root.cert, [], leaf.certPem, 'sslserver').ok).toBe(true)
  })
})

describe('generated inputs: openssl and Node read what the builder meant', () => {
  let issuer: CaMaterial
  beforeAll(async () => {
    issuer = await generateIssuer(await generateTrustAnchor())
  })
  const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?$/)
  const dns = fc.array(label, {minLength: 1, maxLength: 6}).map((l) => l.join('.'))
  const ipv4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((p) => p.join('.'))
  const ipv6 = fc.array(fc.nat(0xffff), {minLength: 8, maxLength: 8}).map((g) => g.map((x) => x.toString(16)).join(':'))
  // Seconds from 1950 to 2100: crosses UTCTime's end (2050) and GeneralizedTime.
  const instant = fc.integer({min: Date.UTC(1950, 0, 1) / 1000, max: Date.UTC(2100, 0, 1) / 1000}).map((s) => new Date(s * 1000))

  it('names, IP addresses and validity windows round-trip (60 generated certificates)', () => {
    fc.assert(
      fc.property(dns, fc.array(fc.oneof(dns.map((v) => ({type: 2 as const, value: v})), ipv4.map((ip) => ({type: 7 as const, ip})), ipv6.map((ip) => ({type: 7 as const, ip}))), {minLength: 1, maxLength: 5}), instant, instant, (cn, alts, a, b) => {
        const [nb, na] = a <= b ? [a, b] : [b, a]
        const pem = buildCertificate(
          {publicKeyPem: rsaKey, subjectCommonName: cn, notBefore: nb, notAfter: na, extensions: [{name: 'subjectAltName', altNames: alts}]},
          {issuerCertPem: issuer.certPem, issuerKeyPem: issuer.keyPem},
        )
        const cert = new X509Certificate(pem)
        expect(cert.subject).toBe(`CN=${cn}`)
        expect(new Date(cert.validFrom).getTime()).toBe(nb.getTime())
        expect(new Date(cert.validTo).getTime()).toBe(na.getTime())
        const want = alts.map((x) => (x.type === 2 ? `DNS:${x.value}` : `IP Address:${x.ip.includes(':') ? normalizeV6(x.ip) : x.ip}`))
        expect(cert.subjectAltName?.toUpperCase()).toBe(want.join(', ').toUpperCase())
        expect(cert.verify(new X509Certificate(issuer.certPem).publicKey)).toBe(true)
        expect(text(pem)).toMatch(new RegExp(`Subject: CN\\s?=\\s?${cn.replaceAll('.', '\\.')}\\s*\\n`))
      }),
      {numRuns: 60},
    )
  })

  it('the DER reader never throws anything but an Error on hostile input (5,000 generated buffers)', () => {
    fc.assert(
      fc.property(fc.uint8Array({maxLength: 64}), (bytes) => {
        try {
          const node = readTlv(Buffer.from(bytes))
          if (node.tag & 0x20) children(node.value)
        } catch (err) {
          expect(err).toBeInstanceOf(Error)
          expect((err as Error).message).toMatch(/^DER: /)
        }
      }),
      {numRuns: 5000},
    )
  })
})

/** Node (OpenSSL's printer) shows an IPv6 SAN as eight groups without leading zeros, uncompressed. */
function normalizeV6(ip: string): string {
  return ip.split(':').map((g) => parseInt(g, 16).toString(16).toUpperCase()).join(':')
}
