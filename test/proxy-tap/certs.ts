// Certificates made by the openssl CLI at test time, and an Identity over them (the contract
// in src/proxy/core/contracts.ts, checked with Node's X509Certificate).
import {execFileSync} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {X509Certificate} from 'node:crypto'
import {createSecureContext, type PeerCertificate, type SecureContext} from 'node:tls'
import type {Identity} from '../../src/proxy/core/contracts.js'

export interface Pem {
  key: string
  cert: string
}

export class CertFactory {
  readonly dir = mkdtempSync(join(tmpdir(), 'mesh-tap-certs-'))
  private n = 0

  private openssl(args: string[]): void {
    execFileSync('openssl', args, {cwd: this.dir, stdio: ['ignore', 'ignore', 'pipe']})
  }

  root(cn: string): Pem {
    const id = `ca${++this.n}`
    this.openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${id}.key`, '-out', `${id}.crt`,
      '-subj', `/CN=${cn}`, '-days', '1', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'])
    return {key: readFileSync(join(this.dir, `${id}.key`), 'utf8'), cert: readFileSync(join(this.dir, `${id}.crt`), 'utf8')}
  }

  /** A leaf with one DNS SAN, signed by `ca`. */
  leaf(name: string, ca: Pem): Pem {
    const id = `leaf${++this.n}`
    writeFileSync(join(this.dir, `${id}.ca.key`), ca.key)
    writeFileSync(join(this.dir, `${id}.ca.crt`), ca.cert)
    writeFileSync(join(this.dir, `${id}.ext`), `subjectAltName=DNS:${name}\nextendedKeyUsage=serverAuth,clientAuth\n`)
    this.openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${id}.key`, '-out', `${id}.csr`, '-subj', `/CN=${name.slice(0, 64)}`])
    this.openssl(['x509', '-req', '-in', `${id}.csr`, '-CA', `${id}.ca.crt`, '-CAkey', `${id}.ca.key`, '-CAcreateserial', '-out', `${id}.crt`,
      '-days', '1', '-extfile', `${id}.ext`])
    return {key: readFileSync(join(this.dir, `${id}.key`), 'utf8'), cert: readFileSync(join(this.dir, `${id}.crt`), 'utf8')}
  }

  cleanup(): void {
    rmSync(this.dir, {recursive: true, force: true})
  }
}

/** An Identity holding one leaf and one trust anchor. */
export function pemIdentity(localName: string, leaf: Pem, trustAnchor: Pem): Identity {
  const anchor = new X509Certificate(trustAnchor.cert)
  const server = createSecureContext({key: leaf.key, cert: leaf.cert, ca: trustAnchor.cert})
  const peerName = (cert: PeerCertificate) => /^DNS:([^,]+)$/.exec(cert.subjectaltname ?? '')?.[1]
  return {
    localName,
    ready: async () => {},
    serverContext: (): SecureContext => server,
    clientContext: (): SecureContext => server,
    verifyPeer(cert, expected) {
      const x = new X509Certificate(cert.raw)
      if (!x.checkIssued(anchor) || !x.verify(anchor.publicKey)) return new Error('certificate is not issued by the trust anchor')
      const now = Date.now()
      if (now < Date.parse(x.validFrom) || now > Date.parse(x.validTo)) return new Error('certificate is not valid now')
      const name = peerName(cert)
      if (name !== expected) return new Error(`certificate names ${name ?? 'nothing'}, expected ${expected}`)
      return undefined
    },
    peerName,
    close: () => {},
  }
}
