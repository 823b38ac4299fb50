// A tiny test-only Identity: a root CA and leaf certificates made by the openssl CLI at test
// start (one SAN each, the mesh identity name), verified with Node's X509Certificate.
import {execFileSync} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import tls from 'node:tls'
import {X509Certificate} from 'node:crypto'
import type {Identity} from '../../src/proxy/core/contracts.js'

export const nameOf = (sa: string): string => `${sa}.default.serviceaccount.identity.mesh-system.cluster.local`

export interface TestPki {
  dir: string
  ca: string
  identity(sa: string): TestIdentity
  cleanup(): void
}

export function makePki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'mesh-proxy-pki-'))
  const ossl = (...args: string[]): void => { execFileSync('openssl', args, {cwd: dir, stdio: 'ignore'}) }
  ossl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '1', '-subj', '/CN=test-root',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign')
  const ca = readFileSync(join(dir, 'ca.crt'), 'utf8')
  return {
    dir,
    ca,
    identity(sa: string) {
      ossl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${sa}.key`, '-out', `${sa}.csr`, '-subj', `/CN=${sa}`)
      writeFileSync(join(dir, `${sa}.ext`), `subjectAltName=DNS:${nameOf(sa)}\nextendedKeyUsage=serverAuth,clientAuth\n`)
      ossl('x509', '-req', '-in', `${sa}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${sa}.crt`, '-days', '1', '-extfile', `${sa}.ext`)
      return new TestIdentity(nameOf(sa), readFileSync(join(dir, `${sa}.key`), 'utf8'), readFileSync(join(dir, `${sa}.crt`), 'utf8'), ca)
    },
    cleanup: () => rmSync(dir, {recursive: true, force: true}),
  }
}

export class TestIdentity implements Identity {
  private readonly ctx: tls.SecureContext
  private readonly root: X509Certificate

  constructor(readonly localName: string, key: string, cert: string, ca: string) {
    this.ctx = tls.createSecureContext({key, cert, ca})
    this.root = new X509Certificate(ca)
  }

  ready(): Promise<void> { return Promise.resolve() }
  serverContext(): tls.SecureContext { return this.ctx }
  clientContext(): tls.SecureContext { return this.ctx }

  verifyPeer(cert: tls.PeerCertificate, expected: string): Error | undefined {
    if (!cert?.raw) return new Error('no peer certificate')
    const x = new X509Certificate(cert.raw)
    if (!x.checkIssued(this.root) || !x.verify(this.root.publicKey)) return new Error('peer certificate not issued by the trust anchor')
    if (this.peerName(cert) !== expected) return new Error(`peer is ${this.peerName(cert)}, expected ${expected}`)
    return undefined
  }

  peerName(cert: tls.PeerCertificate): string | undefined {
    const m = /^DNS:([^,]+)$/.exec(cert?.subjectaltname ?? '')
    return m?.[1]
  }

  close(): void {}
}
