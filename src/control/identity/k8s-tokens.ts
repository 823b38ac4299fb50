// TokenReview: the API server checks the projected ServiceAccount token and its audience.
import type * as k8s from '@kubernetes/client-node'
import {TOKEN_AUDIENCE} from '../../protocol/identity.js'
import {parseServiceAccountUser, TokenError, TokenReviewError, type ServiceAccountRef, type TokenValidator} from './tokens.js'

const MAX_TOKEN = 16 * 1024

export class KubernetesTokenValidator implements TokenValidator {
  private readonly api: k8s.AuthenticationV1Api

  constructor(lib: typeof k8s, kc: k8s.KubeConfig, private readonly audience = TOKEN_AUDIENCE) {
    this.api = kc.makeApiClient(lib.AuthenticationV1Api)
  }

  async validate(token: string): Promise<ServiceAccountRef> {
    if (token.length === 0) throw new TokenError('the token is empty')
    if (token.length > MAX_TOKEN) throw new TokenError('the token is too long')
    let review: k8s.V1TokenReview
    try {
      review = await this.api.createTokenReview({body: {apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: {token, audiences: [this.audience]}}})
    } catch (err) {
      const status = (err as {code?: number}).code
      throw new TokenReviewError(`TokenReview failed${status ? ` (HTTP ${status})` : ''}: ${(err as Error).message.split('\n')[0]}`, {cause: err})
    }
    const st = review.status
    if (!st?.authenticated) throw new TokenError(`the API server rejected the token${st?.error ? `: ${st.error}` : ''}`)
    if (!(st.audiences ?? []).includes(this.audience)) throw new TokenError(`the token is not for audience ${this.audience}`)
    const sa = parseServiceAccountUser(st.user?.username)
    if (!sa) throw new TokenError(`the token belongs to ${st.user?.username ?? 'an unknown user'}, not a ServiceAccount`)
    // For ServiceAccount tokens, user.uid is the ServiceAccount's uid.
    return {...sa, uid: st.user?.uid}
  }
}
