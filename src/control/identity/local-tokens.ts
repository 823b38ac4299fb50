// Local-mode tokens for `mesh demo`: `mesh-local.v1.<payload>.<mac>`, the payload base64url
// JSON {sa, ns, aud, iat, exp}, the mac HMAC-SHA256 over `mesh-local.v1.<payload>` with a
// secret only the local controller (and whoever starts the demo proxies) holds.
import {createHmac, randomBytes, timingSafeEqual} from 'node:crypto'
import {TOKEN_AUDIENCE} from '../../protocol/identity.js'
import {TokenError, type ServiceAccountRef, type TokenValidator} from './tokens.js'

const PREFIX = 'mesh-local.v1.'
const MAX_TOKEN = 4096
const NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/

interface Payload {
  sa: string
  ns: string
  aud: string
  iat: number
  exp: number
}

export function newLocalTokenSecret(): string {
  return randomBytes(32).toString('base64url')
}

function mac(secret: string, data: string): Buffer {
  return createHmac('sha256', secret).update(data).digest()
}

/** A token proving ServiceAccount `sa` in `ns`, valid for `ttlSeconds` (default one year). */
export function issueLocalToken(sa: string, ns: string, secret: string, ttlSeconds = 365 * 24 * 3600): string {
  if (!NAME.test(sa) || !NAME.test(ns)) throw new Error(`invalid ServiceAccount name ${ns}/${sa}: use lowercase DNS names`)
  const now = Math.floor(Date.now() / 1000)
  const payload: Payload = {sa, ns, aud: TOKEN_AUDIENCE, iat: now, exp: now + ttlSeconds}
  const body = PREFIX + Buffer.from(JSON.stringify(payload)).toString('base64url')
  return `${body}.${mac(secret, body).toString('base64url')}`
}

export class LocalTokenValidator implements TokenValidator {
  constructor(private readonly secret: string) {
    if (secret.length < 16) throw new Error('the local token secret must have at least 16 characters')
  }

  async validate(token: string): Promise<ServiceAccountRef> {
    if (token.length > MAX_TOKEN) throw new TokenError('the token is too long')
    if (!token.startsWith(PREFIX)) throw new TokenError('the token is not a mesh local token (expected mesh-local.v1.*)')
    const dot = token.lastIndexOf('.')
    const body = token.slice(0, dot)
    const given = Buffer.from(token.slice(dot + 1), 'base64url')
    const want = mac(this.secret, body)
    if (given.length !== want.length || !timingSafeEqual(given, want)) throw new TokenError('the token signature is not valid')
    let p: Payload
    try {
      p = JSON.parse(Buffer.from(body.slice(PREFIX.length), 'base64url').toString('utf8')) as Payload
    } catch {
      throw new TokenError('the token payload is not valid JSON')
    }
    if (p.aud !== TOKEN_AUDIENCE) throw new TokenError(`the token audience is ${String(p.aud)}, not ${TOKEN_AUDIENCE}`)
    if (typeof p.exp !== 'number' || p.exp * 1000 < Date.now()) throw new TokenError('the token has expired')
    if (typeof p.sa !== 'string' || typeof p.ns !== 'string' || !NAME.test(p.sa) || !NAME.test(p.ns)) throw new TokenError('the token names no valid ServiceAccount')
    return {namespace: p.ns, name: p.sa}
  }
}
