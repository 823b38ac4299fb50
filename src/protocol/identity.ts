// The certify call between a proxy and the identity service: HTTPS + JSON, one request per
// certificate. The proxy proves its ServiceAccount with a projected token (audience
// TOKEN_AUDIENCE) and sends a CSR; its private key never leaves it.

export const IDENTITY_PORT = 8080
export const CERTIFY_PATH = '/certify'
/** The audience of the projected ServiceAccount token the proxy presents. */
export const TOKEN_AUDIENCE = 'identity.mesh.dev'
/** Largest certify request body the service reads (bytes). */
export const CERTIFY_MAX_BODY = 64 * 1024

/** The ServiceAccount the control plane's own servers are named after. */
export const CONTROLLER_SERVICE_ACCOUNT = 'mesh-controller'

/** Kubernetes names of the issuer material (k8s mode). */
export const ISSUER_SECRET = 'mesh-identity-issuer'
export const ISSUER_SECRET_KEYS = {anchor: 'ca.crt', cert: 'issuer.crt', key: 'issuer.key'} as const
/**
 * How the issuer Secret is laid out. `mesh.dev/tls` (default): mesh's own keys above, rendered
 * by `mesh install`. `kubernetes.io/tls`: cert-manager's format (a Secret of type
 * kubernetes.io/tls with `tls.crt`, `tls.key` and `ca.crt`), so cert-manager can own and renew
 * the issuer (`mesh install --identity-external-issuer`; Linkerd's `identity.issuer.scheme`).
 */
export const ISSUER_SCHEMES = ['mesh.dev/tls', 'kubernetes.io/tls'] as const
export type IssuerScheme = (typeof ISSUER_SCHEMES)[number]
export const DEFAULT_ISSUER_SCHEME: IssuerScheme = 'mesh.dev/tls'
/** The keys of a cert-manager (kubernetes.io/tls) issuer Secret. */
export const TLS_SECRET_KEYS = {anchor: 'ca.crt', cert: 'tls.crt', key: 'tls.key'} as const

/** The issuer Secret's keys under a scheme. */
export function issuerSecretKeys(scheme: IssuerScheme): {anchor: string; cert: string; key: string} {
  return scheme === 'kubernetes.io/tls' ? TLS_SECRET_KEYS : ISSUER_SECRET_KEYS
}

export const TRUST_ROOTS_CONFIGMAP = 'mesh-identity-trust-roots'
export const TRUST_ROOTS_CONFIGMAP_KEY = 'ca-bundle.crt'

/** POST CERTIFY_PATH, `Content-Type: application/json`. */
export interface CertifyRequest {
  /** The identity name asked for: `<sa>.<ns>.serviceaccount.identity.<cp-ns>.<trust-domain>`. */
  identity: string
  /** PEM "CERTIFICATE REQUEST" with exactly one DNS SAN equal to `identity`. */
  csr: string
  /** The projected ServiceAccount token (audience TOKEN_AUDIENCE), or a local-mode token. */
  token: string
}

/** 200 OK. */
export interface CertifyResponse {
  /** The leaf, PEM. */
  certificate: string
  /** Intermediates from the leaf's issuer up to (not including) the anchor, PEM each. */
  chain: string[]
  /** ISO 8601 notAfter of the leaf. */
  validUntil: string
}

export type CertifyErrorCode =
  | 'BAD_REQUEST'
  | 'TOO_LARGE'
  | 'TOKEN_INVALID'
  | 'IDENTITY_MISMATCH'
  | 'CSR_INVALID'
  | 'CSR_BAD_SIGNATURE'
  | 'CSR_WEAK_KEY'
  | 'CSR_NO_SAN'
  | 'CSR_EXTRA_SANS'
  | 'ISSUER_EXPIRED'
  | 'ISSUER_UNAVAILABLE'
  | 'TOKEN_REVIEW_FAILED'
  | 'INTERNAL'

/** HTTP status for each refusal. */
export const CERTIFY_ERROR_STATUS: Record<CertifyErrorCode, number> = {
  BAD_REQUEST: 400,
  TOO_LARGE: 413,
  TOKEN_INVALID: 401,
  IDENTITY_MISMATCH: 403,
  CSR_INVALID: 400,
  CSR_BAD_SIGNATURE: 400,
  CSR_WEAK_KEY: 400,
  CSR_NO_SAN: 400,
  CSR_EXTRA_SANS: 403,
  ISSUER_EXPIRED: 503,
  ISSUER_UNAVAILABLE: 503,
  TOKEN_REVIEW_FAILED: 503,
  INTERNAL: 500,
}

/** Any non-200 answer. */
export interface CertifyErrorBody {
  error: {
    code: CertifyErrorCode
    /** Names the input and the problem. */
    message: string
  }
}
