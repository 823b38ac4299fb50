// The proxy's CSR is built without node-forge (src/tls/csr-create.ts + der.ts): it must be a
// PKCS#10 request that openssl verifies and reads as we meant it, that the identity service's
// forge parser accepts, and building one must not load forge.
import {execFileSync, spawnSync} from 'node:child_process'
import {generateKeyPairSync} from 'node:crypto'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'
import {createCsr} from '../../src/tls/csr-create.js'
import {parseCsr} from '../../src/tls/csr.js'
import {derLength, integer, oid} from '../../src/tls/der.js'
import {generateRsaKey} from '../../src/tls/keys.js'
import {ROOT} from '../helpers/run.js'

const NAME = 'web.shop.serviceaccount.identity.mesh-system.cluster.local'
const dir = mkdtempSync(path.join(os.tmpdir(), 'mesh-csr-'))
afterAll(() => rmSync(dir, {recursive: true, force: true}))

function openssl(args: string[], input: string): string {
  const file = path.join(dir, `in-${Math.random().toString(36).slice(2)}.pem`)
  writeFileSync(file, input)
  return execFileSync('openssl', [...args, '-in', file], {encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe']})
}

/** openssl's verdict on a CSR's self-signature (some versions exit 0 either way). */
function opensslVerifies(csr: string): boolean {
  const file = path.join(dir, `v-${Math.random().toString(36).slice(2)}.pem`)
  writeFileSync(file, csr)
  const r = spawnSync('openssl', ['req', '-noout', '-verify', '-in', file], {encoding: 'utf8'})
  const said = `${r.stdout}${r.stderr}`
  return r.status === 0 && /verify OK/i.test(said) && !/verify fail/i.test(said)
}

describe('DER writer', () => {
  it('encodes lengths, integers and OIDs as X.690 says', () => {
    expect(derLength(5).toString('hex')).toBe('05')
    expect(derLength(200).toString('hex')).toBe('81c8')
    expect(derLength(300).toString('hex')).toBe('82012c')
    expect(integer(0).toString('hex')).toBe('020100')
    expect(integer(128).toString('hex')).toBe('02020080')
    expect(oid('1.2.840.113549.1.1.11').toString('hex')).toBe('06092a864886f70d01010b')
    expect(oid('2.5.29.17').toString('hex')).toBe('0603551d11')
    expect(() => integer(-1)).toThrow(/non-negative/)
  })
})

describe('createCsr without forge', () => {
  it('makes a request openssl verifies, with the name as CN and the only DNS SAN', async () => {
    const {keyPem} = await generateRsaKey(2048)
    const csr = createCsr(keyPem, NAME)
    expect(csr).toMatch(/^-----BEGIN CERTIFICATE REQUEST-----\n([A-Za-z0-9+/=]{1,64}\n)+-----END CERTIFICATE REQUEST-----\n$/)
    const text = openssl(['req', '-noout', '-verify', '-text'], csr)
    expect(text).toMatch(/Subject: CN\s?=\s?web\.shop\.serviceaccount/)
    expect(text).toMatch(/X509v3 Subject Alternative Name:\s*\n\s*DNS:web\.shop\.serviceaccount\.identity\.mesh-system\.cluster\.local\s*\n/)
    expect(text).toMatch(/Signature Algorithm: sha256WithRSAEncryption/)
    expect(text).toMatch(/Public-Key: \(2048 bit\)/)
  })

  it('is accepted by the identity service parser with the same key and names', async () => {
    const {keyPem, publicKeyPem} = await generateRsaKey(2048)
    const parsed = parseCsr(createCsr(keyPem, NAME))
    expect(parsed).toMatchObject({dnsNames: [NAME], otherSans: [], commonName: NAME, keyBits: 2048})
    expect(parsed.publicKeyPem.trim()).toBe(publicKeyPem.trim())
  })

  it('is really signed: one changed byte of the signature and neither forge nor openssl accepts it', async () => {
    const {keyPem} = await generateRsaKey(2048)
    const csr = createCsr(keyPem, NAME)
    expect(opensslVerifies(csr)).toBe(true)
    const der = Buffer.from(csr.replace(/-----[^-]+-----|\n/g, ''), 'base64')
    der[der.length - 10] ^= 0xff
    const broken = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64').replace(/.{1,64}/g, '$&\n')}-----END CERTIFICATE REQUEST-----\n`
    expect(() => parseCsr(broken)).toThrow(/signature/)
    expect(opensslVerifies(broken)).toBe(false)
  })

  it('refuses a key that is not RSA, naming the problem', () => {
    const ec = generateKeyPairSync('ec', {namedCurve: 'P-256'}).privateKey.export({type: 'pkcs8', format: 'pem'}) as string
    expect(() => createCsr(ec, NAME)).toThrow(/ec: mesh certificates use RSA keys only/)
  })

  it('the proxy identity module graph does not load node-forge', () => {
    const out = execFileSync(process.execPath, ['--import', 'tsx', '--no-warnings', '-e',
      `await import('./src/proxy/identity/proxy-identity.ts'); const r = (await import('node:module')).createRequire(import.meta.url);
       console.log(Object.keys(r.cache).filter((k) => k.includes('node-forge')).length)`], {cwd: ROOT, encoding: 'utf8'})
    expect(out.trim()).toBe('0')
  })
})
