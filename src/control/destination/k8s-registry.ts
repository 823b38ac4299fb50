// Kubernetes backend: informers on Services, EndpointSlices, Pods and Namespaces (all
// namespaces). An endpoint is an EndpointSlice address that is ready; its port is the slice
// port named like the Service port; its identity is the pod's ServiceAccount identity when the
// pod is meshed (has a `mesh-proxy` container or init container); its labels come from the pod.
// Services are also indexed by their cluster IPs (spec.clusterIPs), for lookups by the original
// destination of a redirected connection, and Pods by their IPs (pod-endpoint.ts), so that a
// pod's own address resolves to that one endpoint.
import type * as k8s from '@kubernetes/client-node'
import type {EndpointLabels, WireEndpoint} from '../../protocol/destination.js'
import {startInformer, type Informer} from '../informer.js'
import type {Logger} from '../logger.js'
import {describePod, indexPodIps, OPAQUE_PORTS_ANNOTATION, podIpEndpoint, proxyServesPort} from './pod-endpoint.js'
import {ChangeFanout, ipKey, parsePortList, type PortResolution, type Registry, type ServiceRef} from './registry.js'

const SERVICE_NAME_LABEL = 'kubernetes.io/service-name'

export interface KubernetesRegistryOptions {
  lib: typeof k8s
  kc: k8s.KubeConfig
  controlPlaneNamespace?: string
  trustDomain?: string
  log: Logger
  /** How long start() waits for the first lists (default 60 s). */
  syncTimeoutMs?: number
  /** Ports opaque on pods without a `config.mesh.dev/opaque-ports` annotation (`3306,5432,...`; default none). */
  defaultOpaquePorts?: string
}

export {DEPLOYMENT_LABEL, OPAQUE_PORTS_ANNOTATION, PROXY_CONTAINER, podDeployment, podIsMeshed} from './pod-endpoint.js'

export class KubernetesRegistry implements Registry {
  private services: Informer<k8s.V1Service> | undefined
  private slices: Informer<k8s.V1EndpointSlice> | undefined
  private pods: Informer<k8s.V1Pod> | undefined
  private namespaces: Informer<k8s.V1Namespace> | undefined
  private readonly fanout = new ChangeFanout()
  private readonly pending = new Set<string>()
  private flush: NodeJS.Immediate | undefined
  /** spec.clusterIPs -> Service, rebuilt on the first lookup after any Service event. */
  private byIp: Map<string, ServiceRef> | undefined
  /** status.podIPs -> Pod (running, not terminating, not hostNetwork), rebuilt on the first lookup after any Pod event. */
  private byPodIp: Map<string, k8s.V1Pod> | undefined

  private readonly defaultOpaque: (port: number) => boolean

  constructor(private readonly o: KubernetesRegistryOptions) {
    this.defaultOpaque = parsePortList(o.defaultOpaquePorts)
  }

  /** Coalesces bursts (a relist, a rollout) into one change per namespace per tick. */
  private changed(ns: string | undefined): void {
    if (!ns) return
    this.pending.add(ns)
    this.flush ??= setImmediate(() => {
      this.flush = undefined
      const list = [...this.pending]
      this.pending.clear()
      for (const n of list) this.fanout.emit(n)
    })
  }

  async start(): Promise<void> {
    const {lib, kc, log} = this.o
    const core = kc.makeApiClient(lib.CoreV1Api)
    const discovery = kc.makeApiClient(lib.DiscoveryV1Api)
    const onEvent = (obj: k8s.KubernetesObject): void => this.changed(obj.metadata?.namespace ?? obj.metadata?.name)
    const onService = (obj: k8s.KubernetesObject): void => {
      this.byIp = undefined
      onEvent(obj)
    }
    this.services = startInformer({lib, kc, log, onEvent: onService, name: 'services', path: '/api/v1/services', list: () => core.listServiceForAllNamespaces()})
    this.slices = startInformer({lib, kc, log, onEvent, name: 'endpointslices', path: '/apis/discovery.k8s.io/v1/endpointslices', list: () => discovery.listEndpointSliceForAllNamespaces()})
    const onPod = (obj: k8s.KubernetesObject): void => {
      this.byPodIp = undefined
      onEvent(obj)
    }
    this.pods = startInformer({lib, kc, log, onEvent: onPod, name: 'pods', path: '/api/v1/pods', list: () => core.listPodForAllNamespaces()})
    this.namespaces = startInformer({lib, kc, log, onEvent, name: 'namespaces', path: '/api/v1/namespaces', list: () => core.listNamespace()})
    const timeoutMs = this.o.syncTimeoutMs ?? 60_000
    let timer: NodeJS.Timeout | undefined
    const ok = await Promise.race([
      Promise.all([this.services.synced, this.slices.synced, this.pods.synced, this.namespaces.synced]).then(() => true),
      new Promise<false>((r) => (timer = setTimeout(() => r(false), timeoutMs))),
    ])
    clearTimeout(timer)
    if (!ok) {
      await this.stop()
      throw new Error(`the Kubernetes registry could not list services, endpointslices, pods and namespaces within ${timeoutMs} ms (API server reachable? RBAC: list/watch on them cluster-wide)`)
    }
  }

  async stop(): Promise<void> {
    if (this.flush) clearImmediate(this.flush)
    await Promise.all([this.services?.stop(), this.slices?.stop(), this.pods?.stop(), this.namespaces?.stop()])
  }

  /** The informers' copies, read by authorization policy (src/control/authz/workloads.ts). */
  podObject(namespace: string, name: string): k8s.V1Pod | undefined {
    return this.pods?.get(name, namespace)
  }

  podObjects(namespace: string): ReadonlyArray<k8s.V1Pod> {
    return this.pods?.list(namespace) ?? []
  }

  serviceObjects(namespace: string): ReadonlyArray<k8s.V1Service> {
    return this.services?.list(namespace) ?? []
  }

  namespaceObject(name: string): k8s.V1Namespace | undefined {
    return this.namespaces?.get(name)
  }

  hasNamespace(namespace: string): boolean {
    return this.namespaces?.get(namespace) !== undefined
  }

  onChange(listener: (namespace: string) => void): () => void {
    return this.fanout.add(listener)
  }

  serviceAt(ip: string): ServiceRef | undefined {
    if (!this.byIp) {
      const index = new Map<string, ServiceRef>()
      for (const svc of this.services?.list() ?? []) {
        const namespace = svc.metadata?.namespace
        const service = svc.metadata?.name
        if (!namespace || !service) continue
        const ips = svc.spec?.clusterIPs?.length ? svc.spec.clusterIPs : [svc.spec?.clusterIP]
        for (const a of ips) if (a && a !== 'None') index.set(ipKey(a), {namespace, service})
      }
      this.byIp = index
    }
    return this.byIp.get(ipKey(ip))
  }

  podAt(ip: string, port: number): WireEndpoint | undefined {
    this.byPodIp ??= indexPodIps(this.pods?.list() ?? [])
    const pod = this.byPodIp.get(ipKey(ip))
    return pod ? podIpEndpoint(pod, ipKey(ip), port, this.o.controlPlaneNamespace ?? 'mesh-system', this.o.trustDomain ?? 'cluster.local', this.defaultOpaque) : undefined
  }

  resolve(namespace: string, service: string, port: number): PortResolution {
    const svc = this.services?.get(service, namespace)
    if (!svc) return {kind: 'noService'}
    if (svc.spec?.type === 'ExternalName') return {kind: 'external'}
    const svcPort = svc.spec?.ports?.find((p) => p.port === port)
    if (!svcPort) return {kind: 'noPort', ports: (svc.spec?.ports ?? []).map((p) => p.port)}
    const svcOpaque = parsePortList(svc.metadata?.annotations?.[OPAQUE_PORTS_ANNOTATION])(port)
    const cpNs = this.o.controlPlaneNamespace ?? 'mesh-system'
    const td = this.o.trustDomain ?? 'cluster.local'
    const out = new Map<string, WireEndpoint>()
    for (const slice of this.slices?.list(namespace) ?? []) {
      if (slice.metadata?.labels?.[SERVICE_NAME_LABEL] !== service) continue
      if (slice.addressType !== 'IPv4' && slice.addressType !== 'IPv6') continue
      const slicePort = (slice.ports ?? []).find((p) => (p.name ?? '') === (svcPort.name ?? ''))
      const target = slicePort?.port ?? (typeof svcPort.targetPort === 'number' ? svcPort.targetPort : undefined)
      if (!target) continue
      for (const ep of slice.endpoints ?? []) {
        if (ep.conditions?.ready === false) continue
        const address = ep.addresses?.[0]
        if (!address) continue
        const labels: EndpointLabels = {dst_namespace: namespace, dst_service: service}
        const e: WireEndpoint = {address, port: target, labels}
        const ref = ep.targetRef
        const pod = ref?.kind === 'Pod' && ref.name ? this.pods?.get(ref.name, ref.namespace ?? namespace) : undefined
        if (ref?.kind === 'Pod' && ref.name) labels.dst_pod = ref.name
        if (pod) {
          describePod(pod, namespace, target, e, cpNs, td, this.defaultOpaque)
          if (!proxyServesPort(pod, target)) delete e.identity
        } else if (this.defaultOpaque(target)) e.opaque = true
        if (svcOpaque) e.opaque = true
        out.set(`${address}:${target}`, e)
      }
    }
    return {kind: 'endpoints', endpoints: [...out.values()].sort((a, b) => (a.address === b.address ? a.port - b.port : a.address < b.address ? -1 : 1))}
  }
}
