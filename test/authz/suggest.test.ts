// `mesh authz suggest` on generated observations (src/authz/suggest.ts): whatever the proxies
// counted (many callers, many ports, foreign identities, routes, callers without identity), every
// suggested object is an AuthorizationPolicy the validator admits (the CRD refuses what it
// refuses: test/integration/authz-crd.test.ts, and the cluster suite applies suggestions with
// --dry-run=server), names are unique, and compiled for the workload's pod in enforce mode the
// policies let each observed caller in on each port it used and refuse an identity never seen.
import type * as k8s from '@kubernetes/client-node'
import fc from 'fast-check'
import {describe, expect, it} from 'vitest'
import {compileAuthz} from '../../src/authz/compile.js'
import {AuthzMatcher} from '../../src/authz/evaluate.js'
import {podFacts} from '../../src/authz/pod.js'
import {suggest, suggestionYaml} from '../../src/authz/suggest.js'
import {parseAllDocuments} from 'yaml'
import {validatePolicy} from '../../src/authz/validate.js'
import {identityName} from '../../src/protocol/proxy-env.js'
import {caller, callers, NS, port, report} from './generators.js'

function validated(obj: {metadata: {name: string; namespace: string}; spec: Record<string, unknown>}) {
  return validatePolicy({...obj, metadata: {...obj.metadata, generation: 1, creationTimestamp: new Date(0).toISOString()}})!
}

function booksPod(): k8s.V1Pod {
  return {
    metadata: {name: 'books-0', namespace: NS, labels: {app: 'books', 'pod-template-hash': '7d9f'}, ownerReferences: [{apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'books-7d9f', uid: 'u', controller: true}]},
    spec: {serviceAccountName: 'books', initContainers: [{name: 'mesh-proxy', image: 'mesh', restartPolicy: 'Always'}], containers: [{name: 'app', image: 'books'}]},
  }
}

describe('mesh authz suggest on generated observations', () => {
  it('every suggestion validates, with unique names, whatever was observed (many callers, ports, routes, foreign identities)', () => {
    fc.assert(
      fc.property(callers(200, 40, true), fc.array(fc.record({requests: fc.nat(), ports: fc.array(port, {maxLength: 3})}), {maxLength: 2}), fc.constantFrom('audit', 'enforce') as fc.Arbitrary<'audit' | 'enforce'>, fc.option(fc.stringMatching(/^[a-z0-9]([-a-z0-9.]{0,240}[a-z0-9])?$/), {nil: undefined}), (meshed, anon, mode, name) => {
        const s = suggest(report([...meshed, ...anon.map((a) => caller(undefined, a.ports, [], a.requests))]), {mode, name})
        const names = s.policies.map((p) => p.object.metadata.name)
        expect(new Set(names).size).toBe(names.length)
        for (const p of s.policies) {
          const v = validated(p.object)
          expect(v.verdict, JSON.stringify(p.object).slice(0, 400)).toMatchObject({ok: true})
          expect(p.object.spec.mode).toBe(mode)
        }
        expect(s.unauthenticated.requests).toBe(anon.reduce((a, c) => a + c.requests, 0))
      }),
      {numRuns: 300},
    )
  })

  it('applied in enforce mode: each observed caller is allowed on each port it used, an identity never seen is refused everywhere', () => {
    const facts = podFacts(booksPod(), 'mesh-system', 'cluster.local')
    fc.assert(
      fc.property(callers(100, 24, false).filter((cs) => cs.length > 0), port, (observed, other) => {
        const s = suggest(report(observed), {mode: 'enforce'})
        const policies = s.policies.map((p) => validated(p.object))
        const matcher = new AuthzMatcher(compileAuthz({pod: facts, policies, services: [], clusterDefault: 'all-unauthenticated', clusterNetworks: ['10.0.0.0/8']}))
        for (const c of observed) {
          for (const p of c.ports.length > 0 ? c.ports : [other]) {
            expect(matcher.decide(p, {identity: c.clientId, ip: '10.1.2.3'}), `${c.clientId} on ${p}`).toMatchObject({allow: true, reason: 'policy'})
          }
        }
        const stranger = identityName('never-seen-caller', NS)
        for (const p of [...new Set([other, ...observed.flatMap((c) => c.ports)])]) {
          expect(matcher.decide(p, {identity: stranger, ip: '10.1.2.3'}).allow, `stranger on ${p}`).toBe(false)
        }
      }),
      {numRuns: 60},
    )
  })

  it('callers of this cluster become ServiceAccounts (same namespace: name only), others exact identities; a port set per policy', () => {
    const web = identityName('web', NS)
    const audit = identityName('audit', 'ops')
    const foreign = 'web.shop.serviceaccount.identity.mesh-system.other.example'
    const s = suggest(report([caller(web, [8080], [], 10), caller(audit, [8080], [], 2), caller(foreign, [8080, 9090], [], 1), caller(undefined, [8080], [], 7)]), {mode: 'audit'})
    expect(s.policies.map((p) => [p.object.metadata.name, p.object.spec])).toEqual([
      ['books-callers-8080', {mode: 'audit', target: {workload: {kind: 'Deployment', name: 'books'}}, from: [{serviceAccounts: [{name: 'audit', namespace: 'ops'}, {name: 'web'}]}], to: [{ports: [8080]}]}],
      ['books-callers-8080-9090', {mode: 'audit', target: {workload: {kind: 'Deployment', name: 'books'}}, from: [{identities: [foreign]}], to: [{ports: [8080, 9090]}]}],
    ])
    expect(s.unauthenticated).toEqual({requests: 7, connections: 1})
    expect(s.header).toContain('Not allowed here: 7 requests and 1 connection from clients without a mesh identity (no_tls_from_remote)')
  })

  it('a caller the policy in force refused every time is left out and said; one it also allowed, or served in audit, stays', () => {
    const web = identityName('web', NS)
    const reviews = identityName('reviews', NS)
    const audited = identityName('audited', NS)
    const s = suggest(report([
      {...caller(web, [8080], [], 10), decisions: {allowed: 8, denied: 2, audit: 0}},
      {...caller(reviews, [8080], [], 6), decisions: {allowed: 0, denied: 6, audit: 0}},
      {...caller(audited, [8080], [], 3), decisions: {allowed: 0, denied: 3, audit: 3}},
    ]), {mode: 'enforce'})
    expect(s.policies.map((p) => p.object.spec.from)).toEqual([[{serviceAccounts: [{name: 'audited'}, {name: 'web'}]}]])
    expect(s.header).toContain(`Left out: 1 caller the policy in force refused every time (${reviews})`)
    // Without decision counts (proxies that enforce their environment's policy): everyone seen.
    const plain = suggest(report([caller(web, [8080], [], 10), caller(reviews, [8080], [], 6)]), {mode: 'enforce'})
    expect(plain.policies.map((p) => p.object.spec.from)).toEqual([[{serviceAccounts: [{name: 'reviews'}, {name: 'web'}]}]])
    expect(plain.header).not.toContain('refused every time')
  })

  it('past one policy\'s bounds: 1,100 callers of one port become two policies (16 entries of 64 ServiceAccounts, then the rest); 300 ports become any port; long names stay unique', () => {
    const many = Array.from({length: 1100}, (_, i) => caller(identityName(`sa${i}`, NS), [80], [], 1))
    const s = suggest(report(many), {mode: 'enforce'})
    expect(s.policies.map((p) => [p.object.metadata.name, (p.object.spec.from as unknown[]).length])).toEqual([['books-callers-1', 16], ['books-callers-2', 2]])
    for (const p of s.policies) expect(validated(p.object).verdict).toMatchObject({ok: true})
    expect(s.policies[1]!.comment).toContain('(part 2 of 2)')
    const wide = suggest(report([caller(identityName('scanner', NS), Array.from({length: 300}, (_, i) => 1000 + i), [], 1)]), {mode: 'audit'})
    expect(wide.policies[0]!.object.spec.to).toBeUndefined()
    expect(wide.policies[0]!.comment).toContain('on 300 ports (more than a policy can list: any port)')
    const long = suggest(report([caller(identityName('a', NS), [80], [], 1), caller(identityName('b', NS), [81], [], 1)]), {mode: 'audit', name: 'x'.repeat(253)})
    const names = long.policies.map((p) => p.object.metadata.name)
    expect(new Set(names).size).toBe(2)
    for (const n of names) expect(n.length).toBeLessThanOrEqual(253)
    for (const p of long.policies) expect(validated(p.object).verdict).toMatchObject({ok: true})
  })

  it('the YAML reads back the same as kubectl reads it (YAML 1.1): ServiceAccounts and routes named y, no, on stay strings', () => {
    const s = suggest(report([caller(identityName('y', NS), [80], [], 1), caller(identityName('on', 'no'), [80], [], 1), caller(identityName('web', NS), [], [{kind: 'HTTPRoute', name: 'yes', requests: 3}], 3)]), {mode: 'audit'})
    const docs = parseAllDocuments(suggestionYaml(s), {version: '1.1'})
    expect(docs.map((d) => d.toJS())).toEqual(s.policies.map((p) => p.object))
    expect(suggestionYaml(s)).toContain('name: "y"')
  })
})
