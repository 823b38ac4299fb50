// The sides' check of a request's authority before any lookup: one that does not parse
// (authority.ts) is answered 400 by whichever codec asked, and counted (reason bad_authority).
import {checkAuthority, withoutUserinfo} from '../config/authority.js'
import {ProxyError} from '../core/errors.js'
import {refuseInput, type Side} from '../route/side.js'

/** Throws a 400 ProxyError, counted, when `authority` (as the codecs normalised it) does not parse. */
export function requireAuthority(side: Side, authority: string): void {
  const problem = checkAuthority(authority)
  if (typeof problem !== 'string') return
  refuseInput(side, 'bad_authority')
  const named = withoutUserinfo(authority)
  const shown = named.length > 100 ? named.slice(0, 100) + '...' : named
  throw new ProxyError('BAD_REQUEST', `bad authority "${shown}": ${problem}`)
}
