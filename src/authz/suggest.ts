// `mesh authz suggest`: AuthorizationPolicies that allow exactly the callers a workload's
// proxies saw (their verified identities, the ports each used, and the routes each used when
// the proxies label inbound requests with one), in audit mode unless asked otherwise. Pure:
// from the tap server's report (src/authz/report.ts) to objects ready for `kubectl apply`.
//   - Callers that used the same ports share one policy targeting the workload, `to` those
//     ports: one policy per distinct set of ports (one set: one policy), so nobody gets a port
//     they did not use.
//   - A caller seen only through routes gets route-targeted policies (one per route) instead:
//     its requests that select another route stay denied once enforced.
//   - Callers of this cluster are written as ServiceAccounts; others as exact identities.
//   - A caller the policy in force refused every time (its proxies' decision counts) was never
//     served: it is left out, and said.
//   - Clients without a mesh identity cannot be written down (the metrics carry no address): a
//     comment says how much traffic they sent, and that kubelet probes are allowed anyway.
import {createHash} from 'node:crypto'
import {Document} from 'yaml'
import {AUTHZ_GROUP, AUTHZ_KIND, AUTHZ_VERSION} from '../protocol/authz.js'
import {AUTHZ_LIMITS} from './limits.js'
import {printable} from '../lib/output.js'
import {DNS_SUBDOMAIN, isIdentityName, parseMeshIdentity} from './identity.js'
import type {ObservedCaller} from './observed.js'
import type {AuthzReport} from './report.js'

export interface SuggestOptions {
  mode: 'audit' | 'enforce'
  /** metadata.name of the policy (a suffix is added when several are needed); default `<workload>-callers`. */
  name?: string
  /** When the suggestion was made (ISO), for the comment. */
  now?: string
}

export interface SuggestedPolicy {
  /** What the policy allows and why, for a comment above it. */
  comment: string
  object: {apiVersion: string; kind: string; metadata: {name: string; namespace: string}; spec: Record<string, unknown>}
}

export interface Suggestion {
  policies: SuggestedPolicy[]
  /** Said once, above the first policy: where this came from, what it leaves out. */
  header: string
  /** Observed clients without an identity (not in any policy). */
  unauthenticated: {requests: number; connections: number}
}

/** `<cp ns>` and `<trust domain>` of the workload's own identity (`<sa>.<ns>.serviceaccount.identity.<cp>.<td>`). */
export function meshSuffix(identity: string): {controlPlaneNamespace: string; trustDomain: string} | undefined {
  const m = /\.serviceaccount\.identity\.([a-z0-9]([-a-z0-9]*[a-z0-9])?)\.(.+)$/.exec(identity)
  return m ? {controlPlaneNamespace: m[1]!, trustDomain: m[3]!} : undefined
}

/** A DNS subdomain (metadata.name) from anything: lower case, runs of other characters as `-`, labels that start and end alphanumeric. */
function dnsName(s: string): string {
  const v = s.toLowerCase().replace(/[^a-z0-9.-]+/g, '-').replace(/[-.]*\.[-.]*/g, '.').replace(/^[-.]+/, '').slice(0, 253).replace(/[-.]+$/, '')
  return v || 'policy'
}

/** Names unique among the policies of one suggestion: a name cut to fit, or taken already, gets a hash of what it wanted. */
function namer(): (want: string) => string {
  const used = new Set<string>()
  return (want) => {
    let name = dnsName(want)
    for (let i = 0; used.has(name) || (i === 0 && want.length > 253); i++) {
      const h = createHash('sha256').update(`${want}\u0000${i}`).digest('hex').slice(0, 8)
      name = `${dnsName(want).slice(0, 253 - 9).replace(/[-.]+$/, '')}-${h}`
      if (!used.has(name)) break
    }
    used.add(name)
    return name
  }
}

const chunk = <T>(xs: readonly T[], n: number): T[][] => Array.from({length: Math.ceil(xs.length / n)}, (_, i) => xs.slice(i * n, i * n + n))

/** `from` entries for these identities, within the CRD's bounds (entries of at most 64 ServiceAccounts or identities each). */
function fromEntries(ids: string[], ns: string, cluster: {controlPlaneNamespace: string; trustDomain: string} | undefined): Record<string, unknown>[] {
  const sas: Array<{name: string; namespace?: string}> = []
  const exact: string[] = []
  for (const id of [...ids].sort()) {
    const p = cluster ? parseMeshIdentity(id, cluster.controlPlaneNamespace, cluster.trustDomain) : undefined
    if (p) sas.push(p.namespace === ns ? {name: p.serviceAccount} : {name: p.serviceAccount, namespace: p.namespace})
    else exact.push(id)
  }
  return [...chunk(sas, AUTHZ_LIMITS.serviceAccounts).map((serviceAccounts) => ({serviceAccounts})), ...chunk(exact, AUTHZ_LIMITS.identities).map((identities) => ({identities}))]
}

const routeName = (r: {kind: string; name: string}): boolean => (r.kind === 'HTTPRoute' || r.kind === 'GRPCRoute') && r.name.length <= 253 && DNS_SUBDOMAIN.test(r.name)

const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`

function describe(c: ObservedCaller, what: 'all' | 'routes'): string {
  const ports = c.ports.length > 0 ? ` on port${c.ports.length > 1 ? 's' : ''} ${c.ports.join(', ')}` : ''
  const routes = c.routes.length > 0 ? ` (routes: ${c.routes.map((r) => `${r.kind} ${r.name} ${r.requests}`).join(', ')})` : ''
  return `${c.clientId}: ${plural(c.requests, 'request')}, ${plural(c.connections, 'connection')}${what === 'all' ? ports : ''}${routes}`
}

export function suggest(report: AuthzReport, o: SuggestOptions): Suggestion {
  const ns = report.namespace
  const identity = report.pods.find((p) => p.policy)?.policy?.workload.identity
  const cluster = identity ? meshSuffix(identity) : {controlPlaneNamespace: 'mesh-system', trustDomain: 'cluster.local'}
  const base = o.name ?? `${report.workload.name}-callers`
  // What the proxies said is not trusted to be well formed: a client_id that is not an identity
  // name, or a route label that is not a route name, is left out (and said), never written.
  // A caller the policy in force refused every time it was decided (never allowed, never served
  // by an audit policy) was not served: it is said, never written into an allow.
  const refusedOnly = (c: ObservedCaller): boolean => c.decisions !== undefined && c.decisions.denied > 0 && c.decisions.allowed === 0 && c.decisions.audit === 0
  const identified = report.observed.callers.filter((c) => c.clientId !== undefined && isIdentityName(c.clientId))
  const refused = identified.filter(refusedOnly)
  const meshed = identified.filter((c) => !refusedOnly(c)).map((c) => ({...c, routes: c.routes.filter(routeName)}))
  const invalid = report.observed.callers.filter((c) => c.clientId !== undefined && !isIdentityName(c.clientId))
  const anon = report.observed.callers.filter((c) => c.clientId === undefined)
  const unauthenticated = {requests: anon.reduce((a, c) => a + c.requests, 0), connections: anon.reduce((a, c) => a + c.connections, 0)}
  // Callers whose every request named a route: route policies only. The rest: by port set.
  const routeOnly = (c: ObservedCaller): boolean => c.routes.length > 0 && c.routes.reduce((a, r) => a + r.requests, 0) >= c.requests
  const byPorts = new Map<string, ObservedCaller[]>()
  const byRoute = new Map<string, {kind: string; name: string; callers: ObservedCaller[]}>()
  for (const c of meshed) {
    if (routeOnly(c)) {
      for (const r of c.routes) {
        const k = `${r.kind}/${r.name}`
        const g = byRoute.get(k) ?? {kind: r.kind, name: r.name, callers: []}
        g.callers.push(c)
        byRoute.set(k, g)
      }
      continue
    }
    const k = c.ports.join(',')
    byPorts.set(k, [...(byPorts.get(k) ?? []), c])
  }
  const several = byPorts.size + byRoute.size > 1
  const policies: SuggestedPolicy[] = []
  const name = namer()
  const object = (n: string, spec: Record<string, unknown>): SuggestedPolicy['object'] => ({apiVersion: `${AUTHZ_GROUP}/${AUTHZ_VERSION}`, kind: AUTHZ_KIND, metadata: {name: n, namespace: ns}, spec})
  // More callers than one policy's `from` holds (16 entries of 64): several policies, same coverage.
  const parts = (callers: ObservedCaller[]) => chunk(fromEntries(callers.map((c) => c.clientId!), ns, cluster), AUTHZ_LIMITS.from)
  const target = {workload: {kind: report.workload.kind, name: report.workload.name}}
  for (const [key, callers] of [...byPorts].sort(([a], [b]) => a.localeCompare(b))) {
    const ports = key === '' ? [] : key.split(',').map(Number)
    const to = chunk(ports, AUTHZ_LIMITS.ports).map((p) => ({ports: p}))
    const anyPort = ports.length === 0 || to.length > AUTHZ_LIMITS.to
    const want = several ? `${base}-${ports.length > 0 ? ports.join('-') : 'any-port'}` : base
    const seen = ports.length === 0 ? ' (no connection series: any port)' : to.length > AUTHZ_LIMITS.to ? ` on ${ports.length} ports (more than a policy can list: any port)` : ` on ${ports.length > 1 ? 'ports' : 'port'} ${ports.join(', ')}`
    const all = parts(callers)
    all.forEach((from, i) => {
      const spec: Record<string, unknown> = {mode: o.mode, target, from}
      if (!anyPort) spec.to = to
      policies.push({
        comment: `Seen calling ${report.resource}${seen}${all.length > 1 ? ` (part ${i + 1} of ${all.length})` : ''}:\n${callers.map((c) => `  ${describe(c, 'all')}`).join('\n')}`,
        object: object(name(all.length > 1 ? `${want}-${i + 1}` : want), spec),
      })
    })
  }
  for (const g of [...byRoute.values()].sort((a, b) => `${a.kind}/${a.name}`.localeCompare(`${b.kind}/${b.name}`))) {
    const want = several ? `${base}-${g.name}` : base
    const all = parts(g.callers)
    all.forEach((from, i) => {
      policies.push({
        comment: `Seen calling ${report.resource} only through ${g.kind} ${g.name}${all.length > 1 ? ` (part ${i + 1} of ${all.length})` : ''}:\n${g.callers.map((c) => `  ${describe(c, 'routes')}`).join('\n')}`,
        object: object(name(all.length > 1 ? `${want}-${i + 1}` : want), {mode: o.mode, target: {route: {kind: g.kind, name: g.name}}, from}),
      })
    })
  }
  const pods = report.pods.map((p) => p.pod)
  const lines = [
    `Suggested by \`mesh authz suggest ${report.resource} -n ${ns}\`${o.now ? ` at ${o.now}` : ''}, from what the proxies of ${plural(report.scraped, 'pod')} (${pods.slice(0, 5).join(', ')}${pods.length > 5 ? ', ...' : ''}) counted since they started.`,
    o.mode === 'audit'
      ? 'Mode audit: requests these would deny are still served, and counted (mesh_proxy_inbound_policy_audit_total); set mode: enforce once those counts stay at zero.'
      : 'Mode enforce: once applied, callers not listed here are refused (403).',
  ]
  if (unauthenticated.requests + unauthenticated.connections > 0) {
    lines.push(`Not allowed here: ${plural(unauthenticated.requests, 'request')} and ${plural(unauthenticated.connections, 'connection')} from clients without a mesh identity (${[...new Set(anon.map((c) => printable(c.noTlsReason ?? 'plaintext', 60)))].slice(0, 5).join(', ')}); the metrics do not say their addresses. Kubelet probes are allowed whatever the policy; any other such client needs a from entry with networks (its CIDR).`)
  }
  if (refused.length > 0) {
    lines.push(`Left out: ${plural(refused.length, 'caller')} the policy in force refused every time (${refused.slice(0, 5).map((c) => c.clientId!).join(', ')}${refused.length > 5 ? ', ...' : ''}): they were never served; add them yourself if they should be.`)
  }
  if (invalid.length > 0) lines.push(`Left out: ${plural(invalid.length, 'caller')} whose client_id is not a mesh identity name.`)
  if (report.observed.omitted) lines.push(`Left out: the ${plural(report.observed.omitted, 'least active caller')} (a report holds at most ${report.observed.callers.length}).`)
  return {policies, header: lines.join('\n'), unauthenticated}
}

/** The suggestion as `kubectl apply -f -` reads it: a YAML stream, each policy under its comment (the header above the first). */
export function suggestionYaml(s: Suggestion): string {
  return s.policies
    .map((p, i) => {
      // YAML 1.1 as kubectl reads it: a ServiceAccount or route named y, no or on stays a string (quoted).
      const doc = new Document(p.object, {version: '1.1', aliasDuplicateObjects: false})
      doc.commentBefore = ((i === 0 ? `${s.header}\n\n` : '') + p.comment).split('\n').map((l) => ` ${l}`).join('\n')
      return `---\n${doc.toString({lineWidth: 0})}`
    })
    .join('')
}
