// The templating: plain YAML files in manifests/ with `${dotted.path}` placeholders, parsed
// first and filled in afterwards, so a value can never break the YAML around it.
//   - a scalar that is exactly `${path}` becomes the value itself, typed (number, boolean,
//     object, list, multi-line string); when the value is undefined the key (or list item) is
//     dropped, which is how optional blocks (affinity, limits) disappear;
//   - a placeholder inside a longer string (or a mapping key) is interpolated as text;
//   - an unknown path is an error, never an empty string.
// No conditionals, loops or functions in the files: the renderer computes those values in code.
import {readdir, readFile} from 'node:fs/promises'
import {fileURLToPath} from 'node:url'
import path from 'node:path'
import {MeshError} from '../lib/errors.js'

export const MANIFESTS_DIR = fileURLToPath(new URL('../../manifests/', import.meta.url))

export interface Template {
  /** File name, e.g. `60-controller.yaml`. */
  file: string
  /** Parsed documents, still holding placeholders. */
  docs: unknown[]
}

const WHOLE = /^\$\{([\w.]+)\}$/
const ANY = /\$\{([\w.]+)\}/g

const cache = new Map<string, Promise<Template[]>>()

/** Every `*.yaml` in manifests/, sorted by name (their numeric prefix is the apply order); read once per process. */
export function loadTemplates(dir = MANIFESTS_DIR): Promise<Template[]> {
  let hit = cache.get(dir)
  if (!hit) {
    hit = readTemplates(dir)
    hit.catch(() => cache.delete(dir))
    cache.set(dir, hit)
  }
  return hit
}

async function readTemplates(dir: string): Promise<Template[]> {
  const YAML = await import('yaml')
  const files = (await readdir(dir)).filter((f) => f.endsWith('.yaml')).sort()
  const out: Template[] = []
  for (const file of files) {
    const text = await readFile(path.join(dir, file), 'utf8')
    const docs = YAML.parseAllDocuments(text, {version: '1.1'})
    const parsed: unknown[] = []
    for (const doc of docs) {
      if (!('errors' in doc) || doc.errors.length > 0) throw internal(`${file}: invalid YAML: ${'errors' in doc ? doc.errors[0]?.message : 'empty'}`)
      const js = doc.toJS() as unknown
      if (js !== null && js !== undefined) parsed.push(js)
    }
    out.push({file, docs: parsed})
  }
  return out
}

function internal(message: string): MeshError {
  return new MeshError(`manifest template ${message}`, {code: 'MESH_INSTALL_TEMPLATE'})
}

function lookup(ctx: Record<string, unknown>, key: string, where: string): unknown {
  let node: unknown = ctx
  const parts = key.split('.')
  for (const [i, p] of parts.entries()) {
    if (node === null || typeof node !== 'object' || !(p in node)) {
      // A missing leaf of a known object is "unset"; a missing parent is a typo in the template.
      if (i === parts.length - 1 && node !== null && typeof node === 'object') return undefined
      throw internal(`${where}: unknown placeholder \${${key}}`)
    }
    node = (node as Record<string, unknown>)[p]
  }
  return node
}

function interpolate(s: string, ctx: Record<string, unknown>, where: string): string {
  return s.replace(ANY, (_, key: string) => {
    const v = lookup(ctx, key, where)
    if (v === undefined || v === null || typeof v === 'object') throw internal(`${where}: \${${key}} inside "${s}" must be a string, a number or a boolean`)
    return String(v)
  })
}

/** Fills every placeholder of a parsed document; undefined whole-placeholders drop their key. */
export function fill(node: unknown, ctx: Record<string, unknown>, where: string): unknown {
  if (typeof node === 'string') {
    const whole = WHOLE.exec(node)
    if (whole) return structuredClone(lookup(ctx, whole[1]!, where))
    return interpolate(node, ctx, where)
  }
  if (Array.isArray(node)) return node.map((n) => fill(n, ctx, where)).filter((n) => n !== undefined)
  if (node !== null && typeof node === 'object') {
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(node)) {
      const value = fill(v, ctx, where)
      if (value !== undefined) out[interpolate(k, ctx, where)] = value
    }
    return out
  }
  return node
}
