// Pods and EndpointSlices as a kubelet and the EndpointSlice controller would leave them, for
// suites whose proxies run in the test process (the test cluster has neither): a Running meshed
// pod at an address the API server can reach (a test veth's), with the proxy container's env the
// CLI reads (anchors, policy, admin port), and the slice of a Service pointing at such pods.
import * as k8s from '@kubernetes/client-node'
import {CONTROL_PLANE_NAMESPACE} from '../../src/protocol/control-plane.js'
import {core, kc} from './install-helpers.js'

export interface MeshedPodSpec {
  sa: string
  ip: string
  /** The proxy container's env (name -> value). */
  env?: Record<string, string>
  labels?: Record<string, string>
  annotations?: Record<string, string>
  nodeName?: string
}

/** Creates the pod, then writes its status: Running and ready at `ip`. */
export async function createMeshedPod(namespace: string, name: string, o: MeshedPodSpec): Promise<void> {
  const env = Object.entries(o.env ?? {}).map(([k, value]) => ({name: k, value}))
  const body: k8s.V1Pod = {
    metadata: {name, namespace, labels: {app: name.replace(/-\d+$/, ''), 'mesh.dev/control-plane-ns': CONTROL_PLANE_NAMESPACE, ...o.labels}, ...(o.annotations ? {annotations: o.annotations} : {})},
    spec: {serviceAccountName: o.sa, ...(o.nodeName ? {nodeName: o.nodeName} : {}), containers: [{name: 'app', image: 'app'}, {name: 'mesh-proxy', image: 'ghcr.io/mesh-dev/mesh:test', env}]},
  }
  await core.createNamespacedPod({namespace, body})
  const created = await core.readNamespacedPod({name, namespace})
  created.status = {phase: 'Running', podIP: o.ip, podIPs: [{ip: o.ip}], conditions: [{type: 'Ready', status: 'True'}], containerStatuses: ['app', 'mesh-proxy'].map((c) => ({name: c, image: c, imageID: '', ready: true, restartCount: 0}))}
  await core.replaceNamespacedPodStatus({name, namespace, body: created})
}

/** Creates or replaces the EndpointSlice `<service>-slice`: one ready endpoint per pod. */
export async function setEndpointSlice(namespace: string, service: string, port: number, pods: Array<{name: string; ip: string}>): Promise<void> {
  const api = kc.makeApiClient(k8s.DiscoveryV1Api)
  const name = `${service}-slice`
  const body: k8s.V1EndpointSlice = {
    metadata: {name, namespace, labels: {'kubernetes.io/service-name': service}},
    addressType: 'IPv4',
    ports: [{name: 'http', port, protocol: 'TCP'}],
    endpoints: pods.map((p) => ({addresses: [p.ip], conditions: {ready: true}, targetRef: {kind: 'Pod', name: p.name, namespace}})),
  }
  try {
    const cur = await api.readNamespacedEndpointSlice({name, namespace})
    await api.replaceNamespacedEndpointSlice({name, namespace, body: {...body, metadata: {...body.metadata, resourceVersion: cur.metadata!.resourceVersion}}})
  } catch {
    await api.createNamespacedEndpointSlice({namespace, body})
  }
}
