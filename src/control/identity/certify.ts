// The certify decision, apart from HTTP: token -> ServiceAccount -> expected identity name ->
// CSR checks -> signed leaf. Every refusal is a CertifyFailure with a code and a message that
// names the input and the problem.
import {identityName} from '../../protocol/proxy-env.js'
import type {CertifyErrorCode, CertifyRequest, CertifyResponse} from '../../protocol/identity.js'
import {checkCsrNames, CsrError, parseCsr} from '../../tls/csr.js'
import {DEFAULT_LEAF_LIFETIME_MS, signLeaf} from '../../tls/leaf.js'
import type {Logger} from '../logger.js'
import {noEvents, type EventRecorder} from './events.js'
import type {IssuerSource} from './issuer.js'
import {TokenError, TokenReviewError, type ServiceAccountRef, type TokenValidator} from './tokens.js'

export class CertifyFailure extends Error {
  constructor(readonly code: CertifyErrorCode, message: string) {
    super(message)
    this.name = 'CertifyFailure'
  }
}

export interface CertifyDeps {
  issuer: IssuerSource
  validator: TokenValidator
  controlPlaneNamespace: string
  trustDomain: string
  /** Leaf lifetime (default 24 h). */
  leafLifetimeMs?: number
  events?: EventRecorder
  log: Logger
}

const MAX_IDENTITY = 253
const MAX_CSR = 16 * 1024
const MAX_TOKEN = 16 * 1024

/** Shape checks on the decoded JSON body. */
export function parseCertifyRequest(body: unknown): CertifyRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new CertifyFailure('BAD_REQUEST', 'the body must be a JSON object {identity, csr, token}')
  const b = body as Record<string, unknown>
  for (const [field, max] of [['identity', MAX_IDENTITY], ['csr', MAX_CSR], ['token', MAX_TOKEN]] as const) {
    const v = b[field]
    if (typeof v !== 'string' || v.length === 0) throw new CertifyFailure('BAD_REQUEST', `the field "${field}" must be a non-empty string`)
    if (v.length > max) throw new CertifyFailure(field === 'token' ? 'TOKEN_INVALID' : 'BAD_REQUEST', `the field "${field}" is longer than ${max} characters`)
  }
  return {identity: b.identity as string, csr: b.csr as string, token: b.token as string}
}

export async function certify(deps: CertifyDeps, req: CertifyRequest): Promise<CertifyResponse> {
  const events = deps.events ?? noEvents
  const state = deps.issuer.current()
  if (!state) throw new CertifyFailure('ISSUER_UNAVAILABLE', 'the identity service has no issuer loaded yet')
  if (state.notAfter.getTime() <= Date.now()) {
    throw new CertifyFailure('ISSUER_EXPIRED', `the issuer certificate expired at ${state.notAfter.toISOString()}; rotate the issuer (${state.source})`)
  }
  let sa: ServiceAccountRef
  try {
    sa = await deps.validator.validate(req.token)
  } catch (err) {
    if (err instanceof TokenError) throw new CertifyFailure('TOKEN_INVALID', `token refused: ${err.message}`)
    if (err instanceof TokenReviewError) throw new CertifyFailure('TOKEN_REVIEW_FAILED', err.message)
    throw err
  }
  const expected = identityName(sa.name, sa.namespace, deps.controlPlaneNamespace, deps.trustDomain)
  const refuse = (code: CertifyErrorCode, message: string): CertifyFailure => {
    events.record(sa, 'Warning', 'IdentityRefused', `${code}: ${message}`)
    return new CertifyFailure(code, message)
  }
  if (req.identity !== expected) {
    throw refuse('IDENTITY_MISMATCH', `the token proves ServiceAccount ${sa.namespace}/${sa.name}, whose identity is ${expected}; the request asks for ${req.identity}`)
  }
  let publicKeyPem: string
  try {
    const csr = parseCsr(req.csr)
    checkCsrNames(csr, expected)
    publicKeyPem = csr.publicKeyPem
  } catch (err) {
    if (err instanceof CsrError) throw refuse(err.code, err.message)
    throw err
  }
  const leaf = signLeaf(state.issuer, {publicKeyPem, dnsName: expected, lifetimeMs: deps.leafLifetimeMs ?? DEFAULT_LEAF_LIFETIME_MS})
  events.record(sa, 'Normal', 'IdentityIssued', `issued certificate for ${expected}, valid until ${leaf.notAfter.toISOString()}`)
  deps.log.info('certificate issued', {identity: expected, validUntil: leaf.notAfter.toISOString()})
  return {certificate: leaf.certPem, chain: state.chain, validUntil: leaf.notAfter.toISOString()}
}
