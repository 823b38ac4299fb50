// Local mode: the registry file's `authorizationPolicies:` (AuthorizationPolicy objects as in
// Kubernetes; apiVersion optional, metadata.namespace default `default`) and the endpoints'
// optional `labels:` (what label selectors see). A policy that does not validate makes the file
// refused whole, so the last good document, policies included, stays in force.
import {AUTHZ_GROUP, AUTHZ_KIND, AUTHZ_VERSION} from '../../protocol/authz.js'
import {validatePolicy, type ValidatedPolicy} from '../../authz/validate.js'
import {LABEL_KEY_PATTERN, LABEL_VALUE_PATTERN} from '../../authz/selector.js'
import type {LocalRegistry} from '../destination/local-registry.js'
import {policyKey, type AuthzState} from './state.js'

/** Policies one registry file may hold. */
export const MAX_LOCAL_POLICIES = 1000

type Fail = (where: string, problem: string) => never

const LABEL_KEY = new RegExp(LABEL_KEY_PATTERN)
const LABEL_VALUE = new RegExp(LABEL_VALUE_PATTERN)

/** An endpoint's `labels:` (the pod's labels, for selectors), checked as Kubernetes checks labels. */
export function parseLabels(raw: unknown, at: string, fail: Fail): Record<string, string> | undefined {
  if (raw === undefined || raw === null) return undefined
  if (typeof raw !== 'object' || Array.isArray(raw)) fail(at, 'must be a mapping of label keys to values')
  const entries = Object.entries(raw as Record<string, unknown>)
  if (entries.length > 64) fail(at, `has ${entries.length} labels; at most 64`)
  for (const [k, v] of entries) {
    if (k.length > 317 || !LABEL_KEY.test(k)) fail(at, `${JSON.stringify(k.slice(0, 80))} is not a label key`)
    if (typeof v !== 'string' || !LABEL_VALUE.test(v)) fail(`${at}.${k}`, `${JSON.stringify(v)?.slice(0, 80)} is not a label value`)
  }
  return Object.fromEntries(entries) as Record<string, string>
}

/** The document's AuthorizationPolicies, every one valid (file order stands in for creation time). */
export function parseLocalPolicies(raw: unknown, fail: Fail, o: {controlPlaneNamespace?: string; trustDomain?: string} = {}): ValidatedPolicy[] {
  if (raw === undefined || raw === null) return []
  if (!Array.isArray(raw)) fail('authorizationPolicies', 'must be a list')
  if (raw.length > MAX_LOCAL_POLICIES) fail('authorizationPolicies', `has ${raw.length} policies; at most ${MAX_LOCAL_POLICIES}`)
  const seen = new Set<string>()
  return raw.map((p: unknown, i) => {
    const at = `authorizationPolicies[${i}]`
    if (typeof p !== 'object' || p === null || Array.isArray(p)) fail(at, 'must be a mapping')
    const obj = p as Record<string, unknown>
    if (obj.kind !== undefined && obj.kind !== AUTHZ_KIND) fail(`${at}.kind`, `must be ${AUTHZ_KIND} (or left out)`)
    if (obj.apiVersion !== undefined && obj.apiVersion !== `${AUTHZ_GROUP}/${AUTHZ_VERSION}`) fail(`${at}.apiVersion`, `must be ${AUTHZ_GROUP}/${AUTHZ_VERSION} (or left out)`)
    const meta = typeof obj.metadata === 'object' && obj.metadata !== null ? (obj.metadata as Record<string, unknown>) : fail(`${at}.metadata`, 'must be a mapping with a name')
    const v = validatePolicy({...obj, metadata: {namespace: 'default', ...meta, generation: 1, creationTimestamp: new Date(i).toISOString()}}, o)
    if (!v) fail(`${at}.metadata`, 'needs a name (and a namespace)')
    const where = `${at} (${AUTHZ_KIND} ${v.namespace}/${v.name})`
    if (seen.has(policyKey(v))) fail(where, 'is listed twice')
    seen.add(policyKey(v))
    if (!v.verdict.ok) fail(where, v.verdict.message)
    return v
  })
}

/** Keeps `state` equal to the registry's policies; subscribe before the destination server starts. */
export function syncLocalPolicies(registry: LocalRegistry, state: AuthzState): () => void {
  let synced: unknown
  const sync = (): void => {
    const list = registry.authorizationPolicies()
    if (list === synced) return
    const before = synced as readonly ValidatedPolicy[] | undefined
    synced = list
    const keep = new Set(list.map(policyKey))
    for (const p of list) state.set(p.namespace, p.name, p)
    for (const p of before ?? []) if (!keep.has(policyKey(p))) state.set(p.namespace, p.name, undefined)
  }
  sync()
  return registry.onChange(sync)
}
