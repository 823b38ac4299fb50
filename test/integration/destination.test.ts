/**
 * Destination on the real test cluster: Services, EndpointSlices and Pods through informers,
 * streamed over WSS to the proxy's DestinationClient; EndpointSlice changes reach the
 * connected client as pushed changes (how soon depends on the machine: no bound here).
 * (Endpoint addresses are 10.244.x.x: nothing connects to them.)
 */
import {randomBytes, randomUUID} from 'node:crypto'
import {mkdtempSync, rmSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import * as k8s from '@kubernetes/client-node'
import {testCluster} from '../cluster/cluster.js'
import {identityName} from '../../src/protocol/proxy-env.js'
import {NoSuchServiceError, type EndpointSet, type Resolution} from '../../src/proxy/core/contracts.js'
import {controllerIdentityName, ensureLocalIdentityDir, FileIssuerSource, ServingCert, type LocalIdentityDir} from '../../src/control/identity/index.js'
import {startDestinationService, type DestinationService} from '../../src/control/destination/index.js'
import {KubernetesRegistry} from '../../src/control/destination/k8s-registry.js'
import {DestinationClient} from '../../src/proxy/discovery/destination-client.js'
import {silentLogger} from '../../src/control/logger.js'
import {eventually} from '../helpers/eventually.js'

const cluster = testCluster()
const ns = `dest-${randomBytes(3).toString('hex')}`
const kc = new k8s.KubeConfig()
kc.loadFromFile(cluster.kubeconfigPath)
kc.setCurrentContext('admin')
const core = kc.makeApiClient(k8s.CoreV1Api)
const discovery = kc.makeApiClient(k8s.DiscoveryV1Api)

let tmp: string
let local: LocalIdentityDir
let issuer: FileIssuerSource
let serving: ServingCert
let dest: DestinationService
let client: DestinationClient

const MESHED = 'web-7d9f8c-abcde'
const PLAIN = 'web-plain-1'

function slice(name: string, service: string, endpoints: k8s.V1Endpoint[], portName = 'http', port = 8080): k8s.V1EndpointSlice {
  return {
    metadata: {name, namespace: ns, labels: {'kubernetes.io/service-name': service}},
    addressType: 'IPv4',
    ports: [{name: portName, port, protocol: 'TCP'}],
    endpoints,
  }
}
const ep = (ip: string, pod: string, ready = true): k8s.V1Endpoint => ({addresses: [ip], conditions: {ready}, targetRef: {kind: 'Pod', name: pod, namespace: ns}})

/**
 * The first pushed change (or the current state) that passes `pred`. The deadline only guards
 * against a hang: how soon a change arrives depends on the machine, and is measured in bench/.
 */
function until(r: Resolution, pred: (s: EndpointSet) => boolean, timeoutMs = 30_000): Promise<EndpointSet> {
  return new Promise((resolve, reject) => {
    if (pred(r.current())) return resolve(r.current())
    const timer = setTimeout(() => {
      off()
      reject(new Error(`no matching change within ${timeoutMs} ms; have ${JSON.stringify(r.current().endpoints)}`))
    }, timeoutMs)
    const off = r.onChange((s) => {
      if (!pred(s)) return
      clearTimeout(timer)
      off()
      resolve(s)
    })
  })
}

/**
 * Resolves `authority` until `want` holds (the informers see new objects within moments); the
 * last answer when the deadline passes, for the caller's assertion to show.
 */
async function resolveSoon(authority: string, want = (r: Resolution | null): boolean => !!r?.current().endpoints.length): Promise<Resolution | null> {
  let last: Resolution | null = null
  return eventually(`${authority} to resolve`, async () => {
    last?.close()
    last = await client.resolve(authority)
    return want(last) ? last : undefined
  }, {intervalMs: 100}).catch(() => last)
}

beforeAll(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'mesh-it-dest-'))
  local = await ensureLocalIdentityDir(path.join(tmp, 'id'))
  issuer = new FileIssuerSource(local.dir, silentLogger, 0)
  await issuer.start()
  serving = new ServingCert({name: controllerIdentityName(), issuer, log: silentLogger})
  await serving.start()
  await core.createNamespace({body: {metadata: {name: ns}}})
  await core.createNamespacedService({namespace: ns, body: {metadata: {name: 'web'}, spec: {ports: [{name: 'http', port: 80, targetPort: 8080}], selector: {app: 'web'}}}})
  await core.createNamespacedService({namespace: ns, body: {metadata: {name: 'db', annotations: {'config.mesh.dev/opaque-ports': '5432'}}, spec: {ports: [{name: 'pg', port: 5432}]}}})
  await core.createNamespacedService({namespace: ns, body: {metadata: {name: 'ext'}, spec: {type: 'ExternalName', externalName: 'example.com'}}})
  await core.createNamespacedPod({
    namespace: ns,
    body: {
      metadata: {
        name: MESHED,
        labels: {app: 'web', 'pod-template-hash': '7d9f8c'},
        ownerReferences: [{apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-7d9f8c', uid: randomUUID(), controller: true}],
      },
      spec: {serviceAccountName: 'web', containers: [{name: 'app', image: 'app:1'}, {name: 'mesh-proxy', image: 'mesh:1'}]},
    },
  })
  await core.createNamespacedPod({namespace: ns, body: {metadata: {name: PLAIN, labels: {app: 'web', 'mesh.dev/proxy-deployment': 'web-legacy'}}, spec: {containers: [{name: 'app', image: 'app:1'}]}}})
  await discovery.createNamespacedEndpointSlice({namespace: ns, body: slice('web-a', 'web', [ep('10.244.1.5', MESHED)])})
  await discovery.createNamespacedEndpointSlice({namespace: ns, body: slice('db-a', 'db', [{addresses: ['10.244.2.9'], conditions: {ready: true}}], 'pg', 5432)})
  dest = await startDestinationService({registry: new KubernetesRegistry({lib: k8s, kc, log: silentLogger}), serving, host: '127.0.0.1', port: 0, log: silentLogger})
  client = new DestinationClient({addr: `wss://127.0.0.1:${dest.port}`, namespace: ns, trustAnchorsPem: local.anchorsPem, serverName: controllerIdentityName()})
})

afterAll(async () => {
  client?.close()
  await dest?.stop()
  serving?.stop()
  await issuer?.stop()
  await core.deleteNamespace({name: ns}).catch(() => {})
  rmSync(tmp, {recursive: true, force: true})
})

describe('destination on a real API server', () => {
  it('streams the EndpointSlice endpoints with the target port, identity of meshed pods and dst_* labels', async () => {
    for (const authority of [`web.${ns}.svc.cluster.local:80`, `web.${ns}.svc:80`, `web.${ns}:80`, 'web:80']) {
      const r = (await client.resolve(authority))!
      expect(r.current().endpoints, authority).toEqual([
        {host: '10.244.1.5', port: 8080, identity: identityName('web', ns), labels: {dst_namespace: ns, dst_service: 'web', dst_pod: MESHED, dst_serviceaccount: 'web', dst_deployment: 'web'}},
      ])
      r.close()
    }
    const db = (await client.resolve(`db.${ns}.svc.cluster.local:5432`))!
    expect(db.current().endpoints).toEqual([{host: '10.244.2.9', port: 5432, opaque: true, labels: {dst_namespace: ns, dst_service: 'db'}}])
    db.close()
  })

  it('EndpointSlice changes reach the connected client (pushed, not polled)', async () => {
    const r = (await client.resolve(`web.${ns}.svc.cluster.local:80`))!
    try {
      // Add a non-meshed endpoint: no identity, deployment from the label.
      await discovery.replaceNamespacedEndpointSlice({name: 'web-a', namespace: ns, body: slice('web-a', 'web', [ep('10.244.1.5', MESHED), ep('10.244.1.6', PLAIN)])})
      await until(r, (s) => s.endpoints.length === 2)
      const plain = r.current().endpoints.find((e) => e.host === '10.244.1.6')!
      expect(plain.identity).toBeUndefined()
      expect(plain.labels).toEqual({dst_namespace: ns, dst_service: 'web', dst_pod: PLAIN, dst_serviceaccount: 'default', dst_deployment: 'web-legacy'})
      // A second slice for the same service adds to the set.
      await discovery.createNamespacedEndpointSlice({namespace: ns, body: slice('web-b', 'web', [ep('10.244.3.1', MESHED)])})
      await until(r, (s) => s.endpoints.length === 3)
      // Not ready: removed.
      await discovery.replaceNamespacedEndpointSlice({name: 'web-a', namespace: ns, body: slice('web-a', 'web', [ep('10.244.1.5', MESHED, false), ep('10.244.1.6', PLAIN)])})
      await until(r, (s) => !s.endpoints.some((e) => e.host === '10.244.1.5'))
      // Slices deleted: empty (503 fast in the proxy), still a known service.
      await discovery.deleteNamespacedEndpointSlice({name: 'web-a', namespace: ns})
      await discovery.deleteNamespacedEndpointSlice({name: 'web-b', namespace: ns})
      await until(r, (s) => s.endpoints.length === 0)
      await discovery.createNamespacedEndpointSlice({namespace: ns, body: slice('web-a', 'web', [ep('10.244.1.7', MESHED)])})
      await until(r, (s) => s.endpoints.length === 1 && s.endpoints[0]!.host === '10.244.1.7')
    } finally {
      r.close()
    }
  })

  it('a pod becoming meshed changes the endpoint identity', async () => {
    await discovery.replaceNamespacedEndpointSlice({name: 'web-a', namespace: ns, body: slice('web-a', 'web', [ep('10.244.1.6', PLAIN)])})
    const r = (await client.resolve(`web.${ns}.svc.cluster.local:80`))!
    try {
      await until(r, (s) => s.endpoints.length === 1 && s.endpoints[0]!.host === '10.244.1.6')
      expect(r.current().endpoints[0]!.identity).toBeUndefined()
      // Pods are immutable in their containers: replace the pod with a meshed one of the same name.
      await core.deleteNamespacedPod({name: PLAIN, namespace: ns, gracePeriodSeconds: 0})
      await core.createNamespacedPod({namespace: ns, body: {metadata: {name: PLAIN, labels: {app: 'web'}}, spec: {serviceAccountName: 'legacy', initContainers: [{name: 'mesh-proxy', image: 'mesh:1', restartPolicy: 'Always'}], containers: [{name: 'app', image: 'app:1'}]}}})
      await until(r, (s) => s.endpoints[0]?.identity === identityName('legacy', ns))
    } finally {
      r.close()
    }
  })

  it('unknown services fail fast, ExternalName and outside names fall back to DNS', async () => {
    await expect(client.resolve(`nope.${ns}.svc.cluster.local:80`)).rejects.toBeInstanceOf(NoSuchServiceError)
    await expect(client.resolve(`nope.${ns}:80`)).rejects.toBeInstanceOf(NoSuchServiceError)
    await expect(client.resolve(`web.${ns}.svc.cluster.local:81`)).rejects.toBeInstanceOf(NoSuchServiceError)
    expect(await client.resolve(`ext.${ns}.svc.cluster.local:80`)).toBeNull()
    expect(await client.resolve('example.com:443')).toBeNull()
  })

  it('a Service deleted while watched empties the set', async () => {
    const r = (await client.resolve(`db.${ns}.svc.cluster.local:5432`))!
    try {
      expect(r.current().endpoints).toHaveLength(1)
      await core.deleteNamespacedService({name: 'db', namespace: ns})
      await until(r, (s) => s.endpoints.length === 0)
    } finally {
      r.close()
    }
    await expect(client.resolve(`db.${ns}.svc.cluster.local:5432`)).rejects.toBeInstanceOf(NoSuchServiceError)
  })
})

describe('destination lookups by cluster IP (the original destination of a redirected connection)', () => {
  const svcIp = async (name: string): Promise<string> => {
    const s = await core.readNamespacedService({name, namespace: ns})
    const ip = s.spec?.clusterIP
    if (!ip || ip === 'None') throw new Error(`service ${name} has no cluster IP`)
    return ip
  }

  it('a Service\'s ClusterIP:port resolves to the same endpoints as its name and follows EndpointSlice changes', async () => {
    await core.createNamespacedService({namespace: ns, body: {metadata: {name: 'api'}, spec: {ports: [{name: 'http', port: 80, targetPort: 8080}, {name: 'grpc', port: 9090}], selector: {app: 'api'}}}})
    await discovery.createNamespacedEndpointSlice({namespace: ns, body: slice('api-a', 'api', [ep('10.244.5.1', MESHED)])})
    const ip = await svcIp('api')
    expect(ip).toMatch(/^10\.96\./)
    const byName = (await client.resolve(`api.${ns}.svc.cluster.local:80`))!
    const byIp = (await client.resolve(`${ip}:80`))!
    try {
      await until(byIp, (s) => s.endpoints.length === 1)
      expect(byIp.current().endpoints).toEqual([
        {host: '10.244.5.1', port: 8080, identity: identityName('web', ns), labels: {dst_namespace: ns, dst_service: 'api', dst_pod: MESHED, dst_serviceaccount: 'web', dst_deployment: 'web'}},
      ])
      expect(byIp.current()).toEqual(byName.current())
      await discovery.replaceNamespacedEndpointSlice({name: 'api-a', namespace: ns, body: slice('api-a', 'api', [ep('10.244.5.1', MESHED), ep('10.244.5.2', MESHED)])})
      await until(byIp, (s) => s.endpoints.length === 2)
      await discovery.replaceNamespacedEndpointSlice({name: 'api-a', namespace: ns, body: slice('api-a', 'api', [ep('10.244.5.2', MESHED)])})
      await until(byIp, (s) => s.endpoints.length === 1 && s.endpoints[0]!.host === '10.244.5.2')
    } finally {
      byName.close()
      byIp.close()
    }
  })

  it('a ClusterIP with a port the Service lacks fails fast; an address that is no ClusterIP is external', async () => {
    const ip = await svcIp('api')
    await expect(client.resolve(`${ip}:81`)).rejects.toBeInstanceOf(NoSuchServiceError)
    expect(await client.resolve('10.244.5.1:8080')).toBeNull()
    expect(await client.resolve('10.96.255.254:80')).toBeNull()
  })

  it('a Service created after the controller started is found by its ClusterIP; deleting it empties the set', async () => {
    await core.createNamespacedService({namespace: ns, body: {metadata: {name: 'late', annotations: {'config.mesh.dev/opaque-ports': '6379'}}, spec: {ports: [{name: 'redis', port: 6379}]}}})
    await discovery.createNamespacedEndpointSlice({namespace: ns, body: slice('late-a', 'late', [ep('10.244.6.1', PLAIN)], 'redis', 6379)})
    const ip = await svcIp('late')
    // The informers see the new objects within moments: retry the first lookup until they do.
    const r = await resolveSoon(`${ip}:6379`)
    expect(r, 'the new Service is found by its ClusterIP').not.toBeNull()
    try {
      expect(r!.current().endpoints).toHaveLength(1)
      expect(r!.current().endpoints[0]).toMatchObject({host: '10.244.6.1', port: 6379, opaque: true, labels: {dst_namespace: ns, dst_service: 'late', dst_pod: PLAIN}})
      await core.deleteNamespacedService({name: 'late', namespace: ns})
      await until(r!, (s) => s.endpoints.length === 0)
    } finally {
      r!.close()
    }
    expect(await client.resolve(`${ip}:6379`)).toBeNull()
  })
})

describe('destination lookups by pod IP (a headless Service, a StatefulSet peer)', () => {
  const setStatus = async (name: string, status: k8s.V1PodStatus): Promise<void> => {
    const pod = await core.readNamespacedPod({name, namespace: ns})
    await core.replaceNamespacedPodStatus({name, namespace: ns, body: {...pod, status}})
  }
  const running = (ip: string): k8s.V1PodStatus => ({phase: 'Running', podIP: ip, podIPs: [{ip}]})
  const createPod = async (name: string, spec: k8s.V1PodSpec, meta: k8s.V1ObjectMeta = {}): Promise<void> => {
    await core.createNamespacedPod({namespace: ns, body: {metadata: {name, ...meta}, spec}})
  }
  const meshedSpec = (sa: string, ignore = '4190,4191,7000'): k8s.V1PodSpec => ({
    serviceAccountName: sa,
    containers: [{name: 'app', image: 'app:1'}, {name: 'mesh-proxy', image: 'mesh:1', env: [{name: 'MESH_PROXY_INBOUND_PORTS_TO_IGNORE', value: ignore}]}],
  })

  it('a running meshed pod\'s IP:port is that one endpoint with its identity and labels, and follows the pod', async () => {
    await createPod('db-0', meshedSpec('db'), {labels: {app: 'db'}, annotations: {'config.mesh.dev/opaque-ports': '9000'}, finalizers: ['mesh.dev/test-hold']})
    await setStatus('db-0', running('10.244.7.5'))
    const r = await resolveSoon('10.244.7.5:9000')
    expect(r, 'the pod is found by its IP').not.toBeNull()
    try {
      expect(r!.current().endpoints).toEqual([
        {host: '10.244.7.5', port: 9000, identity: identityName('db', ns), opaque: true, labels: {dst_namespace: ns, dst_pod: 'db-0', dst_serviceaccount: 'db'}},
      ])
      // Labels follow the pod.
      await core.patchNamespacedPod({name: 'db-0', namespace: ns, body: [{op: 'add', path: '/metadata/labels/mesh.dev~1proxy-deployment', value: 'db'}]})
      await until(r!, (s) => s.endpoints[0]?.labels.dst_deployment === 'db')
      expect(r!.current().endpoints[0]!.identity).toBe(identityName('db', ns))
      // Terminating (held by a finalizer): it no longer owns its IP, the set empties.
      await core.deleteNamespacedPod({name: 'db-0', namespace: ns})
      await until(r!, (s) => s.endpoints.length === 0)
      await core.patchNamespacedPod({name: 'db-0', namespace: ns, body: [{op: 'remove', path: '/metadata/finalizers'}]})
      // The IP given to another (unmeshed) pod: the stream follows it, without identity.
      await createPod('cache-1', {containers: [{name: 'app', image: 'app:1'}]})
      await setStatus('cache-1', running('10.244.7.5'))
      await until(r!, (s) => s.endpoints[0]?.labels.dst_pod === 'cache-1')
      expect(r!.current().endpoints).toEqual([{host: '10.244.7.5', port: 9000, labels: {dst_namespace: ns, dst_pod: 'cache-1', dst_serviceaccount: 'default'}}])
      // Deleted: empty.
      await core.deleteNamespacedPod({name: 'cache-1', namespace: ns, gracePeriodSeconds: 0})
      await until(r!, (s) => s.endpoints.length === 0)
    } finally {
      r!.close()
    }
    expect(await client.resolve('10.244.7.5:9000')).toBeNull()
  })

  it('ports the pod\'s proxy does not serve (ignored, its inbound port) get no identity', async () => {
    await createPod('db-1', meshedSpec('db'))
    await setStatus('db-1', running('10.244.7.6'))
    const served = await resolveSoon('10.244.7.6:5432')
    expect(served!.current().endpoints[0]!.identity).toBe(identityName('db', ns))
    served!.close()
    for (const port of [7000, 4191, 4143]) {
      const r = (await client.resolve(`10.244.7.6:${port}`))!
      expect(r.current().endpoints, `port ${port}`).toEqual([{host: '10.244.7.6', port, labels: {dst_namespace: ns, dst_pod: 'db-1', dst_serviceaccount: 'db'}}])
      r.close()
    }
  })

  it('a Service endpoint on a port its pod\'s proxy skips has no identity either (the app gets plaintext there)', async () => {
    await core.createNamespacedService({namespace: ns, body: {metadata: {name: 'skipped'}, spec: {ports: [{name: 'raw', port: 7000}, {name: 'pg', port: 5432}]}}})
    const dbEp = {addresses: ['10.244.7.6'], conditions: {ready: true}, targetRef: {kind: 'Pod', name: 'db-1', namespace: ns}}
    await discovery.createNamespacedEndpointSlice({namespace: ns, body: {metadata: {name: 'skipped-a', namespace: ns, labels: {'kubernetes.io/service-name': 'skipped'}}, addressType: 'IPv4', ports: [{name: 'raw', port: 7000, protocol: 'TCP'}, {name: 'pg', port: 5432, protocol: 'TCP'}], endpoints: [dbEp]}})
    const raw = (await resolveSoon(`skipped.${ns}.svc.cluster.local:7000`))!
    const pg = (await resolveSoon(`skipped.${ns}.svc.cluster.local:5432`))!
    try {
      expect(raw.current().endpoints).toEqual([{host: '10.244.7.6', port: 7000, labels: {dst_namespace: ns, dst_service: 'skipped', dst_pod: 'db-1', dst_serviceaccount: 'db'}}])
      expect(pg.current().endpoints[0]!.identity).toBe(identityName('db', ns))
    } finally {
      raw.close()
      pg.close()
    }
  })

  it('pods that are not running or on the host network are not found; a ClusterIP keeps precedence', async () => {
    await createPod('pending-0', meshedSpec('db'))
    await setStatus('pending-0', {phase: 'Pending', podIP: '10.244.7.7', podIPs: [{ip: '10.244.7.7'}]})
    await createPod('node-agent', {...meshedSpec('agent'), hostNetwork: true})
    await setStatus('node-agent', running('172.18.0.9'))
    // A pod that owns its IP, set after the two above: once it is seen, they have been too.
    await createPod('db-2', meshedSpec('db'))
    await setStatus('db-2', running('10.244.7.8'))
    ;(await resolveSoon('10.244.7.8:5432'))!.close()
    expect(await client.resolve('10.244.7.7:5432')).toBeNull()
    expect(await client.resolve('172.18.0.9:5432')).toBeNull()
    // A pod claiming a Service's cluster IP does not shadow the Service.
    const svc = await core.readNamespacedService({name: 'api', namespace: ns})
    const clusterIp = svc.spec!.clusterIP!
    await createPod('impostor', meshedSpec('impostor'))
    await setStatus('impostor', running(clusterIp))
    // A fixed pause on purpose: "the impostor does not take over" is a negative no event can
    // announce (the informer's view of the pod is not observable from here).
    await new Promise((res) => setTimeout(res, 300))
    const r = (await client.resolve(`${clusterIp}:80`))!
    try {
      expect(r.current().endpoints.map((e) => e.labels.dst_service)).toEqual(['api'])
    } finally {
      r.close()
    }
  })
})
