// The reference implementation of how a proxy applies an AuthzPolicy (src/protocol/authz.ts) to
// an inbound connection or request: allowed or denied, by which policy (or default, or probe),
// and which audit-mode policies would have denied it. Built once per policy message
// (`new AuthzMatcher(policy)`); a decision allocates nothing but its result. The proxy half
// imports this as is. docs/architecture/authz.md states the same rules in prose:
//   1. a plaintext request that is a kubelet probe (port, method, exact path) is allowed;
//   2. the rules in enforce mode that cover the request decide when there is one: allowed when
//      one of them allows it (the first by namespace/name names the decision), else denied,
//      named by the first covering one;
//   3. otherwise the workload's default decides;
//   4. audit-mode rules never change the decision. When the request is allowed and no enforce
//      rule covers it, the covering audit rules are asked as if they were enforced: if none
//      allows it, each is reported in `audit` (so is the `audit` default when nothing covers it).
import type {AuthzDefault, AuthzPolicy, AuthzProbe, AuthzRouteRef, AuthzRule, DefaultInboundPolicy} from '../protocol/authz.js'
import {policyLabel} from '../protocol/authz.js'
import type {RoutePolicy} from '../protocol/routes.js'
import {PolicyMatcher, type RequestFacts} from '../routes/match.js'
import {compileNetworks, type NetworkMatcher} from './cidr.js'
import {compileIdentities, type IdentityMatcher} from './identity.js'

export type {RequestFacts} from '../routes/match.js'

/** The client as the inbound side knows it after the handshake. */
export interface ClientFacts {
  /** Its verified mesh identity (mTLS this proxy terminated); absent for plaintext and passed-through TLS. */
  identity?: string
  /** Its address as the socket reports it (10.0.0.5, ::ffff:10.0.0.5, fd00::5). */
  ip: string
}

export interface Decision {
  allow: boolean
  /** What decided: `probe`, an AuthorizationPolicy, or the default. */
  reason: 'probe' | 'policy' | 'default'
  /** The metric label (policyLabel): `ns/name`, `default:<policy>` or `probe`. */
  policy: string
  /** Labels of the audit-mode policies (or `default:audit`) that would have denied it. */
  audit: string[]
  /** For a denial: the mesh-proxy-error header's text. */
  message?: string
  /** The route the port's route table selected for the request, when it has one (the inbound route labels). */
  route?: AuthzRouteRef
}

interface CompiledSource {
  ids: IdentityMatcher | undefined
  nets: NetworkMatcher | undefined
}

interface CompiledOp {
  ports?: ReadonlySet<number>
  methods?: ReadonlySet<string>
  paths?: PolicyMatcher
}

interface CompiledRule {
  rule: AuthzRule
  label: string
  enforce: boolean
  /** undefined: every port. */
  ports?: ReadonlySet<number>
  route?: string
  from: CompiledSource[]
  to: CompiledOp[]
}

const NO_AUDIT: string[] = []

const routeKey = (r: AuthzRouteRef): string => `${r.kind}/${r.namespace}/${r.name}`

/** A RoutePolicy holding only matches, so the routes' own matcher (src/routes/match.ts) selects. */
function matchOnly(http: Array<{match: RoutePolicy['http'][number]['match']; key: string}>, grpc: Array<{match: RoutePolicy['http'][number]['match']; key: string}>): {matcher: PolicyMatcher; keys: string[]} {
  const keys: string[] = []
  const index = new Map<string, number>()
  const entry = (e: {match: RoutePolicy['http'][number]['match']; key: string}) => {
    let i = index.get(e.key)
    if (i === undefined) {
      i = keys.length
      keys.push(e.key)
      index.set(e.key, i)
    }
    return {match: e.match, rule: i}
  }
  const h = http.map(entry)
  const g = grpc.map(entry)
  const rules = keys.map((k) => ({route: {kind: 'HTTPRoute' as const, namespace: '', name: k, rule: 0}, backends: []}))
  return {matcher: new PolicyMatcher({version: 1, authority: '', revision: '', routes: [], rules, http: h, grpc: g}), keys}
}

function compileRule(rule: AuthzRule): CompiledRule {
  const t = rule.target
  return {
    rule,
    label: policyLabel(rule.policy),
    enforce: rule.mode === 'enforce',
    ports: t.kind === 'workload' ? undefined : new Set(t.ports),
    route: t.kind === 'route' ? routeKey(t.route) : undefined,
    // Every source has both fields (undefined when absent): one object shape for V8.
    from: rule.from.map((s) => ({ids: s.identities ? compileIdentities(s.identities) : undefined, nets: s.networks ? compileNetworks(s.networks) : undefined})),
    to: rule.to.map((op) => ({
      ...(op.ports ? {ports: new Set(op.ports)} : {}),
      ...(op.methods ? {methods: new Set(op.methods)} : {}),
      ...(op.paths ? {paths: matchOnly(op.paths.map((p) => ({match: {path: p}, key: 'path'})), []).matcher} : {}),
    })),
  }
}

export class AuthzMatcher {
  private readonly rules: CompiledRule[]
  private readonly probes: ReadonlyMap<number, readonly AuthzProbe[]>
  private readonly routes = new Map<number, {matcher: PolicyMatcher; keys: string[]}>()
  private readonly routeRefs = new Map<string, AuthzRouteRef>()
  private readonly def: AuthzDefault
  private readonly clusterNets: NetworkMatcher
  private readonly defaultIds?: ReadonlySet<string>
  private readonly defaultLabel: string

  constructor(readonly policy: AuthzPolicy) {
    this.rules = policy.rules.map(compileRule)
    const probes = new Map<number, AuthzProbe[]>()
    for (const p of policy.probes) probes.set(p.port, [...(probes.get(p.port) ?? []), p])
    this.probes = probes
    for (const t of policy.routes) {
      const key = (e: {route: AuthzRouteRef}) => {
        const k = routeKey(e.route)
        if (!this.routeRefs.has(k)) this.routeRefs.set(k, e.route)
        return k
      }
      this.routes.set(t.port, matchOnly(t.http.map((e) => ({match: e.match, key: key(e)})), t.grpc.map((e) => ({match: e.match, key: key(e)}))))
    }
    this.def = policy.default
    this.clusterNets = compileNetworks(policy.clusterNetworks.map((cidr) => ({cidr})))
    if (policy.default.identities) this.defaultIds = new Set(policy.default.identities)
    this.defaultLabel = policyLabel({default: policy.default.policy})
  }

  /** Whether the default lets this client in (audit: yes, and it is reported). */
  private defaultAllows(client: ClientFacts): boolean {
    if (this.defaultIds) return client.identity !== undefined && this.defaultIds.has(client.identity)
    switch (this.def.policy as DefaultInboundPolicy) {
      case 'deny':
        return false
      case 'audit':
      case 'all-unauthenticated':
        return true
      case 'all-authenticated':
        return client.identity !== undefined
      case 'cluster-authenticated':
        return client.identity !== undefined && this.clusterNets.contains(client.ip)
    }
  }

  private fromMatches(r: CompiledRule, client: ClientFacts): boolean {
    for (const s of r.from) {
      if (s.ids && (client.identity === undefined || !s.ids.matches(client.identity))) continue
      if (s.nets && !s.nets.contains(client.ip)) continue
      return true
    }
    return false
  }

  private toMatches(r: CompiledRule, port: number, req: RequestFacts | undefined): boolean {
    if (r.to.length === 0) return true
    for (const op of r.to) {
      if (op.ports && !op.ports.has(port)) continue
      if (op.methods && (!req || !op.methods.has(req.method))) continue
      if (op.paths && (!req || op.paths.select(req).kind !== 'rule')) continue
      return true
    }
    return false
  }

  private selectedRoute(port: number, req: RequestFacts | undefined): string | undefined {
    if (!req) return undefined
    const t = this.routes.get(port)
    if (!t) return undefined
    const s = t.matcher.select(req)
    return s.kind === 'rule' ? t.keys[s.index] : undefined
  }

  private covers(r: CompiledRule, port: number, route: string | undefined): boolean {
    if (r.ports && !r.ports.has(port)) return false
    return r.route === undefined || r.route === route
  }

  private isProbe(port: number, client: ClientFacts, req: RequestFacts | undefined): boolean {
    if (!req || client.identity !== undefined) return false
    const list = this.probes.get(port)
    if (!list) return false
    const q = req.target.indexOf('?')
    const path = q === -1 ? req.target : req.target.slice(0, q)
    return list.some((p) => p.method === req.method && p.path === path)
  }

  /**
   * The decision for an HTTP request (`req`) or, with `req` undefined, for a connection decided
   * before any request (opaque TCP, or TLS passed through to the application): route-targeted
   * rules never cover it, and `to` entries with methods or paths never match it.
   */
  decide(port: number, client: ClientFacts, req?: RequestFacts): Decision {
    if (this.isProbe(port, client, req)) return {allow: true, reason: 'probe', policy: 'probe', audit: NO_AUDIT}
    const route = this.selectedRoute(port, req)
    let firstEnforce: CompiledRule | undefined
    let covering = 0
    let audits: CompiledRule[] | undefined
    let auditAllows = false
    for (const r of this.rules) {
      if (!this.covers(r, port, route)) continue
      if (r.enforce) {
        covering++
        firstEnforce ??= r
        if (this.fromMatches(r, client) && this.toMatches(r, port, req)) return this.withRoute({allow: true, reason: 'policy', policy: r.label, audit: NO_AUDIT}, route)
      } else {
        ;(audits ??= []).push(r)
        if (!auditAllows && this.fromMatches(r, client) && this.toMatches(r, port, req)) auditAllows = true
      }
    }
    if (firstEnforce) {
      const names = this.rules.filter((r) => r.enforce && this.covers(r, port, route)).slice(0, 5).map((r) => r.label)
      const more = covering > names.length ? ` and ${covering - names.length} more` : ''
      return this.withRoute({allow: false, reason: 'policy', policy: firstEnforce.label, audit: NO_AUDIT, message: `forbidden by authorization ${covering > 1 ? 'policies' : 'policy'} ${names.join(', ')}${more}: none allows this client`}, route)
    }
    const allow = this.defaultAllows(client)
    if (!allow) {
      const how = this.defaultIds ? 'the inbound policy identities:...' : `the default inbound policy ${this.def.policy}`
      return this.withRoute({allow: false, reason: 'default', policy: this.defaultLabel, audit: NO_AUDIT, message: `forbidden by ${how} (${this.def.source})`}, route)
    }
    let audit = NO_AUDIT
    if (audits) {
      if (!auditAllows) audit = audits.map((r) => r.label)
    } else if (this.def.policy === 'audit') audit = [this.defaultLabel]
    return this.withRoute({allow: true, reason: 'default', policy: this.defaultLabel, audit}, route)
  }

  /** Adds the selected route (by its key) to a decision. */
  private withRoute(d: Decision, route: string | undefined): Decision {
    if (route !== undefined) d.route = this.routeRefs.get(route)
    return d
  }

  /**
   * For a connection on a port the proxy serves as HTTP: false only when no request this client
   * could send there would be allowed (the proxy may then refuse the connection before reading a
   * request). True means: decide each request.
   */
  mayAllow(port: number, client: ClientFacts): boolean {
    if (client.identity === undefined && this.probes.has(port)) return true
    let fullyCovered = false
    for (const r of this.rules) {
      if (!r.enforce || (r.ports && !r.ports.has(port))) continue
      if (r.route === undefined) fullyCovered = true
      if (this.fromMatches(r, client) && (r.to.length === 0 || r.to.some((op) => !op.ports || op.ports.has(port)))) return true
    }
    return !fullyCovered && this.defaultAllows(client)
  }
}
