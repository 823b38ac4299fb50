// Certificate facts the identity and webhook checks state, on Node's X509Certificate (via
// src/tls). Pure functions of the PEM and a clock, so they are tested without a cluster.
import {createPrivateKey, createPublicKey, type X509Certificate} from 'node:crypto'
import {notAfter, notBefore, parseCertificates} from '../tls/pem.js'
import {verifyChain} from '../tls/verify.js'

const DAY_MS = 24 * 3600 * 1000

export function subjectOf(cert: X509Certificate): string {
  return cert.subject.replace(/\n/g, ', ')
}

/** Parses a PEM bundle; the error names `what`. */
export function parseBundle(pem: string, what: string): X509Certificate[] {
  try {
    return parseCertificates(pem, what)
  } catch (error) {
    throw new Error((error as Error).message, {cause: error})
  }
}

/** Throws unless `cert` is inside its validity window at `now`. */
export function assertCurrent(cert: X509Certificate, what: string, now: Date): void {
  if (now < notBefore(cert)) throw new Error(`${what} (${subjectOf(cert)}) is not valid before ${notBefore(cert).toISOString()}`)
  if (now > notAfter(cert)) throw new Error(`${what} (${subjectOf(cert)}) expired at ${notAfter(cert).toISOString()}`)
}

/** Throws unless `cert` is a current CA certificate. */
export function assertCurrentCa(cert: X509Certificate, what: string, now: Date): void {
  if (!cert.ca) throw new Error(`${what} (${subjectOf(cert)}) is not a CA certificate (basicConstraints CA:FALSE)`)
  assertCurrent(cert, what, now)
}

/** Throws when `cert` expires within `withinMs` of `now`. */
export function assertNotExpiringSoon(cert: X509Certificate, what: string, now: Date, withinMs: number): void {
  const left = notAfter(cert).getTime() - now.getTime()
  if (left < withinMs) {
    const days = Math.max(0, Math.floor(left / DAY_MS))
    throw new Error(`${what} (${subjectOf(cert)}) expires at ${notAfter(cert).toISOString()}, in ${days} day${days === 1 ? '' : 's'}`)
  }
}

/** Throws unless the private key PEM belongs to the certificate. */
export function assertKeyMatches(cert: X509Certificate, keyPem: string, what: string): void {
  let pub: string
  try {
    pub = createPublicKey(createPrivateKey(keyPem)).export({type: 'spki', format: 'pem'}).toString()
  } catch (error) {
    throw new Error(`${what} key cannot be parsed: ${(error as Error).message.split('\n')[0]}`, {cause: error})
  }
  const certPub = cert.publicKey.export({type: 'spki', format: 'pem'}).toString()
  if (pub !== certPub) throw new Error(`${what} key does not match its certificate (${subjectOf(cert)})`)
}

/** Throws unless chain[0] chains through chain[1..] to one of the anchors, all valid at `now`. */
export function assertChainsTo(chain: X509Certificate[], anchors: X509Certificate[], what: string, now: Date): void {
  const [leaf, ...intermediates] = chain
  if (!leaf) throw new Error(`${what}: no certificate`)
  const reason = verifyChain({leaf, intermediates, anchors, at: now})
  if (reason) throw new Error(`${what} (${subjectOf(leaf)}) does not chain to the trust anchors: ${reason}`)
}
