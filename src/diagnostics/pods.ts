// The pods behind what a user names (`deploy/web`, `po/web-0`, `sts/db`, `svc/books`, `ns/shop`),
// with their specs (the proxy's env: anchors, policy, ports), and reads of their proxies' admin
// endpoints through the API server's pod proxy, as `mesh check --proxy` reads them. Used by
// `mesh identity`, `mesh diagnostics`, `mesh proxy log-level` and `mesh explain`.
import type {V1Container, V1Pod} from '@kubernetes/client-node'
import {apiStatus, clusterError, type Kube} from '../k8s/client.js'
import {ClusterError, UsageError} from '../lib/errors.js'
import {PROXY_CONTAINER} from '../inject/constants.js'
import {PROXY_PORTS, ProxyEnv, identityName} from '../protocol/proxy-env.js'
import {rawGet, type RawResponse} from '../check/k8s-raw.js'
import {matches, selectorString, type LabelSelector} from '../control/tap/selector.js'
import {formatResource, parseResource, type ResourceRef} from '../control/tap/resource.js'

export interface ProxyPod {
  namespace: string
  name: string
  pod: V1Pod
  ip?: string
  running: boolean
  /** The proxy container (a native sidecar is an init container), when the pod is meshed. */
  proxy?: V1Container
  serviceAccount: string
  /** The identity name its proxy certifies as (when meshed). */
  identity?: string
  adminPort: number
}

export interface PodScope {
  namespace: string
  controlPlaneNamespace: string
  trustDomain: string
}

export function proxyContainer(pod: V1Pod): V1Container | undefined {
  return [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])].find((c) => c.name === PROXY_CONTAINER)
}

export function proxyEnv(pod: ProxyPod, name: string): string | undefined {
  return pod.proxy?.env?.find((e) => e.name === name)?.value
}

function portOf(c: V1Container | undefined, env: string, def: number): number {
  const v = c?.env?.find((e) => e.name === env)?.value
  const m = v ? /:(\d{1,5})$/.exec(v) : null
  return m ? Number(m[1]) : def
}

export function proxyPod(pod: V1Pod, scope: PodScope): ProxyPod {
  const proxy = proxyContainer(pod)
  const namespace = pod.metadata?.namespace ?? scope.namespace
  const sa = pod.spec?.serviceAccountName ?? 'default'
  const ip = pod.status?.podIP || undefined
  return {
    namespace,
    name: pod.metadata?.name ?? '',
    pod,
    ip,
    running: pod.status?.phase === 'Running' && ip !== undefined && !pod.metadata?.deletionTimestamp,
    proxy,
    serviceAccount: sa,
    identity: proxy ? identityName(sa, namespace, scope.controlPlaneNamespace, scope.trustDomain) : undefined,
    adminPort: portOf(proxy, ProxyEnv.ADMIN_LISTEN_ADDR, PROXY_PORTS.admin),
  }
}

const WORKLOAD_KINDS = new Set(['deployment', 'statefulset', 'daemonset', 'replicaset', 'job', 'service'])

/** Parses `KIND/NAME` (the kinds of `mesh tap`); `what` names the argument in errors. */
export function parseTarget(input: string, what: string, allowed: ResourceRef['kind'][] = ['pod', 'deployment', 'statefulset', 'daemonset', 'replicaset', 'job', 'service', 'namespace']): ResourceRef & {name: string} {
  const ref = parseResource(input, what)
  if (!allowed.includes(ref.kind) || ref.name === undefined) {
    throw new UsageError(`${what} ${JSON.stringify(input)} must name one ${allowed.join(', ')}`, {suggestions: [`e.g. ${allowed.includes('deployment') ? 'deploy/web' : 'po/web-0'}`]})
  }
  return ref as ResourceRef & {name: string}
}

/** The pods a target names, sorted by name; a missing target is an error naming it. */
export async function podsOf(kube: Kube, ref: ResourceRef & {name: string}, scope: PodScope): Promise<ProxyPod[]> {
  const ns = scope.namespace
  const what = `${formatResource(ref)} in namespace ${ns}`
  const core = kube.core()
  const notFound = (): ClusterError => new ClusterError(`${what} not found`, {code: 'MESH_NOT_FOUND', suggestions: [`Check the name and the namespace: \`kubectl get ${ref.kind} -n ${ns}\`.`]})
  try {
    let pods: V1Pod[]
    if (ref.kind === 'pod') {
      pods = [await core.readNamespacedPod({name: ref.name, namespace: ns})]
    } else if (ref.kind === 'namespace') {
      await core.readNamespace({name: ref.name})
      pods = (await core.listNamespacedPod({namespace: ref.name, limit: 1000})).items
    } else if (WORKLOAD_KINDS.has(ref.kind)) {
      const selector = await selectorOf(kube, ref.kind, ref.name, ns)
      const query = selectorString(selector)
      pods = query ? (await core.listNamespacedPod({namespace: ns, labelSelector: query, limit: 1000})).items.filter((p) => matches(selector, p.metadata?.labels ?? {})) : []
    } else {
      throw new UsageError(`${what}: not a kind with pods`)
    }
    return pods.filter((p) => !p.metadata?.deletionTimestamp).map((p) => proxyPod(p, scope)).sort((a, b) => a.name.localeCompare(b.name))
  } catch (error) {
    if (error instanceof UsageError || error instanceof ClusterError) throw error
    if (apiStatus(error) === 404) throw notFound()
    throw clusterError(`cannot read ${what}`, error, kube.server)
  }
}

async function selectorOf(kube: Kube, kind: string, name: string, namespace: string): Promise<LabelSelector | Record<string, string> | undefined> {
  const apps = kube.apps()
  switch (kind) {
    case 'deployment':
      return (await apps.readNamespacedDeployment({name, namespace})).spec?.selector as LabelSelector
    case 'statefulset':
      return (await apps.readNamespacedStatefulSet({name, namespace})).spec?.selector as LabelSelector
    case 'daemonset':
      return (await apps.readNamespacedDaemonSet({name, namespace})).spec?.selector as LabelSelector
    case 'replicaset':
      return (await apps.readNamespacedReplicaSet({name, namespace})).spec?.selector as LabelSelector
    case 'job': {
      return (await kube.api(kube.k8s.BatchV1Api).readNamespacedJob({name, namespace})).spec?.selector as LabelSelector
    }
    default:
      return (await kube.core().readNamespacedService({name, namespace})).spec?.selector
  }
}

/** `/api/v1/namespaces/<ns>/pods/<name>:<port>/proxy` (a path under it follows). */
export function podProxyBase(namespace: string, name: string, port: number): string {
  return `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(name)}:${port}/proxy`
}

export interface AdminRead {
  status: number
  body: string
  /** True when the answer came from the proxy (not an API server error about reaching it). */
  fromProxy: boolean
}

/**
 * GET a path of the pod's admin server through the API server (3 s, bounded). An answer the
 * API server made itself (it could not reach the pod) is not the proxy's: `fromProxy` false.
 */
export async function adminGet(kube: Kube, pod: ProxyPod, path: string, o: {timeoutMs?: number; maxBytes?: number} = {}): Promise<AdminRead> {
  const res: RawResponse = await rawGet(kube, podProxyBase(pod.namespace, pod.name, pod.adminPort) + path, {timeoutMs: o.timeoutMs ?? 3000, maxBytes: o.maxBytes ?? 4 * 1024 * 1024})
  // The API server's own errors are JSON Status objects; the admin server answers text or JSON of its own.
  const status = /^\s*\{\s*"kind"\s*:\s*"Status"/.test(res.body)
  return {status: res.status, body: res.body, fromProxy: !status}
}

export function requireMeshed(pods: ProxyPod[], what: string): ProxyPod[] {
  if (pods.length === 0) throw new ClusterError(`${what} has no pods`, {code: 'MESH_NO_PODS', suggestions: ['Check that the workload is scaled up: `kubectl get pods -n <ns>`.']})
  return pods
}
