// The reference implementation of how a proxy applies a RoutePolicy (src/protocol/routes.ts)
// to one request: which rule, or the default route, or "no route matches" (404). The proxy
// uses this; the tests check it against a plain reading of the spec on generated policies.
// Regexes are compiled once per policy (re2js: linear time, see regex.ts).
import type {RouteBackend, RouteEntry, RouteMatch, RoutePolicy, RoutePolicyRule} from '../protocol/routes.js'
import {compileRegex} from './regex.js'

export interface RequestFacts {
  /** Upper-case method. */
  method: string
  /** The request target: path and optional query (`/books/1?x=2`), as received. */
  target: string
  /** A header's value (several values joined by `,`), by lower-case name; undefined when absent. */
  header(name: string): string | undefined
  /** content-type is application/grpc (with or without a +suffix). */
  grpc: boolean
}

export type Selection =
  /** No route is attached: the authority itself, MESH_PROXY_ROUTES and the proxy's defaults. */
  | {kind: 'default'}
  /** Routes are attached and none matches: 404 (gRPC: UNIMPLEMENTED). */
  | {kind: 'notFound'}
  | {kind: 'rule'; rule: RoutePolicyRule; index: number}

type Test = (path: string, query: () => Map<string, string>, req: RequestFacts) => boolean

/** `application/grpc`, `application/grpc+proto`, `application/grpc; charset=...`. */
export function isGrpcContentType(ct: string | undefined): boolean {
  if (!ct) return false
  const v = ct.trim().toLowerCase()
  return v === 'application/grpc' || v.startsWith('application/grpc+') || v.startsWith('application/grpc;')
}

/** The query's parameters: the first value of each name, percent-decoded (raw when malformed). */
export function parseQuery(q: string): Map<string, string> {
  const out = new Map<string, string>()
  if (!q) return out
  for (const pair of q.split('&')) {
    if (!pair) continue
    const eq = pair.indexOf('=')
    const rawName = eq === -1 ? pair : pair.slice(0, eq)
    const rawValue = eq === -1 ? '' : pair.slice(eq + 1)
    const name = decode(rawName)
    if (!out.has(name)) out.set(name, decode(rawValue))
  }
  return out
}

function decode(s: string): string {
  if (!s.includes('%')) return s
  try {
    return decodeURIComponent(s)
  } catch {
    return s
  }
}

function stringTest(type: 'exact' | 'regex', value: string): (s: string) => boolean {
  if (type === 'exact') return (s) => s === value
  const c = compileRegex(value)
  // The controller never sends a pattern that does not compile; one that does not here matches nothing.
  if (!c.ok) return () => false
  const re = c.re
  return (s) => re.matches(s)
}

function compileMatch(m: RouteMatch): Test {
  const tests: Test[] = []
  if (m.path) {
    const {type, value} = m.path
    if (type === 'exact') tests.push((p) => p === value)
    else if (type === 'prefix') tests.push(value === '/' ? () => true : (p) => p === value || (p.startsWith(value) && p.charCodeAt(value.length) === 47))
    else {
      const t = stringTest('regex', value)
      tests.push((p) => t(p))
    }
  }
  if (m.method) {
    const method = m.method
    tests.push((_p, _q, r) => r.method === method)
  }
  if (m.grpc) {
    const svc = m.grpc.service === undefined ? undefined : stringTest(m.grpc.type, m.grpc.service)
    const meth = m.grpc.method === undefined ? undefined : stringTest(m.grpc.type, m.grpc.method)
    tests.push((p) => {
      const slash = p.indexOf('/', 1)
      if (p.charCodeAt(0) !== 47 || slash === -1 || p.indexOf('/', slash + 1) !== -1) return false
      return (!svc || svc(p.slice(1, slash))) && (!meth || meth(p.slice(slash + 1)))
    })
  }
  for (const h of m.headers ?? []) {
    const t = stringTest(h.type, h.value)
    const name = h.name
    tests.push((_p, _q, r) => {
      const v = r.header(name)
      return v !== undefined && t(v)
    })
  }
  for (const q of m.queryParams ?? []) {
    const t = stringTest(q.type, q.value)
    const name = q.name
    tests.push((_p, query) => {
      const v = query().get(name)
      return v !== undefined && t(v)
    })
  }
  return (p, q, r) => {
    for (let i = 0; i < tests.length; i++) if (!tests[i]!(p, q, r)) return false
    return true
  }
}

/** A policy compiled for requests: built once per policy message. */
export class PolicyMatcher {
  private readonly http: Array<{test: Test; entry: RouteEntry}>
  private readonly grpc: Array<{test: Test; entry: RouteEntry}>

  constructor(readonly policy: RoutePolicy) {
    this.http = policy.http.map((entry) => ({test: compileMatch(entry.match), entry}))
    this.grpc = policy.grpc.map((entry) => ({test: compileMatch(entry.match), entry}))
  }

  select(req: RequestFacts): Selection {
    const list = req.grpc && this.grpc.length > 0 ? this.grpc : this.http
    if (list.length === 0) return this.grpc.length === 0 ? {kind: 'default'} : {kind: 'notFound'}
    const q = req.target.indexOf('?')
    const path = q === -1 ? req.target : req.target.slice(0, q)
    let query: Map<string, string> | undefined
    const getQuery = (): Map<string, string> => (query ??= parseQuery(q === -1 ? '' : req.target.slice(q + 1)))
    for (let i = 0; i < list.length; i++) {
      const c = list[i]!
      if (c.test(path, getQuery, req)) return {kind: 'rule', rule: this.policy.rules[c.entry.rule]!, index: c.entry.rule}
    }
    return {kind: 'notFound'}
  }
}

/**
 * Picks a backend by weight: `r` in [0, 1) (Math.random() in the proxy). Undefined when every
 * weight is 0 (the proxy answers 500, as for an invalid backend).
 */
export function pickBackend(backends: readonly RouteBackend[], r: number): RouteBackend | undefined {
  let total = 0
  for (const b of backends) total += b.weight
  if (total <= 0) return undefined
  let x = r * total
  for (const b of backends) {
    if (x < b.weight) return b
    x -= b.weight
  }
  return backends.findLast((b) => b.weight > 0)
}
