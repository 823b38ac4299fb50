// The Kubernetes resolver: a resource to its pods through the API server (named workloads by
// their selector, bare kinds by listing and matching), each pod's IP, whether it runs the mesh
// proxy, and its identity. Peers of tap events are named by a pod IP lookup (cached, bounded).
import type * as k8s from '@kubernetes/client-node'
import {apiStatus} from '../../k8s/client.js'
import {PROXY_PORTS, ProxyEnv, identityName} from '../../protocol/proxy-env.js'
import type {ResourceKind, ResourceRef} from './resource.js'
import {matches, selectorString, type LabelSelector} from './selector.js'
import {TargetNotFoundError, type PodInfo, type ResolvedGroup, type ResolveScope, type TargetResolver, type WorkloadRef} from './types.js'

export const PROXY_CONTAINER = 'mesh-proxy'

export interface KubeResolverOptions {
  lib: typeof k8s
  kc: k8s.KubeConfig
  controlPlaneNamespace?: string
  trustDomain?: string
  /** How long a pod-by-IP answer is kept (default 30 s). */
  ipCacheMs?: number
}

interface Workload {
  metadata?: k8s.V1ObjectMeta
  spec?: {selector?: LabelSelector | Record<string, string>}
}

/** The proxy: a native sidecar (init container, restartPolicy Always) or a plain container. */
function proxyContainer(pod: k8s.V1Pod): k8s.V1Container | undefined {
  return pod.spec?.initContainers?.find((x) => x.name === PROXY_CONTAINER) ?? pod.spec?.containers.find((x) => x.name === PROXY_CONTAINER)
}

function portFrom(pod: k8s.V1Pod, envName: string, portName: string, def: number): number {
  const c = proxyContainer(pod)
  const env = c?.env?.find((e) => e.name === envName)?.value
  const m = env ? /:(\d{1,5})$/.exec(env) : null
  if (m) return Number(m[1])
  return c?.ports?.find((p) => p.name === portName)?.containerPort ?? def
}

/** deployment web from a pod owned by ReplicaSet web-5d4f8 (pod-template-hash 5d4f8). */
export function ownerOf(pod: k8s.V1Pod): WorkloadRef {
  const ns = pod.metadata?.namespace ?? 'default'
  const ref = pod.metadata?.ownerReferences?.find((o) => o.controller) ?? pod.metadata?.ownerReferences?.[0]
  const hash = pod.metadata?.labels?.['pod-template-hash']
  if (ref?.kind === 'ReplicaSet' && hash && ref.name.endsWith(`-${hash}`)) return {kind: 'deployment', name: ref.name.slice(0, -hash.length - 1), namespace: ns}
  const kinds: Record<string, ResourceKind> = {ReplicaSet: 'replicaset', StatefulSet: 'statefulset', DaemonSet: 'daemonset', Job: 'job', Deployment: 'deployment'}
  if (ref && kinds[ref.kind]) return {kind: kinds[ref.kind], name: ref.name, namespace: ns}
  return {kind: 'pod', name: pod.metadata?.name ?? '', namespace: ns}
}

export class KubeResolver implements TargetResolver {
  private readonly core: k8s.CoreV1Api
  private readonly apps: k8s.AppsV1Api
  private readonly batch: k8s.BatchV1Api
  private readonly ipCache = new Map<string, {at: number; pod?: PodInfo}>()

  constructor(private readonly o: KubeResolverOptions) {
    this.core = o.kc.makeApiClient(o.lib.CoreV1Api)
    this.apps = o.kc.makeApiClient(o.lib.AppsV1Api)
    this.batch = o.kc.makeApiClient(o.lib.BatchV1Api)
  }

  podInfo(pod: k8s.V1Pod, owner?: WorkloadRef): PodInfo {
    const ns = pod.metadata?.namespace ?? 'default'
    const ip = pod.status?.podIP ?? ''
    const meshed = proxyContainer(pod) !== undefined
    const sa = pod.spec?.serviceAccountName ?? 'default'
    const info: PodInfo = {
      namespace: ns,
      name: pod.metadata?.name ?? '',
      ip,
      owner: owner ?? ownerOf(pod),
      meshed,
      running: pod.status?.phase === 'Running' && ip !== '' && !pod.metadata?.deletionTimestamp,
      labels: pod.metadata?.labels ?? {},
      serviceAccount: sa,
    }
    if (meshed && ip) {
      const host = ip.includes(':') ? `[${ip}]` : ip
      info.tapAddress = `${host}:${portFrom(pod, ProxyEnv.TAP_LISTEN_ADDR, 'mesh-tap', PROXY_PORTS.tap)}`
      info.adminAddress = `${host}:${portFrom(pod, ProxyEnv.ADMIN_LISTEN_ADDR, 'mesh-admin', PROXY_PORTS.admin)}`
      info.identity = identityName(sa, ns, this.o.controlPlaneNamespace, this.o.trustDomain)
    }
    return info
  }

  private async pods(namespace: string | undefined, labelSelector?: string): Promise<k8s.V1Pod[]> {
    const list = namespace ? await this.core.listNamespacedPod({namespace, labelSelector}) : await this.core.listPodForAllNamespaces({labelSelector})
    return list.items
  }

  private async workloads(kind: ResourceKind, namespace: string | undefined): Promise<Workload[]> {
    const ns = namespace
    switch (kind) {
      case 'deployment':
        return (ns ? await this.apps.listNamespacedDeployment({namespace: ns}) : await this.apps.listDeploymentForAllNamespaces()).items
      case 'statefulset':
        return (ns ? await this.apps.listNamespacedStatefulSet({namespace: ns}) : await this.apps.listStatefulSetForAllNamespaces()).items
      case 'daemonset':
        return (ns ? await this.apps.listNamespacedDaemonSet({namespace: ns}) : await this.apps.listDaemonSetForAllNamespaces()).items
      case 'replicaset':
        return (ns ? await this.apps.listNamespacedReplicaSet({namespace: ns}) : await this.apps.listReplicaSetForAllNamespaces()).items
      case 'job':
        return (ns ? await this.batch.listNamespacedJob({namespace: ns}) : await this.batch.listJobForAllNamespaces()).items
      case 'service':
        return (ns ? await this.core.listNamespacedService({namespace: ns}) : await this.core.listServiceForAllNamespaces()).items as Workload[]
      default:
        return []
    }
  }

  private async workload(kind: ResourceKind, name: string, namespace: string): Promise<Workload> {
    switch (kind) {
      case 'deployment':
        return this.apps.readNamespacedDeployment({name, namespace})
      case 'statefulset':
        return this.apps.readNamespacedStatefulSet({name, namespace})
      case 'daemonset':
        return this.apps.readNamespacedDaemonSet({name, namespace})
      case 'replicaset':
        return this.apps.readNamespacedReplicaSet({name, namespace})
      case 'job':
        return this.batch.readNamespacedJob({name, namespace})
      case 'service':
        return this.core.readNamespacedService({name, namespace}) as Promise<Workload>
      default:
        throw new Error(`not a workload kind: ${kind}`)
    }
  }

  async resolve(ref: ResourceRef, scope: ResolveScope): Promise<ResolvedGroup[]> {
    const ns = scope.allNamespaces ? undefined : scope.namespace
    try {
      return await this.resolveInner(ref, ns, scope.namespace)
    } catch (err) {
      if (apiStatus(err) === 404) throw new TargetNotFoundError(ref, ref.kind === 'namespace' ? ref.name ?? scope.namespace : scope.namespace)
      throw err
    }
  }

  private async resolveInner(ref: ResourceRef, ns: string | undefined, defaultNs: string): Promise<ResolvedGroup[]> {
    const groupOf = (kind: ResourceKind, name: string, namespace: string, pods: k8s.V1Pod[]): ResolvedGroup => {
      const resource = {kind, name, namespace}
      return {resource, pods: pods.map((p) => this.podInfo(p, kind === 'pod' || kind === 'namespace' || kind === 'service' ? undefined : resource))}
    }
    switch (ref.kind) {
      case 'pod': {
        if (ref.name) return [groupOf('pod', ref.name, defaultNs, [await this.core.readNamespacedPod({name: ref.name, namespace: defaultNs})])]
        return (await this.pods(ns)).map((p) => groupOf('pod', p.metadata!.name!, p.metadata!.namespace!, [p]))
      }
      case 'namespace': {
        if (ref.name) {
          await this.core.readNamespace({name: ref.name})
          return [groupOf('namespace', ref.name, ref.name, await this.pods(ref.name))]
        }
        const byNs = new Map<string, k8s.V1Pod[]>()
        const namespaces = ns ? [ns] : (await this.core.listNamespace()).items.map((n) => n.metadata!.name!)
        for (const n of namespaces) byNs.set(n, [])
        for (const p of await this.pods(ns)) byNs.get(p.metadata!.namespace!)?.push(p)
        return [...byNs].map(([n, pods]) => groupOf('namespace', n, n, pods)).sort((a, b) => a.resource.name.localeCompare(b.resource.name))
      }
      default: {
        if (ref.name) {
          const w = await this.workload(ref.kind, ref.name, defaultNs)
          const sel = w.spec?.selector
          const pods = selectorString(sel) ? (await this.pods(defaultNs, selectorString(sel))).filter((p) => matches(sel, p.metadata?.labels ?? {})) : []
          return [groupOf(ref.kind, ref.name, defaultNs, pods)]
        }
        const [ws, pods] = await Promise.all([this.workloads(ref.kind, ns), this.pods(ns)])
        return ws
          .map((w) => {
            const wns = w.metadata!.namespace!
            const mine = pods.filter((p) => p.metadata?.namespace === wns && matches(w.spec?.selector, p.metadata?.labels ?? {}))
            return groupOf(ref.kind, w.metadata!.name!, wns, mine)
          })
          .sort((a, b) => `${a.resource.namespace}/${a.resource.name}`.localeCompare(`${b.resource.namespace}/${b.resource.name}`))
      }
    }
  }

  /** A pod by the IP of an event's address (`ip:port`), cached; undefined when none has it. */
  async podByAddress(address: string): Promise<PodInfo | undefined> {
    const ip = address.replace(/^\[?([^\]]*?)\]?:\d+$/, '$1')
    const now = Date.now()
    const hit = this.ipCache.get(ip)
    if (hit && now - hit.at < (this.o.ipCacheMs ?? 30_000)) return hit.pod
    if (this.ipCache.size > 10_000) this.ipCache.clear()
    const list = await this.core.listPodForAllNamespaces({fieldSelector: `status.podIP=${ip}`, limit: 5})
    const pod = list.items.find((p) => p.status?.phase === 'Running') ?? list.items[0]
    const info = pod ? this.podInfo(pod) : undefined
    this.ipCache.set(ip, {at: now, pod: info})
    return info
  }
}
