// The shape of a pod template, checked before anything is read from it or written into it:
// `containers: "not-a-list"` must be an error naming the field, not an empty list that the
// output silently carries. Only what injection reads or writes is checked (the API server
// validates the rest, as `kubectl apply --dry-run=server` shows); the types are the API's.
import {InputError} from '../lib/errors.js'

type Obj = Record<string, unknown>
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v)

/** A template (or another part of a workload) that is not what the Kubernetes API accepts. */
export class PodSpecError extends InputError {
  /** The object, as the report names it: `deployment "web"` (set by the walker). */
  subject?: string

  constructor(readonly field: string, readonly problem: string) {
    super(`${field} ${problem}`, {code: 'MESH_INJECT_INVALID'})
    this.name = 'PodSpecError'
  }

  /** The same error, for an object found at `path` (an item of a List). */
  within(path: string): PodSpecError {
    const e = new PodSpecError(this.field === '' ? path : `${path}.${this.field}`, this.problem)
    e.subject = this.subject
    return e
  }
}

/** How a value reads in a message: `the string "x"`, `the number 3`, `a list`, `a mapping`. */
export function describeValue(v: unknown): string {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'a list'
  if (isObj(v)) return 'a mapping'
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v)}`
  return `the ${typeof v} ${String(v)}`
}

function fail(field: string, v: unknown, expected: string): never {
  // YAML 1.1, as Kubernetes reads it, takes y/n, yes/no, on/off for booleans.
  const hint = typeof v === 'boolean' && /string/.test(expected) ? ' (YAML reads y, n, yes, no, on and off as booleans: quote the value)' : ''
  throw new PodSpecError(field, `is ${describeValue(v)}; expected ${expected}${hint}`)
}

/** A field that may be absent (or null, which Kubernetes reads as absent) but must be a mapping. */
function optionalMap(v: unknown, field: string): Obj | undefined {
  if (v === undefined || v === null) return undefined
  if (!isObj(v)) fail(field, v, 'a mapping')
  return v
}

function stringMap(v: unknown, field: string, what: string): void {
  const map = optionalMap(v, field)
  if (!map) return
  for (const [k, x] of Object.entries(map)) {
    if (typeof x !== 'string') fail(`${field}[${JSON.stringify(k)}]`, x, `a string (${what} are strings: quote it)`)
  }
}

function namedList(v: unknown, field: string, what: string): void {
  if (v === undefined || v === null) return
  if (!Array.isArray(v)) fail(field, v, `a list of ${what}s`)
  v.forEach((item, i) => {
    if (!isObj(item)) fail(`${field}[${i}]`, item, `a ${what} (a mapping)`)
    if (typeof item.name !== 'string' || item.name === '') fail(`${field}[${i}].name`, item.name, `the ${what}'s name (a string)`)
  })
}

const under = (prefix: string, f: string): string => (prefix === '' ? f : `${prefix}.${f}`)

/**
 * Throws a PodSpecError naming the first field (from the object, e.g.
 * `spec.template.spec.containers`) that is not what the API accepts. `prefix` is the template's
 * path in the object ('' for a Pod).
 */
export function validateTemplate(template: unknown, prefix: string): void {
  const at = (f: string): string => under(prefix, f)
  if (!isObj(template)) fail(prefix, template, 'a pod template (a mapping with metadata and spec)')
  const meta = optionalMap(template.metadata, at('metadata'))
  if (meta) {
    stringMap(meta.annotations, at('metadata.annotations'), 'annotation values')
    stringMap(meta.labels, at('metadata.labels'), 'label values')
  }
  const spec = optionalMap(template.spec, at('spec'))
  if (!spec) return
  namedList(spec.containers, at('spec.containers'), 'container')
  namedList(spec.initContainers, at('spec.initContainers'), 'container')
  namedList(spec.volumes, at('spec.volumes'), 'volume')
}

/** Before a sidecar joins them: the pod's own containers are there (a pod runs at least one). */
export function requireContainers(spec: Obj | undefined, prefix: string): void {
  const list = spec?.containers
  if (!Array.isArray(list) || list.length === 0) throw new PodSpecError(under(prefix, 'spec.containers'), 'is missing or empty; a pod runs at least one container')
}

/**
 * Where the walker looks for the template: each step that is there must be a mapping
 * (`spec: "x"` is an error); a step that is missing means there is no template.
 */
export function templateAt(obj: Obj, path: string[]): unknown {
  let cur: unknown = obj
  for (let i = 0; i < path.length; i++) {
    if (!isObj(cur)) fail(path.slice(0, i).join('.'), cur, 'a mapping')
    cur = cur[path[i]!]
    if (cur === undefined || cur === null) return undefined
  }
  return cur
}
