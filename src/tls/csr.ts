// Certificate signing requests: the proxy builds one for its identity name (its key never
// leaves it; csr-create.ts, without forge); the identity service parses and checks it here.
import forge from 'node-forge'
import {rsaBits, MIN_RSA_BITS} from './keys.js'

export type CsrProblem = 'CSR_INVALID' | 'CSR_BAD_SIGNATURE' | 'CSR_WEAK_KEY' | 'CSR_NO_SAN' | 'CSR_EXTRA_SANS'

export class CsrError extends Error {
  constructor(readonly code: CsrProblem, message: string) {
    super(message)
    this.name = 'CsrError'
  }
}

export {createCsr} from './csr-create.js'

export interface ParsedCsr {
  /** DNS SANs requested. */
  dnsNames: string[]
  /** Every other SAN (IP, URI, email, ...) as `TYPE:value`. */
  otherSans: string[]
  commonName: string | undefined
  publicKeyPem: string
  keyBits: number
}

const SAN_TYPES: Record<number, string> = {1: 'email', 2: 'DNS', 6: 'URI', 7: 'IP'}

/** Parses a CSR and verifies its self-signature; throws CsrError. Does not judge the names. */
export function parseCsr(csrPem: string): ParsedCsr {
  let csr: forge.pki.CertificateSigningRequest
  try {
    csr = forge.pki.certificationRequestFromPem(csrPem)
  } catch (err) {
    const msg = (err as Error).message
    if (/not RSA/i.test(msg)) throw new CsrError('CSR_INVALID', 'the CSR key is not RSA: mesh certificates use RSA keys only')
    throw new CsrError('CSR_INVALID', `the CSR cannot be parsed: ${msg}`)
  }
  let verified: boolean
  try {
    verified = csr.verify()
  } catch {
    verified = false
  }
  if (!verified) throw new CsrError('CSR_BAD_SIGNATURE', 'the CSR signature does not verify against its public key')
  const publicKeyPem = forge.pki.publicKeyToPem(csr.publicKey as forge.pki.rsa.PublicKey).replace(/\r\n/g, '\n')
  const keyBits = rsaBits(publicKeyPem) ?? 0
  if (keyBits < MIN_RSA_BITS) throw new CsrError('CSR_WEAK_KEY', `the CSR key has ${keyBits} bits; at least ${MIN_RSA_BITS} are required`)
  const dnsNames: string[] = []
  const otherSans: string[] = []
  const req = csr.getAttribute({name: 'extensionRequest'}) as {extensions?: Array<{name?: string; altNames?: Array<{type: number; value?: string; ip?: string}>}>} | null
  for (const ext of req?.extensions ?? []) {
    if (ext.name !== 'subjectAltName') continue
    for (const alt of ext.altNames ?? []) {
      if (alt.type === 2 && typeof alt.value === 'string') dnsNames.push(alt.value)
      else otherSans.push(`${SAN_TYPES[alt.type] ?? `type${alt.type}`}:${alt.ip ?? alt.value ?? ''}`)
    }
  }
  const cnField = csr.subject.getField('CN') as {value?: string} | null
  return {dnsNames, otherSans, commonName: cnField?.value, publicKeyPem, keyBits}
}

/**
 * Checks that a parsed CSR asks for exactly `expected` and nothing else: one DNS SAN equal to
 * it, no other SANs, and a CN that is absent or equal to it.
 */
export function checkCsrNames(csr: ParsedCsr, expected: string): void {
  if (csr.dnsNames.length === 0) throw new CsrError('CSR_NO_SAN', `the CSR has no DNS SAN; it must have exactly one: ${expected}`)
  const extra = [...csr.dnsNames.filter((n) => n !== expected).map((n) => `DNS:${n}`), ...csr.otherSans]
  if (csr.dnsNames.length > 1 || csr.otherSans.length > 0) {
    throw new CsrError('CSR_EXTRA_SANS', `the CSR must have exactly one SAN (DNS:${expected}); it also asks for ${extra.join(', ') || 'a duplicate'}`)
  }
  if (csr.dnsNames[0] !== expected) throw new CsrError('CSR_EXTRA_SANS', `the CSR names DNS:${csr.dnsNames[0]}, not ${expected}`)
  if (csr.commonName !== undefined && csr.commonName !== expected) {
    throw new CsrError('CSR_EXTRA_SANS', `the CSR subject CN is ${csr.commonName}; it must be absent or ${expected}`)
  }
}
