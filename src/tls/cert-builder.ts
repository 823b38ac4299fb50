// Builds and signs X.509 v3 certificates (RFC 5280) with the DER writer in der.ts and Node's
// crypto: RSA issuers sign sha256WithRSAEncryption, ECDSA P-256 issuers ecdsa-with-SHA256 (and
// P-384 ecdsa-with-SHA384), which node-forge cannot do (it signs with RSA only). The issuer's
// Name is copied byte for byte from its certificate (so `checkIssued` and every verifier match
// it exactly, whatever string types the issuer's creator chose), and the authority key
// identifier is the issuer's own subject key identifier when it has one.
import {createHash, createPrivateKey, createPublicKey, randomBytes, sign, X509Certificate, type KeyObject} from 'node:crypto'
import {
  bitString,
  booleanValue,
  certificateTime,
  children,
  contextTag,
  integer,
  integerBytes,
  namedBits,
  nullValue,
  octetString,
  oid,
  oidString,
  readTlv,
  sequence,
  set,
  utf8String,
} from './der.js'

/** A positive 128-bit serial number in hex. */
export function serialNumber(): string {
  const bytes = randomBytes(16)
  bytes[0] = (bytes[0]! & 0x7f) | 0x01
  return bytes.toString('hex')
}

/** Clock skew allowance: certificates are valid from a little before "now". */
export const BACKDATE_MS = 5 * 60 * 1000

export type AltName = {type: 2; value: string} | {type: 7; ip: string}

/** The extensions mesh puts in certificates (the forge-shaped objects the callers always used). */
export type CertExtension =
  | {name: 'basicConstraints'; cA: boolean; pathLenConstraint?: number; critical?: boolean}
  | {name: 'keyUsage'; digitalSignature?: boolean; keyEncipherment?: boolean; keyCertSign?: boolean; cRLSign?: boolean; critical?: boolean}
  | {name: 'extKeyUsage'; serverAuth?: boolean; clientAuth?: boolean; critical?: boolean}
  | {name: 'subjectAltName'; altNames: AltName[]; critical?: boolean}

export interface NewCertOptions {
  publicKeyPem: string
  subjectCommonName: string
  notBefore: Date
  notAfter: Date
  extensions: CertExtension[]
}

const OID = {
  commonName: '2.5.4.3',
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  authorityKeyIdentifier: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
  sha256WithRSAEncryption: '1.2.840.113549.1.1.11',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  ecdsaWithSha384: '1.2.840.10045.4.3.3',
}

/** The key types an issuer may have, with the signature each makes. */
export interface SignatureAlgorithm {
  /** The AlgorithmIdentifier, DER. */
  identifier: Buffer
  /** The digest `crypto.sign` uses. */
  digest: 'sha256' | 'sha384'
}

/** How `key` signs certificates; throws naming the key type when mesh cannot sign with it. */
export function signatureAlgorithm(key: KeyObject): SignatureAlgorithm {
  if (key.asymmetricKeyType === 'rsa') return {identifier: sequence(oid(OID.sha256WithRSAEncryption), nullValue()), digest: 'sha256'}
  if (key.asymmetricKeyType === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve
    // RFC 5758 3.2: the ECDSA AlgorithmIdentifiers have no parameters.
    if (curve === 'prime256v1') return {identifier: sequence(oid(OID.ecdsaWithSha256)), digest: 'sha256'}
    if (curve === 'secp384r1') return {identifier: sequence(oid(OID.ecdsaWithSha384)), digest: 'sha384'}
    throw new Error(`the signing key is ECDSA on curve ${curve ?? 'unknown'}: mesh signs with RSA or ECDSA P-256 (prime256v1) or P-384 keys`)
  }
  throw new Error(`the signing key is ${key.asymmetricKeyType ?? 'unknown'}: mesh signs with RSA or ECDSA P-256 keys`)
}

/** The parts of a certificate's TBSCertificate a signer needs: its subject Name (raw DER) and subject key identifier. */
export function certificateParts(cert: X509Certificate): {subject: Buffer; subjectKeyId?: Buffer} {
  const tbs = children(readTlv(cert.raw).value)[0]
  if (!tbs || tbs.tag !== 0x30) throw new Error('certificate: no TBSCertificate')
  const fields = children(tbs.value)
  const base = fields[0]?.tag === 0xa0 ? 1 : 0
  const subject = fields[base + 4]
  if (!subject || subject.tag !== 0x30) throw new Error('certificate: no subject Name')
  let subjectKeyId: Buffer | undefined
  const extensions = fields.find((f) => f.tag === 0xa3)
  if (extensions) {
    for (const ext of children(readTlv(extensions.value).value)) {
      const [id, ...rest] = children(ext.value)
      if (id && oidString(id.value) === OID.subjectKeyIdentifier) {
        const value = rest.at(-1)
        if (value?.tag === 0x04) subjectKeyId = Buffer.from(readTlv(value.value).value)
      }
    }
  }
  return {subject: Buffer.from(subject.raw), subjectKeyId}
}

/** RFC 5280 4.2.1.2 method (1): SHA-1 of the subjectPublicKey BIT STRING (without its unused-bits byte). */
export function keyIdentifier(spkiDer: Buffer): Buffer {
  const [, bits] = children(readTlv(spkiDer).value)
  if (!bits || bits.tag !== 0x03) throw new Error('public key: no subjectPublicKey BIT STRING')
  return createHash('sha1').update(bits.value.subarray(1)).digest()
}

function extension(id: string, critical: boolean | undefined, value: Buffer): Buffer {
  return sequence(oid(id), ...(critical ? [booleanValue(true)] : []), octetString(value))
}

function ipBytes(ip: string): Buffer {
  if (ip.includes(':')) {
    const [head, tail] = ip.split('::') as [string, string | undefined]
    const hs = head ? head.split(':') : []
    const ts = tail ? tail.split(':') : []
    const groups = tail === undefined ? hs : [...hs, ...Array<string>(8 - hs.length - ts.length).fill('0'), ...ts]
    if (groups.length !== 8) throw new Error(`bad IPv6 address ${ip}`)
    return Buffer.concat(groups.map((g) => Buffer.from(g.padStart(4, '0'), 'hex')))
  }
  const parts = ip.split('.').map(Number)
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) throw new Error(`bad IPv4 address ${ip}`)
  return Buffer.from(parts)
}

function encodeExtension(e: CertExtension): Buffer {
  switch (e.name) {
    case 'basicConstraints':
      return extension(OID.basicConstraints, e.critical, sequence(...(e.cA ? [booleanValue(true)] : []), ...(e.cA && e.pathLenConstraint !== undefined ? [integer(e.pathLenConstraint)] : [])))
    case 'keyUsage': {
      const bits = [e.digitalSignature && 0, e.keyEncipherment && 2, e.keyCertSign && 5, e.cRLSign && 6].filter((b): b is number => typeof b === 'number')
      return extension(OID.keyUsage, e.critical, namedBits(bits))
    }
    case 'extKeyUsage':
      return extension(OID.extKeyUsage, e.critical, sequence(...(e.serverAuth ? [oid(OID.serverAuth)] : []), ...(e.clientAuth ? [oid(OID.clientAuth)] : [])))
    case 'subjectAltName':
      return extension(
        OID.subjectAltName,
        e.critical,
        sequence(...e.altNames.map((a) => (a.type === 2 ? contextTag(2, false, Buffer.from(a.value, 'ascii')) : contextTag(7, false, ipBytes(a.ip))))),
      )
  }
}

function commonNameOnly(cn: string): Buffer {
  return sequence(set(sequence(oid(OID.commonName), utf8String(cn))))
}

/** DER -> PEM with 64-character lines. */
export function toPem(der: Buffer, label = 'CERTIFICATE'): string {
  return `-----BEGIN ${label}-----\n${der.toString('base64').replace(/.{1,64}/g, '$&\n')}-----END ${label}-----\n`
}

/** Builds and signs a certificate. `issuer` absent means self-signed (signed by `selfKeyPem`). */
export function buildCertificate(opts: NewCertOptions, signing: {issuerCertPem: string; issuerKeyPem: string | KeyObject} | {selfKeyPem: string | KeyObject}): string {
  const spki = createPublicKey(opts.publicKeyPem).export({type: 'spki', format: 'der'})
  const subject = commonNameOnly(opts.subjectCommonName)
  const ownKeyId = keyIdentifier(spki)
  let issuerName: Buffer
  let authorityKeyId: Buffer | undefined
  let key: KeyObject
  if ('selfKeyPem' in signing) {
    key = typeof signing.selfKeyPem === 'string' ? createPrivateKey(signing.selfKeyPem) : signing.selfKeyPem
    issuerName = subject
    authorityKeyId = ownKeyId
  } else {
    key = typeof signing.issuerKeyPem === 'string' ? createPrivateKey(signing.issuerKeyPem) : signing.issuerKeyPem
    const issuerCert = new X509Certificate(signing.issuerCertPem)
    const parts = certificateParts(issuerCert)
    issuerName = parts.subject
    authorityKeyId = parts.subjectKeyId ?? keyIdentifier(issuerCert.publicKey.export({type: 'spki', format: 'der'}))
  }
  const alg = signatureAlgorithm(key)
  const extensions = [
    ...opts.extensions.map(encodeExtension),
    extension(OID.subjectKeyIdentifier, false, octetString(ownKeyId)),
    extension(OID.authorityKeyIdentifier, false, sequence(contextTag(0, false, authorityKeyId))),
  ]
  const tbs = sequence(
    contextTag(0, true, integer(2)),
    integerBytes(Buffer.from(serialNumber(), 'hex')),
    alg.identifier,
    issuerName,
    sequence(certificateTime(opts.notBefore), certificateTime(opts.notAfter)),
    subject,
    spki,
    contextTag(3, true, sequence(...extensions)),
  )
  const signature = sign(alg.digest, tbs, key)
  return toPem(sequence(tbs, alg.identifier, bitString(signature)))
}
