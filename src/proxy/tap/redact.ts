// What tap never shows: credentials. A header is a credential when its name is one of the known
// ones (Authorization, Cookie, ...) or any of its words (split at -, _ and .) says so (token,
// secret, password, session, key, signature, ...: X-Vault-Token, X-Amz-Security-Token,
// X-Api-Key, X-Session-Id); its value becomes `<redacted>`. Query strings are redacted whole:
// every value, whatever its name (`?token=...`, `?sig=...`, `?code=...` all leak), keys kept.
// Always on: tap has no switch that shows them.

export const REDACTED_VALUE = '<redacted>'

const NAMES = new Set([
  'authorization', 'proxy-authorization', 'cookie', 'set-cookie', 'www-authenticate', 'proxy-authenticate',
])

const WORDS = new Set([
  'token', 'secret', 'password', 'passwd', 'pwd', 'pass', 'session', 'sessionid', 'sid', 'key', 'apikey', 'credential',
  'credentials', 'auth', 'signature', 'sig', 'jwt', 'bearer', 'otp', 'csrf', 'xsrf', 'cookie', 'private',
])

const WORD_ENDS = /(token|secret|password|passwd|apikey|sessionid)$/

/** Whether a header (lower-case name) carries a credential. */
export function isCredentialHeader(name: string): boolean {
  if (NAMES.has(name)) return true
  for (const word of name.split(/[-_.:]/)) {
    if (WORDS.has(word) || WORD_ENDS.test(word)) return true
  }
  return false
}

const memo = new Map<string, boolean>()
const MEMO_MAX = 1024

/** isCredentialHeader, memoised (header names repeat). */
function credential(name: string): boolean {
  let c = memo.get(name)
  if (c === undefined) {
    c = isCredentialHeader(name)
    if (memo.size >= MEMO_MAX) memo.clear()
    memo.set(name, c)
  }
  return c
}

/** The headers as tap shows them: lower-case names, repeated values joined, credentials redacted. */
export function tapHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined) continue
    const name = k.toLowerCase()
    out[name] = credential(name) ? REDACTED_VALUE : Array.isArray(v) ? v.join(', ') : v
  }
  return out
}

/** The path with every query value redacted (`/a?x=1&y` -> `/a?x=<redacted>&y`); a fragment goes. */
export function tapPath(path: string): string {
  const q = path.indexOf('?')
  if (q === -1) {
    const h = path.indexOf('#')
    return h === -1 ? path : path.slice(0, h)
  }
  const h = path.indexOf('#', q)
  const query = path.slice(q + 1, h === -1 ? undefined : h)
  if (query === '') return path.slice(0, q + 1)
  const parts = query.split(/([&;])/)
  for (let i = 0; i < parts.length; i += 2) {
    const eq = parts[i].indexOf('=')
    if (eq !== -1) parts[i] = `${parts[i].slice(0, eq)}=${REDACTED_VALUE}`
  }
  return `${path.slice(0, q)}?${parts.join('')}`
}
