// Writes a new plain value into an existing YAML node tree, touching only what differs, so
// comments, key order, quoting and formatting of everything else survive. Maps are synced
// key by key; sequences item by item, matching items by `name` when they have one (containers,
// volumes, env) so a container keeps its comments when another is inserted before it.
import {isAlias, isMap, isScalar, isSeq, type Document, type Node, type Pair, type YAMLMap, type YAMLSeq} from 'yaml'

type Plain = unknown

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
}

export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b || (Number.isNaN(a) && Number.isNaN(b))) return true
  if (typeof a !== typeof b || a === null || b === null || typeof a !== 'object') return false
  if (Array.isArray(a) !== Array.isArray(b)) return false
  if (Array.isArray(a)) {
    const bb = b as unknown[]
    return a.length === bb.length && a.every((x, i) => deepEqual(x, bb[i]))
  }
  const ka = Object.keys(a as object)
  const kb = Object.keys(b as object)
  if (ka.length !== kb.length) return false
  return ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]))
}

function keyOf(pair: Pair): unknown {
  return isScalar(pair.key) ? pair.key.value : pair.key
}

function nameOf(node: unknown, doc: Document): unknown {
  if (!isMap(node)) return undefined
  const v: unknown = node.get('name', true)
  if (isScalar(v)) return v.value
  if (isAlias(v)) return (v.resolve(doc) as {value?: unknown} | undefined)?.value
  return undefined
}

/** Returns the node to use for `value`: `node` itself (edited in place) or a new one. */
export function syncNode(doc: Document, node: unknown, value: Plain): unknown {
  if (node === null || node === undefined) return doc.createNode(value)
  if (isAlias(node)) {
    const resolved = node.resolve(doc) as Node | undefined
    return resolved && deepEqual(resolved.toJS(doc), value) ? node : doc.createNode(value)
  }
  if (isScalar(node)) {
    if (node.value === value || (value === null && node.value === null)) return node
    if (!isPlainObject(value) && !Array.isArray(value) && node.value !== null && typeof node.value === typeof value && String(node.value) === String(value)) return node
    return doc.createNode(value)
  }
  if (isMap(node) && isPlainObject(value)) return syncMap(doc, node, value)
  if (isSeq(node) && Array.isArray(value)) return syncSeq(doc, node, value)
  return doc.createNode(value)
}

function syncMap(doc: Document, map: YAMLMap, value: Record<string, unknown>): unknown {
  // Merge keys (<<) make the node and its value disagree on shape: keep the node when its
  // value is unchanged, else write the merged value out in full.
  if (map.items.some((pair) => keyOf(pair) === '<<')) {
    return deepEqual(map.toJS(doc), value) ? map : doc.createNode(value)
  }
  const wanted = new Set(Object.keys(value))
  map.items = map.items.filter((pair) => wanted.has(String(keyOf(pair))))
  const present = new Set<string>()
  for (const pair of map.items) {
    const k = String(keyOf(pair))
    present.add(k)
    pair.value = syncNode(doc, pair.value, value[k])
  }
  for (const [k, v] of Object.entries(value)) {
    if (v === undefined || present.has(k)) continue
    map.items.push(doc.createPair(k, v))
  }
  return map
}

function syncSeq(doc: Document, seq: YAMLSeq, value: unknown[]): YAMLSeq {
  const old = [...seq.items]
  const used = new Set<number>()
  const items = value.map((v, i) => {
    const name = isPlainObject(v) ? v.name : undefined
    let idx = -1
    if (name !== undefined) idx = old.findIndex((n, j) => !used.has(j) && nameOf(n, doc) === name)
    else if (i < old.length && !used.has(i)) idx = i
    if (idx === -1) return doc.createNode(v)
    used.add(idx)
    return syncNode(doc, old[idx], v)
  })
  seq.items = items
  return seq
}
