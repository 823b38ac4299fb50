// The mesh-authz checks' logic on pod specs and policies as the API server returns them
// (src/check/categories/authz.ts); test/integration/check.test.ts runs them against a cluster.
import type {V1Pod} from '@kubernetes/client-node'
import {describe, expect, it} from 'vitest'
import {missingServiceAccounts, probeWarnings} from '../../src/check/categories/authz.js'

function pod(name: string, probe: V1Pod['spec'], annotations: Record<string, string> = {}): V1Pod {
  return {metadata: {name, namespace: 'shop', annotations}, spec: probe}
}
const https = {containers: [{name: 'app', image: 'x', readinessProbe: {httpGet: {path: '/ready', port: 8443, scheme: 'HTTPS'}}}, {name: 'mesh-proxy', image: 'mesh'}]}
const plain = {containers: [{name: 'app', image: 'x', readinessProbe: {httpGet: {path: '/ready', port: 8080}}}, {name: 'mesh-proxy', image: 'mesh'}]}

describe('probeWarnings', () => {
  it('only pods whose default refuses plaintext and whose probes the proxy cannot recognise; the default from the most specific level', () => {
    const ns = new Map([['shop', {'config.mesh.dev/default-inbound-policy': 'all-authenticated'}]])
    const pods = [pod('a', https), pod('b', plain), pod('c', https, {'config.mesh.dev/default-inbound-policy': 'all-unauthenticated'})]
    const w = probeWarnings(pods, ns, 'all-unauthenticated', 'mesh-system')
    expect(w).toHaveLength(1)
    expect(w[0]).toMatch(/^shop\/a \(default all-authenticated, from the namespace\): readiness probe of container app on port 8443: its httpGet probe uses HTTPS/)
    expect(probeWarnings(pods, new Map(), 'all-unauthenticated', 'mesh-system')).toEqual([])
    expect(probeWarnings(pods, new Map(), 'deny', 'mesh-system').map((x) => x.slice(0, 6))).toEqual(['shop/a'])
  })
})

describe('missingServiceAccounts', () => {
  it('names each missing ServiceAccount once per policy, in its namespace or the one written; ignores what is not a ServiceAccount entry', () => {
    const existing = new Set(['shop/web', 'ops/audit'])
    const policies = [
      {metadata: {name: 'ok', namespace: 'shop'}, spec: {from: [{serviceAccounts: [{name: 'web'}, {name: 'audit', namespace: 'ops'}]}]}},
      {metadata: {name: 'typo', namespace: 'shop'}, spec: {from: [{serviceAccounts: [{name: 'wbe'}]}, {serviceAccounts: [{name: 'wbe'}, {name: 'web', namespace: 'ops'}]}]}},
      {metadata: {name: 'odd', namespace: 'shop'}, spec: {from: 'everyone' as unknown as []}},
      {metadata: {name: 'odder', namespace: 'shop'}, spec: {from: [null, {serviceAccounts: [{name: 7}, null]}] as unknown as []}},
    ]
    expect(missingServiceAccounts(policies, existing)).toEqual(['shop/typo names shop/wbe, ops/web'])
  })
})
