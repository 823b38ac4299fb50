// Route templates learnt from the paths seen, for `mesh top` when the proxy matched no route
// rule: `/books/b1` ... `/books/b5` are one route, `/books/{id}`.
//
// Two steps. Each segment that is an id on its own (a number, a UUID, a long hex string, a
// long token of letters and digits: hashes, base64url ids) becomes `{id}` at once (`idSegment`).
// Then, among the paths of one destination and method, a position where at least
// LEARN_AT_LEAST distinct segments with a digit follow the same prefix (b1, b2, b3; v1-beta,
// 2024-05-01), or more than MANY_SIBLINGS distinct segments of any kind (slugs:
// war-and-peace, kindred, ...), holds an id: those segments become `{id}` too, and what
// follows them is learnt as one subtree (`/books/b1/reviews` and `/books/b2/reviews` give
// `/books/{id}/reviews`). A few fixed names under one prefix (`/api/books`, `/api/authors`)
// stay apart. The templates change as traffic teaches more; they are recomputed from the
// paths seen, never from a guess about one path alone.

export const ID = '{id}'
/** Distinct digit-bearing segments after one prefix that make an id position. */
export const LEARN_AT_LEAST = 3
/** Distinct segments of any kind after one prefix beyond which they are ids (slugs). */
export const MANY_SIBLINGS = 20

/** Segments learnt one by one; the rest of a deeper path is one segment (bounds the tree's depth). */
export const MAX_DEPTH = 32

function segmentsOf(path: string): string[] {
  const all = path.split('/')
  return all.length <= MAX_DEPTH ? all : [...all.slice(0, MAX_DEPTH - 1), all.slice(MAX_DEPTH - 1).join('/')]
}

const NUMBER = /^\d+$/
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
/** 8+ hex digits, at least one of them a digit (`deadbeefcafe` alone could be a word). */
const HEX = /^(?=.*\d)[0-9a-f]{8,}$/i
/** 16+ characters of base64url with both letters and digits: a hash, a token, an opaque id. */
const TOKEN = /^(?=.*\d)(?=.*[a-z])[\w-]{16,}$/i

/** A segment that is an id whatever else is seen. */
export function idSegment(s: string): boolean {
  return NUMBER.test(s) || UUID.test(s) || HEX.test(s) || TOKEN.test(s)
}

/** The path without its query, with each id segment as `{id}`: `/books/42?x=1` -> `/books/{id}`. */
export function staticTemplate(path: string): string {
  const p = path.split('?')[0]!.split('#')[0] || '/'
  return p.split('/').map((s) => (idSegment(s) ? ID : s)).join('/')
}

interface Node {
  children: Map<string, Node>
}

const node = (): Node => ({children: new Map()})

function insert(root: Node, segments: string[]): void {
  let n = root
  for (const s of segments) {
    let c = n.children.get(s)
    if (!c) {
      c = node()
      n.children.set(s, c)
    }
    n = c
  }
}

function merge(into: Node, from: Node): void {
  for (const [s, c] of from.children) {
    const mine = into.children.get(s)
    if (mine) merge(mine, c)
    else into.children.set(s, c)
  }
}

const variable = (s: string): boolean => s === ID || /\d/.test(s)

/** Folds each id position of the tree into one `{id}` child, top down. */
function learn(n: Node): void {
  const names = [...n.children.keys()]
  const ids = names.length > MANY_SIBLINGS ? names : names.filter(variable)
  if (ids.length >= LEARN_AT_LEAST || (ids.includes(ID) && ids.length > 1)) {
    const merged = n.children.get(ID) ?? node()
    for (const s of ids) {
      if (s === ID) continue
      merge(merged, n.children.get(s)!)
      n.children.delete(s)
    }
    n.children.set(ID, merged)
  }
  for (const c of n.children.values()) learn(c)
}

function apply(root: Node, segments: string[]): string {
  let n: Node | undefined = root
  const out: string[] = []
  for (const s of segments) {
    const exact: Node | undefined = n?.children.get(s)
    if (exact) {
      out.push(s)
      n = exact
    } else {
      out.push(n?.children.has(ID) ? ID : s)
      n = n?.children.get(ID)
    }
  }
  return out.join('/')
}

/**
 * Learns templates from `paths` (already through staticTemplate, all of one destination and
 * method) and returns each path's template.
 */
export function learnTemplates(paths: Iterable<string>): Map<string, string> {
  const root = node()
  const list = [...new Set(paths)]
  for (const p of list) insert(root, segmentsOf(p))
  learn(root)
  return new Map(list.map((p) => [p, apply(root, segmentsOf(p))]))
}
