// Leaf certificates: one DNS SAN (the identity name), usable for both TLS server and client
// auth, signed by the issuer with a lifetime bounded by the issuer's own.
import {buildCertificate, BACKDATE_MS} from './cert-builder.js'
import type {CaMaterial} from './ca.js'
import {notAfter, parseCertificate} from './pem.js'

export const DEFAULT_LEAF_LIFETIME_MS = 24 * 60 * 60 * 1000

export interface LeafOptions {
  /** The public key to certify (SPKI PEM), e.g. from a CSR. */
  publicKeyPem: string
  /** The single DNS SAN (and subject CN). */
  dnsName: string
  /** Default 24 h. */
  lifetimeMs?: number
  now?: Date
}

export interface SignedLeaf {
  certPem: string
  notBefore: Date
  notAfter: Date
}

/** Signs a leaf; its notAfter is capped at the issuer's notAfter. */
export function signLeaf(issuer: CaMaterial, opts: LeafOptions): SignedLeaf {
  const now = (opts.now ?? new Date()).getTime()
  const issuerEnd = notAfter(parseCertificate(issuer.certPem, 'issuer certificate')).getTime()
  const nb = new Date(now - BACKDATE_MS)
  // X.509 times have second precision: round down so the certificate says what we return.
  const na = new Date(Math.floor(Math.min(now + (opts.lifetimeMs ?? DEFAULT_LEAF_LIFETIME_MS), issuerEnd) / 1000) * 1000)
  const certPem = buildCertificate(
    {
      publicKeyPem: opts.publicKeyPem,
      subjectCommonName: opts.dnsName,
      notBefore: new Date(Math.floor(nb.getTime() / 1000) * 1000),
      notAfter: na,
      extensions: [
        {name: 'basicConstraints', cA: false, critical: true},
        {name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true},
        {name: 'extKeyUsage', serverAuth: true, clientAuth: true},
        {name: 'subjectAltName', altNames: [{type: 2, value: opts.dnsName}]},
      ],
    },
    {issuerCertPem: issuer.certPem, issuerKeyPem: issuer.keyPem},
  )
  return {certPem, notBefore: nb, notAfter: na}
}
