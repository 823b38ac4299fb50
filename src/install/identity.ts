// The control plane's identity material: trust anchors, issuer certificate and issuer key.
// Either all three files are given (and checked: the key matches the certificate, the issuer
// is a CA that chains to the anchors, everything is valid now) or none, and we generate them.
import {createPrivateKey, createPublicKey, type X509Certificate} from 'node:crypto'
import {readFile} from 'node:fs/promises'
import {InputError, UsageError} from '../lib/errors.js'

export interface IdentityMaterial {
  /** PEM bundle of the trust anchors. */
  trustAnchorsPEM: string
  /** The issuer; absent when an external issuer (cert-manager, scheme kubernetes.io/tls) owns the Secret. */
  issuerCertPEM?: string
  issuerKeyPEM?: string
}

export interface IdentityFiles {
  trustAnchorsFile?: string
  issuerCertificateFile?: string
  issuerKeyFile?: string
}

export const IDENTITY_FLAGS = {
  trustAnchorsFile: '--identity-trust-anchors-file',
  issuerCertificateFile: '--identity-issuer-certificate-file',
  issuerKeyFile: '--identity-issuer-key-file',
} as const

/**
 * With an external issuer (cert-manager owns the issuer Secret): only the trust anchors file
 * may be given, and it must be (mesh cannot generate an anchor for an issuer it did not make).
 * True when it is given.
 */
export function externalIdentityFilesGiven(files: IdentityFiles, externalFlag = '--identity-external-issuer'): boolean {
  const issuerFlags = (['issuerCertificateFile', 'issuerKeyFile'] as const).filter((k) => files[k] !== undefined).map((k) => IDENTITY_FLAGS[k])
  if (issuerFlags.length > 0) {
    throw new UsageError(`${issuerFlags.join(' and ')} cannot be used with ${externalFlag}: the issuer belongs to cert-manager (Secret mesh-identity-issuer, type kubernetes.io/tls)`, {
      code: 'MESH_INSTALL_IDENTITY_FLAGS',
      suggestions: [`Pass only ${IDENTITY_FLAGS.trustAnchorsFile} (the anchor your cert-manager Issuer signs with), or drop ${externalFlag} to have mesh keep the issuer.`],
    })
  }
  return files.trustAnchorsFile !== undefined
}

/** Reads and checks the trust anchors alone (external issuer). */
export async function loadTrustAnchorsFile(file: string, now = new Date()): Promise<string> {
  const pem = await readPem(file, IDENTITY_FLAGS.trustAnchorsFile)
  await validateAnchors(pem, `${IDENTITY_FLAGS.trustAnchorsFile} ${file}`, now)
  return pem
}

/** The anchors parse, are CAs and are valid now; throws an InputError naming `where`. */
export async function validateAnchors(pem: string, where: string, now = new Date()): Promise<X509Certificate[]> {
  const {parseCertificates, notAfter, notBefore} = await import('../tls/pem.js')
  const fail = (message: string, suggestion: string) => new InputError(message, {code: 'MESH_INSTALL_IDENTITY', suggestions: [suggestion]})
  let anchors: X509Certificate[]
  try {
    anchors = parseCertificates(pem, where)
  } catch (error) {
    throw fail((error as Error).message, 'Pass the PEM file of the root certificate(s), e.g. ca.crt.')
  }
  for (const [i, a] of anchors.entries()) {
    if (!a.ca) throw fail(`${where}: certificate #${i + 1} (${oneLine(a.subject)}) is not a CA`, 'Trust anchors must be CA certificates (basicConstraints CA:TRUE).')
    if (now > notAfter(a) || now < notBefore(a)) {
      throw fail(`${where}: certificate #${i + 1} (${oneLine(a.subject)}) is not valid now (valid ${a.validFrom} to ${a.validTo})`, 'Pass trust anchors that are valid now.')
    }
  }
  return anchors
}

/** True when at least one identity flag is set; throws a usage error when only some are. */
export function identityFilesGiven(files: IdentityFiles): boolean {
  const given = (Object.keys(IDENTITY_FLAGS) as (keyof IdentityFiles)[]).filter((k) => files[k] !== undefined)
  if (given.length === 0) return false
  if (given.length < 3) {
    const missing = (Object.keys(IDENTITY_FLAGS) as (keyof IdentityFiles)[]).filter((k) => files[k] === undefined).map((k) => IDENTITY_FLAGS[k])
    throw new UsageError(`the identity flags go together: missing ${missing.join(', ')}`, {
      code: 'MESH_INSTALL_IDENTITY_FLAGS',
      suggestions: [`Pass all three of ${Object.values(IDENTITY_FLAGS).join(', ')}, or none to generate a new trust anchor and issuer.`],
    })
  }
  return true
}

async function readPem(file: string, flag: string): Promise<string> {
  try {
    return await readFile(file, 'utf8')
  } catch (error) {
    throw new InputError(`${flag} ${file}: cannot read it (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, {
      code: 'MESH_INSTALL_IDENTITY',
      suggestions: [`Check the path given to ${flag}.`],
      cause: error,
    })
  }
}

/** Reads the three files and validates them as a set. */
export async function loadIdentityFiles(files: Required<IdentityFiles>): Promise<IdentityMaterial> {
  const material = {
    trustAnchorsPEM: await readPem(files.trustAnchorsFile, IDENTITY_FLAGS.trustAnchorsFile),
    issuerCertPEM: await readPem(files.issuerCertificateFile, IDENTITY_FLAGS.issuerCertificateFile),
    issuerKeyPEM: await readPem(files.issuerKeyFile, IDENTITY_FLAGS.issuerKeyFile),
  }
  await validateIdentity(material, {
    anchors: `${IDENTITY_FLAGS.trustAnchorsFile} ${files.trustAnchorsFile}`,
    cert: `${IDENTITY_FLAGS.issuerCertificateFile} ${files.issuerCertificateFile}`,
    key: `${IDENTITY_FLAGS.issuerKeyFile} ${files.issuerKeyFile}`,
  })
  return material
}

/** Names used in errors: the flags and files, or the cluster objects on upgrade. */
export interface IdentitySources {
  anchors: string
  cert: string
  key: string
}

/** Throws an InputError naming the source of the first problem found. */
export async function validateIdentity(m: IdentityMaterial, where: IdentitySources, now = new Date()): Promise<void> {
  const {parseCertificates} = await import('../tls/pem.js')
  const {verifyChain} = await import('../tls/verify.js')
  const fail = (message: string, suggestion: string) => new InputError(message, {code: 'MESH_INSTALL_IDENTITY', suggestions: [suggestion]})
  let anchors: X509Certificate[]
  let issuer: X509Certificate[]
  try {
    anchors = parseCertificates(m.trustAnchorsPEM, where.anchors)
  } catch (error) {
    throw fail((error as Error).message, 'Pass the PEM file of the root certificate(s), e.g. ca.crt.')
  }
  try {
    issuer = parseCertificates(m.issuerCertPEM ?? '', where.cert)
  } catch (error) {
    throw fail((error as Error).message, 'Pass the PEM file of the issuer (intermediate) certificate, e.g. issuer.crt.')
  }
  for (const [i, a] of anchors.entries()) {
    if (!a.ca) throw fail(`${where.anchors}: certificate #${i + 1} (${oneLine(a.subject)}) is not a CA`, 'Trust anchors must be CA certificates (basicConstraints CA:TRUE).')
  }
  const cert = issuer[0]!
  if (!cert.ca) throw fail(`${where.cert}: ${oneLine(cert.subject)} is not a CA, so it cannot sign workload certificates`, 'Create the issuer with basicConstraints CA:TRUE, pathlen:0.')
  let publicPem: string
  try {
    publicPem = createPublicKey(createPrivateKey(m.issuerKeyPEM ?? '')).export({type: 'spki', format: 'pem'}).toString()
  } catch (error) {
    throw fail(`${where.key}: not a private key in PEM (${(error as Error).message})`, 'Pass the unencrypted PEM private key of the issuer, e.g. issuer.key.')
  }
  if (publicPem !== cert.publicKey.export({type: 'spki', format: 'pem'}).toString()) {
    throw fail(`${where.key} does not match the certificate in ${where.cert}`, 'Pass the key the issuer certificate was created with.')
  }
  const {ISSUER_KEY_TYPES, issuerKeyProblem} = await import('../tls/keys.js')
  const keyProblem = issuerKeyProblem(cert.publicKey)
  if (keyProblem) throw fail(`${where.cert}: the issuer key is ${keyProblem}; mesh signs with ${ISSUER_KEY_TYPES} keys`, 'Create the issuer with an ECDSA P-256 key or an RSA key of 2048 bits or more.')
  const reason = verifyChain({leaf: cert, intermediates: issuer.slice(1), anchors, at: now})
  if (reason) throw fail(`${where.cert} does not chain to ${where.anchors}: ${reason}`, 'Pass the trust anchor that signed the issuer, and check both are valid now.')
}

function oneLine(subject: string): string {
  return subject.replace(/\n/g, ', ')
}

/** A new trust anchor and issuer; the anchor's private key is dropped (never needed again). */
export async function generateIdentity(opts: {trustDomain: string; anchorDays: number; issuerDays: number; keyType?: 'rsa' | 'ecdsa'}): Promise<IdentityMaterial> {
  const {generateIssuer, generateTrustAnchor} = await import('../tls/ca.js')
  const anchor = await generateTrustAnchor({commonName: `root.${opts.trustDomain}`, validityDays: opts.anchorDays, keyType: opts.keyType})
  const issuer = await generateIssuer(anchor, {commonName: `identity.mesh-system.${opts.trustDomain}`, validityDays: opts.issuerDays, keyType: opts.keyType})
  return {trustAnchorsPEM: anchor.certPem, issuerCertPEM: issuer.certPem, issuerKeyPEM: issuer.keyPem}
}
