// The mesh's certificate authority: a trust anchor (self-signed root) and an issuer
// (intermediate) signed by it. `mesh install` and `mesh demo` generate them with these; the
// identity service signs leaves with the issuer.
import {buildCertificate, BACKDATE_MS} from './cert-builder.js'
import {DEFAULT_RSA_BITS, generateEcKey, generateRsaKey} from './keys.js'

export interface CaMaterial {
  certPem: string
  keyPem: string
}

export interface CaOptions {
  /** Subject CN (default `root.mesh.dev` / `identity.mesh-system.cluster.local`). */
  commonName?: string
  /** Validity in days from now (default 3650 for the anchor, 365 for the issuer). */
  validityDays?: number
  keyBits?: number
  /** "now" for the validity window (tests); default the current time. */
  now?: Date
  /** An existing key PEM instead of a new one. */
  keyPem?: string
  /** The type of a new key: RSA (default) or ECDSA P-256. */
  keyType?: 'rsa' | 'ecdsa'
}

const DAY_MS = 24 * 60 * 60 * 1000

function window(now: Date | undefined, days: number): {notBefore: Date; notAfter: Date} {
  const t = (now ?? new Date()).getTime()
  return {notBefore: new Date(t - BACKDATE_MS), notAfter: new Date(t + days * DAY_MS)}
}

async function keyFor(opts: CaOptions): Promise<{keyPem: string; publicKeyPem: string}> {
  if (opts.keyPem) {
    const {publicKeyOf} = await import('./keys.js')
    return {keyPem: opts.keyPem, publicKeyPem: publicKeyOf(opts.keyPem)}
  }
  return opts.keyType === 'ecdsa' ? generateEcKey() : generateRsaKey(opts.keyBits ?? DEFAULT_RSA_BITS)
}

/** A self-signed root: CA, may sign an issuer (pathLen 1). */
export async function generateTrustAnchor(opts: CaOptions = {}): Promise<CaMaterial> {
  const key = await keyFor(opts)
  const certPem = buildCertificate(
    {
      publicKeyPem: key.publicKeyPem,
      subjectCommonName: opts.commonName ?? 'root.mesh.dev',
      ...window(opts.now, opts.validityDays ?? 3650),
      extensions: [
        {name: 'basicConstraints', cA: true, pathLenConstraint: 1, critical: true},
        {name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true},
      ],
    },
    {selfKeyPem: key.keyPem},
  )
  return {certPem, keyPem: key.keyPem}
}

/** An intermediate signed by the anchor: CA, may sign leaves only (pathLen 0). */
export async function generateIssuer(anchor: CaMaterial, opts: CaOptions = {}): Promise<CaMaterial> {
  const key = await keyFor(opts)
  const certPem = buildCertificate(
    {
      publicKeyPem: key.publicKeyPem,
      subjectCommonName: opts.commonName ?? 'identity.mesh-system.cluster.local',
      ...window(opts.now, opts.validityDays ?? 365),
      extensions: [
        {name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true},
        {name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true},
      ],
    },
    {issuerCertPem: anchor.certPem, issuerKeyPem: anchor.keyPem},
  )
  return {certPem, keyPem: key.keyPem}
}
