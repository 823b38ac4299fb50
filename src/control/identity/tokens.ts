// Who is asking: a TokenValidator turns the token a proxy presents into the ServiceAccount it
// proves. Two implementations: Kubernetes TokenReview (k8s-tokens.ts) and local HMAC tokens
// for `mesh demo` (local-tokens.ts).

export interface ServiceAccountRef {
  namespace: string
  name: string
  /** The ServiceAccount's uid when the validator knows it (for Events). */
  uid?: string
}

export interface TokenValidator {
  /** Resolves the ServiceAccount, or throws TokenError (refused) / TokenReviewError (cannot check). */
  validate(token: string): Promise<ServiceAccountRef>
}

/** The token is not valid: the caller is refused (401). */
export class TokenError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'TokenError'
  }
}

/** The token could not be checked (API server down, RBAC): the caller may retry (503). */
export class TokenReviewError extends Error {
  constructor(message: string, options?: {cause?: unknown}) {
    super(message, options)
    this.name = 'TokenReviewError'
  }
}

const SA_PREFIX = 'system:serviceaccount:'

/** `system:serviceaccount:<ns>:<name>` -> {namespace, name}; undefined for other users. */
export function parseServiceAccountUser(username: string | undefined): ServiceAccountRef | undefined {
  if (!username?.startsWith(SA_PREFIX)) return undefined
  const [namespace, name, ...rest] = username.slice(SA_PREFIX.length).split(':')
  if (!namespace || !name || rest.length > 0) return undefined
  return {namespace, name}
}
