// The client certificate proof (src/control/tap/caller-proof.ts) with real certificates: the
// signature the CLI makes is accepted once, for exactly that request, from a certificate of the
// API server's client CA; everything else is refused with the reason.
import {beforeAll, describe, expect, it} from 'vitest'
import {createCertificateAuthority, issueCertificate, type CertificateAuthority, type IssuedCertificate} from '../cluster/cluster.js'
import {PROOF_HEADERS, signProof, verifyProof, type ProofRequest} from '../../src/control/tap/caller-proof.js'
import {ReplayCache} from '../../src/control/tap/replay-cache.js'

let ca: CertificateAuthority
let other: CertificateAuthority
let alice: IssuedCertificate
let mallory: IssuedCertificate
let server: IssuedCertificate
const request: ProofRequest = {method: 'GET', path: '/v1/tap', query: 'resource=deploy%2Fweb&namespace=shop'}

beforeAll(async () => {
  ca = await createCertificateAuthority('client-ca')
  other = await createCertificateAuthority('client-ca')
  alice = await issueCertificate(ca, {commonName: 'alice', organizations: ['dev', 'ops']})
  mallory = await issueCertificate(other, {commonName: 'alice', organizations: ['system:masters']})
  server = await issueCertificate(ca, {commonName: 'web', dnsNames: ['web.example']})
}, 60_000)

function check(headers: Record<string, string>, over: Partial<ProofRequest> = {}, cache = new ReplayCache()) {
  return verifyProof({headers, request: {...request, ...over}, clientCaPem: ca.certPem, remember: (k, e) => cache.add(k, e)})
}

describe('client certificate proof', () => {
  it('names the user (CN) and groups (O) of a certificate from the client CA, once', () => {
    const headers = signProof(alice.certPem, alice.keyPem, request)
    const cache = new ReplayCache()
    expect(check(headers, {}, cache)).toEqual({user: 'alice', groups: ['dev', 'ops']})
    expect(() => check(headers, {}, cache)).toThrow('already used (a replay)')
  })

  it('binds the signature to the request: another query, path or method is refused', () => {
    const headers = signProof(alice.certPem, alice.keyPem, request)
    expect(() => check(headers, {query: 'resource=deploy%2Fweb&namespace=kube-system'})).toThrow('signature does not match')
    expect(() => check(headers, {path: '/v1/stat'})).toThrow('signature does not match')
    expect(() => check(headers, {method: 'POST'})).toThrow('signature does not match')
  })

  it('refuses a certificate of another CA, even with the same name', () => {
    expect(() => check(signProof(mallory.certPem, mallory.keyPem, request))).toThrow("not issued by the API server's client CA")
  })

  it('refuses a certificate sent with a signature made by another key', () => {
    const headers = signProof(mallory.certPem, mallory.keyPem, request)
    headers[PROOF_HEADERS.cert] = signProof(alice.certPem, alice.keyPem, request)[PROOF_HEADERS.cert]
    expect(() => check(headers)).toThrow('signature does not match')
  })

  it('refuses a proof older than 5 minutes, a server-only certificate, and incomplete headers', () => {
    expect(() => check(signProof(alice.certPem, alice.keyPem, request, Date.now() - 6 * 60_000))).toThrow('older than 5 minutes')
    expect(() => check(signProof(server.certPem, server.keyPem, request))).toThrow('not for client authentication')
    const headers = signProof(alice.certPem, alice.keyPem, request)
    delete headers[PROOF_HEADERS.nonce]
    expect(() => check(headers)).toThrow('incomplete client certificate proof')
    expect(() => check({...signProof(alice.certPem, alice.keyPem, request), [PROOF_HEADERS.cert]: 'bm90IGEgY2VydA=='})).toThrow('base64 DER')
  })

  it('the replay cache is bounded: full of live keys it refuses new ones, expired keys make room', () => {
    let now = 0
    const cache = new ReplayCache(2, () => now)
    expect(cache.add('a', 10)).toBe(true)
    expect(cache.add('b', 20)).toBe(true)
    expect(cache.add('c', 30)).toBe(false)
    now = 15
    expect(cache.add('c', 30)).toBe(true)
    expect(cache.add('a', 40)).toBe(false)
    expect(cache.size).toBe(2)
  })
})
