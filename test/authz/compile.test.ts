// One pod's authorization policy from the objects the controller knows (src/authz/compile.ts,
// src/authz/pod.ts): the default's precedence, what each kind of target covers, named ports,
// route tables, kubelet probes and what the proxy cannot see of them, the bound (fail closed).
import type * as k8s from '@kubernetes/client-node'
import {describe, expect, it} from 'vitest'
import {compileAuthz, type CompileInput} from '../../src/authz/compile.js'
import {AuthzMatcher} from '../../src/authz/evaluate.js'
import {podFacts, serviceTargets} from '../../src/authz/pod.js'
import {validatePolicy} from '../../src/authz/validate.js'
import type {InForceRoute} from '../../src/routes/policy.js'
import {validateRoute} from '../../src/routes/validate.js'

const TD = 'serviceaccount.identity.mesh-system.cluster.local'

function pod(over: {labels?: Record<string, string>; annotations?: Record<string, string>; env?: Array<{name: string; value: string}>; containers?: k8s.V1Container[]; name?: string; owner?: k8s.V1OwnerReference[]} = {}): k8s.V1Pod {
  return {
    metadata: {name: over.name ?? 'books-7d9f-abcde', namespace: 'shop', labels: {app: 'books', 'pod-template-hash': '7d9f', ...over.labels}, annotations: over.annotations, ownerReferences: over.owner ?? [{apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'books-7d9f', uid: 'u', controller: true}]},
    spec: {
      serviceAccountName: 'books',
      initContainers: [{name: 'mesh-proxy', image: 'mesh', restartPolicy: 'Always', env: over.env ?? [], startupProbe: {httpGet: {path: '/ready', port: 4191}}}],
      containers: over.containers ?? [{name: 'app', image: 'books', ports: [{name: 'http', containerPort: 8080}, {name: 'metrics', containerPort: 9090}]}],
    },
  }
}

function policy(name: string, spec: unknown) {
  return validatePolicy({metadata: {name, namespace: 'shop', generation: 2}, spec})!
}

function input(over: Partial<CompileInput> & {podObj?: k8s.V1Pod} = {}): CompileInput {
  const facts = podFacts(over.podObj ?? pod(), 'mesh-system', 'cluster.local')
  return {pod: facts, policies: [], services: [{service: 'books', port: 80, podPort: 8080}], clusterDefault: 'all-unauthenticated', clusterNetworks: ['10.0.0.0/8'], ...over}
}

describe('the default and where it comes from', () => {
  it('workload annotation > inbound-policy env > namespace annotation > cluster', () => {
    const nsDeny = {'config.mesh.dev/default-inbound-policy': 'deny'}
    expect(compileAuthz(input()).default).toEqual({policy: 'all-unauthenticated', source: 'cluster'})
    expect(compileAuthz(input({namespaceAnnotations: nsDeny})).default).toEqual({policy: 'deny', source: 'namespace'})
    const legacy = pod({env: [{name: 'MESH_PROXY_INBOUND_POLICY', value: 'all-authenticated'}]})
    expect(compileAuthz(input({podObj: legacy, namespaceAnnotations: nsDeny})).default).toEqual({policy: 'all-authenticated', source: 'inbound-policy'})
    const both = pod({annotations: {'config.mesh.dev/default-inbound-policy': 'audit'}, env: [{name: 'MESH_PROXY_INBOUND_POLICY', value: 'all-authenticated'}]})
    const p = compileAuthz(input({podObj: both, namespaceAnnotations: nsDeny}))
    expect(p.default).toEqual({policy: 'audit', source: 'workload'})
    expect(p.notes).toEqual(['the pod sets both config.mesh.dev/default-inbound-policy (which applies) and config.mesh.dev/inbound-policy "all-authenticated" (ignored by the controller\'s policy)'])
  })

  it('identities:... becomes deny except those identities; bad values are noted and skipped', () => {
    const ids = pod({env: [{name: 'MESH_PROXY_INBOUND_POLICY', value: `identities:Web.shop.${TD}, web.shop.${TD}`}]})
    expect(compileAuthz(input({podObj: ids})).default).toEqual({policy: 'deny', source: 'inbound-policy', identities: [`web.shop.${TD}`]})
    const bad = compileAuthz(input({podObj: pod({annotations: {'config.mesh.dev/default-inbound-policy': 'nope'}}), namespaceAnnotations: {'config.mesh.dev/default-inbound-policy': 'also-bad'}, clusterDefault: 'audit'}))
    expect(bad.default).toEqual({policy: 'audit', source: 'cluster'})
    expect(bad.notes).toHaveLength(2)
  })
})

describe('targets', () => {
  const from = [{serviceAccounts: [{name: 'web'}]}]
  it('a workload by name is its owner (Deployment from the ReplicaSet), by kind, or the pod itself', () => {
    const cover = (target: unknown, podObj?: k8s.V1Pod) => compileAuthz(input({podObj, policies: [policy('p', {target, from})]})).rules.map((r) => r.target)
    expect(cover({workload: {name: 'books'}})).toEqual([{kind: 'workload'}])
    expect(cover({workload: {kind: 'Deployment', name: 'books'}})).toEqual([{kind: 'workload'}])
    expect(cover({workload: {kind: 'StatefulSet', name: 'books'}})).toEqual([])
    expect(cover({workload: {kind: 'Pod', name: 'books-7d9f-abcde'}})).toEqual([{kind: 'workload'}])
    expect(cover({workload: {name: 'books'}}, pod({labels: {'mesh.dev/proxy-statefulset': 'books'}, owner: []}))).toEqual([{kind: 'workload'}])
    expect(cover({workload: {selector: {matchLabels: {app: 'books'}}}})).toEqual([{kind: 'workload'}])
    expect(cover({workload: {selector: {matchExpressions: [{key: 'app', operator: 'NotIn', values: ['books']}]}}})).toEqual([])
  })

  it('a Service covers the target ports of its ports on this pod (named target ports resolved)', () => {
    const svc = {metadata: {name: 'books'}, spec: {selector: {app: 'books'}, ports: [{port: 80, targetPort: 'http'}, {port: 9000, targetPort: 9090}, {port: 53, protocol: 'UDP'}]}} as k8s.V1Service
    const other = {metadata: {name: 'other'}, spec: {selector: {app: 'other'}, ports: [{port: 80}]}} as k8s.V1Service
    const facts = podFacts(pod(), 'mesh-system', 'cluster.local')
    const services = serviceTargets([svc, other], facts)
    expect(services).toEqual([{service: 'books', port: 80, podPort: 8080}, {service: 'books', port: 9000, podPort: 9090}])
    expect(compileAuthz(input({services, policies: [policy('all', {target: {service: {name: 'books'}}, from}), policy('one', {target: {service: {name: 'books', port: 9000}}, from}), policy('none', {target: {service: {name: 'other'}}, from})]})).rules.map((r) => [r.policy.name, r.target]))
      .toEqual([['all', {kind: 'service', ports: [8080, 9090]}], ['one', {kind: 'service', ports: [9090]}]])
  })

  it('a route covers its Service\'s target ports; the port\'s table holds every route there, in precedence', () => {
    const route = (name: string, path: string): InForceRoute => {
      const v = validateRoute({kind: 'HTTPRoute', metadata: {name, namespace: 'shop', generation: 1, creationTimestamp: '2024-01-01T00:00:00Z'}, spec: {parentRefs: [{kind: 'Service', group: '', name: 'books', port: 80}], rules: [{matches: [{path: {type: 'PathPrefix', value: path}}]}]}})!
      if (!v.verdict.ok) throw new Error(v.verdict.message)
      return {...v, rules: v.verdict.rules}
    }
    const routes = [route('all', '/'), route('admin', '/admin')]
    const p = compileAuthz(input({routesFor: (svc, port) => (svc === 'books' && port === 80 ? routes : []), policies: [policy('admins', {target: {route: {name: 'admin'}}, from})]}))
    expect(p.rules.map((r) => r.target)).toEqual([{kind: 'route', ports: [8080], route: {kind: 'HTTPRoute', namespace: 'shop', name: 'admin'}}])
    expect(p.routes).toEqual([{port: 8080, grpc: [], http: [
      {match: {path: {type: 'prefix', value: '/admin'}}, route: {kind: 'HTTPRoute', namespace: 'shop', name: 'admin'}},
      {match: {path: {type: 'prefix', value: '/'}}, route: {kind: 'HTTPRoute', namespace: 'shop', name: 'all'}},
    ]}])
    // A route no Service of this pod carries covers nothing here.
    expect(compileAuthz(input({routesFor: () => [], policies: [policy('admins', {target: {route: {name: 'admin'}}, from})]})).rules).toEqual([])
  })

  it('named ports in `to` resolve on the pod; a name it lacks allows nothing (ports: []) and is noted', () => {
    const p = compileAuthz(input({policies: [policy('p', {target: {workload: {name: 'books'}}, from, to: [{ports: ['http', 9090]}, {ports: ['grpc']}]})]}))
    expect(p.rules[0]!.to).toEqual([{ports: [8080, 9090]}, {ports: []}])
    expect(p.notes).toEqual(['policy shop/p spec.to[1]: port "grpc" names no container port of pod books-7d9f-abcde; it allows nothing there'])
  })

  it('refused policies and other namespaces apply nothing; rules are sorted by name; the revision follows the content', () => {
    const refused = policy('a-bad', {target: {workload: {name: 'books'}}, from: [{}]})
    const elsewhere = {...policy('b', {target: {workload: {name: 'books'}}, from}), namespace: 'other'}
    const one = compileAuthz(input({policies: [policy('z', {target: {workload: {name: 'books'}}, from}), refused, elsewhere, policy('m', {mode: 'audit', target: {workload: {name: 'books'}}, from})]}))
    expect(one.rules.map((r) => `${r.policy.name}:${r.mode}`)).toEqual(['m:audit', 'z:enforce'])
    expect(one.policies).toEqual([{namespace: 'shop', name: 'm', mode: 'audit', generation: 2}, {namespace: 'shop', name: 'z', mode: 'enforce', generation: 2}])
    expect(compileAuthz(input({policies: [policy('m', {mode: 'audit', target: {workload: {name: 'books'}}, from}), policy('z', {target: {workload: {name: 'books'}}, from})]})).revision).toBe(one.revision)
    expect(compileAuthz(input({policies: [policy('z', {target: {workload: {name: 'books'}}, from})]})).revision).not.toBe(one.revision)
  })

  it('more policy than the bound: everything but the probes is denied, and said (fail closed)', () => {
    const big = Array.from({length: 40}, (_, i) => policy(`p${i}`, {target: {workload: {name: 'books'}}, from: Array.from({length: 16}, () => ({identities: Array.from({length: 64}, (_, j) => `sa${j}.ns${i}.${TD}`)}))}))
    const p = compileAuthz(input({podObj: pod({containers: [{name: 'app', image: 'x', readinessProbe: {httpGet: {path: '/ready', port: 8080}}}]}), policies: big}))
    expect(p.rules).toEqual([])
    expect(p.default.policy).toBe('deny')
    expect(p.probes).toEqual([{port: 8080, method: 'GET', path: '/ready'}])
    expect(p.notes![0]).toMatch(/over the bound of 1048576: everything but the kubelet probes is denied/)
    expect(Buffer.byteLength(JSON.stringify(p))).toBeLessThan(1024 * 1024)
  })
})

describe('kubelet probes', () => {
  it('httpGet (named port, default path, query dropped) and gRPC become rules; what the proxy cannot see is said', () => {
    const containers: k8s.V1Container[] = [
      {name: 'app', image: 'x', ports: [{name: 'http', containerPort: 8080}, {name: 'tls', containerPort: 8443}, {name: 'raw', containerPort: 7000}],
        livenessProbe: {httpGet: {path: '/live?full=1', port: 'http'}},
        readinessProbe: {httpGet: {port: 8080}},
        startupProbe: {httpGet: {path: '/s', port: 'tls', scheme: 'HTTPS'}}},
      {name: 'side', image: 'y', livenessProbe: {grpc: {port: 9000}}, readinessProbe: {httpGet: {path: '/x', port: 'missing'}}, startupProbe: {tcpSocket: {port: 'nope'}}},
      {name: 'hosted', image: 'z', livenessProbe: {httpGet: {path: '/h', port: 8081, host: '10.0.0.1'}}, readinessProbe: {exec: {command: ['true']}}, startupProbe: {httpGet: {path: '/o', port: 7000}}},
      {name: 'skipped', image: 'w', livenessProbe: {httpGet: {path: '/k', port: 4191}}},
    ]
    const f = podFacts(pod({containers, annotations: {'config.mesh.dev/opaque-ports': '7000'}}), 'mesh-system', 'cluster.local')
    expect(f.probes).toEqual([
      {port: 8080, method: 'GET', path: '/'},
      {port: 8080, method: 'GET', path: '/live'},
      {port: 9000, method: 'POST', path: '/grpc.health.v1.Health/Check'},
    ])
    expect(f.probeProblems.map((p) => `${p.container} ${p.probe} ${p.port}`)).toEqual(['app startup tls', 'side readiness missing', 'side startup nope', 'hosted liveness 8081', 'hosted startup 7000'])
    expect(f.probeProblems[0]!.problem).toContain('uses HTTPS on port 8443: the application\'s own TLS passes through the proxy')
    // The proxy's own probes (its admin port, skipped by the redirect) are not the app's.
    expect(f.probes.some((p) => p.port === 4191)).toBe(false)
    const m = new AuthzMatcher(compileAuthz(input({podObj: pod({containers}), clusterDefault: 'deny'})))
    expect(m.decide(8080, {ip: '10.0.0.1'}, {method: 'GET', target: '/live?full=1', header: () => undefined, grpc: false}).reason).toBe('probe')
  })
})
