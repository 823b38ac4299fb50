// The pod-IP index and a pod as an endpoint (pure functions over Pod objects; the behaviour on a
// real API server is in test/integration/destination.test.ts).
import type * as k8s from '@kubernetes/client-node'
import {describe, expect, it} from 'vitest'
import {identityName} from '../../src/protocol/proxy-env.js'
import {indexPodIps, podIpEndpoint, proxyServesPort} from '../../src/control/destination/pod-endpoint.js'

const pod = (name: string, o: {ips?: string[]; podIP?: string; phase?: string; created?: string; deleting?: boolean; hostNetwork?: boolean; meshed?: boolean; ignore?: string} = {}): k8s.V1Pod => ({
  metadata: {name, namespace: 'shop', creationTimestamp: new Date(o.created ?? '2026-01-01T00:00:00Z'), ...(o.deleting ? {deletionTimestamp: new Date()} : {})},
  spec: {
    serviceAccountName: name,
    hostNetwork: o.hostNetwork,
    containers: [{name: 'app'}, ...(o.meshed ? [{name: 'mesh-proxy', env: o.ignore === undefined ? [] : [{name: 'MESH_PROXY_INBOUND_PORTS_TO_IGNORE', value: o.ignore}]}] : [])],
  },
  status: {phase: o.phase ?? 'Running', podIP: o.podIP, podIPs: o.ips?.map((ip) => ({ip}))},
})

describe('the pod-IP index', () => {
  it('indexes every status.podIPs entry (else status.podIP), IPv6 canonically', () => {
    const index = indexPodIps([pod('a', {ips: ['10.244.0.5', 'FD00::5']}), pod('b', {podIP: '10.244.0.6'})])
    expect([...index.keys()].sort()).toEqual(['10.244.0.5', '10.244.0.6', 'fd00::5'])
    expect(index.get('fd00::5')?.metadata?.name).toBe('a')
  })

  it('skips pods that do not own their IP: not Running, terminating, host network', () => {
    const index = indexPodIps([
      pod('pending', {podIP: '10.244.0.1', phase: 'Pending'}),
      pod('done', {podIP: '10.244.0.2', phase: 'Succeeded'}),
      pod('leaving', {podIP: '10.244.0.3', deleting: true}),
      pod('agent', {podIP: '172.18.0.2', hostNetwork: true}),
    ])
    expect(index.size).toBe(0)
  })

  it('an IP claimed by two running pods goes to the newest', () => {
    const old = pod('old', {podIP: '10.244.0.9', created: '2026-01-01T00:00:00Z'})
    const young = pod('young', {podIP: '10.244.0.9', created: '2026-01-02T00:00:00Z'})
    expect(indexPodIps([old, young]).get('10.244.0.9')?.metadata?.name).toBe('young')
    expect(indexPodIps([young, old]).get('10.244.0.9')?.metadata?.name).toBe('young')
  })
})

describe('a pod as the endpoint of its IP', () => {
  it('has its identity only on ports its proxy serves', () => {
    const p = pod('db', {podIP: '10.244.0.7', meshed: true, ignore: '4190,4191,7000-7002'})
    expect(podIpEndpoint(p, '10.244.0.7', 5432, 'mesh-system', 'cluster.local')).toEqual({address: '10.244.0.7', port: 5432, identity: identityName('db', 'shop'), labels: {dst_namespace: 'shop', dst_pod: 'db', dst_serviceaccount: 'db'}})
    for (const port of [7001, 4191, 4143]) expect(podIpEndpoint(p, '10.244.0.7', port, 'mesh-system', 'cluster.local').identity, String(port)).toBeUndefined()
    expect(proxyServesPort(pod('x', {meshed: true}), 4191)).toBe(false)
    expect(proxyServesPort(pod('x', {meshed: true}), 8080)).toBe(true)
    expect(proxyServesPort(pod('x'), 8080)).toBe(false)
  })
})
