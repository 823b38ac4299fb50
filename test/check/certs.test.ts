import {X509Certificate} from 'node:crypto'
import {beforeAll, describe, expect, it} from 'vitest'
import {assertChainsTo, assertCurrentCa, assertKeyMatches, assertNotExpiringSoon, parseBundle} from '../../src/check/certs.js'
import {generateIssuer, generateRsaKey, generateTrustAnchor, signLeaf, type CaMaterial} from '../../src/tls/index.js'

const DAY = 24 * 3600 * 1000
let anchor: CaMaterial
let issuer: CaMaterial
let foreignAnchor: CaMaterial
let foreignIssuer: CaMaterial

beforeAll(async () => {
  anchor = await generateTrustAnchor()
  issuer = await generateIssuer(anchor)
  foreignAnchor = await generateTrustAnchor({commonName: 'root.elsewhere'})
  foreignIssuer = await generateIssuer(foreignAnchor)
})

const x = (pem: string) => new X509Certificate(pem)

describe('certificate checks', () => {
  it('a current CA passes; a leaf is not a CA; an expired CA fails with its expiry date', async () => {
    const now = new Date()
    expect(() => assertCurrentCa(x(issuer.certPem), 'issuer', now)).not.toThrow()
    const key = await generateRsaKey()
    const leaf = signLeaf(issuer, {publicKeyPem: key.publicKeyPem, dnsName: 'web.default.serviceaccount.identity.mesh-system.cluster.local'})
    expect(() => assertCurrentCa(x(leaf.certPem), 'leaf', now)).toThrow(/is not a CA certificate/)
    expect(() => assertCurrentCa(x(issuer.certPem), 'issuer', new Date(now.getTime() + 400 * DAY))).toThrow(/issuer \(CN=identity.mesh-system.cluster.local\) expired at/)
    expect(() => assertCurrentCa(x(issuer.certPem), 'issuer', new Date(now.getTime() - 2 * DAY))).toThrow(/is not valid before/)
  })

  it('warns within the window only', () => {
    const now = new Date()
    expect(() => assertNotExpiringSoon(x(issuer.certPem), 'issuer', now, 60 * DAY)).not.toThrow()
    expect(() => assertNotExpiringSoon(x(issuer.certPem), 'issuer', new Date(now.getTime() + 340 * DAY), 60 * DAY)).toThrow(/expires at .*, in 2[45] days/)
  })

  it('the key must belong to the certificate', () => {
    expect(() => assertKeyMatches(x(issuer.certPem), issuer.keyPem, 'issuer')).not.toThrow()
    expect(() => assertKeyMatches(x(issuer.certPem), foreignIssuer.keyPem, 'issuer')).toThrow('issuer key does not match its certificate')
    expect(() => assertKeyMatches(x(issuer.certPem), 'not a key', 'issuer')).toThrow('issuer key cannot be parsed')
  })

  it('an issuer chains to its anchor, not to a foreign one', () => {
    const now = new Date()
    expect(() => assertChainsTo([x(issuer.certPem)], [x(anchor.certPem)], 'issuer', now)).not.toThrow()
    expect(() => assertChainsTo([x(foreignIssuer.certPem)], [x(anchor.certPem)], 'issuer', now)).toThrow(/does not chain to the trust anchors/)
    // a bundle holding both anchors (rotation) accepts both issuers
    const both = parseBundle(anchor.certPem + foreignAnchor.certPem, 'anchors')
    expect(both).toHaveLength(2)
    expect(() => assertChainsTo([x(foreignIssuer.certPem)], both, 'issuer', now)).not.toThrow()
  })

  it('parseBundle names what it parsed when there is nothing', () => {
    expect(() => parseBundle('garbage', 'trust anchors in ConfigMap x/y')).toThrow('trust anchors in ConfigMap x/y: no PEM CERTIFICATE block found')
  })
})
