// What the Kubernetes registry says about one pod as an endpoint: identity (when meshed),
// dst_* labels, opaque ports; and the index `pod IP -> pod` for lookups by a pod's own address
// (`10.244.1.5:9000`: a headless Service, a StatefulSet peer), answered as a one-endpoint set.
import type * as k8s from '@kubernetes/client-node'
import {identityName, PROXY_PORTS, ProxyEnv} from '../../protocol/proxy-env.js'
import type {EndpointLabels, WireEndpoint} from '../../protocol/destination.js'
import {ipKey, parsePortList} from './registry.js'

export const PROXY_CONTAINER = 'mesh-proxy'
export const DEPLOYMENT_LABEL = 'mesh.dev/proxy-deployment'
export const OPAQUE_PORTS_ANNOTATION = 'config.mesh.dev/opaque-ports'

/** The Deployment owning a pod: the label mesh.dev/proxy-deployment, else `<rs>` minus its pod-template-hash. */
export function podDeployment(pod: k8s.V1Pod): string | undefined {
  const labels = pod.metadata?.labels ?? {}
  if (labels[DEPLOYMENT_LABEL]) return labels[DEPLOYMENT_LABEL]
  const rs = pod.metadata?.ownerReferences?.find((r) => r.kind === 'ReplicaSet')?.name
  const hash = labels['pod-template-hash']
  if (rs && hash && rs.endsWith(`-${hash}`)) return rs.slice(0, -hash.length - 1)
  return undefined
}

function proxyContainer(pod: k8s.V1Pod): k8s.V1Container | undefined {
  return [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])].find((c) => c.name === PROXY_CONTAINER)
}

export function podIsMeshed(pod: k8s.V1Pod): boolean {
  return proxyContainer(pod) !== undefined
}

/**
 * The pod's identity (when meshed; callers drop it on ports its proxy does not serve), labels
 * and opaque flag, added to an endpoint (shared by Service endpoints and pod lookups).
 */
export function describePod(pod: k8s.V1Pod, namespace: string, targetPort: number, e: WireEndpoint, cpNs: string, td: string, defaultOpaque: (port: number) => boolean = () => false): void {
  const sa = pod.spec?.serviceAccountName || 'default'
  e.labels.dst_serviceaccount = sa
  const deployment = podDeployment(pod)
  if (deployment) e.labels.dst_deployment = deployment
  if (podIsMeshed(pod)) e.identity = identityName(sa, namespace, cpNs, td)
  // The pod's annotation, when it has one, replaces the cluster's default list (as Linkerd's).
  const annotated = pod.metadata?.annotations?.[OPAQUE_PORTS_ANNOTATION]
  if (annotated === undefined ? defaultOpaque(targetPort) : parsePortList(annotated)(targetPort)) e.opaque = true
}

/**
 * Whether the pod's proxy terminates mTLS for connections to `port`: not for the ports its
 * inbound side ignores (the sidecar's MESH_PROXY_INBOUND_PORTS_TO_IGNORE: admin, tap and
 * skip-inbound-ports; admin and tap when the variable is absent) nor for the inbound port itself.
 */
export function proxyServesPort(pod: k8s.V1Pod, port: number): boolean {
  const proxy = proxyContainer(pod)
  if (!proxy) return false
  if (port === PROXY_PORTS.inbound) return false
  const ignored = proxy.env?.find((v) => v.name === ProxyEnv.INBOUND_PORTS_TO_IGNORE)?.value ?? `${PROXY_PORTS.admin},${PROXY_PORTS.tap}`
  return !parsePortList(ignored)(port)
}

/** A pod that owns its IP now: running, not terminating, not on the host network (its IP is the node's). */
export function podOwnsIp(pod: k8s.V1Pod): boolean {
  return pod.status?.phase === 'Running' && !pod.metadata?.deletionTimestamp && pod.spec?.hostNetwork !== true
}

export function podIps(pod: k8s.V1Pod): string[] {
  const ips = (pod.status?.podIPs ?? []).map((p) => p.ip).filter((ip): ip is string => !!ip)
  if (ips.length === 0 && pod.status?.podIP) ips.push(pod.status.podIP)
  return ips
}

/** `ip -> pod` over the pods that own their IP; on a clash (an IP being reused) the newest pod wins. */
export function indexPodIps(pods: Iterable<k8s.V1Pod>): Map<string, k8s.V1Pod> {
  const index = new Map<string, k8s.V1Pod>()
  const created = (p: k8s.V1Pod): number => new Date(p.metadata?.creationTimestamp ?? 0).getTime()
  for (const pod of pods) {
    if (!podOwnsIp(pod) || !pod.metadata?.name || !pod.metadata.namespace) continue
    for (const ip of podIps(pod)) {
      const k = ipKey(ip)
      const had = index.get(k)
      if (!had || created(pod) > created(had)) index.set(k, pod)
    }
  }
  return index
}

/** The one endpoint a lookup of `<pod IP>:<port>` answers: no dst_service (no Service was named). */
export function podIpEndpoint(pod: k8s.V1Pod, address: string, port: number, cpNs: string, td: string, defaultOpaque?: (port: number) => boolean): WireEndpoint {
  const namespace = pod.metadata!.namespace!
  const labels: EndpointLabels = {dst_namespace: namespace, dst_pod: pod.metadata!.name!}
  const e: WireEndpoint = {address, port, labels}
  describePod(pod, namespace, port, e, cpNs, td, defaultOpaque)
  if (!proxyServesPort(pod, port)) delete e.identity
  return e
}
