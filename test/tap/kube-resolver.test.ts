import * as k8s from '@kubernetes/client-node'
import {describe, expect, it} from 'vitest'
import {KubeResolver} from '../../src/control/tap/kube-resolver.js'

function resolver(): KubeResolver {
  const kc = new k8s.KubeConfig()
  kc.loadFromOptions({clusters: [{name: 'c', server: 'https://127.0.0.1:1'}], users: [{name: 'u'}], contexts: [{name: 'x', cluster: 'c', user: 'u'}], currentContext: 'x'})
  return new KubeResolver({kc, lib: k8s} as ConstructorParameters<typeof KubeResolver>[0])
}

const base = {metadata: {name: 'web-0', namespace: 'shop'}, status: {phase: 'Running', podIP: '10.244.0.7'}}

describe('KubeResolver.podInfo', () => {
  it('sees the proxy as a native sidecar (init container), the way mesh inject writes it', () => {
    const pod: k8s.V1Pod = {...base, spec: {
      initContainers: [{name: 'mesh-init', image: 'm'}, {name: 'mesh-proxy', image: 'm', restartPolicy: 'Always', env: [{name: 'MESH_PROXY_TAP_LISTEN_ADDR', value: '0.0.0.0:4999'}]}],
      containers: [{name: 'app', image: 'a'}],
    }}
    const info = resolver().podInfo(pod)
    expect(info.meshed).toBe(true)
    expect(info.tapAddress).toBe('10.244.0.7:4999')
  })

  it('sees the proxy as a plain container (--no-native-sidecar), and a pod without one as not meshed', () => {
    const r = resolver()
    expect(r.podInfo({...base, spec: {containers: [{name: 'mesh-proxy', image: 'm'}, {name: 'app', image: 'a'}]}}).meshed).toBe(true)
    expect(r.podInfo({...base, spec: {containers: [{name: 'app', image: 'a'}]}}).meshed).toBe(false)
  })
})
