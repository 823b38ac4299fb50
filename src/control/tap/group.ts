// Selecting and grouping a known list of pods by a resource reference: the local resolver's
// whole job, and the Kubernetes resolver's last step once it has listed the pods.
import type {ResourceRef} from './resource.js'
import {TargetNotFoundError, type PodInfo, type ResolvedGroup, type ResolveScope} from './types.js'

export interface GroupablePod extends PodInfo {
  /** Services selecting the pod (names in the pod's namespace). */
  services?: string[]
}

export function groupPods(pods: readonly GroupablePod[], ref: ResourceRef, scope: ResolveScope): ResolvedGroup[] {
  const inScope = pods.filter((p) => scope.allNamespaces || p.namespace === scope.namespace || ref.kind === 'namespace')
  const groups = new Map<string, ResolvedGroup>()
  const add = (kind: ResourceRef['kind'], name: string, namespace: string, pod?: GroupablePod): void => {
    const key = `${namespace}/${kind}/${name}`
    let g = groups.get(key)
    if (!g) groups.set(key, (g = {resource: {kind, name, namespace}, pods: []}))
    if (pod) g.pods.push(pod)
  }
  for (const p of inScope) {
    switch (ref.kind) {
      case 'pod':
        if (ref.name === undefined || ref.name === p.name) add('pod', p.name, p.namespace, p)
        break
      case 'namespace': {
        const ns = ref.name ?? (scope.allNamespaces ? p.namespace : scope.namespace)
        if (p.namespace === ns) add('namespace', ns, ns, p)
        break
      }
      case 'service':
        for (const svc of p.services ?? []) if (ref.name === undefined || ref.name === svc) add('service', svc, p.namespace, p)
        break
      default:
        if (p.owner.kind === ref.kind && (ref.name === undefined || ref.name === p.owner.name)) add(ref.kind, p.owner.name, p.owner.namespace, p)
    }
  }
  if (ref.name !== undefined && groups.size === 0) {
    if (ref.kind === 'namespace' && pods.some((p) => p.namespace === ref.name)) add('namespace', ref.name, ref.name)
    else throw new TargetNotFoundError(ref, ref.kind === 'namespace' ? ref.name : scope.namespace)
  }
  return [...groups.values()].sort((a, b) => `${a.resource.namespace}/${a.resource.name}`.localeCompare(`${b.resource.namespace}/${b.resource.name}`))
}
