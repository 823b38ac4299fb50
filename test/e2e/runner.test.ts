// PRIVILEGED (root, iproute2, iptables): the pod runner with plain (non-meshed) pods on the
// test cluster. Pods become network namespaces with an IP in their status, Services get
// EndpointSlices, pods reach each other by pod IP; a name that resolves to a ClusterIP leads
// into the blackhole (no proxy here to intercept it), on the host too.
import {execFileSync} from 'node:child_process'
import net from 'node:net'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {testCluster} from '../cluster/cluster.js'
import {PodRunner} from './runner/runner.js'
import {BRIDGE, listOurNetns} from './runner/net.js'
import type {Obj} from './runner/kube.js'
import {eventuallyWith} from '../helpers/eventually.js'

const NS = 'e2e-plain'
const cluster = testCluster()
let runner: PodRunner

const app = `
apiVersion: v1
kind: Namespace
metadata: {name: ${NS}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: ${NS}}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: mesh-e2e/http-echo:1
        env: [{name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}, {name: PORT, value: "8080"}]
        ports: [{name: http, containerPort: 8080}]
        readinessProbe: {httpGet: {path: /ready, port: http}, periodSeconds: 1}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: ${NS}}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: v1
kind: Pod
metadata: {name: echo, namespace: ${NS}, labels: {app: echo}}
spec:
  containers:
  - name: echo
    image: mesh-e2e/tcp-echo:1
    env: [{name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}]
    readinessProbe: {tcpSocket: {port: 9000}}
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: ${NS}}
spec:
  containers:
  - name: client
    image: mesh-e2e/tcp-echo:1
    env: [{name: PORT, value: "9001"}]
`

async function kubectl(args: string[], stdin?: string): Promise<string> {
  const r = await cluster.kubectl(args, {stdin, allowFailure: true})
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.code}):\n${r.stderr}\n${r.stdout}`)
  return r.stdout
}
const getJson = async (args: string[]): Promise<Obj> => JSON.parse(await kubectl([...args, '-o', 'json'])) as Obj

const eventually = eventuallyWith({context: () => runner.describe()})

function webPods(): string[] {
  return [...runner.pods.values()].filter((p) => p.metadata.namespace === NS && p.metadata.labels?.app === 'web').map((p) => `${NS}/${p.metadata.name}`)
}

beforeAll(async () => {
  runner = await PodRunner.start(cluster, {namespaces: [NS]})
  await kubectl(['apply', '-f', '-'], app)
  await eventually('2 web pods', async () => (webPods().length === 2 ? true : undefined))
  await runner.waitReady([...webPods(), `${NS}/echo`, `${NS}/client`], 60_000)
}, 120_000)

afterAll(async () => {
  await runner?.stop()
  await cluster.kubectl(['delete', 'ns', NS, '--wait=false'], {allowFailure: true})
  // Nothing of ours is left on the host.
  expect(listOurNetns()).toEqual([])
  const links = execFileSync('ip', ['-o', 'link', 'show']).toString()
  expect(links).not.toContain(BRIDGE)
  expect(links, 'host ends of our veths').not.toMatch(/\bmve\d+@/)
})

describe('pod runner with plain pods', () => {
  it('gives each pod a network namespace and writes its IP and Ready condition into the status', async () => {
    const pods = await getJson(['get', 'pods', '-n', NS])
    expect(pods.items).toHaveLength(4)
    for (const p of pods.items as Obj[]) {
      expect(p.status.podIP, p.metadata.name).toMatch(/^10\.244\.\d+\.\d+$/)
      expect(p.status.phase).toBe('Running')
      expect(p.status.conditions.find((c: Obj) => c.type === 'Ready').status).toBe('True')
      const inst = runner.instance(NS, p.metadata.name)!
      const addr = execFileSync('ip', ['netns', 'exec', inst.netns, 'ip', '-o', '-4', 'addr', 'show', 'eth0']).toString()
      expect(addr).toContain(`${p.status.podIP}/16`)
      // The service CIDR is a blackhole inside the pod, and there is no default route.
      const routes = execFileSync('ip', ['netns', 'exec', inst.netns, 'ip', 'route']).toString()
      expect(routes).toContain('blackhole 10.96.0.0/16')
      expect(routes).not.toContain('default')
    }
    expect(execFileSync('ip', ['route', 'show', '10.96.0.0/16']).toString()).toContain('blackhole')
  })

  it('creates the Service\'s EndpointSlice with the ready pods and the resolved target port', async () => {
    const slice = await getJson(['get', 'endpointslice', '-n', NS, 'web-e2e'])
    expect(slice.metadata.labels['kubernetes.io/service-name']).toBe('web')
    expect(slice.ports).toEqual([{name: 'http', port: 8080, protocol: 'TCP'}])
    const ips = (slice.endpoints as Obj[]).map((e) => e.addresses[0]).sort()
    const podIps = webPods().map((k) => runner.pods.get(k)!.status.podIP).sort()
    expect(ips).toEqual(podIps)
    expect((slice.endpoints as Obj[]).every((e) => e.conditions.ready === true)).toBe(true)
  })

  it('lets a pod reach other pods by pod IP over HTTP and TCP', async () => {
    for (const k of webPods()) {
      const ip = runner.pods.get(k)!.status.podIP
      const r = await runner.client(NS, 'client', ['http', `http://${ip}:8080/hello`, '3'])
      expect(r, r.raw).toMatchObject({ok: 3, failed: 0, pods: {[k.split('/')[1]!]: 3}})
    }
    const echoIp = runner.pods.get(`${NS}/echo`)!.status.podIP
    const t = await runner.client(NS, 'client', ['tcp', `${echoIp}:9000`, '2'])
    expect(t, t.raw).toMatchObject({ok: 2, failed: 0, pods: {echo: 2}})
  })

  it('maps Service names to ClusterIPs in the pod\'s hosts file, and the ClusterIP is a blackhole without a proxy', async () => {
    const svc = await getJson(['get', 'svc', '-n', NS, 'web'])
    const inst = runner.instance(NS, 'client')!
    const hosts = execFileSync('ip', ['netns', 'exec', inst.netns, 'cat', '/etc/hosts']).toString()
    expect(hosts).toContain(`${svc.spec.clusterIP} web.${NS}.svc.cluster.local web.${NS}.svc web.${NS} web`)
    const r = await runner.client(NS, 'client', ['http', `http://web.${NS}.svc.cluster.local/`, '1'])
    expect(r, r.raw).toMatchObject({ok: 0, failed: 1})
    // A blackhole route refuses the connect outright (EINVAL), in the pod and on the host.
    expect(r.errors[0]).toMatch(/EINVAL|invalid argument/i)
    const host = execFileSync(process.execPath, ['-e', `require('net').connect(80, '${svc.spec.clusterIP}').on('error', (e) => console.log(e.code)).on('connect', () => console.log('connected'))`]).toString()
    expect(host.trim()).toBe('EINVAL')
  })

  it('realizes a pod deleted and recreated under the same name as a new pod (tracked by uid)', async () => {
    const old = runner.instance(NS, 'echo')!
    const oldUid = old.pod.metadata.uid as string
    const manifest = (await kubectl(['get', 'pod', 'echo', '-n', NS, '-o', 'json']))
    const spec = JSON.parse(manifest) as Obj
    const fresh = {apiVersion: 'v1', kind: 'Pod', metadata: {name: 'echo', namespace: NS, labels: spec.metadata.labels}, spec: spec.spec}
    // An open connection keeps the old echo from exiting on SIGTERM: it stops only after its grace,
    // so the successor starts while the predecessor is still stopping.
    const held = net.connect(9000, old.ip)
    held.on('error', () => {})
    await new Promise((r) => held.once('data', r))
    // No nodeName: the API server deletes at once, while the old processes still get their grace.
    await kubectl(['delete', 'pod', 'echo', '-n', NS, '--wait=false'])
    await kubectl(['create', '-f', '-'], JSON.stringify(fresh))
    const inst = await eventually('the new echo pod to be realized', async () => {
      const i = runner.instance(NS, 'echo')
      return i && i.pod.metadata.uid !== oldUid && i.isReady() ? i : undefined
    })
    expect(old.stopping, 'the predecessor is still stopping').toBe(true)
    expect(listOurNetns(), 'both netns exist side by side').toEqual(expect.arrayContaining([old.netns, inst.netns]))
    expect(inst.netns).not.toBe(old.netns)
    expect(inst.dir, 'the successor has its own files').not.toBe(old.dir)
    await runner.waitReady([`${NS}/echo`], 30_000)
    await eventually('the old echo netns to go', async () => (listOurNetns().includes(old.netns) ? undefined : true))
    held.destroy()
    // The new one serves, at its own IP, in the status the API has now.
    const ip = (await getJson(['get', 'pod', 'echo', '-n', NS])).status.podIP as string
    expect(ip).toBe(inst.ip)
    const t = await runner.client(NS, 'client', ['tcp', `${ip}:9000`, '2'])
    expect(t, t.raw).toMatchObject({ok: 2, failed: 0, pods: {echo: 2}})
  })

  it('replaces a deleted Deployment pod with a new pod under a new name, as the ReplicaSet controller does', async () => {
    const webs = (): Obj[] => [...runner.pods.values()].filter((p) => p.metadata.namespace === NS && p.metadata.labels?.app === 'web')
    const before = webs()
    expect(before).toHaveLength(2)
    const victim = before[0]!.metadata.name as string
    const oldUids = new Set(before.map((p) => p.metadata.uid as string))
    await kubectl(['delete', 'pod', victim, '-n', NS, '--wait=false'])
    const fresh = await eventually('a replacement web pod', async () => webs().find((p) => !oldUids.has(p.metadata.uid as string)))
    // Traffic to the replacement can never be taken for its predecessor's: the answers name
    // the pod, and a name is never given twice.
    expect(before.map((p) => p.metadata.name), 'the replacement has a name of its own').not.toContain(fresh.metadata.name)
    await runner.waitReady([`${NS}/${fresh.metadata.name}`], 60_000)
    const inst = runner.instance(NS, fresh.metadata.name)!
    const r = await runner.client(NS, 'client', ['http', `http://${inst.ip}:8080/`, '2'])
    expect(r, r.raw).toMatchObject({ok: 2, failed: 0, pods: {[fresh.metadata.name]: 2}})
    await eventually('2 web pods', async () => (webs().length === 2 ? true : undefined))
  })

  it('follows a scale-down: the EndpointSlice drops the deleted pod and its namespace goes away', async () => {
    const before = webPods()
    await kubectl(['scale', 'deployment', 'web', '-n', NS, '--replicas=1'])
    const slice = await eventually('the slice to list one endpoint', async () => {
      const s = await getJson(['get', 'endpointslice', '-n', NS, 'web-e2e'])
      return s.endpoints?.length === 1 ? s : undefined
    })
    const gone = before.find((k) => !webPods().includes(k))!
    expect(gone).toBeDefined()
    expect(slice.endpoints[0].targetRef.name).not.toBe(gone.split('/')[1])
    await eventually('the deleted pod\'s netns to go', async () => (runner.instance(NS, gone.split('/')[1]!) ? undefined : true))
    expect(listOurNetns().some((n) => n.endsWith(gone.split('/')[1]!))).toBe(false)
  })
})
