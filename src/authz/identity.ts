// Client identities in authorization policy. A mesh identity is a DNS name,
// `<sa>.<ns>.serviceaccount.identity.<control plane ns>.<trust domain>`. A pattern is one of:
//   exact            web.shop.serviceaccount.identity.mesh-system.cluster.local
//   *                any verified mesh identity
//   *.<suffix>       any identity ending in `.<suffix>`, with at least one label before it:
//                    *.shop.serviceaccount.identity.mesh-system.cluster.local is every
//                    ServiceAccount of namespace shop (a namespace is one DNS label, so the label
//                    before `.serviceaccount.` is always the namespace, whatever dots the
//                    ServiceAccount's name holds).
// Lower case only (identities are lower case; the CRD refuses upper case rather than fold it).

const LABEL = '[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?'
const NAME = `${LABEL}([.]${LABEL})*`

/** A DNS subdomain (object names, ServiceAccounts) and a DNS label (namespaces), for the CRD's CEL rules too. */
export const NAME_PATTERN = `^${NAME}$`
export const LABEL_PATTERN = `^${LABEL}$`

/** What the CRD (and validate.ts) accept as an identity pattern; no backslashes (it goes into a CEL string). */
export const IDENTITY_PATTERN = `^([*]|([*][.])?${NAME})$`
export const MAX_IDENTITY_LENGTH = 253

const PATTERN = new RegExp(IDENTITY_PATTERN)
const NAME_RE = new RegExp(`^${NAME}$`)
/** A DNS label: a namespace name. */
export const DNS_LABEL = new RegExp(`^${LABEL}$`)
/** A DNS subdomain: ServiceAccount and most object names. */
export const DNS_SUBDOMAIN = NAME_RE

/** Why `s` is not an identity pattern, or undefined when it is one. */
export function identityPatternProblem(s: unknown): string | undefined {
  if (typeof s !== 'string' || s.length === 0) return 'must be a non-empty string'
  if (s.length > MAX_IDENTITY_LENGTH) return `is ${s.length} characters long; at most ${MAX_IDENTITY_LENGTH}`
  if (!PATTERN.test(s)) {
    return `"${s.slice(0, 100)}" is not an identity: write <sa>.<ns>.serviceaccount.identity.<control plane ns>.<trust domain>, "*" (any mesh identity) or "*.<suffix>" (e.g. *.shop.serviceaccount.identity.mesh-system.cluster.local), in lower case`
  }
  return undefined
}

/** Whether `s` is an exact identity name (no wildcard). */
export function isIdentityName(s: string): boolean {
  return s.length <= MAX_IDENTITY_LENGTH && NAME_RE.test(s)
}

/** The suffix every identity of namespace `ns` ends with (after `<sa>.`). */
export function namespaceIdentitySuffix(ns: string, controlPlaneNamespace: string, trustDomain: string): string {
  return `${ns}.serviceaccount.identity.${controlPlaneNamespace}.${trustDomain}`
}

/** `<sa>.<ns>.serviceaccount.identity.<cp>.<td>` -> {serviceAccount, namespace}, given the cluster's suffix. */
export function parseMeshIdentity(id: string, controlPlaneNamespace: string, trustDomain: string): {serviceAccount: string; namespace: string} | undefined {
  const tail = `.serviceaccount.identity.${controlPlaneNamespace}.${trustDomain}`
  if (!id.endsWith(tail)) return undefined
  const head = id.slice(0, -tail.length)
  const dot = head.lastIndexOf('.')
  if (dot <= 0) return undefined
  return {serviceAccount: head.slice(0, dot), namespace: head.slice(dot + 1)}
}

/** A list of identity patterns compiled for matching: exact names in a Set, suffixes by label. */
export interface IdentityMatcher {
  matches(id: string): boolean
}

/**
 * One class for every list, so that a decision asking a hundred rules calls one method shape
 * (closures of three shapes made V8's call sites megamorphic: bench/authz-decide.ts).
 */
class IdentityList implements IdentityMatcher {
  private readonly any: boolean
  private readonly exact = new Set<string>()
  /** `.suffix` for a few suffixes (compared by ends, allocating nothing)... */
  private readonly dotted: string[] = []
  /** ...or a Set of suffixes when there are many (looked up per dot of the identity). */
  private readonly many: Set<string> | undefined

  constructor(patterns: readonly string[]) {
    const suffixes = new Set<string>()
    let any = false
    for (const p of patterns) {
      if (p === '*') any = true
      else if (p.startsWith('*.')) suffixes.add(p.slice(2))
      else this.exact.add(p)
    }
    this.any = any
    if (suffixes.size > 16) this.many = suffixes
    else for (const x of suffixes) this.dotted.push(`.${x}`)
  }

  matches(id: string): boolean {
    if (this.any) return id.length > 0
    if (this.exact.has(id)) return true
    for (const d of this.dotted) if (id.length > d.length && id.endsWith(d)) return true
    if (this.many) {
      // Every proper suffix after a dot: `a.b.c` -> `b.c`, `c`.
      for (let i = id.indexOf('.'); i !== -1 && i < id.length - 1; i = id.indexOf('.', i + 1)) {
        if (i > 0 && this.many.has(id.slice(i + 1))) return true
      }
    }
    return false
  }
}

export function compileIdentities(patterns: readonly string[]): IdentityMatcher {
  return new IdentityList(patterns)
}
