// AuthorizationPolicy validation (src/authz/validate.ts): what is accepted and how it is read,
// every refusal naming the field and the fix, bounds, and generated garbage that must never throw.
import fc from 'fast-check'
import {describe, expect, it} from 'vitest'
import {AUTHZ_LIMITS, parseDefaultInbound, validatePolicy} from '../../src/authz/validate.js'
import {compileIdentities, identityPatternProblem, parseMeshIdentity} from '../../src/authz/identity.js'

const TD = 'serviceaccount.identity.mesh-system.cluster.local'
const obj = (spec: unknown, meta: Record<string, unknown> = {}) => ({apiVersion: 'policy.mesh.dev/v1alpha1', kind: 'AuthorizationPolicy', metadata: {name: 'p', namespace: 'shop', generation: 3, ...meta}, spec})
const ok = (spec: unknown) => {
  const v = validatePolicy(obj(spec))!
  if (!v.verdict.ok) throw new Error(v.verdict.message)
  return v.verdict.spec
}
const refused = (spec: unknown): string => {
  const v = validatePolicy(obj(spec))!
  if (v.verdict.ok) throw new Error(`accepted: ${JSON.stringify(spec)}`)
  return v.verdict.message
}
const base = {target: {workload: {name: 'books'}}, from: [{identities: ['*']}]}

describe('accepted', () => {
  it('reads every field: identities, ServiceAccounts and namespaces become identity patterns, networks canonical, paths normalised', () => {
    const spec = ok({
      mode: 'audit',
      target: {service: {name: 'books', port: 8080}},
      from: [
        {identities: [`web.shop.${TD}`, `*.batch.${TD}`], serviceAccounts: [{name: 'load'}, {name: 'ops', namespace: 'tools'}], namespaces: ['shop']},
        {networks: [{cidr: 'FD00:0:0::/8', except: ['fd00:1::/32']}, {cidr: '10.0.0.7'}]},
      ],
      to: [{ports: [8080, 'http'], methods: ['GET', 'HEAD'], paths: [{value: '/api/'}, {type: 'Exact', value: '/x'}, {type: 'RegularExpression', value: '/b/[0-9]+'}]}],
    })
    expect(spec).toEqual({
      mode: 'audit',
      target: {kind: 'service', name: 'books', port: 8080},
      from: [
        {identities: [`web.shop.${TD}`, `*.batch.${TD}`, `load.shop.${TD}`, `ops.tools.${TD}`, `*.shop.${TD}`]},
        {networks: [{cidr: 'fd00::/8', except: ['fd00:1::/32']}, {cidr: '10.0.0.7/32'}]},
      ],
      to: [{ports: [8080, 'http'], methods: ['GET', 'HEAD'], paths: [{type: 'prefix', value: '/api'}, {type: 'exact', value: '/x'}, {type: 'regex', value: '/b/[0-9]+'}]}],
    })
  })

  it('mode defaults to enforce; targets by selector, by kind and name, by route', () => {
    expect(ok(base).mode).toBe('enforce')
    expect(ok({...base, target: {workload: {selector: {matchLabels: {app: 'books'}, matchExpressions: [{key: 'tier', operator: 'In', values: ['a']}]}}}}).target).toEqual({kind: 'workload', selector: {matchLabels: {app: 'books'}, matchExpressions: [{key: 'tier', operator: 'In', values: ['a']}]}})
    expect(ok({...base, target: {workload: {kind: 'StatefulSet', name: 'db'}}}).target).toEqual({kind: 'workload', name: 'db', workloadKind: 'StatefulSet'})
    expect(ok({...base, target: {route: {name: 'books-api'}}}).target).toEqual({kind: 'route', routeKind: 'HTTPRoute', name: 'books-api'})
    expect(ok({...base, target: {route: {kind: 'GRPCRoute', name: 'rpc'}}}).target).toEqual({kind: 'route', routeKind: 'GRPCRoute', name: 'rpc'})
  })

  it('takes the cluster\'s control plane namespace and trust domain for ServiceAccounts', () => {
    const v = validatePolicy(obj({...base, from: [{serviceAccounts: [{name: 'web'}]}]}), {controlPlaneNamespace: 'linkerdish', trustDomain: 'example.org'})!
    expect(v.verdict.ok && v.verdict.spec.from[0]!.identities).toEqual(['web.shop.serviceaccount.identity.linkerdish.example.org'])
  })
})

describe('refused, naming the field and the fix', () => {
  const cases: Array<[string, unknown, string]> = [
    ['no spec', undefined, 'spec is required'],
    ['no target', {from: base.from}, 'spec.target is required: a mapping with one of workload, service or route'],
    ['two targets', {...base, target: {workload: {name: 'a'}, service: {name: 'b'}}}, 'spec.target must name exactly one of workload, service or route (it names workload and service)'],
    ['name and selector', {...base, target: {workload: {name: 'a', selector: {}}}}, 'spec.target.workload needs exactly one of name or selector'],
    ['kind with selector', {...base, target: {workload: {kind: 'Deployment', selector: {}}}}, 'spec.target.workload.kind goes with name, not with selector'],
    ['bad kind', {...base, target: {workload: {kind: 'Cron', name: 'a'}}}, 'spec.target.workload.kind "Cron" is not one of Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob, Pod'],
    ['bad name', {...base, target: {workload: {name: 'Books'}}}, 'spec.target.workload.name "Books" is not a valid name (a lower-case DNS subdomain)'],
    ['bad port', {...base, target: {service: {name: 'a', port: 70000}}}, 'spec.target.service.port must be a port number from 1 to 65535'],
    ['bad route kind', {...base, target: {route: {kind: 'TCPRoute', name: 'a'}}}, 'spec.target.route.kind "TCPRoute" is not HTTPRoute or GRPCRoute'],
    ['no from', {target: base.target}, 'spec.from is required'],
    ['empty from', {...base, from: []}, 'spec.from must not be empty (leave it out instead)'],
    ['empty from entry', {...base, from: [{}]}, 'spec.from[0] needs at least one of identities, serviceAccounts, namespaces or networks'],
    ['bad identity', {...base, from: [{identities: ['web.*.shop']}]}, 'spec.from[0].identities[0] "web.*.shop" is not an identity: write <sa>.<ns>.serviceaccount.identity.<control plane ns>.<trust domain>, "*" (any mesh identity) or "*.<suffix>"'],
    ['upper case identity', {...base, from: [{identities: ['Web.shop']}]}, 'is not an identity'],
    ['repeated identity', {...base, from: [{identities: ['*', '*']}]}, 'spec.from[0].identities[1] repeats "*"'],
    ['bad namespace', {...base, from: [{namespaces: ['a.b']}]}, 'spec.from[0].namespaces[0] "a.b" is not a valid namespace name (a DNS label)'],
    ['bad cidr', {...base, from: [{networks: [{cidr: '10.0.0.0/33'}]}]}, 'spec.from[0].networks[0].cidr "10.0.0.0/33" is not a CIDR: the prefix length must be 0 to 32'],
    ['host bits', {...base, from: [{networks: [{cidr: '10.1.2.3/16'}]}]}, 'spec.from[0].networks[0].cidr "10.1.2.3/16" has host bits set: write 10.1.0.0/16 for the network, or 10.1.2.3/32 for the one address'],
    ['bad except', {...base, from: [{networks: [{cidr: '10.0.0.0/8', except: ['x']}]}]}, 'spec.from[0].networks[0].except[0] "x" is not a CIDR'],
    ['bad mode', {...base, mode: 'dry-run'}, 'spec.mode "dry-run" is not enforce or audit'],
    ['empty to entry', {...base, to: [{}]}, 'spec.to[0] needs at least one of ports, methods or paths'],
    ['bad to port', {...base, to: [{ports: ['80a--b']}]}, 'spec.to[0].ports[0] "80a--b" is neither a port number (1-65535) nor a container port name'],
    ['numeric port name', {...base, to: [{ports: ['8080']}]}, 'is neither a port number'],
    ['bad method', {...base, to: [{methods: ['get']}]}, 'spec.to[0].methods[0] "get" is not one of GET, HEAD'],
    ['relative path', {...base, to: [{paths: [{value: 'api'}]}]}, 'spec.to[0].paths[0].value "api" must start with /'],
    ['path with query', {...base, to: [{paths: [{value: '/a?b'}]}]}, '"/a?b" is not a path as requests carry it: printable ASCII (percent-encode the rest), no ?, # or spaces'],
    ['backreference', {...base, to: [{paths: [{type: 'RegularExpression', value: '/(a)\\1'}]}]}, 'spec.to[0].paths[0].value is not an RE2 regular expression'],
    ['huge regex', {...base, to: [{paths: [{type: 'RegularExpression', value: '[a-z]{1000}[a-z]{1000}[a-z]{1000}'}]}]}, 'instructions, over the bound'],
    ['unknown field', {...base, action: 'DENY'}, 'spec.action is not a field of AuthorizationPolicy (known here: target, from, to, mode)'],
    ['too many from', {...base, from: Array.from({length: AUTHZ_LIMITS.from + 1}, () => ({identities: ['*']}))}, `spec.from has ${AUTHZ_LIMITS.from + 1} entries; at most ${AUTHZ_LIMITS.from}`],
  ]
  for (const [what, spec, message] of cases) {
    it(what, () => expect(refused(spec)).toContain(message))
  }
})

describe('hostile input', () => {
  it('3,000 generated objects never throw and always give a verdict', () => {
    const leaf = fc.oneof(fc.string({maxLength: 20}), fc.integer(), fc.boolean(), fc.constant(null), fc.constant('*'), fc.constant('10.0.0.0/8'))
    const tree = fc.letrec((tie) => ({
      node: fc.oneof({depthSize: 'small'}, leaf, fc.array(tie('node'), {maxLength: 4}), fc.dictionary(fc.constantFrom('target', 'from', 'to', 'mode', 'workload', 'service', 'route', 'name', 'selector', 'identities', 'networks', 'cidr', 'except', 'ports', 'paths', 'methods', 'value', 'type', 'serviceAccounts', 'namespaces', 'matchLabels', 'matchExpressions', 'kind', 'port', '__proto__', 'constructor'), tie('node'), {maxKeys: 5})),
    })).node
    fc.assert(fc.property(tree, (spec) => {
      const v = validatePolicy(obj(spec))
      expect(v).toBeDefined()
      expect(typeof (v!.verdict.ok ? 'ok' : v!.verdict.message)).toBe('string')
    }), {numRuns: 3000})
  })

  it('objects that are not policies are not read', () => {
    for (const x of [null, 1, 'x', [], {metadata: {name: 1}}, {metadata: {name: 'a'}}]) expect(validatePolicy(x)).toBeUndefined()
  })

  it('a message names at most 80-100 characters of what was written', () => {
    const m = refused({...base, from: [{identities: ['X'.repeat(300)]}]})
    expect(m.length).toBeLessThan(400)
  })
})

describe('identities and defaults', () => {
  it('patterns: a wildcard only as the whole first label', () => {
    for (const good of ['*', `*.shop.${TD}`, `web.shop.${TD}`, 'a', 'a-b.c']) expect({good, p: identityPatternProblem(good)}).toEqual({good, p: undefined})
    for (const bad of ['', '**', '*.', '*a.b', 'a.*', '.a', 'a..b', 'a_b', '-a', 'A', `${'a'.repeat(64)}.b`]) expect({bad, p: identityPatternProblem(bad) !== undefined}).toEqual({bad, p: true})
  })

  it('matching exact names, suffixes and *: against a string oracle on generated identities', () => {
    const label = fc.constantFrom('web', 'shop', 'a', 'b-c', 'serviceaccount', 'x1')
    const name = fc.array(label, {minLength: 1, maxLength: 5}).map((l) => l.join('.'))
    fc.assert(fc.property(fc.array(fc.oneof(name, name.map((n) => `*.${n}`), fc.constant('*')), {maxLength: 4}), name, (patterns, id) => {
      const want = patterns.some((p) => (p === '*' ? true : p.startsWith('*.') ? id.endsWith(p.slice(1)) : id === p))
      expect(compileIdentities(patterns).matches(id)).toBe(want)
    }), {numRuns: 5000})
  })

  it('reads an identity back into its ServiceAccount (dots allowed) and namespace', () => {
    expect(parseMeshIdentity(`a.b.shop.${TD}`, 'mesh-system', 'cluster.local')).toEqual({serviceAccount: 'a.b', namespace: 'shop'})
    expect(parseMeshIdentity('web.shop.serviceaccount.identity.other.cluster.local', 'mesh-system', 'cluster.local')).toBeUndefined()
  })

  it('default inbound policy values', () => {
    expect(parseDefaultInbound(' deny ')).toBe('deny')
    expect(parseDefaultInbound('cluster-authenticated')).toBe('cluster-authenticated')
    expect(parseDefaultInbound('all')).toBeUndefined()
    expect(parseDefaultInbound(3)).toBeUndefined()
  })
})
