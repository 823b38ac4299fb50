// The ReplicaSet controller's job, shortened: for each Deployment, `replicas` Pods from its
// template (created through the API server, so admission and the injector see them), named
// `<deploy>-<template hash>-<n>`; pods of an older template or beyond the count are deleted.
import {createHash} from 'node:crypto'
import {KubeError, type Kube, type Obj} from './kube.js'

export function templateHash(d: Obj): string {
  return createHash('sha256').update(JSON.stringify(d.spec.template)).digest('hex').slice(0, 10)
}

export async function reconcileDeployment(kube: Kube, d: Obj, pods: Obj[]): Promise<void> {
  const ns = d.metadata.namespace
  const hash = templateHash(d)
  const replicas = d.spec.replicas ?? 1
  const owned = pods.filter((p) => (p.metadata.ownerReferences ?? []).some((o: Obj) => o.uid === d.metadata.uid) && !p.metadata.deletionTimestamp)
  const current = owned.filter((p) => p.metadata.labels?.['pod-template-hash'] === hash).sort((a, b) => a.metadata.name.localeCompare(b.metadata.name))
  const stale = owned.filter((p) => p.metadata.labels?.['pod-template-hash'] !== hash)
  const doomed = [...stale, ...current.slice(replicas)]
  for (const p of doomed) await kube.delete(`/api/v1/namespaces/${ns}/pods/${p.metadata.name}`)
  const names = new Set(current.map((p) => p.metadata.name))
  for (let i = 0; names.size < replicas && i < replicas + 50; i++) {
    const name = `${d.metadata.name}-${hash}-${i}`
    if (names.has(name)) continue
    const t = d.spec.template
    await kube.post(`/api/v1/namespaces/${ns}/pods`, {
      apiVersion: 'v1', kind: 'Pod',
      metadata: {
        name, namespace: ns,
        labels: {...t.metadata?.labels, 'pod-template-hash': hash},
        annotations: {...t.metadata?.annotations},
        ownerReferences: [{apiVersion: 'apps/v1', kind: 'Deployment', name: d.metadata.name, uid: d.metadata.uid, controller: true}],
      },
      spec: t.spec,
    }).catch((err: unknown) => {
      // AlreadyExists: the pod watch has not shown us our own creation yet.
      if (!(err instanceof KubeError && err.status === 409)) process.stderr.write(`[pod-runner] deployment ${ns}/${d.metadata.name}: create ${name}: ${(err as Error).message}\n`)
    })
    names.add(name)
  }
  const ready = current.slice(0, replicas).filter((p) => (p.status?.conditions ?? []).some((c: Obj) => c.type === 'Ready' && c.status === 'True')).length
  const status = {observedGeneration: d.metadata.generation, replicas: Math.min(current.length, replicas), readyReplicas: ready, availableReplicas: ready, updatedReplicas: Math.min(current.length, replicas)}
  const cur = pick(d.status ?? {}, Object.keys(status))
  if (Object.entries(status).some(([k, v]) => cur[k] !== v)) {
    await kube.mergePatch(`/apis/apps/v1/namespaces/${ns}/deployments/${d.metadata.name}/status`, {status}).catch(() => {})
  }
}

function pick(o: Obj, keys: string[]): Obj {
  return Object.fromEntries(keys.filter((k) => k in o).map((k) => [k, o[k]]))
}
