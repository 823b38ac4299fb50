// A tiny JSON Schema validator for the subset src/check/schema.json uses (type, required,
// properties, additionalProperties: false, items, enum, pattern, minLength). Returns the
// problems found, as "path: problem" lines; empty when the value is valid.
type Schema = {
  type?: string
  required?: string[]
  properties?: Record<string, Schema>
  additionalProperties?: boolean
  items?: Schema
  enum?: unknown[]
  pattern?: string
  minLength?: number
}

const SUPPORTED = new Set(['$schema', '$id', 'title', 'description', 'type', 'required', 'properties', 'additionalProperties', 'items', 'enum', 'pattern', 'minLength'])

function typeOf(v: unknown): string {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'array'
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number'
  return typeof v
}

export function validate(schema: Schema, value: unknown, path = '$'): string[] {
  for (const k of Object.keys(schema)) if (!SUPPORTED.has(k)) throw new Error(`${path}: schema keyword ${k} is not supported by this validator`)
  const problems: string[] = []
  if (schema.type) {
    const t = typeOf(value)
    const ok = t === schema.type || (schema.type === 'number' && t === 'integer')
    if (!ok) return [`${path}: expected ${schema.type}, got ${t}`]
  }
  if (schema.enum && !schema.enum.includes(value)) problems.push(`${path}: ${JSON.stringify(value)} is not one of ${JSON.stringify(schema.enum)}`)
  if (typeof value === 'string') {
    if (schema.minLength !== undefined && value.length < schema.minLength) problems.push(`${path}: shorter than ${schema.minLength}`)
    if (schema.pattern && !new RegExp(schema.pattern, 'u').test(value)) problems.push(`${path}: ${JSON.stringify(value)} does not match ${schema.pattern}`)
  }
  if (Array.isArray(value) && schema.items) value.forEach((v, i) => problems.push(...validate(schema.items!, v, `${path}[${i}]`)))
  if (typeOf(value) === 'object') {
    const obj = value as Record<string, unknown>
    for (const r of schema.required ?? []) if (!(r in obj)) problems.push(`${path}: missing ${r}`)
    for (const [k, v] of Object.entries(obj)) {
      const sub = schema.properties?.[k]
      if (sub) problems.push(...validate(sub, v, `${path}.${k}`))
      else if (schema.additionalProperties === false) problems.push(`${path}: unexpected property ${k}`)
    }
  }
  return problems
}
