// The ReplicaSet controller's job, shortened: for each Deployment, `replicas` Pods from its
// template (created through the API server, so admission and the injector see them), named
// `<deploy>-<template hash>-<n>`; pods of an older template or beyond the count are deleted.
// As the ReplicaSet controller's random suffixes, a name is never given twice: a replacement is
// a new pod under a new name, so traffic to it is never mistaken for its predecessor's (the
// predecessor may still be stopping, or gone from the API while its processes stop).
import {createHash} from 'node:crypto'
import {KubeError, type Kube, type Obj} from './kube.js'

/** How long a pod this runner created counts as a replica before the pod watch shows it. */
const UNSEEN_MS = 30_000

/** Per Deployment (by uid): the pod names given, and those created but not yet seen (the controller's "expectations"). */
const given = new Map<string, {names: Set<string>; unseen: Map<string, number>}>()

export function templateHash(d: Obj): string {
  return createHash('sha256').update(JSON.stringify(d.spec.template)).digest('hex').slice(0, 10)
}

export async function reconcileDeployment(kube: Kube, d: Obj, pods: Obj[]): Promise<void> {
  const ns = d.metadata.namespace
  const hash = templateHash(d)
  const replicas = d.spec.replicas ?? 1
  const ownedAll = pods.filter((p) => (p.metadata.ownerReferences ?? []).some((o: Obj) => o.uid === d.metadata.uid))
  const owned = ownedAll.filter((p) => !p.metadata.deletionTimestamp)
  const mine = given.get(d.metadata.uid) ?? {names: new Set<string>(), unseen: new Map<string, number>()}
  given.set(d.metadata.uid, mine)
  for (const p of ownedAll) mine.unseen.delete(p.metadata.name)
  for (const [n, at] of mine.unseen) if (Date.now() - at > UNSEEN_MS) mine.unseen.delete(n)
  const current = owned.filter((p) => p.metadata.labels?.['pod-template-hash'] === hash).sort((a, b) => a.metadata.name.localeCompare(b.metadata.name))
  const stale = owned.filter((p) => p.metadata.labels?.['pod-template-hash'] !== hash)
  const doomed = [...stale, ...current.slice(replicas)]
  for (const p of doomed) await kube.delete(`/api/v1/namespaces/${ns}/pods/${p.metadata.name}`)
  const prefix = `${d.metadata.name}-${hash}-`
  let expected = current.length + [...mine.unseen.keys()].filter((n) => n.startsWith(prefix)).length
  const taken = new Set([...ownedAll.map((p) => p.metadata.name as string), ...mine.names])
  for (let i = 0; expected < replicas && i < taken.size + replicas + 50; i++) {
    const name = `${prefix}${i}`
    if (taken.has(name)) continue
    mine.names.add(name)
    const t = d.spec.template
    const created = await kube.post(`/api/v1/namespaces/${ns}/pods`, {
      apiVersion: 'v1', kind: 'Pod',
      metadata: {
        name, namespace: ns,
        labels: {...t.metadata?.labels, 'pod-template-hash': hash},
        annotations: {...t.metadata?.annotations},
        ownerReferences: [{apiVersion: 'apps/v1', kind: 'Deployment', name: d.metadata.name, uid: d.metadata.uid, controller: true}],
      },
      spec: t.spec,
    }).then(() => true, (err: unknown) => {
      // AlreadyExists: a pod the watch has not shown yet holds the name (one an earlier runner
      // made): counted as a replica, as our own creations are, until the watch shows it.
      if (err instanceof KubeError && err.status === 409) return true
      process.stderr.write(`[pod-runner] deployment ${ns}/${d.metadata.name}: create ${name}: ${(err as Error).message}\n`)
      return false
    })
    if (!created) break
    mine.unseen.set(name, Date.now())
    expected++
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
