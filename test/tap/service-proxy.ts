// Lets the test cluster's API server reach a tap server running in this test process through its
// service proxy (/api/v1/namespaces/mesh-system/services/https:mesh-tap:8089/proxy), as it would
// reach the controller's pod: the API server dials the Endpoints' pod IP, and Endpoints refuse
// loopback addresses. So: a veth pair whose host end gets a private address (its peer in a
// network namespace this harness creates), the tap server listening on that address with TLS, a
// mirror Pod Running at that IP (the service proxy checks the endpoint's targetRef pod has it),
// the Service mesh-tap and its Endpoints. A second host address serves as a pod IP for a proxy
// in this process. Root only (ip netns). Everything is removed by close().
// Traffic: the API server on this host to the host end's address, nothing else.
import {execFileSync} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import * as k8s from '@kubernetes/client-node'

export interface ServiceProxyRoute {
  /** The address the tap server must listen on. */
  ip: string
  /** A second host address, for a pod whose proxy runs in this process (its pod IP). */
  podIp: string
  /** podIp and the further host addresses asked for (`podIps`), one per in-process pod. */
  podIps: string[]
  /** Points mesh-system/<service> (default mesh-tap, port 8089 named tap) at ip:port. */
  publish(port: number, service?: PublishedService): Promise<void>
  close(): Promise<void>
}

/** A control plane Service the API server's service proxy should reach in this process. */
export interface PublishedService {
  name: string
  port: number
  portName: string
}

const NS = 'mesh-system'
const TAP: PublishedService = {name: 'mesh-tap', port: 8089, portName: 'tap'}

function ip(args: string[]): void {
  execFileSync('ip', args, {stdio: ['ignore', 'ignore', 'pipe'], timeout: 10_000})
}

export async function serviceProxyRoute(kc: k8s.KubeConfig, o: {podIps?: number} = {}): Promise<ServiceProxyRoute> {
  const id = randomBytes(2).toString('hex')
  const octet = 1 + (parseInt(id, 16) % 250)
  const hostIf = `mtap${id}`
  const netns = `mesh-tap-${id}`
  const hostIp = `10.253.${octet}.1`
  const core = kc.makeApiClient(k8s.CoreV1Api)
  let createdNamespace = false
  const removeNet = () => {
    for (const args of [['link', 'del', hostIf], ['netns', 'del', netns]]) {
      try {
        ip(args)
      } catch {
        // already gone
      }
    }
  }
  const onExit = () => removeNet()
  process.once('exit', onExit)
  try {
    ip(['netns', 'add', netns])
    ip(['link', 'add', hostIf, 'type', 'veth', 'peer', 'name', `${hostIf}p`])
    ip(['link', 'set', `${hostIf}p`, 'netns', netns])
    ip(['addr', 'add', `${hostIp}/29`, 'dev', hostIf])
    for (let i = 0; i < Math.max(1, o.podIps ?? 1); i++) ip(['addr', 'add', `10.253.${octet}.${3 + i}/32`, 'dev', hostIf])
    ip(['link', 'set', hostIf, 'up'])
    ip(['-n', netns, 'addr', 'add', `10.253.${octet}.2/29`, 'dev', `${hostIf}p`])
    ip(['-n', netns, 'link', 'set', `${hostIf}p`, 'up'])
  } catch (err) {
    removeNet()
    process.off('exit', onExit)
    throw err
  }
  const published = new Set<string>()
  const unpublish = async (name: string): Promise<void> => {
    await core.deleteNamespacedEndpoints({namespace: NS, name}).catch(() => {})
    await core.deleteNamespacedService({namespace: NS, name}).catch(() => {})
    await core.deleteNamespacedPod({namespace: NS, name: `${name}-test-host`, gracePeriodSeconds: 0}).catch(() => {})
  }
  return {
    ip: hostIp,
    podIp: `10.253.${octet}.3`,
    podIps: Array.from({length: Math.max(1, o.podIps ?? 1)}, (_, i) => `10.253.${octet}.${3 + i}`),
    publish: async (port, svc = TAP) => {
      const SERVICE = svc.name
      const MIRROR = `${svc.name}-test-host`
      published.add(SERVICE)
      try {
        await core.readNamespace({name: NS})
      } catch {
        await core.createNamespace({body: {metadata: {name: NS}}})
        createdNamespace = true
      }
      const labels = {'mesh.dev/test': 'tap-service-proxy'}
      // Whatever an earlier suite left under these names goes: this test's objects replace them.
      await unpublish(SERVICE)
      await core.createNamespacedService({namespace: NS, body: {metadata: {name: SERVICE, labels}, spec: {ports: [{name: svc.portName, port: svc.port, targetPort: port}]}}})
      const pod = await core.createNamespacedPod({namespace: NS, body: {metadata: {name: MIRROR, labels}, spec: {containers: [{name: 'controller', image: 'mesh'}]}}})
      const now = new Date().toISOString()
      await core.replaceNamespacedPodStatus({
        namespace: NS,
        name: MIRROR,
        body: {...pod, status: {phase: 'Running', podIP: hostIp, podIPs: [{ip: hostIp}], hostIP: hostIp, startTime: now as unknown as Date, conditions: [{type: 'Ready', status: 'True'}]}},
      })
      await core.createNamespacedEndpoints({
        namespace: NS,
        body: {metadata: {name: SERVICE, labels}, subsets: [{addresses: [{ip: hostIp, targetRef: {kind: 'Pod', namespace: NS, name: MIRROR}}], ports: [{name: svc.portName, port, protocol: 'TCP'}]}]},
      })
    },
    close: async () => {
      for (const name of published) await unpublish(name)
      if (createdNamespace) {
        // No namespace controller here: finalize the (now empty) namespace as it would.
        await core.deleteNamespace({name: NS}).catch(() => {})
        const ns = await core.readNamespace({name: NS}).catch(() => undefined)
        if (ns) await core.replaceNamespaceFinalize({name: NS, body: {...ns, spec: {finalizers: []}}}).catch(() => {})
      }
      removeNet()
      process.off('exit', onExit)
    },
  }
}
