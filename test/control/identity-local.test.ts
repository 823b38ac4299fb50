// The certify service over real HTTPS on 127.0.0.1, local mode (file issuer, local tokens):
// issuance and every refusal, with codes and statuses; issuer hot reload.
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import https from 'node:https'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {eventually} from '../helpers/eventually.js'
import forge from 'node-forge'
import {identityName} from '../../src/protocol/proxy-env.js'
import {
  ensureLocalIdentityDir,
  FileIssuerSource,
  issueLocalToken,
  LocalTokenValidator,
  startIdentityService,
  type IdentityService,
  type LocalIdentityDir,
} from '../../src/control/identity/index.js'
import {callCertify, CertifyError} from '../../src/proxy/identity/index.js'
import {createCsr, generateIssuer, generateRsaKey, generateTrustAnchor, parseCertificate, publicKeyOf, singleDnsSan, verifyChain} from '../../src/tls/index.js'
import {silentLogger} from '../../src/control/logger.js'

const WEB = identityName('web', 'shop')
let tmp: string
let local: LocalIdentityDir
let svc: IdentityService
let key: string

beforeAll(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'mesh-identity-'))
  local = await ensureLocalIdentityDir(path.join(tmp, 'id'))
  svc = await startIdentityService({
    issuer: new FileIssuerSource(local.dir, silentLogger, 200),
    validator: new LocalTokenValidator(local.tokenSecret),
    host: '127.0.0.1',
    port: 0,
    log: silentLogger,
  })
  key = (await generateRsaKey()).keyPem
})
afterAll(async () => {
  await svc?.stop()
  rmSync(tmp, {recursive: true, force: true})
})

const call = (body: {identity: string; csr: string; token: string}) =>
  callCertify({url: `https://127.0.0.1:${svc.port}`, anchorsPem: local.anchorsPem, serviceName: svc.serviceName}, body)

async function refusal(body: {identity: string; csr: string; token: string}): Promise<{code: string; status: number | undefined; message: string}> {
  try {
    await call(body)
  } catch (err) {
    expect(err).toBeInstanceOf(CertifyError)
    const e = err as CertifyError
    return {code: e.code, status: e.status, message: e.message}
  }
  throw new Error('certify succeeded but a refusal was expected')
}

describe('certify (local mode, real HTTPS)', () => {
  it('signs a leaf for the token holder that chains to the anchor', async () => {
    const res = await call({identity: WEB, csr: createCsr(key, WEB), token: issueLocalToken('web', 'shop', local.tokenSecret)})
    const leaf = parseCertificate(res.certificate)
    expect(singleDnsSan(leaf)).toBe(WEB)
    expect(res.chain).toHaveLength(1)
    expect(verifyChain({leaf, intermediates: [parseCertificate(res.chain[0]!)], anchors: [parseCertificate(local.anchorsPem)]})).toBeUndefined()
    expect(leaf.publicKey.export({type: 'spki', format: 'pem'})).toBe(publicKeyOf(key))
    const hours = (new Date(res.validUntil).getTime() - Date.now()) / 3600_000
    expect(hours).toBeGreaterThan(23.9)
    expect(hours).toBeLessThanOrEqual(24)
  })

  it('refuses a bad token (401 TOKEN_INVALID)', async () => {
    const r = await refusal({identity: WEB, csr: createCsr(key, WEB), token: issueLocalToken('web', 'shop', 'another-secret-of-16+chars')})
    expect(r).toMatchObject({code: 'TOKEN_INVALID', status: 401})
    expect(r.message).toMatch(/signature/)
    const r2 = await refusal({identity: WEB, csr: createCsr(key, WEB), token: 'garbage'})
    expect(r2).toMatchObject({code: 'TOKEN_INVALID', status: 401})
  })

  it("refuses a name that is not the token's ServiceAccount (403 IDENTITY_MISMATCH)", async () => {
    const db = identityName('db', 'shop')
    const r = await refusal({identity: db, csr: createCsr(key, db), token: issueLocalToken('web', 'shop', local.tokenSecret)})
    expect(r).toMatchObject({code: 'IDENTITY_MISMATCH', status: 403})
    expect(r.message).toContain('shop/web')
    expect(r.message).toContain(db)
  })

  it('refuses a CSR with extra SANs or another name (403 CSR_EXTRA_SANS)', async () => {
    const csr = forge.pki.createCertificationRequest()
    csr.publicKey = forge.pki.publicKeyFromPem(publicKeyOf(key))
    csr.setAttributes([{name: 'extensionRequest', extensions: [{name: 'subjectAltName', altNames: [{type: 2, value: WEB}, {type: 2, value: 'admin.example'}]}]}])
    csr.sign(forge.pki.privateKeyFromPem(key), forge.md.sha256.create())
    const r = await refusal({identity: WEB, csr: forge.pki.certificationRequestToPem(csr), token: issueLocalToken('web', 'shop', local.tokenSecret)})
    expect(r).toMatchObject({code: 'CSR_EXTRA_SANS', status: 403})
    expect(r.message).toContain('admin.example')
    const r2 = await refusal({identity: WEB, csr: createCsr(key, identityName('db', 'shop')), token: issueLocalToken('web', 'shop', local.tokenSecret)})
    expect(r2.code).toBe('CSR_EXTRA_SANS')
  })

  it('refuses malformed requests with 400 and oversized ones with 413', async () => {
    expect(await refusal({identity: WEB, csr: 'nope', token: issueLocalToken('web', 'shop', local.tokenSecret)})).toMatchObject({code: 'CSR_INVALID', status: 400})
    const raw = (body: string): Promise<{status: number; json: {error: {code: string}}}> =>
      new Promise((resolve, reject) => {
        const req = https.request({host: '127.0.0.1', port: svc.port, path: '/certify', method: 'POST', ca: local.anchorsPem, checkServerIdentity: () => undefined}, (res) => {
          let t = ''
          res.on('data', (c: Buffer) => (t += c))
          res.on('end', () => resolve({status: res.statusCode!, json: JSON.parse(t) as {error: {code: string}}}))
        })
        req.on('error', reject)
        req.end(body)
      })
    expect(await raw('{not json')).toMatchObject({status: 400, json: {error: {code: 'BAD_REQUEST'}}})
    expect(await raw(JSON.stringify({identity: WEB}))).toMatchObject({status: 400, json: {error: {code: 'BAD_REQUEST'}}})
    expect(await raw('x'.repeat(70_000))).toMatchObject({status: 413, json: {error: {code: 'TOO_LARGE'}}})
  })

  it('the client refuses a service that presents another name', async () => {
    await expect(
      callCertify({url: `https://127.0.0.1:${svc.port}`, anchorsPem: local.anchorsPem, serviceName: 'someone.else'}, {identity: WEB, csr: createCsr(key, WEB), token: 'x'}),
    ).rejects.toThrow(/not someone.else/)
  })

  it('hot-reloads a rotated issuer, and refuses with ISSUER_EXPIRED once it has expired', async () => {
    // A second directory whose anchor we keep, to sign new issuers under the same anchor.
    const anchor = await generateTrustAnchor()
    const dir = path.join(tmp, 'rot')
    const {mkdirSync} = await import('node:fs')
    mkdirSync(dir)
    const write = (issuer: {certPem: string; keyPem: string}): void => {
      writeFileSync(path.join(dir, 'issuer.key'), issuer.keyPem, {mode: 0o600})
      writeFileSync(path.join(dir, 'issuer.crt'), issuer.certPem)
    }
    writeFileSync(path.join(dir, 'ca.crt'), anchor.certPem)
    write(await generateIssuer(anchor, {commonName: 'issuer-1'}))
    writeFileSync(path.join(dir, 'token-secret'), local.tokenSecret)
    const s2 = await startIdentityService({issuer: new FileIssuerSource(dir, silentLogger, 100), validator: new LocalTokenValidator(local.tokenSecret), host: '127.0.0.1', port: 0, log: silentLogger})
    try {
      const c2 = (b: {identity: string; csr: string; token: string}) => callCertify({url: `https://127.0.0.1:${s2.port}`, anchorsPem: anchor.certPem, serviceName: s2.serviceName}, b)
      const body = {identity: WEB, csr: createCsr(key, WEB), token: issueLocalToken('web', 'shop', local.tokenSecret)}
      expect(parseCertificate((await c2(body)).chain[0]!).subject).toContain('issuer-1')
      write(await generateIssuer(anchor, {commonName: 'issuer-2'}))
      await eventually('certificates from issuer-2', async () => (parseCertificate((await c2(body)).chain[0]!).subject.includes('issuer-2') ? true : undefined), {intervalMs: 100})
      // An issuer that expired a day ago (valid for one day, two days ago).
      write(await generateIssuer(anchor, {commonName: 'issuer-old', validityDays: 1, now: new Date(Date.now() - 2 * 86400_000)}))
      await eventually('ISSUER_EXPIRED from the expired issuer', async () => ((await c2(body).then(() => 'ok', (e: CertifyError) => `${e.code}`)) === 'ISSUER_EXPIRED' ? true : undefined), {intervalMs: 100})
      const e = (await c2(body).catch((x: unknown) => x)) as CertifyError
      expect(e.status).toBe(503)
      expect(e.message).toMatch(/expired at/)
    } finally {
      await s2.stop()
    }
  })
})
