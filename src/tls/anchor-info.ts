// How a certificate is described where anchors are listed (the trust bundle stream, a proxy's
// GET /identity, `mesh identity`): its SHA-256 fingerprint, subject and end of validity. The
// PEM stays authoritative; this is what people and gates compare.
import {createHash, type X509Certificate} from 'node:crypto'
import type {TrustAnchorInfo} from '../protocol/trust.js'

/** SHA-256 of the DER certificate, lower-case hex (openssl's fingerprint without colons). */
export function sha256Hex(cert: X509Certificate): string {
  return createHash('sha256').update(cert.raw).digest('hex')
}

export function anchorInfo(cert: X509Certificate): TrustAnchorInfo {
  return {sha256: sha256Hex(cert), subject: cert.subject.replace(/\n/g, ', '), notAfter: new Date(cert.validTo).toISOString()}
}
