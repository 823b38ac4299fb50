// The webhook's library entry point: decision (pod wins over namespace, system namespaces
// skipped), namespace config annotations merged, and an RFC 6902 patch that, applied to the
// pod, gives exactly the injected pod.
import {describe, expect, it} from 'vitest'
import {defaultConfig} from '../../src/inject/config.js'
import {explainInjection, injectPodForAdmission, type JsonPatchOp} from '../../src/inject/index.js'
import {ProxyEnv} from '../../src/protocol/proxy-env.js'

type Obj = Record<string, any>

/** A minimal RFC 6902 applier (add/replace/remove), independent of the code under test. */
function applyPatch(doc: Obj, ops: JsonPatchOp[]): Obj {
  const out = structuredClone(doc)
  for (const op of ops) {
    const parts = op.path.split('/').slice(1).map((p) => p.replaceAll('~1', '/').replaceAll('~0', '~'))
    const last = parts.pop()!
    let target: any = out
    for (const p of parts) {
      if (target[p] === undefined) throw new Error(`path ${op.path}: parent ${p} missing`)
      target = target[p]
    }
    if (op.op === 'remove') {
      if (!(last in target)) throw new Error(`remove ${op.path}: missing`)
      if (Array.isArray(target)) target.splice(Number(last), 1)
      else delete target[last]
    } else if (op.op === 'replace') {
      if (!(last in target)) throw new Error(`replace ${op.path}: missing`)
      target[last] = op.value
    } else if (Array.isArray(target)) {
      if (last === '-') target.push(op.value)
      else target.splice(Number(last), 0, op.value)
    } else {
      target[last] = op.value
    }
  }
  return out
}

const config = defaultConfig({trustAnchorsPEM: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n'})

function pod(extra: Obj = {}): Obj {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      generateName: 'web-5d4f8-',
      labels: {app: 'web', 'pod-template-hash': '5d4f8'},
      annotations: {'prometheus.io/scrape': 'true'},
      ownerReferences: [{apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-5d4f8', uid: 'u1', controller: true}],
      ...extra.metadata,
    },
    spec: {serviceAccountName: 'web', containers: [{name: 'web', image: 'web:1'}], ...extra.spec},
  }
}

describe('injectPodForAdmission', () => {
  it('injects a pod of an enabled namespace; the patch yields the injected pod', () => {
    const p = pod()
    const r = injectPodForAdmission({
      pod: p, namespace: 'shop', config, createdBy: 'mesh/injector 1.0.0',
      namespaceAnnotations: {'mesh.dev/inject': 'enabled', 'config.mesh.dev/proxy-log-level': 'debug'},
    })
    expect(r.decision).toEqual({inject: true, mode: 'enabled', reason: 'namespace "shop" has mesh.dev/inject: enabled'})
    const after = applyPatch(p, r.patch)
    expect(p.spec.initContainers).toBeUndefined() // the input is not mutated
    expect(after.spec.initContainers.map((c: Obj) => c.name)).toEqual(['mesh-init', 'mesh-proxy'])
    expect(after.spec.containers.map((c: Obj) => c.name)).toEqual(['web'])
    const proxy = after.spec.initContainers[1]
    const env = Object.fromEntries(proxy.env.map((e: Obj) => [e.name, e.value]))
    expect(env[ProxyEnv.LOG_LEVEL]).toBe('debug') // namespace config annotation merged
    expect(env[ProxyEnv.WORKLOAD_KIND]).toBe('deployment')
    expect(env[ProxyEnv.WORKLOAD_NAME]).toBe('web')
    expect(after.metadata.labels['mesh.dev/proxy-deployment']).toBe('web')
    expect(after.metadata.labels['mesh.dev/workload-ns']).toBe('shop')
    expect(after.metadata.annotations['mesh.dev/created-by']).toBe('mesh/injector 1.0.0')
    expect(after.metadata.annotations['prometheus.io/scrape']).toBe('true')
    expect(after.metadata.namespace).toBeUndefined()
    expect(after.spec.volumes.map((v: Obj) => v.name)).toEqual(['mesh-identity-end-entity', 'mesh-identity-token'])
    // Annotation keys with `/` are escaped in pointers.
    expect(r.patch.some((op) => op.path === '/metadata/annotations/mesh.dev~1proxy-version')).toBe(true)
  })

  it('the pod annotation wins over the namespace', () => {
    const off = injectPodForAdmission({
      pod: pod({metadata: {annotations: {'mesh.dev/inject': 'disabled'}}}), namespace: 'shop', config, createdBy: 'x',
      namespaceAnnotations: {'mesh.dev/inject': 'enabled'},
    })
    expect(off.decision.inject).toBe(false)
    expect(off.decision.reason).toBe('the pod has mesh.dev/inject: disabled')
    expect(off.patch).toEqual([])
    const on = injectPodForAdmission({pod: pod({metadata: {annotations: {'mesh.dev/inject': 'ingress'}}}), namespace: 'shop', config, createdBy: 'x'})
    expect(on.decision).toMatchObject({inject: true, mode: 'ingress'})
    expect(on.patch.length).toBeGreaterThan(0)
  })

  it('never injects the control plane namespace or kube-system', () => {
    for (const ns of ['mesh-system', 'kube-system']) {
      const r = injectPodForAdmission({pod: pod({metadata: {annotations: {'mesh.dev/inject': 'enabled'}}}), namespace: ns, config, createdBy: 'x'})
      expect(r.decision).toEqual({inject: false, reason: `namespace "${ns}" is never injected`})
      expect(r.patch).toEqual([])
    }
  })

  it('skips pods without an opt-in, already injected pods and host-network pods, saying why', () => {
    const none = injectPodForAdmission({pod: pod(), namespace: 'shop', config, createdBy: 'x'})
    expect(none.decision.reason).toBe('neither the pod nor namespace "shop" has mesh.dev/inject: enabled')
    const injected = injectPodForAdmission({pod: pod({spec: {containers: [{name: 'mesh-proxy', image: 'm'}]}}), namespace: 'shop', config, createdBy: 'x', namespaceAnnotations: {'mesh.dev/inject': 'enabled'}})
    expect(injected.decision.reason).toBe('the pod already carries the mesh-proxy sidecar')
    const host = injectPodForAdmission({pod: pod({spec: {hostNetwork: true}}), namespace: 'shop', config, createdBy: 'x', namespaceAnnotations: {'mesh.dev/inject': 'enabled'}})
    expect(host.decision).toMatchObject({inject: false})
    expect(host.patch).toEqual([])
  })

  it('a bad config annotation turns into a no-inject decision with the reason', () => {
    const r = injectPodForAdmission({pod: pod({metadata: {annotations: {'mesh.dev/inject': 'enabled', 'config.mesh.dev/admin-port': '99999'}}}), namespace: 'shop', config, createdBy: 'x'})
    expect(r.decision.inject).toBe(false)
    expect(r.decision.reason).toContain('config.mesh.dev/admin-port')
    expect(r.patch).toEqual([])
  })

  it('a pod spec that is not one is not injected, and the reason names the field', () => {
    const r = injectPodForAdmission({pod: pod({metadata: {annotations: {'mesh.dev/inject': 'enabled'}}, spec: {containers: 'not-a-list'}}), namespace: 'shop', config, createdBy: 'x'})
    expect(r.decision).toEqual({inject: false, reason: 'spec.containers is the string "not-a-list"; expected a list of containers'})
    expect(r.patch).toEqual([])
    expect(r.report?.status).toBe('refused')
  })
})

describe('explainInjection', () => {
  it('explains each workload of a List against the namespace annotations', () => {
    const list = {
      kind: 'List',
      items: [
        {kind: 'Deployment', metadata: {name: 'web', namespace: 'shop'}, spec: {template: {metadata: {}, spec: {containers: []}}}},
        {kind: 'Deployment', metadata: {name: 'batch', namespace: 'shop'}, spec: {template: {metadata: {annotations: {'mesh.dev/inject': 'disabled'}}, spec: {containers: []}}}},
        {kind: 'Service', metadata: {name: 'web', namespace: 'shop'}},
        {kind: 'CronJob', metadata: {name: 'cj', namespace: 'mesh-system'}, spec: {jobTemplate: {spec: {template: {metadata: {annotations: {'mesh.dev/inject': 'enabled'}}, spec: {}}}}}},
      ],
    }
    expect(explainInjection(list, {'mesh.dev/inject': 'enabled'})).toEqual([
      {kind: 'deployment', name: 'web', namespace: 'shop', inject: true, reason: 'namespace "shop" has mesh.dev/inject: enabled'},
      {kind: 'deployment', name: 'batch', namespace: 'shop', inject: false, reason: 'the pod has mesh.dev/inject: disabled'},
      {kind: 'service', name: 'web', namespace: 'shop', inject: false, reason: 'kind Service has no pods to inject'},
      {kind: 'cronjob', name: 'cj', namespace: 'mesh-system', inject: false, reason: 'namespace "mesh-system" is never injected'},
    ])
  })
})
