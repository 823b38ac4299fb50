// Kubernetes label selectors (matchLabels + matchExpressions), as a Deployment's selector reads:
// every requirement must hold; `{}` selects every pod of the namespace. Matching is the tap
// server's (src/control/tap/selector.ts), which selects nothing with an empty selector.
import {matches} from '../control/tap/selector.js'

export interface LabelSelectorRequirement {
  key: string
  operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'
  values?: string[]
}

export interface LabelSelector {
  matchLabels?: Record<string, string>
  matchExpressions?: LabelSelectorRequirement[]
}

export const SELECTOR_LIMITS = {labels: 32, expressions: 16, values: 64} as const

/** A label key: an optional DNS-subdomain prefix and `/`, then a name of 1-63 characters (no backslashes: the CRD's CEL uses it). */
export const LABEL_KEY_PATTERN = '^([a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*[/])?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$'
export const LABEL_VALUE_PATTERN = '^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$'
const KEY = new RegExp(LABEL_KEY_PATTERN)
const VALUE = new RegExp(LABEL_VALUE_PATTERN)

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

/** Checks a selector (untrusted JSON); `refuse(at, problem)` throws. */
export function validateSelector(v: unknown, at: string, refuse: (at: string, problem: string) => never): LabelSelector {
  if (!isObj(v)) refuse(at, 'must be a mapping with matchLabels and/or matchExpressions')
  for (const k of Object.keys(v)) if (k !== 'matchLabels' && k !== 'matchExpressions') refuse(`${at}.${k.slice(0, 60)}`, 'is not a field of a label selector (matchLabels, matchExpressions)')
  const out: LabelSelector = {}
  if (v.matchLabels !== undefined && v.matchLabels !== null) {
    if (!isObj(v.matchLabels)) refuse(`${at}.matchLabels`, 'must be a mapping of label keys to values')
    const entries = Object.entries(v.matchLabels)
    if (entries.length > SELECTOR_LIMITS.labels) refuse(`${at}.matchLabels`, `has ${entries.length} labels; at most ${SELECTOR_LIMITS.labels}`)
    for (const [k, val] of entries) {
      if (k.length > 317 || !KEY.test(k)) refuse(`${at}.matchLabels`, `${JSON.stringify(k.slice(0, 80))} is not a label key`)
      if (typeof val !== 'string' || !VALUE.test(val)) refuse(`${at}.matchLabels.${k}`, `${JSON.stringify(val).slice(0, 80)} is not a label value`)
    }
    if (entries.length > 0) out.matchLabels = Object.fromEntries(entries) as Record<string, string>
  }
  if (v.matchExpressions !== undefined && v.matchExpressions !== null) {
    if (!Array.isArray(v.matchExpressions)) refuse(`${at}.matchExpressions`, 'must be a list')
    if (v.matchExpressions.length > SELECTOR_LIMITS.expressions) refuse(`${at}.matchExpressions`, `has ${v.matchExpressions.length} entries; at most ${SELECTOR_LIMITS.expressions}`)
    out.matchExpressions = v.matchExpressions.map((e: unknown, i) => {
      const here = `${at}.matchExpressions[${i}]`
      if (!isObj(e)) refuse(here, 'must be a mapping with key, operator (and values)')
      for (const k of Object.keys(e)) if (!['key', 'operator', 'values'].includes(k)) refuse(`${here}.${k.slice(0, 60)}`, 'is not a field (key, operator, values)')
      if (typeof e.key !== 'string' || e.key.length > 317 || !KEY.test(e.key)) refuse(`${here}.key`, `${JSON.stringify(e.key)?.slice(0, 80)} is not a label key`)
      const op = e.operator
      if (op !== 'In' && op !== 'NotIn' && op !== 'Exists' && op !== 'DoesNotExist') refuse(`${here}.operator`, `${JSON.stringify(op)?.slice(0, 40)} is not In, NotIn, Exists or DoesNotExist`)
      const values = e.values ?? []
      if (!Array.isArray(values) || values.some((x) => typeof x !== 'string' || !VALUE.test(x))) refuse(`${here}.values`, 'must be a list of label values')
      if (values.length > SELECTOR_LIMITS.values) refuse(`${here}.values`, `has ${values.length} entries; at most ${SELECTOR_LIMITS.values}`)
      if ((op === 'In' || op === 'NotIn') && values.length === 0) refuse(`${here}.values`, `must not be empty with ${op}`)
      if ((op === 'Exists' || op === 'DoesNotExist') && values.length > 0) refuse(`${here}.values`, `must be empty with ${op}`)
      const r: LabelSelectorRequirement = {key: e.key, operator: op}
      if (values.length > 0) r.values = values as string[]
      return r
    })
    if (out.matchExpressions.length === 0) delete out.matchExpressions
  }
  return out
}

/** Whether `labels` satisfy every requirement of `s`; a selector without requirements selects every pod. */
export function selectorMatches(s: LabelSelector, labels: Readonly<Record<string, string>>): boolean {
  if (!s.matchLabels && !s.matchExpressions) return true
  return matches(s, labels)
}
