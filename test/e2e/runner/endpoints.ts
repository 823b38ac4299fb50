// The endpoint controller's job for Services with selectors: one EndpointSlice per Service
// (`<svc>-e2e`, label kubernetes.io/service-name) listing the matching pods that have an IP,
// with their Ready condition, rewritten whenever a pod or the Service changes.
import type {Kube, Obj} from './kube.js'

export function matches(selector: Record<string, string> | undefined, labels: Record<string, string> | undefined): boolean {
  if (!selector || Object.keys(selector).length === 0) return false
  return Object.entries(selector).every(([k, v]) => labels?.[k] === v)
}

function targetPort(svcPort: Obj, pod: Obj): number | undefined {
  const tp = svcPort.targetPort ?? svcPort.port
  if (typeof tp === 'number') return tp
  if (/^\d+$/.test(String(tp))) return Number(tp)
  for (const c of [...(pod.spec.containers ?? []), ...(pod.spec.initContainers ?? [])] as Obj[]) {
    const p = ((c.ports ?? []) as Obj[]).find((x) => x.name === tp)
    if (p) return p.containerPort
  }
  return undefined
}

/** The desired slice for `svc` given the pods of its namespace (null: the Service has no selector). */
export function desiredSlice(svc: Obj, pods: Obj[]): Obj | null {
  if (!svc.spec?.selector) return null
  const selected = pods.filter((p) => matches(svc.spec.selector, p.metadata.labels) && p.status?.podIP && !p.metadata.deletionTimestamp)
  selected.sort((a, b) => a.metadata.name.localeCompare(b.metadata.name))
  const first = selected[0]
  const ports = ((svc.spec.ports ?? []) as Obj[]).map((sp) => ({
    name: sp.name ?? '', protocol: sp.protocol ?? 'TCP', port: first ? targetPort(sp, first) ?? sp.port : sp.port,
    ...(sp.appProtocol ? {appProtocol: sp.appProtocol} : {}),
  }))
  return {
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
    metadata: {
      name: `${svc.metadata.name}-e2e`, namespace: svc.metadata.namespace,
      labels: {'kubernetes.io/service-name': svc.metadata.name, 'endpointslice.kubernetes.io/managed-by': 'mesh-e2e-pod-runner'},
      ownerReferences: [{apiVersion: 'v1', kind: 'Service', name: svc.metadata.name, uid: svc.metadata.uid}],
    },
    addressType: 'IPv4',
    ports,
    endpoints: selected.map((p) => {
      const ready = (p.status?.conditions ?? []).some((c: Obj) => c.type === 'Ready' && c.status === 'True')
      return {
        addresses: [p.status.podIP],
        conditions: {ready, serving: ready, terminating: false},
        targetRef: {kind: 'Pod', namespace: p.metadata.namespace, name: p.metadata.name, uid: p.metadata.uid},
      }
    }),
  }
}

export class EndpointsController {
  private readonly written = new Map<string, string>()

  constructor(private readonly kube: Kube) {}

  async sync(services: Obj[], podsByNs: Map<string, Obj[]>): Promise<void> {
    for (const svc of services) {
      const want = desiredSlice(svc, podsByNs.get(svc.metadata.namespace) ?? [])
      if (!want) continue
      const key = `${svc.metadata.namespace}/${want.metadata.name}`
      const text = JSON.stringify({p: want.ports, e: want.endpoints, o: svc.metadata.uid})
      if (this.written.get(key) === text) continue
      const base = `/apis/discovery.k8s.io/v1/namespaces/${svc.metadata.namespace}/endpointslices`
      try {
        const cur = await this.kube.get(`${base}/${want.metadata.name}`).catch(() => null)
        if (cur) await this.kube.put(`${base}/${want.metadata.name}`, {...want, metadata: {...want.metadata, resourceVersion: cur.metadata.resourceVersion}})
        else await this.kube.post(base, want)
        this.written.set(key, text)
      } catch (err) {
        process.stderr.write(`[pod-runner] endpointslice ${key}: ${(err as Error).message}\n`)
      }
    }
  }

  forget(namespace: string, service: string): void {
    this.written.delete(`${namespace}/${service}-e2e`)
  }
}
