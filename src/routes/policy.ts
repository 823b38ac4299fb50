// From the routes attached to one Service port to the RoutePolicy the proxies receive
// (src/protocol/routes.ts): every match of every rule becomes one entry, sorted once here in
// Gateway API precedence, so a proxy only takes the first entry that matches.
//
// HTTPRoute precedence (the spec's order, ties go to the next criterion):
//   1. an Exact path, then a RegularExpression path, then a PathPrefix (the spec leaves
//      regexes to the implementation: mesh puts them before prefixes so that a catch-all `/`
//      never hides a written pattern; longer patterns first);
//   2. the longer path value (prefix: more characters);
//   3. a match with a method; 4. more header matches; 5. more query parameter matches;
//   6. the older route (metadata.creationTimestamp); 7. `namespace/name` alphabetically;
//   8. rule order, then match order within the route.
// GRPCRoute precedence: more characters of service, then of method, then more header matches,
// Exact before RegularExpression, then 6-8 as above.
import {createHash} from 'node:crypto'
import type {RouteBackend, RouteEntry, RouteMatch, RoutePolicy, RoutePolicyRule, RouteSummary} from '../protocol/routes.js'
import {ROUTE_POLICY_MAX_BYTES, ROUTE_POLICY_VERSION} from '../protocol/routes.js'
import {backendProblem, type BackendRefSpec, type RouteIdentity, type ValidRule} from './validate.js'

/** Entries (matches) one Service may carry in all: the proxy scans them in order. */
export const MAX_ENTRIES_PER_SERVICE = 2048

/** A route as it is applied: the spec in force (the last one that validated) and its backendRefs. */
export interface InForceRoute extends RouteIdentity {
  rules: ValidRule[]
  backendRefs: BackendRefSpec[][]
}

export interface ServicePort {
  namespace: string
  name: string
  port: number
}

/** Routes first by age, then `namespace/name`: the order of precedence ties and of admission. */
export function routeOrder(a: RouteIdentity, b: RouteIdentity): number {
  if (a.created !== b.created) return a.created - b.created
  const ka = `${a.namespace}/${a.name}`
  const kb = `${b.namespace}/${b.name}`
  return ka < kb ? -1 : ka > kb ? 1 : a.kind < b.kind ? -1 : a.kind > b.kind ? 1 : 0
}

function pathClass(m: RouteMatch): number {
  const t = m.path?.type ?? 'prefix'
  return t === 'exact' ? 0 : t === 'regex' ? 1 : 2
}

/** Negative when `a` takes precedence over `b` (same kind, route order already compared after). */
export function compareHttpMatches(a: RouteMatch, b: RouteMatch): number {
  return (
    pathClass(a) - pathClass(b) ||
    (b.path?.value.length ?? 1) - (a.path?.value.length ?? 1) ||
    (a.method ? 0 : 1) - (b.method ? 0 : 1) ||
    (b.headers?.length ?? 0) - (a.headers?.length ?? 0) ||
    (b.queryParams?.length ?? 0) - (a.queryParams?.length ?? 0)
  )
}

export function compareGrpcMatches(a: RouteMatch, b: RouteMatch): number {
  return (
    (b.grpc?.service?.length ?? 0) - (a.grpc?.service?.length ?? 0) ||
    (b.grpc?.method?.length ?? 0) - (a.grpc?.method?.length ?? 0) ||
    (b.headers?.length ?? 0) - (a.headers?.length ?? 0) ||
    (a.grpc?.type === 'regex' ? 1 : 0) - (b.grpc?.type === 'regex' ? 1 : 0)
  )
}

/** The bytes and entries a route adds to a policy (what the admission bounds count). */
export function routeCost(r: Pick<InForceRoute, 'rules'>): {entries: number; bytes: number} {
  let entries = 0
  let bytes = 0
  for (const rule of r.rules) {
    entries += rule.matches.length
    bytes += JSON.stringify(rule.matches).length + JSON.stringify(rule.policy).length + 400
  }
  return {entries, bytes}
}

/**
 * Which of the routes attached to one Service fit in its policy: oldest first, while the entries
 * stay within MAX_ENTRIES_PER_SERVICE and the bytes within ROUTE_POLICY_MAX_BYTES (with room for
 * the envelope). The others are refused, each with the reason (its status says so).
 */
export function admit<T extends InForceRoute>(routes: readonly T[]): {admitted: T[]; refused: Map<T, string>} {
  const sorted = [...routes].sort(routeOrder)
  const admitted: T[] = []
  const refused = new Map<T, string>()
  let entries = 0
  let bytes = 0
  const budget = ROUTE_POLICY_MAX_BYTES - 64 * 1024
  for (const r of sorted) {
    const c = routeCost(r)
    if (entries + c.entries > MAX_ENTRIES_PER_SERVICE) {
      refused.set(r, `the routes of this Service would have ${entries + c.entries} matches, over the bound of ${MAX_ENTRIES_PER_SERVICE}; older routes keep theirs`)
    } else if (bytes + c.bytes > budget) {
      refused.set(r, `the route policy of this Service would exceed ${Math.round(budget / 1024)} KiB; older routes keep theirs`)
    } else {
      entries += c.entries
      bytes += c.bytes
      admitted.push(r)
    }
  }
  return {admitted, refused}
}

export function serviceAuthority(s: ServicePort, clusterDomain: string): string {
  return `${s.name}.${s.namespace}.svc.${clusterDomain}:${s.port}`
}

/** A rule's backends: its backendRefs resolved, or the parent Service when it names none. */
export function resolveBackends(refs: BackendRefSpec[], parent: ServicePort, routeNs: string, clusterDomain: string, servicePorts: (ns: string, name: string) => number[] | undefined): RouteBackend[] {
  if (refs.length === 0) return [{weight: 1, authority: serviceAuthority(parent, clusterDomain), service: {...parent}}]
  return refs.map((b) => {
    const p = backendProblem(b, routeNs, servicePorts)
    if (p) return {weight: b.weight, problem: p.problem}
    const service = {namespace: b.namespace, name: b.name, port: b.port!}
    return {weight: b.weight, authority: serviceAuthority(service, clusterDomain), service}
  })
}

/** The policy of one Service port from the routes attached to it (already admitted). */
export function compilePolicy(o: {service: ServicePort; clusterDomain: string; routes: readonly InForceRoute[]; servicePorts: (ns: string, name: string) => number[] | undefined}): RoutePolicy {
  const routes = [...o.routes].sort(routeOrder)
  const rules: RoutePolicyRule[] = []
  const summaries: RouteSummary[] = []
  interface Candidate {
    entry: RouteEntry
    order: number
    match: number
  }
  const http: Candidate[] = []
  const grpc: Candidate[] = []
  routes.forEach((r, order) => {
    summaries.push({kind: r.kind, namespace: r.namespace, name: r.name, generation: r.generation})
    for (const rule of r.rules) {
      const index = rules.length
      const ref: RoutePolicyRule['route'] = {kind: r.kind, namespace: r.namespace, name: r.name, rule: rule.index}
      if (rule.name) ref.ruleName = rule.name
      rules.push({route: ref, ...structuredClone(rule.policy), backends: resolveBackends(r.backendRefs[rule.index] ?? [], o.service, r.namespace, o.clusterDomain, o.servicePorts)})
      rule.matches.forEach((match, m) => (r.kind === 'GRPCRoute' ? grpc : http).push({entry: {match, rule: index}, order, match: rule.index * 1000 + m}))
    }
  })
  const byRoute = (a: Candidate, b: Candidate): number => a.order - b.order || a.match - b.match
  http.sort((a, b) => compareHttpMatches(a.entry.match, b.entry.match) || byRoute(a, b))
  grpc.sort((a, b) => compareGrpcMatches(a.entry.match, b.entry.match) || byRoute(a, b))
  const body = {routes: summaries, rules, http: http.map((c) => c.entry), grpc: grpc.map((c) => c.entry)}
  const revision = createHash('sha256').update(JSON.stringify(body)).digest('hex').slice(0, 16)
  return {version: ROUTE_POLICY_VERSION, authority: serviceAuthority(o.service, o.clusterDomain), revision, ...body}
}
