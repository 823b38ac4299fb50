import {createHmac} from 'node:crypto'
import {describe, expect, it} from 'vitest'
import {issueLocalToken, LocalTokenValidator, newLocalTokenSecret} from '../../src/control/identity/local-tokens.js'
import {parseServiceAccountUser, TokenError} from '../../src/control/identity/tokens.js'

describe('local tokens', () => {
  const secret = newLocalTokenSecret()
  const v = new LocalTokenValidator(secret)
  const sign = (payload: object): string => {
    const body = 'mesh-local.v1.' + Buffer.from(JSON.stringify(payload)).toString('base64url')
    return `${body}.${createHmac('sha256', secret).update(body).digest('base64url')}`
  }
  const now = Math.floor(Date.now() / 1000)

  it('round-trips the ServiceAccount', async () => {
    expect(await v.validate(issueLocalToken('web', 'shop', secret))).toEqual({namespace: 'shop', name: 'web'})
  })

  it('refuses tampering, expiry, another audience, bad names and junk', async () => {
    const good = issueLocalToken('web', 'shop', secret)
    const tampered = good.replace(/\.([^.]+)\.([^.]+)$/, (_m, p: string, m: string) => `.${Buffer.from(JSON.stringify({sa: 'admin', ns: 'kube-system', aud: 'identity.mesh.dev', iat: now, exp: now + 60})).toString('base64url')}.${m}`)
    const cases: Array<[string, RegExp]> = [
      [tampered, /signature/],
      [issueLocalToken('web', 'shop', newLocalTokenSecret()), /signature/],
      [sign({sa: 'web', ns: 'shop', aud: 'identity.mesh.dev', iat: now - 100, exp: now - 10}), /expired/],
      [sign({sa: 'web', ns: 'shop', aud: 'kubernetes', iat: now, exp: now + 60}), /audience is kubernetes/],
      [sign({sa: 'Web!', ns: 'shop', aud: 'identity.mesh.dev', iat: now, exp: now + 60}), /no valid ServiceAccount/],
      ['eyJhbGciOi.xxx.yyy', /not a mesh local token/],
      ['mesh-local.v1.' + 'a'.repeat(5000), /too long/],
    ]
    for (const [token, re] of cases) {
      const err = await v.validate(token).then(() => undefined, (e: unknown) => e)
      expect(err, token.slice(0, 40)).toBeInstanceOf(TokenError)
      expect((err as Error).message).toMatch(re)
    }
    expect(() => issueLocalToken('Web', 'shop', secret)).toThrow(/invalid ServiceAccount name/)
    expect(() => new LocalTokenValidator('short')).toThrow(/at least 16/)
  })
})

describe('parseServiceAccountUser', () => {
  it('accepts only system:serviceaccount:<ns>:<name>', () => {
    expect(parseServiceAccountUser('system:serviceaccount:shop:web')).toEqual({namespace: 'shop', name: 'web'})
    expect(parseServiceAccountUser('system:serviceaccount:shop')).toBeUndefined()
    expect(parseServiceAccountUser('system:serviceaccount:shop:web:extra')).toBeUndefined()
    expect(parseServiceAccountUser('admin')).toBeUndefined()
    expect(parseServiceAccountUser(undefined)).toBeUndefined()
  })
})
