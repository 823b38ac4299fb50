// The values model: defaults from the schema, then `--ha`, then `-f` files in order, then
// `--set key=value` in order (last wins). Every key and type is checked against SCHEMA; errors
// name the source (flag or file), the key and the fix.
import {InputError, UsageError} from '../lib/errors.js'
import {distance} from '../lib/suggest.js'
import type {IssuerScheme} from '../protocol/identity.js'
import {SCHEMA, typeName, type FieldSpec} from './schema.js'

export type Scalar = string | number | boolean
export type FlatValues = Record<string, Scalar>

export interface Resources {
  cpuRequest?: string
  memoryRequest?: string
  cpuLimit?: string
  memoryLimit?: string
}

/** The nested shape the templates read (`${values.image.tag}`). */
export interface Values {
  image: {registry: string; name: string; tag: string; pullPolicy: 'IfNotPresent' | 'Always' | 'Never'}
  ha: boolean
  controller: {replicas: number; logLevel: string; logFormat: 'plain' | 'json'; resources: Resources}
  proxy: {logLevel: string; opaquePorts?: string; resources: Resources}
  identity: {trustDomain: string; issuerValidityDays: number; trustAnchorValidityDays: number; issuer: {scheme: IssuerScheme}}
  webhook: {timeoutSeconds: number; url?: string}
  policy: {defaultInbound: string; clusterNetworks: string}
  prometheus: {podMonitor: boolean}
}

/** The schema's defaults, flat. */
export function defaultFlat(): FlatValues {
  const out: FlatValues = {}
  for (const [key, spec] of Object.entries(SCHEMA)) if (spec.default !== undefined) out[key] = spec.default
  return out
}

/** What `--ha` changes before files and --set apply. */
export const HA_DEFAULTS: FlatValues = {ha: true, 'controller.replicas': 3}

/** Checks one value against its field; `raw` strings (from --set) are parsed to the field's type. */
export function coerce(key: string, raw: unknown, where: string, fromString: boolean): Scalar {
  const spec: FieldSpec | undefined = SCHEMA[key]
  if (!spec) throw unknownKey(key, where)
  const bad = (why: string) =>
    new InputError(`${where}: "${key}" ${why}; it must be ${typeName(spec.type)}`, {
      code: 'MESH_INSTALL_VALUE',
      suggestions: [`e.g. --set ${key}=${String(spec.default ?? exampleFor(spec))}`],
    })
  let value: unknown = raw
  if (spec.type === 'int') {
    if (fromString) value = /^-?\d+$/.test(String(raw)) ? Number(raw) : NaN
    if (typeof value !== 'number' || !Number.isInteger(value)) throw bad(`is ${JSON.stringify(raw)}`)
    if (spec.min !== undefined && value < spec.min) throw bad(`is ${value}, below the minimum ${spec.min}`)
    if (spec.max !== undefined && value > spec.max) throw bad(`is ${value}, above the maximum ${spec.max}`)
    return value
  }
  if (spec.type === 'bool') {
    if (fromString) value = raw === 'true' ? true : raw === 'false' ? false : raw
    if (typeof value !== 'boolean') throw bad(`is ${JSON.stringify(raw)}`)
    return value
  }
  if (typeof value === 'number' && fromString === false) value = String(value)
  if (typeof value !== 'string') throw bad(`is ${JSON.stringify(raw)}`)
  if (Array.isArray(spec.type) && !spec.type.includes(value)) throw bad(`is "${value}"`)
  if (value === '' && spec.default !== undefined && !spec.allowEmpty) throw bad('is empty')
  if (value !== '' && spec.pattern && !new RegExp(spec.pattern.source).test(value)) throw bad(`is "${value.slice(0, 100)}", not ${spec.pattern.what}`)
  const problem = spec.check?.(value)
  if (problem) throw bad(problem)
  return value
}

function exampleFor(spec: FieldSpec): string {
  if (Array.isArray(spec.type)) return spec.type[0]!
  return spec.type === 'int' ? '1' : spec.type === 'bool' ? 'true' : 'value'
}

function unknownKey(key: string, where: string): InputError {
  const near = Object.keys(SCHEMA)
    .map((k) => [k, distance(k.toLowerCase(), key.toLowerCase())] as const)
    .filter(([, d]) => d <= 2)
    .sort((a, b) => a[1] - b[1])
    .map(([k]) => k)
  return new InputError(`${where}: unknown key "${key}"`, {
    code: 'MESH_INSTALL_UNKNOWN_KEY',
    suggestions: [
      ...(near.length > 0 ? [`Did you mean "${near[0]}"?`] : []),
      'The keys are listed in docs/architecture/install.md ("Values").',
    ],
  })
}

/** `image.tag=1.2` -> ['image.tag', '1.2'] typed by the schema. */
export function parseSet(arg: string): [string, Scalar] {
  const eq = arg.indexOf('=')
  if (eq <= 0) {
    throw new UsageError(`--set "${arg}" is not key=value`, {suggestions: ['Write it as --set image.tag=1.2.3 (dotted key, "=", value).']})
  }
  const key = arg.slice(0, eq).trim()
  return [key, coerceFlag(key, arg.slice(eq + 1), `--set ${key}`)]
}

/** coerce() for a value typed on the command line: a bad one is a usage error (exit 2). */
export function coerceFlag(key: string, raw: string, where: string): Scalar {
  try {
    return coerce(key, raw, where, true)
  } catch (error) {
    if (!(error instanceof InputError)) throw error
    throw new UsageError(error.message, {code: error.code, suggestions: error.suggestions})
  }
}

/** A values file's nested object flattened to dotted keys, each checked. */
export function flattenFile(doc: unknown, where: string): FlatValues {
  const out: FlatValues = {}
  if (doc === null || doc === undefined) return out
  const walk = (node: unknown, prefix: string): void => {
    if (node === null || typeof node !== 'object' || Array.isArray(node)) {
      if (prefix === '') throw new InputError(`${where}: a values file must hold a mapping of keys`, {
        code: 'MESH_INSTALL_VALUES_FILE',
        suggestions: ['Write nested keys, e.g. "controller:\\n  replicas: 2".'],
      })
      if (node === null) return
      out[prefix] = coerce(prefix, node, where, false)
      return
    }
    for (const [k, v] of Object.entries(node as Record<string, unknown>)) {
      const key = prefix ? `${prefix}.${k}` : k
      if (SCHEMA[key] === undefined && !Object.keys(SCHEMA).some((s) => s.startsWith(key + '.'))) throw unknownKey(key, where)
      walk(v, key)
    }
  }
  walk(doc, '')
  return out
}

/** Dotted keys into the nested Values the templates read. */
export function nest(flat: FlatValues): Values {
  const root: Record<string, any> = {controller: {resources: {}}, proxy: {resources: {}}, image: {}, identity: {}, webhook: {}, policy: {}, prometheus: {}}
  for (const key of Object.keys(SCHEMA)) {
    const v = flat[key]
    if (v === undefined) continue
    const parts = key.split('.')
    let node = root
    for (const p of parts.slice(0, -1)) node = node[p] ??= {}
    node[parts.at(-1)!] = v
  }
  return root as Values
}

/** The flat values as a nested plain object, only set keys, in schema order (for mesh-config and -f output). */
export function toDocument(flat: FlatValues): Record<string, unknown> {
  const root: Record<string, any> = {}
  for (const key of Object.keys(SCHEMA)) {
    if (flat[key] === undefined) continue
    const parts = key.split('.')
    let node = root
    for (const p of parts.slice(0, -1)) node = node[p] ??= {}
    node[parts.at(-1)!] = flat[key]
  }
  return root
}
