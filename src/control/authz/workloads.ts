// Where the authorization policy learns about pods, their Services and their namespaces: the
// Kubernetes registry's informers (no second watch on pods), or the local registry file, whose
// endpoints stand for pods (`pod:`, `deployment:`, `serviceAccount:`, optional `labels:`).
import type {ServicePortOnPod} from '../../authz/compile.js'
import {podFacts, serviceTargets, type PodFacts} from '../../authz/pod.js'
import {identityName, PROXY_PORTS} from '../../protocol/proxy-env.js'
import type {KubernetesRegistry} from '../destination/k8s-registry.js'
import type {LocalRegistry} from '../destination/local-registry.js'

export interface WorkloadSource {
  /** The facts of a pod, or undefined while it is unknown. */
  pod(namespace: string, name: string): PodFacts | undefined
  /** Every pod known in a namespace (for `mesh authz`). */
  pods(namespace: string): PodFacts[]
  /** The Service ports of the pod's namespace that target it, with the pod port each reaches. */
  servicesOn(pod: PodFacts): ServicePortOnPod[]
  /** The Namespace's annotations; undefined when unknown. */
  namespaceAnnotations(namespace: string): Record<string, string> | undefined
  /** A change touching a namespace (pods, Services, the Namespace itself). */
  onChange(listener: (namespace: string) => void): () => void
}

export interface IdentityOptions {
  controlPlaneNamespace: string
  trustDomain: string
}

export class KubernetesWorkloads implements WorkloadSource {
  constructor(private readonly registry: KubernetesRegistry, private readonly o: IdentityOptions) {}

  pod(namespace: string, name: string): PodFacts | undefined {
    const pod = this.registry.podObject(namespace, name)
    return pod ? podFacts(pod, this.o.controlPlaneNamespace, this.o.trustDomain) : undefined
  }

  pods(namespace: string): PodFacts[] {
    return this.registry.podObjects(namespace).map((p) => podFacts(p, this.o.controlPlaneNamespace, this.o.trustDomain))
  }

  servicesOn(pod: PodFacts): ServicePortOnPod[] {
    return serviceTargets(this.registry.serviceObjects(pod.namespace), pod)
  }

  namespaceAnnotations(namespace: string): Record<string, string> | undefined {
    const ns = this.registry.namespaceObject(namespace)
    return ns ? {...(ns.metadata?.annotations ?? {})} : undefined
  }

  onChange(listener: (namespace: string) => void): () => void {
    return this.registry.onChange(listener)
  }
}

/** Local mode: pods are the registry file's endpoints that name a `pod`. */
export class LocalWorkloads implements WorkloadSource {
  private cached: {from: unknown; pods: Map<string, {facts: PodFacts; services: ServicePortOnPod[]}>} | undefined

  constructor(private readonly registry: LocalRegistry, private readonly o: IdentityOptions) {}

  /** Rebuilt once per reload of the file (the registry hands out a new map each time). */
  private all(): Map<string, {facts: PodFacts; services: ServicePortOnPod[]}> {
    const from = this.registry.serviceEndpoints()
    if (this.cached?.from === from) return this.cached.pods
    const out = new Map<string, {facts: PodFacts; services: ServicePortOnPod[]}>()
    for (const [key, ports] of from) {
      const [namespace, service] = key.split('/') as [string, string]
      for (const [port, endpoints] of ports) {
        for (const e of endpoints) {
          const name = e.labels.dst_pod
          if (!name) continue
          const k = `${namespace}/${name}`
          let entry = out.get(k)
          if (!entry) {
            const sa = e.labels.dst_serviceaccount ?? 'default'
            const facts: PodFacts = {
              namespace,
              name,
              serviceAccount: sa,
              meshed: e.identity !== undefined,
              identity: e.identity ?? identityName(sa, namespace, this.o.controlPlaneNamespace, this.o.trustDomain),
              labels: {...this.registry.podLabels(namespace, name)},
              annotations: {},
              containerPorts: [],
              ignoredPorts: `${PROXY_PORTS.admin},${PROXY_PORTS.tap}`,
              opaquePorts: '',
              probes: [],
              probeProblems: [],
            }
            if (e.labels.dst_deployment) facts.owner = {kind: 'Deployment', name: e.labels.dst_deployment}
            out.set(k, (entry = {facts, services: []}))
          }
          if (!entry.facts.containerPorts.some((c) => c.port === e.port)) entry.facts.containerPorts.push({port: e.port})
          entry.services.push({service, port, podPort: e.port})
        }
      }
    }
    this.cached = {from, pods: out}
    return out
  }

  pod(namespace: string, name: string): PodFacts | undefined {
    return this.all().get(`${namespace}/${name}`)?.facts
  }

  pods(namespace: string): PodFacts[] {
    return [...this.all().values()].filter((e) => e.facts.namespace === namespace).map((e) => e.facts)
  }

  servicesOn(pod: PodFacts): ServicePortOnPod[] {
    return this.all().get(`${pod.namespace}/${pod.name}`)?.services ?? []
  }

  namespaceAnnotations(namespace: string): Record<string, string> | undefined {
    return this.registry.hasNamespace(namespace) ? {} : undefined
  }

  onChange(listener: (namespace: string) => void): () => void {
    return this.registry.onChange(listener)
  }
}
