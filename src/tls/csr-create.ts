// The proxy's certificate signing request (PKCS#10, RFC 2986) for its identity name: subject
// CN and one DNS SAN, both the name; signed with its RSA key by Node's crypto. Built with the
// small DER writer in der.ts rather than node-forge, so a proxy never loads forge (the identity
// service parses CSRs with forge: csr.ts).
import {createPrivateKey, createPublicKey, sign} from 'node:crypto'
import {bitString, contextTag, integer, nullValue, octetString, oid, sequence, set, utf8String} from './der.js'

const OID = {
  commonName: '2.5.4.3',
  extensionRequest: '1.2.840.113549.1.9.14',
  subjectAltName: '2.5.29.17',
  sha256WithRSAEncryption: '1.2.840.113549.1.1.11',
}

/** A PEM CSR with one DNS SAN `dnsName` (also the subject CN), signed with the RSA key `keyPem`. */
export function createCsr(keyPem: string, dnsName: string): string {
  const key = createPrivateKey(keyPem)
  if (key.asymmetricKeyType !== 'rsa') throw new Error(`the CSR key is ${key.asymmetricKeyType}: mesh certificates use RSA keys only`)
  const spki = createPublicKey(key).export({type: 'spki', format: 'der'})
  const subject = sequence(set(sequence(oid(OID.commonName), utf8String(dnsName))))
  const san = sequence(oid(OID.subjectAltName), octetString(sequence(contextTag(2, false, Buffer.from(dnsName, 'ascii')))))
  const attributes = contextTag(0, true, sequence(oid(OID.extensionRequest), set(sequence(san))))
  const info = sequence(integer(0), subject, spki, attributes)
  const signature = sign('sha256', info, key)
  const der = sequence(info, sequence(oid(OID.sha256WithRSAEncryption), nullValue()), bitString(signature))
  const b64 = der.toString('base64').replace(/.{1,64}/g, '$&\n')
  return `-----BEGIN CERTIFICATE REQUEST-----\n${b64}-----END CERTIFICATE REQUEST-----\n`
}
