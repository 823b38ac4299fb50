// The tap server's authz query (/v1/authz, `mesh authz`): the workload's pods, the policy the
// controller streams to each, the namespace's refused policies, and who called the workload per
// its proxies' /metrics (each scrape bounded like stat's; a pod whose metrics cannot be read is
// reported, never fails the answer).
import type {AuthzPolicy} from '../../protocol/authz.js'
import {addObserved, boundObserved, type ObservedInbound} from '../../authz/observed.js'
import type {AuthzReport} from '../../authz/report.js'
import type {MetricsStore} from './metrics-store.js'
import {BadQuery} from './query.js'
import {formatResource, type ResourceRef} from './resource.js'
import type {ResolveScope, TargetResolver} from './types.js'

/** What the tap server asks of the controller's authorization policy (src/control/authz/stream.ts). */
export interface AuthzView {
  /** The policy pod ns/name's proxy is sent; undefined while the controller does not know the pod. */
  policyOf(namespace: string, pod: string): AuthzPolicy | undefined
  /** The namespace's AuthorizationPolicies the controller refuses. */
  refused(namespace: string): AuthzReport['refused']
}

const TARGET_KIND: Partial<Record<ResourceRef['kind'], string>> = {
  deployment: 'Deployment', statefulset: 'StatefulSet', daemonset: 'DaemonSet', replicaset: 'ReplicaSet', job: 'Job', pod: 'Pod',
}

export async function authzQuery(resolver: TargetResolver, store: MetricsStore, view: AuthzView | undefined, resource: ResourceRef, scope: ResolveScope): Promise<AuthzReport> {
  const kind = TARGET_KIND[resource.kind]
  if (!kind || !resource.name || scope.allNamespaces) throw new BadQuery('authz takes one named workload: deploy/<name>, sts/<name>, ds/<name>, job/<name>, rs/<name> or po/<name>')
  const groups = await resolver.resolve(resource, scope)
  const pods = groups.flatMap((g) => g.pods).filter((p) => p.meshed)
  const observed: ObservedInbound = {callers: []}
  let scraped = 0
  const report: AuthzReport = {
    resource: formatResource(resource),
    namespace: scope.namespace,
    workload: {kind, name: resource.name},
    pods: [],
    refused: view?.refused(scope.namespace) ?? [],
    observed,
    scraped: 0,
  }
  await Promise.all(
    pods.map(async (p) => {
      const entry: AuthzReport['pods'][number] = {pod: p.name}
      const policy = view?.policyOf(p.namespace, p.name)
      if (policy) entry.policy = policy
      report.pods.push(entry)
      if (!p.running || !p.adminAddress) {
        entry.metricsError = 'not running'
        return
      }
      try {
        addObserved(observed, (await store.current(p)).current.families)
        scraped++
      } catch (err) {
        entry.metricsError = (err as Error).message
      }
    }),
  )
  boundObserved(observed)
  report.pods.sort((a, b) => a.pod.localeCompare(b.pod))
  report.scraped = scraped
  return report
}
