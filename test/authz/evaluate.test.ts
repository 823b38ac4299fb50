// The reference evaluator (src/authz/evaluate.ts) against an oracle written apart from it, a
// plain reading of the rules in docs/architecture/authz.md ("Deciding"), on generated policies,
// clients and requests; then the cases the prose names one by one.
import net from 'node:net'
import fc from 'fast-check'
import {describe, expect, it} from 'vitest'
import {AuthzMatcher, type ClientFacts, type RequestFacts} from '../../src/authz/evaluate.js'
import type {AuthzPolicy, AuthzRule, DefaultInboundPolicy, AuthzRouteTable} from '../../src/protocol/authz.js'
import {DEFAULT_INBOUND_POLICIES} from '../../src/protocol/authz.js'
import type {PathMatch} from '../../src/protocol/routes.js'

const TD = 'serviceaccount.identity.mesh-system.cluster.local'
const id = (sa: string, ns: string) => `${sa}.${ns}.${TD}`
const IDS = [id('web', 'shop'), id('admin', 'shop'), id('web', 'batch'), id('a.b', 'shop'), id('x', 'other')]
const PATTERNS = ['*', `*.shop.${TD}`, `*.${TD}`, `*.batch.${TD}`, ...IDS, `*.b.shop.${TD}`]
const IPS = ['10.0.0.5', '10.1.0.7', '192.168.3.4', '172.16.0.1', 'fd00::5', '2001:db8::1', '::ffff:10.0.0.9']
const NETS = [{cidr: '10.0.0.0/8'}, {cidr: '10.0.0.0/8', except: ['10.1.0.0/16']}, {cidr: '192.168.0.0/16'}, {cidr: 'fd00::/8'}, {cidr: '0.0.0.0/0'}]
const PORTS = [80, 8080, 9090]
const PATHS = ['/', '/api', '/api/v1', '/admin', '/apix', '/healthz']

// ---- the oracle ------------------------------------------------------------------------------

function idMatches(p: string, client: string | undefined): boolean {
  if (client === undefined) return false
  if (p === '*') return true
  if (p.startsWith('*.')) return client.endsWith(p.slice(1)) && client.length > p.length - 1
  return client === p
}

function inNet(n: {cidr: string; except?: string[]}, ip: string): boolean {
  const plain = ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip
  const fam = net.isIPv4(plain) ? 'ipv4' : 'ipv6'
  const has = (c: string) => {
    const [a, len] = c.split('/') as [string, string]
    const f = a.includes(':') ? 'ipv6' : 'ipv4'
    if (f !== fam) return false
    const b = new net.BlockList()
    b.addSubnet(a, Number(len), f)
    return b.check(plain, fam)
  }
  return has(n.cidr) && !(n.except ?? []).some(has)
}

function pathHolds(m: PathMatch, path: string): boolean {
  if (m.type === 'exact') return path === m.value
  if (m.value === '/') return true
  return path === m.value || path.startsWith(m.value + '/')
}

function oracle(p: AuthzPolicy, port: number, c: ClientFacts, req?: {method: string; path: string}) {
  if (req && c.identity === undefined && p.probes.some((x) => x.port === port && x.method === req.method && x.path === req.path)) return {allow: true, reason: 'probe', policy: 'probe', audit: []}
  // The route the request selects on this port: the first entry (in order) whose match holds.
  let route: string | undefined
  const table = p.routes.find((t) => t.port === port)
  if (req && table) {
    const e = table.http.find((x) => (x.match.path ? pathHolds(x.match.path, req.path) : true) && (!x.match.method || x.match.method === req.method))
    if (e) route = `${e.route.kind}/${e.route.namespace}/${e.route.name}`
  }
  const covers = (r: AuthzRule) =>
    r.target.kind === 'workload' ||
    (r.target.ports.includes(port) && (r.target.kind === 'service' || `${r.target.route.kind}/${r.target.route.namespace}/${r.target.route.name}` === route))
  const allows = (r: AuthzRule) =>
    r.from.some((s) => (!s.identities || s.identities.some((x) => idMatches(x, c.identity))) && (!s.networks || s.networks.some((n) => inNet(n, c.ip)))) &&
    (r.to.length === 0 || r.to.some((op) => (!op.ports || op.ports.includes(port)) && (!op.methods || (req !== undefined && op.methods.includes(req.method))) && (!op.paths || (req !== undefined && op.paths.some((m) => pathHolds(m, req.path))))))
  const label = (r: AuthzRule) => `${r.policy.namespace}/${r.policy.name}`
  const enforce = p.rules.filter((r) => r.mode === 'enforce' && covers(r))
  const audit = p.rules.filter((r) => r.mode === 'audit' && covers(r))
  if (enforce.length > 0) {
    const ok = enforce.find(allows)
    return ok ? {allow: true, reason: 'policy', policy: label(ok), audit: []} : {allow: false, reason: 'policy', policy: label(enforce[0]!), audit: []}
  }
  const d = p.default
  const inCluster = p.clusterNetworks.some((cidr) => inNet({cidr}, c.ip))
  const ok = d.identities ? c.identity !== undefined && d.identities.includes(c.identity)
    : d.policy === 'deny' ? false : d.policy === 'all-authenticated' ? c.identity !== undefined : d.policy === 'cluster-authenticated' ? c.identity !== undefined && inCluster : true
  if (!ok) return {allow: false, reason: 'default', policy: `default:${d.policy}`, audit: []}
  const audits = audit.length > 0 ? (audit.some(allows) ? [] : audit.map(label)) : d.policy === 'audit' ? ['default:audit'] : []
  return {allow: true, reason: 'default', policy: `default:${d.policy}`, audit: audits}
}

// ---- generators ------------------------------------------------------------------------------

const pathMatch: fc.Arbitrary<PathMatch> = fc.record({type: fc.constantFrom('exact' as const, 'prefix' as const), value: fc.constantFrom(...PATHS)})
const source = fc.record({identities: fc.option(fc.uniqueArray(fc.constantFrom(...PATTERNS), {minLength: 1, maxLength: 3}), {nil: undefined}), networks: fc.option(fc.array(fc.constantFrom(...NETS), {minLength: 1, maxLength: 2}), {nil: undefined})})
  .filter((s) => s.identities !== undefined || s.networks !== undefined)
  .map((s) => Object.fromEntries(Object.entries(s).filter(([, v]) => v !== undefined)))
const op = fc.record({ports: fc.option(fc.uniqueArray(fc.constantFrom(...PORTS), {maxLength: 2}), {nil: undefined}), methods: fc.option(fc.uniqueArray(fc.constantFrom('GET', 'POST'), {minLength: 1, maxLength: 2}), {nil: undefined}), paths: fc.option(fc.array(pathMatch, {minLength: 1, maxLength: 2}), {nil: undefined})})
  .map((o) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)))
const ROUTES = ['r1', 'r2', 'r3']
const target = fc.oneof(
  fc.constant({kind: 'workload' as const}),
  fc.uniqueArray(fc.constantFrom(...PORTS), {minLength: 1, maxLength: 2}).map((ports) => ({kind: 'service' as const, ports})),
  fc.tuple(fc.uniqueArray(fc.constantFrom(...PORTS), {minLength: 1, maxLength: 2}), fc.constantFrom(...ROUTES)).map(([ports, name]) => ({kind: 'route' as const, ports, route: {kind: 'HTTPRoute' as const, namespace: 'shop', name}})),
)
const rule = fc.record({mode: fc.constantFrom('enforce' as const, 'audit' as const), target, from: fc.array(source, {minLength: 1, maxLength: 3}), to: fc.array(op, {maxLength: 2})})
const table: fc.Arbitrary<AuthzRouteTable> = fc.tuple(fc.constantFrom(...PORTS), fc.array(fc.tuple(pathMatch, fc.option(fc.constantFrom('GET', 'POST'), {nil: undefined}), fc.constantFrom(...ROUTES)), {maxLength: 4}))
  .map(([port, entries]) => ({port, http: entries.map(([path, method, name]) => ({match: {path, ...(method ? {method} : {})}, route: {kind: 'HTTPRoute' as const, namespace: 'shop', name}})), grpc: []}))
const policy: fc.Arbitrary<AuthzPolicy> = fc.record({
  rules: fc.array(rule, {maxLength: 6}),
  def: fc.constantFrom(...DEFAULT_INBOUND_POLICIES),
  legacy: fc.option(fc.uniqueArray(fc.constantFrom(...IDS), {minLength: 1, maxLength: 2}), {nil: undefined, freq: 6}),
  probes: fc.array(fc.record({port: fc.constantFrom(...PORTS), method: fc.constantFrom('GET' as const, 'POST' as const), path: fc.constantFrom(...PATHS)}), {maxLength: 2}),
  tables: fc.uniqueArray(table, {maxLength: 2, selector: (t) => t.port}),
}).map(({rules, def, legacy, probes, tables}) => ({
  version: 1,
  revision: 'x',
  workload: {namespace: 'shop', pod: 'books-0', serviceAccount: 'books', identity: id('books', 'shop')},
  default: legacy ? {policy: 'deny' as DefaultInboundPolicy, source: 'inbound-policy' as const, identities: legacy} : {policy: def, source: 'cluster' as const},
  clusterNetworks: ['10.0.0.0/8', 'fd00::/8'],
  probes,
  routes: tables,
  // One rule per policy, named in order (the evaluator and the oracle both take them as sorted).
  rules: rules.map((r, i) => ({...r, policy: {namespace: 'shop', name: `p${i}`}})) as AuthzRule[],
  policies: [],
}))
const client: fc.Arbitrary<ClientFacts> = fc.record({identity: fc.option(fc.constantFrom(...IDS), {nil: undefined}), ip: fc.constantFrom(...IPS)})
  .map((c) => (c.identity === undefined ? {ip: c.ip} : c))
const request = fc.option(fc.record({method: fc.constantFrom('GET', 'POST', 'PUT'), path: fc.constantFrom(...PATHS), query: fc.constantFrom('', '?x=1')}), {nil: undefined})

const facts = (r: {method: string; path: string; query: string}): RequestFacts => ({method: r.method, target: r.path + r.query, header: () => undefined, grpc: false})

describe('the reference evaluator against the oracle', () => {
  it('agrees on 5,000 generated policies, each asked 10 requests and connections', () => {
    fc.assert(
      fc.property(policy, fc.array(fc.tuple(fc.constantFrom(...PORTS), client, request), {minLength: 10, maxLength: 10}), (p, asks) => {
        const m = new AuthzMatcher(p)
        for (const [port, c, r] of asks) {
          const got = m.decide(port, c, r ? facts(r) : undefined)
          const want = oracle(p, port, c, r)
          expect({port, c, r, got: {allow: got.allow, reason: got.reason, policy: got.policy, audit: got.audit}}).toEqual({port, c, r, got: want})
          // mayAllow never refuses a connection on which some request would be allowed.
          if (got.allow && r) expect(m.mayAllow(port, c)).toBe(true)
        }
      }),
      {numRuns: 5000},
    )
  })
})

// ---- the cases, one by one ------------------------------------------------------------------

function policyOf(over: Partial<AuthzPolicy>): AuthzPolicy {
  return {version: 1, revision: 'r', workload: {namespace: 'shop', pod: 'books-0', serviceAccount: 'books', identity: id('books', 'shop')}, default: {policy: 'all-unauthenticated', source: 'cluster'}, clusterNetworks: ['10.0.0.0/8'], probes: [], routes: [], rules: [], policies: [], ...over}
}
const web: ClientFacts = {identity: id('web', 'shop'), ip: '10.0.0.5'}
const plain: ClientFacts = {ip: '10.0.0.9'}
const get = (target: string, method = 'GET'): RequestFacts => ({method, target, header: () => undefined, grpc: false})
const allowWeb = (over: Partial<AuthzRule> = {}): AuthzRule => ({policy: {namespace: 'shop', name: 'web-in'}, mode: 'enforce', target: {kind: 'workload'}, from: [{identities: [web.identity!]}], to: [], ...over})

describe('deciding', () => {
  it('each default, with and without an identity', () => {
    const expectFor = (d: DefaultInboundPolicy, c: ClientFacts) => new AuthzMatcher(policyOf({default: {policy: d, source: 'namespace'}})).decide(8080, c, get('/'))
    expect(expectFor('deny', web)).toMatchObject({allow: false, policy: 'default:deny', message: 'forbidden by the default inbound policy deny (namespace)'})
    expect(expectFor('audit', plain)).toEqual({allow: true, reason: 'default', policy: 'default:audit', audit: ['default:audit']})
    expect(expectFor('all-authenticated', plain).allow).toBe(false)
    expect(expectFor('all-authenticated', web).allow).toBe(true)
    expect(expectFor('cluster-authenticated', web).allow).toBe(true)
    expect(expectFor('cluster-authenticated', {...web, ip: '192.168.1.1'}).allow).toBe(false)
    expect(expectFor('all-unauthenticated', plain)).toEqual({allow: true, reason: 'default', policy: 'default:all-unauthenticated', audit: []})
  })

  it('probes pass under deny, in plaintext only, by exact path (the query ignored) and method', () => {
    const m = new AuthzMatcher(policyOf({default: {policy: 'deny', source: 'cluster'}, probes: [{port: 8080, method: 'GET', path: '/healthz'}]}))
    expect(m.decide(8080, plain, get('/healthz?verbose=1')).reason).toBe('probe')
    expect(m.decide(8080, plain, get('/healthz/x')).allow).toBe(false)
    expect(m.decide(8080, plain, get('/healthz', 'POST')).allow).toBe(false)
    expect(m.decide(9090, plain, get('/healthz')).allow).toBe(false)
    expect(m.decide(8080, web, get('/healthz')).allow).toBe(false)
    expect(m.decide(8080, plain).allow).toBe(false)
    expect(m.mayAllow(8080, plain)).toBe(true)
    expect(m.mayAllow(9090, plain)).toBe(false)
  })

  it('an enforce policy covering the workload replaces the default; the 403 names it', () => {
    const m = new AuthzMatcher(policyOf({rules: [allowWeb()]}))
    expect(m.decide(8080, web, get('/'))).toMatchObject({allow: true, policy: 'shop/web-in'})
    expect(m.decide(8080, plain, get('/'))).toEqual({allow: false, reason: 'policy', policy: 'shop/web-in', audit: [], message: 'forbidden by authorization policy shop/web-in: none allows this client'})
    expect(m.decide(8080, plain)).toMatchObject({allow: false})
    expect(m.mayAllow(8080, plain)).toBe(false)
  })

  it('a Service-port policy covers its ports only; elsewhere the default applies', () => {
    const m = new AuthzMatcher(policyOf({default: {policy: 'all-unauthenticated', source: 'cluster'}, rules: [allowWeb({target: {kind: 'service', ports: [8080]}})]}))
    expect(m.decide(8080, plain, get('/')).allow).toBe(false)
    expect(m.decide(9090, plain, get('/')).allow).toBe(true)
  })

  it('a route policy covers the requests that select its route, by route precedence (a catch-all never shadows a longer route)', () => {
    const routes: AuthzRouteTable[] = [{port: 8080, http: [
      {match: {path: {type: 'prefix', value: '/admin'}}, route: {kind: 'HTTPRoute', namespace: 'shop', name: 'admin'}},
      {match: {path: {type: 'prefix', value: '/'}}, route: {kind: 'HTTPRoute', namespace: 'shop', name: 'all'}},
    ], grpc: []}]
    const admins: ClientFacts = {identity: id('admin', 'shop'), ip: '10.0.0.6'}
    const m = new AuthzMatcher(policyOf({default: {policy: 'deny', source: 'cluster'}, routes, rules: [
      allowWeb({policy: {namespace: 'shop', name: 'all-to-web'}, target: {kind: 'route', ports: [8080], route: {kind: 'HTTPRoute', namespace: 'shop', name: 'all'}}}),
      {policy: {namespace: 'shop', name: 'admin-only'}, mode: 'enforce', target: {kind: 'route', ports: [8080], route: {kind: 'HTTPRoute', namespace: 'shop', name: 'admin'}}, from: [{identities: [admins.identity!]}], to: []},
    ]}))
    expect(m.decide(8080, web, get('/books'))).toMatchObject({allow: true, policy: 'shop/all-to-web'})
    expect(m.decide(8080, web, get('/admin/users'))).toMatchObject({allow: false, policy: 'shop/admin-only'})
    expect(m.decide(8080, admins, get('/admin/users')).allow).toBe(true)
    // A TCP connection selects no route: route policies do not cover it, the default does.
    expect(m.decide(8080, web)).toMatchObject({allow: false, reason: 'default'})
  })

  it('audit policies never change a decision; they report what they would deny', () => {
    const audit = allowWeb({policy: {namespace: 'shop', name: 'web-only'}, mode: 'audit'})
    const m = new AuthzMatcher(policyOf({rules: [audit]}))
    expect(m.decide(8080, plain, get('/'))).toEqual({allow: true, reason: 'default', policy: 'default:all-unauthenticated', audit: ['shop/web-only']})
    expect(m.decide(8080, web, get('/')).audit).toEqual([])
    // Under an enforce policy that allows, nothing is reported; under one that denies, it is denied.
    const both = new AuthzMatcher(policyOf({rules: [audit, {...allowWeb(), policy: {namespace: 'shop', name: 'z-all'}, from: [{identities: ['*']}]}]}))
    expect(both.decide(8080, {identity: id('x', 'other'), ip: '10.0.0.1'}, get('/'))).toMatchObject({allow: true, policy: 'shop/z-all', audit: []})
    expect(both.decide(8080, plain, get('/'))).toMatchObject({allow: false, audit: []})
    // Under a default that denies, the default decides.
    expect(new AuthzMatcher(policyOf({default: {policy: 'deny', source: 'cluster'}, rules: [audit]})).decide(8080, plain, get('/'))).toMatchObject({allow: false, audit: []})
  })

  it('to: ports, methods and paths (a TCP connection matches no method or path); named-port leftovers (ports: []) allow nothing', () => {
    const m = new AuthzMatcher(policyOf({rules: [allowWeb({to: [{ports: [8080], methods: ['GET'], paths: [{type: 'prefix', value: '/api'}]}, {ports: []}]})]}))
    expect(m.decide(8080, web, get('/api/v1')).allow).toBe(true)
    expect(m.decide(8080, web, get('/apix')).allow).toBe(false)
    expect(m.decide(8080, web, get('/api', 'POST')).allow).toBe(false)
    expect(m.decide(9090, web, get('/api')).allow).toBe(false)
    expect(m.decide(8080, web).allow).toBe(false)
  })

  it('the legacy identities:... default lets exactly those in', () => {
    const m = new AuthzMatcher(policyOf({default: {policy: 'deny', source: 'inbound-policy', identities: [web.identity!]}}))
    expect(m.decide(8080, web, get('/'))).toMatchObject({allow: true, policy: 'default:deny'})
    expect(m.decide(8080, {identity: id('x', 'shop'), ip: '10.0.0.1'}, get('/'))).toMatchObject({allow: false, message: 'forbidden by the inbound policy identities:... (inbound-policy)'})
  })

  it('networks for unmeshed clients, with exceptions; identities AND networks within one entry', () => {
    const m = new AuthzMatcher(policyOf({default: {policy: 'deny', source: 'cluster'}, rules: [allowWeb({from: [{networks: [{cidr: '10.0.0.0/8', except: ['10.1.0.0/16']}]}, {identities: [web.identity!], networks: [{cidr: '192.168.0.0/16'}]}]})]}))
    expect(m.decide(80, {ip: '10.2.3.4'}).allow).toBe(true)
    expect(m.decide(80, {ip: '::ffff:10.2.3.4'}).allow).toBe(true)
    expect(m.decide(80, {ip: '10.1.3.4'}).allow).toBe(false)
    expect(m.decide(80, {ip: '192.168.0.1'}).allow).toBe(false)
    expect(m.decide(80, {identity: web.identity!, ip: '192.168.0.1'}).allow).toBe(true)
  })

  it('identity patterns: *.suffix needs a label before the suffix; * needs an identity', () => {
    const m = new AuthzMatcher(policyOf({default: {policy: 'deny', source: 'cluster'}, rules: [allowWeb({from: [{identities: [`*.shop.${TD}`]}]})]}))
    expect(m.decide(80, {identity: id('a.b', 'shop'), ip: '1.1.1.1'}).allow).toBe(true)
    expect(m.decide(80, {identity: `shop.${TD}`, ip: '1.1.1.1'}).allow).toBe(false)
    expect(m.decide(80, {identity: id('web', 'xshop'), ip: '1.1.1.1'}).allow).toBe(false)
  })
})
