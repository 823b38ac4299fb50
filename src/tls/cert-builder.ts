// Shared pieces for building certificates with node-forge: serial numbers, names, validity,
// signing with the native signer.
import {randomBytes} from 'node:crypto'
import forge from 'node-forge'
import {nativeSigner} from './signer.js'

/** A positive 128-bit serial number in hex. */
export function serialNumber(): string {
  const bytes = randomBytes(16)
  bytes[0] = (bytes[0]! & 0x7f) | 0x01
  return bytes.toString('hex')
}

/** Clock skew allowance: certificates are valid from a little before "now". */
export const BACKDATE_MS = 5 * 60 * 1000

export interface NewCertOptions {
  publicKeyPem: string
  subjectCommonName: string
  notBefore: Date
  notAfter: Date
  extensions: object[]
}

/** Builds and signs a certificate. `issuer` absent means self-signed (signed by `selfKeyPem`). */
export function buildCertificate(
  opts: NewCertOptions,
  signing: {issuerCertPem: string; issuerKeyPem: string} | {selfKeyPem: string},
): string {
  const cert = forge.pki.createCertificate()
  cert.publicKey = forge.pki.publicKeyFromPem(opts.publicKeyPem)
  cert.serialNumber = serialNumber()
  cert.validity.notBefore = opts.notBefore
  cert.validity.notAfter = opts.notAfter
  const subject = [{name: 'commonName', value: opts.subjectCommonName}]
  cert.setSubject(subject)
  let keyPem: string
  let aki: string
  if ('selfKeyPem' in signing) {
    cert.setIssuer(subject)
    keyPem = signing.selfKeyPem
    aki = cert.generateSubjectKeyIdentifier().getBytes()
  } else {
    const issuer = forge.pki.certificateFromPem(signing.issuerCertPem)
    cert.setIssuer(issuer.subject.attributes)
    keyPem = signing.issuerKeyPem
    aki = issuer.generateSubjectKeyIdentifier().getBytes()
  }
  cert.setExtensions([
    ...opts.extensions,
    {name: 'subjectKeyIdentifier'},
    {name: 'authorityKeyIdentifier', keyIdentifier: aki},
  ])
  cert.sign(nativeSigner(keyPem) as unknown as forge.pki.rsa.PrivateKey, forge.md.sha256.create())
  return forge.pki.certificateToPem(cert).replace(/\r\n/g, '\n')
}
