// The shape of src/proxy (docs/architecture/proxy.md, "The stack, as the code reads"): its
// folders are layers in the order a connection meets them, and a layer imports only layers
// beneath it, so a request can be followed from the listener to the application without
// jumping back. Computed from the sources on every run:
// - no cycle between folders (a top-level file counts as a folder of its own);
// - no import from a layer to one above it in LAYERS.
// Every import counts, `import type` included: a layer that names a type of a layer above it
// depends on that layer as much as one that calls it. Imports that load code at run time
// (`import ... from`, `import {type X} from`, which verbatimModuleSyntax keeps as
// `import {} from`, `export ... from`, `import(...)`) are told apart in the messages.
import {existsSync, readdirSync, readFileSync} from 'node:fs'
import path from 'node:path'
import ts from 'typescript'
import {describe, expect, it} from 'vitest'

const ROOT = path.resolve(import.meta.dirname, '../../src/proxy')

/**
 * Bottom first: a unit may import only units listed before it (and itself). `(top)` is every file
 * directly in src/proxy (server.ts, run.ts, main.ts, shutdown.ts).
 */
const LAYERS = [
  'net', // native addons: SO_ORIGINAL_DST, malloc_trim, code pages
  'init', // mesh proxy-init (iptables), a program of its own
  'config', // settings and the grammars they are written in; imports nothing of the proxy
  'core', // what every layer shares: connection context, errors, log, observer, counters
  'identity', // the proxy's certificate and peer verification (behind contracts.ts)
  'discovery', // the destination client, static routes
  'admin', // the admin server
  'tap', // the tap server
  'endpoint', // one upstream endpoint: connect (mTLS), its pools, its load stats
  'balance', // P2C over an endpoint set
  'route', // authority -> target (outbound), connection -> application (inbound); the Side
  'tcp', // opaque bytes
  'http', // what both HTTP codecs and HTTP/2 share: authority gate, timeouts, retries, containment
  'http/http1', // Node's HTTP/1 server (the node codec)
  'http/http1/raw', // the raw HTTP/1 codec
  'http/http2',
  'tls', // inbound mTLS termination
  'detect', // which protocol a connection speaks
  'accept', // the listener, its cap, the hand-over to HTTP or TCP
  'inbound', // the two stacks: they compose the layers
  'outbound',
  '(top)',
] as const

interface Edge {from: string, to: string, line: string, typeOnly: boolean}

function sources(dir: string): string[] {
  return readdirSync(dir, {withFileTypes: true}).flatMap((e) => {
    const p = path.join(dir, e.name)
    if (e.isDirectory()) return sources(p)
    return e.name.endsWith('.ts') ? [p] : []
  })
}

/** The relative module specifiers a file imports, and whether each is erased at build (`import type`). */
function importsOf(file: string): {spec: string, typeOnly: boolean}[] {
  const sf = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true)
  const out: {spec: string, typeOnly: boolean}[] = []
  // `const specifier = './x.js'; import(specifier)`: a module that may be absent (orig-dst.ts).
  const consts = new Map<string, string>()
  const collect = (node: ts.Node): void => {
    if (ts.isVariableDeclaration(node) && ts.isIdentifier(node.name) && node.initializer && ts.isStringLiteralLike(node.initializer)) consts.set(node.name.text, node.initializer.text)
    ts.forEachChild(node, collect)
  }
  collect(sf)
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node)) {
      out.push({spec: (node.moduleSpecifier as ts.StringLiteral).text, typeOnly: node.importClause?.isTypeOnly === true})
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier) {
      out.push({spec: (node.moduleSpecifier as ts.StringLiteral).text, typeOnly: node.isTypeOnly})
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal)) {
      // `typeof import('./x.js')`
      out.push({spec: node.argument.literal.text, typeOnly: true})
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const arg = node.arguments[0]
      if (arg && ts.isStringLiteralLike(arg)) out.push({spec: arg.text, typeOnly: false})
      else if (arg && ts.isIdentifier(arg) && consts.has(arg.text)) out.push({spec: consts.get(arg.text)!, typeOnly: false})
      else throw new Error(`${path.relative(ROOT, file)}: import() of a computed specifier; this test cannot follow it`)
    }
    ts.forEachChild(node, visit)
  }
  visit(sf)
  return out.filter((i) => i.spec.startsWith('.'))
}

/** The unit of a file: its folder relative to src/proxy, or `(top)`. */
function unitOf(file: string): string {
  const dir = path.relative(ROOT, path.dirname(file)).split(path.sep).join('/')
  return dir === '' ? '(top)' : dir
}

/** A top-level file is a unit of its own for cycles (server.ts -> shutdown.ts is not a cycle). */
function cycleUnitOf(file: string): string {
  const u = unitOf(file)
  return u === '(top)' ? path.basename(file) : u
}

/** The declared layer of a unit: the longest entry of LAYERS it is, or lies under. */
function layerOf(unit: string): number {
  let best = -1
  let bestLen = -1
  LAYERS.forEach((l, i) => {
    if ((unit === l || unit.startsWith(`${l}/`)) && l.length > bestLen) {
      best = i
      bestLen = l.length
    }
  })
  return best
}

const files = sources(ROOT)
const edges: Edge[] = []
for (const file of files) {
  for (const {spec, typeOnly} of importsOf(file)) {
    const target = path.resolve(path.dirname(file), spec).replace(/\.js$/, '.ts')
    if (!target.startsWith(ROOT + path.sep)) continue
    edges.push({from: file, to: target, typeOnly, line: `${path.relative(ROOT, file)} -> ${path.relative(ROOT, target)}${typeOnly ? ' (import type)' : ''}`})
  }
}

/** Strongly connected components with more than one unit (Tarjan). */
function cycles(graph: Map<string, Set<string>>): string[][] {
  let next = 0
  const index = new Map<string, number>()
  const low = new Map<string, number>()
  const stack: string[] = []
  const on = new Set<string>()
  const found: string[][] = []
  const strong = (v: string): void => {
    index.set(v, next)
    low.set(v, next++)
    stack.push(v)
    on.add(v)
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        strong(w)
        low.set(v, Math.min(low.get(v)!, low.get(w)!))
      } else if (on.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!))
      }
    }
    if (low.get(v) === index.get(v)) {
      const c: string[] = []
      let w: string
      do {
        w = stack.pop()!
        on.delete(w)
        c.push(w)
      } while (w !== v)
      if (c.length > 1) found.push(c.sort())
    }
  }
  for (const v of graph.keys()) if (!index.has(v)) strong(v)
  return found
}

describe('src/proxy layers', () => {
  it('reads the imports it checks (the graph is not empty, dynamic imports included)', () => {
    expect(files.length).toBeGreaterThan(50)
    expect(edges.length).toBeGreaterThan(100)
    // HTTP/2 support is loaded on first use through import(): that edge must be seen.
    expect(edges.some((e) => !e.typeOnly && unitOf(e.to) === 'http/http2' && unitOf(e.from) !== 'http/http2')).toBe(true)
    expect(edges.some((e) => e.typeOnly)).toBe(true)
  })

  it('resolves every relative import to a file (a computed specifier too)', () => {
    expect(edges.filter((e) => !existsSync(e.to)).map((e) => e.line)).toEqual([])
  })

  it('every folder of src/proxy has a declared layer', () => {
    const units = [...new Set(files.map(unitOf))]
    expect(units.filter((u) => layerOf(u) < 0)).toEqual([])
  })

  it('has no import cycle between folders', () => {
    const graph = new Map<string, Set<string>>()
    for (const e of edges) {
      const a = cycleUnitOf(e.from)
      const b = cycleUnitOf(e.to)
      if (a === b) continue
      if (!graph.has(a)) graph.set(a, new Set())
      graph.get(a)!.add(b)
    }
    const found = cycles(graph)
    const inCycle = found.map((c) => ({units: c, imports: edges.filter((e) => c.includes(cycleUnitOf(e.from)) && c.includes(cycleUnitOf(e.to)) && cycleUnitOf(e.from) !== cycleUnitOf(e.to)).map((e) => e.line)}))
    expect(inCycle).toEqual([])
  })

  it('imports only layers beneath it', () => {
    const upward = edges.filter((e) => layerOf(unitOf(e.to)) > layerOf(unitOf(e.from))).map((e) => `${e.line} (${unitOf(e.from)} is beneath ${unitOf(e.to)})`)
    expect(upward).toEqual([])
  })

  it('keeps the stacks on top: only the top-level files load inbound/ and outbound/', () => {
    const into = edges.filter((e) => ['inbound', 'outbound'].includes(unitOf(e.to)) && unitOf(e.from) !== unitOf(e.to) && unitOf(e.from) !== '(top)').map((e) => e.line)
    expect(into).toEqual([])
  })
})
