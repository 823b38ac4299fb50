// What authorization policy needs to know about one pod, read from its spec (the controller's
// informer copy, or `mesh check`'s read): identity, labels, owner, container ports, the proxy's
// own settings (ignored and opaque ports, the legacy inbound policy) and the kubelet probes,
// turned into the probe rules a proxy lets through (and what it could not see).
import type * as k8s from '@kubernetes/client-node'
import type {AuthzProbe} from '../protocol/authz.js'
import {DEFAULT_INBOUND_POLICY_ANNOTATION} from '../protocol/authz.js'
import {identityName, PROXY_PORTS, ProxyEnv} from '../protocol/proxy-env.js'
import type {WorkloadKind} from './limits.js'
import type {ServicePortOnPod} from './compile.js'
import {selectorMatches} from './selector.js'

export const PROXY_CONTAINER = 'mesh-proxy'
export const INBOUND_POLICY_ANNOTATION = 'config.mesh.dev/inbound-policy'
export const OPAQUE_PORTS_ANNOTATION = 'config.mesh.dev/opaque-ports'
/** What kubelet's gRPC probes call. */
export const GRPC_HEALTH_PATH = '/grpc.health.v1.Health/Check'

export interface PodFacts {
  namespace: string
  name: string
  serviceAccount: string
  /** The pod runs a mesh proxy. */
  meshed: boolean
  /** Its ServiceAccount's mesh identity. */
  identity: string
  labels: Record<string, string>
  annotations: Record<string, string>
  /** The workload that owns it: the injector's `mesh.dev/proxy-<kind>` label, else its ownerReferences. */
  owner?: {kind: WorkloadKind; name: string}
  /** Every container's ports (names resolve named ports). */
  containerPorts: Array<{name?: string; port: number}>
  /** The proxy's MESH_PROXY_INBOUND_POLICY, as injected (from the pod's or its namespace's inbound-policy annotation). */
  legacyInboundPolicy?: string
  /** Ports the proxy's inbound side never sees (MESH_PROXY_INBOUND_PORTS_TO_IGNORE: admin, tap, skip-inbound-ports). */
  ignoredPorts: string
  /** Ports the proxy carries as opaque TCP (it cannot see an HTTP probe's path there). */
  opaquePorts: string
  probes: AuthzProbe[]
  /** Probes the proxy cannot let through by path (for `mesh check --proxy`), each said in a sentence. */
  probeProblems: ProbeProblem[]
}

export interface ProbeProblem {
  container: string
  probe: 'liveness' | 'readiness' | 'startup'
  /** The port as written (a number or a name). */
  port: string
  problem: string
}

const OWNER_LABEL = /^mesh\.dev\/proxy-(deployment|statefulset|daemonset|replicaset|job|cronjob|pod)$/
const KIND_BY_LABEL: Record<string, WorkloadKind> = {
  deployment: 'Deployment', statefulset: 'StatefulSet', daemonset: 'DaemonSet', replicaset: 'ReplicaSet', job: 'Job', cronjob: 'CronJob', pod: 'Pod',
}

function proxyContainer(pod: k8s.V1Pod): k8s.V1Container | undefined {
  return [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])].find((c) => c.name === PROXY_CONTAINER)
}

/** The pod's owner: the `mesh.dev/proxy-<kind>` label the injector writes, else its controller ownerReference. */
export function podOwner(pod: k8s.V1Pod): PodFacts['owner'] {
  const labels = pod.metadata?.labels ?? {}
  for (const [k, v] of Object.entries(labels)) {
    const m = OWNER_LABEL.exec(k)
    if (m && v) return {kind: KIND_BY_LABEL[m[1]!]!, name: v}
  }
  const ref = pod.metadata?.ownerReferences?.find((r) => r.controller) ?? pod.metadata?.ownerReferences?.[0]
  if (!ref?.name) return undefined
  const hash = labels['pod-template-hash']
  if (ref.kind === 'ReplicaSet' && hash && ref.name.endsWith(`-${hash}`)) return {kind: 'Deployment', name: ref.name.slice(0, -hash.length - 1)}
  const kind = KIND_BY_LABEL[ref.kind?.toLowerCase() ?? '']
  return kind ? {kind, name: ref.name} : undefined
}

function listed(list: string, port: number): boolean {
  for (const part of list.split(',')) {
    const m = /^\s*(\d+)(?:\s*-\s*(\d+))?\s*$/.exec(part)
    if (!m) continue
    const lo = Number(m[1])
    const hi = m[2] ? Number(m[2]) : lo
    if (port >= lo && port <= hi) return true
  }
  return false
}

/** Whether the proxy sees connections to `port` (the inbound redirect does not skip it). */
export function proxySeesPort(f: Pick<PodFacts, 'ignoredPorts'>, port: number): boolean {
  return port !== PROXY_PORTS.inbound && !listed(f.ignoredPorts, port)
}

export function isOpaquePort(f: Pick<PodFacts, 'opaquePorts'>, port: number): boolean {
  return listed(f.opaquePorts, port)
}

/** Resolves a port as written in a container (a number, or the name of one of that container's ports). */
function resolvePort(p: number | string | undefined, container: k8s.V1Container): number | undefined {
  if (typeof p === 'number') return p
  if (typeof p === 'string' && /^\d+$/.test(p)) return Number(p)
  return container.ports?.find((cp) => cp.name === p)?.containerPort
}

/** The probe rules of a pod's containers (the proxy's own excluded) and the probes the proxy cannot let through. */
export function podProbes(pod: k8s.V1Pod, f: Pick<PodFacts, 'ignoredPorts' | 'opaquePorts'>): {probes: AuthzProbe[]; problems: ProbeProblem[]} {
  const probes = new Map<string, AuthzProbe>()
  const problems: ProbeProblem[] = []
  const containers = [...(pod.spec?.initContainers ?? []).filter((c) => c.restartPolicy === 'Always'), ...(pod.spec?.containers ?? [])]
  for (const c of containers) {
    if (c.name === PROXY_CONTAINER) continue
    for (const [kind, probe] of [['liveness', c.livenessProbe], ['readiness', c.readinessProbe], ['startup', c.startupProbe]] as const) {
      if (!probe) continue
      const say = (port: unknown, problem: string): void => void problems.push({container: c.name, probe: kind, port: String(port), problem})
      if (probe.httpGet) {
        const h = probe.httpGet
        const port = resolvePort(h.port as number | string, c)
        if (port === undefined) {
          say(h.port, `its httpGet port "${String(h.port)}" names no port of container ${c.name}, so neither kubelet nor the proxy can find it`)
          continue
        }
        if (!proxySeesPort(f, port)) continue
        if (h.host) {
          say(h.port, `its httpGet probe sets host ${h.host}: kubelet sends it elsewhere, not through this pod's proxy`)
          continue
        }
        if ((h.scheme ?? 'HTTP').toUpperCase() === 'HTTPS') {
          say(h.port, `its httpGet probe uses HTTPS on port ${port}: the application's own TLS passes through the proxy, which cannot see the path (allow the port with a networks rule, or skip it: config.mesh.dev/skip-inbound-ports)`)
          continue
        }
        if (isOpaquePort(f, port)) {
          say(h.port, `its httpGet probe is on port ${port}, which the proxy carries as opaque TCP and cannot read paths on (remove the port from the opaque ports, or skip it)`)
          continue
        }
        const raw = h.path || '/'
        const q = raw.indexOf('?')
        const path = (q === -1 ? raw : raw.slice(0, q)) || '/'
        const rule: AuthzProbe = {port, method: 'GET', path: path.startsWith('/') ? path : `/${path}`}
        probes.set(`${rule.port} ${rule.method} ${rule.path}`, rule)
      } else if (probe.grpc) {
        const port = probe.grpc.port
        if (!proxySeesPort(f, port)) continue
        if (isOpaquePort(f, port)) {
          say(port, `its gRPC probe is on port ${port}, which the proxy carries as opaque TCP and cannot read paths on`)
          continue
        }
        probes.set(`${port} POST ${GRPC_HEALTH_PATH}`, {port, method: 'POST', path: GRPC_HEALTH_PATH})
      } else if (probe.tcpSocket) {
        const port = resolvePort(probe.tcpSocket.port as number | string, c)
        if (port === undefined) say(probe.tcpSocket.port, `its tcpSocket port "${String(probe.tcpSocket.port)}" names no port of container ${c.name}`)
        // A TCP probe passes once the connection is accepted: the proxy accepts before any policy.
      }
      // exec probes do not use the network.
    }
  }
  const sorted = [...probes.values()].sort((a, b) => a.port - b.port || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0) || (a.method < b.method ? -1 : 1))
  return {probes: sorted, problems}
}

/** Everything authorization policy reads from a pod. */
export function podFacts(pod: k8s.V1Pod, controlPlaneNamespace: string, trustDomain: string): PodFacts {
  const namespace = pod.metadata?.namespace ?? ''
  const sa = pod.spec?.serviceAccountName || 'default'
  const proxy = proxyContainer(pod)
  const env = (n: string): string | undefined => proxy?.env?.find((v) => v.name === n)?.value
  const annotations = {...(pod.metadata?.annotations ?? {})}
  const partial = {
    ignoredPorts: env(ProxyEnv.INBOUND_PORTS_TO_IGNORE) ?? `${PROXY_PORTS.admin},${PROXY_PORTS.tap}`,
    opaquePorts: [env(ProxyEnv.OPAQUE_PORTS), annotations[OPAQUE_PORTS_ANNOTATION]].filter(Boolean).join(','),
  }
  const {probes, problems} = podProbes(pod, partial)
  const containerPorts: PodFacts['containerPorts'] = []
  for (const c of [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])]) {
    if (c.name === PROXY_CONTAINER) continue
    for (const p of c.ports ?? []) if (p.containerPort) containerPorts.push(p.name ? {name: p.name, port: p.containerPort} : {port: p.containerPort})
  }
  const facts: PodFacts = {
    namespace,
    name: pod.metadata?.name ?? '',
    serviceAccount: sa,
    meshed: proxy !== undefined,
    identity: identityName(sa, namespace, controlPlaneNamespace, trustDomain),
    labels: {...(pod.metadata?.labels ?? {})},
    annotations,
    containerPorts,
    ...partial,
    probes,
    probeProblems: problems,
  }
  const owner = podOwner(pod)
  if (owner) facts.owner = owner
  const legacy = env(ProxyEnv.INBOUND_POLICY)
  if (legacy !== undefined && legacy.trim() !== '') facts.legacyInboundPolicy = legacy.trim()
  return facts
}

/** The pod's (template's) own default inbound policy annotation, as written. */
export function workloadDefaultAnnotation(f: Pick<PodFacts, 'annotations'>): string | undefined {
  return f.annotations[DEFAULT_INBOUND_POLICY_ANNOTATION]
}

/** Service ports whose selector selects `pod`, their target ports resolved on it (a name through its container ports). */
export function serviceTargets(services: readonly k8s.V1Service[], pod: PodFacts): ServicePortOnPod[] {
  const out: ServicePortOnPod[] = []
  for (const svc of services) {
    const selector = svc.spec?.selector
    if (!svc.metadata?.name || !selector || Object.keys(selector).length === 0 || svc.spec?.type === 'ExternalName') continue
    if (!selectorMatches({matchLabels: selector}, pod.labels)) continue
    for (const p of svc.spec?.ports ?? []) {
      if (p.protocol && p.protocol !== 'TCP') continue
      const t = p.targetPort as number | string | undefined
      const podPort = t === undefined ? p.port : typeof t === 'number' ? t : /^\d+$/.test(t) ? Number(t) : pod.containerPorts.find((c) => c.name === t)?.port
      if (podPort !== undefined) out.push({service: svc.metadata.name, port: p.port, podPort})
    }
  }
  return out
}
