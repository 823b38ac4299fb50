// The issuer material the identity service signs with: the issuer certificate and key, the
// intermediates above it, and the trust anchors it must chain to. Loaded from a Secret and a
// ConfigMap (k8s mode) or from files (local mode), checked the same way.
import {createHash, createPrivateKey, createPublicKey, type X509Certificate} from 'node:crypto'
import type {CaMaterial} from '../../tls/ca.js'
import {ISSUER_KEY_TYPES, issuerKeyProblem} from '../../tls/keys.js'
import {notAfter, parseCertificates, splitPem} from '../../tls/pem.js'
import {verifyChain} from '../../tls/verify.js'

export interface IssuerState {
  issuer: CaMaterial
  issuerCert: X509Certificate
  /** issuer.crt's blocks: the issuer first, then any intermediates above it (sent to proxies). */
  chain: string[]
  /** The trust roots bundle (PEM). */
  anchorsPem: string
  anchors: X509Certificate[]
  notAfter: Date
  /** sha256 of the inputs, to skip reloads that change nothing. */
  digest: string
  /** Where it came from, for logs: `secret mesh-system/mesh-identity-issuer` or a directory. */
  source: string
}

export interface IssuerInput {
  anchorsPem: string
  issuerCertPem: string
  issuerKeyPem: string
  source: string
}

export class IssuerError extends Error {
  constructor(message: string, options?: {cause?: unknown}) {
    super(message, options)
    this.name = 'IssuerError'
  }
}

export function issuerDigest(input: Omit<IssuerInput, 'source'>): string {
  return createHash('sha256').update(input.anchorsPem).update('\0').update(input.issuerCertPem).update('\0').update(input.issuerKeyPem).digest('hex')
}

/**
 * Parses and checks issuer material: the key matches the certificate, the certificate is a CA
 * and chains to one of the anchors. An expired issuer loads (certify then refuses with
 * ISSUER_EXPIRED, which says more than "no issuer").
 */
export function loadIssuer(input: IssuerInput): IssuerState {
  const {source} = input
  const anchors = parseCertificates(input.anchorsPem, `${source}: trust anchors`)
  const chainCerts = parseCertificates(input.issuerCertPem, `${source}: issuer certificate`)
  const issuerCert = chainCerts[0]!
  let keyPem = input.issuerKeyPem
  try {
    const key = createPrivateKey(keyPem)
    const problem = issuerKeyProblem(key)
    if (problem) throw new IssuerError(`${source}: the issuer key is ${problem}; mesh signs with ${ISSUER_KEY_TYPES} keys`)
    keyPem = key.export({type: 'pkcs8', format: 'pem'}).toString()
    const pub = createPublicKey(key).export({type: 'spki', format: 'der'})
    if (!pub.equals(issuerCert.publicKey.export({type: 'spki', format: 'der'}))) {
      throw new IssuerError(`${source}: the issuer key does not match the issuer certificate`)
    }
  } catch (err) {
    if (err instanceof IssuerError) throw err
    throw new IssuerError(`${source}: the issuer key cannot be parsed: ${(err as Error).message}`, {cause: err})
  }
  if (!issuerCert.ca) throw new IssuerError(`${source}: the issuer certificate is not a CA (basicConstraints CA:TRUE missing)`)
  // Structure only: expiry is reported by certify, which says more than "no issuer".
  const problem = verifyChain({leaf: issuerCert, intermediates: chainCerts.slice(1), anchors, ignoreValidity: true})
  if (problem) throw new IssuerError(`${source}: the issuer does not chain to the trust anchors: ${problem}`)
  return {
    issuer: {certPem: splitPem(input.issuerCertPem)[0]!, keyPem},
    issuerCert,
    chain: splitPem(input.issuerCertPem),
    anchorsPem: splitPem(input.anchorsPem).join(''),
    anchors,
    notAfter: notAfter(issuerCert),
    digest: issuerDigest(input),
    source,
  }
}

/** Where the identity service gets its issuer; hot-reloaded. */
export interface IssuerSource {
  /** Loads once (throws IssuerError when the material is missing or bad), then watches. */
  start(): Promise<void>
  current(): IssuerState | undefined
  /** Called with each new valid state. Returns an unsubscribe function. */
  onChange(listener: (state: IssuerState) => void): () => void
  stop(): Promise<void>
}

/** Listener bookkeeping shared by the sources. */
export class IssuerHolder {
  private state: IssuerState | undefined
  private readonly listeners = new Set<(s: IssuerState) => void>()

  current(): IssuerState | undefined {
    return this.state
  }

  onChange(listener: (s: IssuerState) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  /** Sets a new state; returns false when nothing changed. */
  set(state: IssuerState): boolean {
    if (this.state?.digest === state.digest) return false
    this.state = state
    for (const l of this.listeners) l(state)
    return true
  }
}
