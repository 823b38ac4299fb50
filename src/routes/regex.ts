// The regular expressions routes may use: RE2 syntax, matched by re2js (a port of RE2: time
// linear in the input, no backtracking), so no pattern, however hostile, can make a match take
// more than a bounded time. Backreferences, lookaround and possessive or atomic groups are not
// RE2 and are refused when the route is validated. A pattern matches the whole value (as
// Envoy's and Linkerd's path regexes do): `/books/[0-9]+` matches `/books/12`, not
// `/books/12/reviews`. Bounds: at most MAX_REGEX_BYTES of pattern and MAX_REGEX_PROGRAM
// instructions of compiled program (a match costs at most program size x input length steps).
import {createRequire} from 'node:module'
import type {RE2JS} from 're2js'

/** re2js (0.7 MB of heap), loaded with the first pattern: most proxies' routes have none. */
let re2: typeof RE2JS | undefined
function re2js(): typeof RE2JS {
  return (re2 ??= (createRequire(import.meta.url)('re2js') as typeof import('re2js')).RE2JS)
}

/** Longest pattern accepted (the Gateway API CRDs allow 1024 for paths, 4096 for header values). */
export const MAX_REGEX_BYTES = 1024
/** Largest compiled program accepted: `[a-z]{500}` is about 500; `(a{100}){100}` is refused. */
export const MAX_REGEX_PROGRAM = 2000

export type CompiledRegex = {ok: true; re: RE2JS} | {ok: false; problem: string}

/** Compiles `pattern` in the routes' dialect, or says why it is refused. */
export function compileRegex(pattern: string): CompiledRegex {
  if (Buffer.byteLength(pattern) > MAX_REGEX_BYTES) return {ok: false, problem: `is longer than ${MAX_REGEX_BYTES} bytes`}
  let re: RE2JS
  try {
    re = re2js().compile(pattern)
  } catch (err) {
    return {ok: false, problem: `is not an RE2 regular expression (${(err as Error).message.replace(/^error parsing regexp: /, '')}); backreferences and lookaround are not supported`}
  }
  const size = re.programSize()
  if (size > MAX_REGEX_PROGRAM) return {ok: false, problem: `compiles to ${size} instructions, over the bound of ${MAX_REGEX_PROGRAM}; use fewer or smaller repetitions`}
  return {ok: true, re}
}

/** Whether the whole of `value` matches. */
export function fullMatch(re: RE2JS, value: string): boolean {
  return re.matches(value)
}
