// PRIVILEGED (root, iproute2, iptables, gcc for the SO_ORIGINAL_DST addon): the user's journey
// on the test cluster, steps 1-7 of issue 11, with pods realized as network namespaces by the
// pod runner and real iptables interception. Each step prints what it saw when it fails: the
// command output, the pods' events and logs, their nat rules, the controller's log.
import {execFileSync} from 'node:child_process'
import {readFileSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {PodRunner} from './runner/runner.js'
import {BRIDGE, listOurNetns} from './runner/net.js'
import type {Obj} from './runner/kube.js'
import type {RunResult} from '../helpers/run.js'
import {booksYaml, cluster, controlPlaneEndpoints, pointWebhookAtHost, expectOk, meshWithToken, tokenKubeconfig, kubectl, mesh, mirrorControllerPod, plainYaml, shopYaml, startHostController, type HostController} from './mesh-env.js'

const SHOP = 'shop'
const BOOKS = 'books'
const PLAIN = 'plain'
let runner: PodRunner
let controller: HostController | undefined
/** `mesh install`'s output (step 2): step 7 checks that none of it is left. */
let installManifest = ''
const t0 = Date.now()

/** Runs a step; on failure, adds what the harness saw. */
async function step<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn()
  } catch (err) {
    const seen = [`--- pods ---\n${runner?.describe() ?? '(no runner)'}`, controller ? `--- controller log ---\n${controller.log(60)}` : '--- controller: not started ---']
    ;(err as Error).message += `\n${seen.join('\n')}`
    throw err
  }
}

function podsOf(ns: string, app: string): string[] {
  return [...runner.pods.values()].filter((p) => p.metadata.namespace === ns && p.metadata.labels?.app === app).map((p) => p.metadata.name as string)
}

async function waitApps(ns: string, apps: string[], timeoutMs = 90_000): Promise<void> {
  const end = Date.now() + timeoutMs
  while (Date.now() < end && apps.some((a) => podsOf(ns, a).length === 0)) await new Promise((r) => setTimeout(r, 100))
  await runner.waitReady(apps.flatMap((a) => podsOf(ns, a).map((n) => `${ns}/${n}`)), Math.max(1000, end - Date.now()))
}

/** The proxy's /metrics, read inside the pod over loopback (the admin port refuses others). */
async function proxyMetrics(ns: string, pod: string): Promise<string> {
  const r = await runner.exec(ns, pod, [process.execPath, '-e', `fetch('http://127.0.0.1:4191/metrics').then(r => r.text()).then(t => process.stdout.write(t), e => { console.error(e); process.exit(1) })`])
  if (r.code !== 0) throw new Error(`metrics of ${ns}/${pod}: ${r.stderr}`)
  return r.stdout
}

function sumMetric(text: string, name: string, labels: Record<string, string>): number {
  let sum = 0
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) sum += Number(line.slice(line.lastIndexOf(' ') + 1))
  }
  return sum
}

/**
 * The namespace controller's part (this cluster has no controller-manager): delete everything
 * left in a Terminating namespace, check it is empty, then drop its `kubernetes` finalizer.
 */
async function finalizeNamespace(ns: string): Promise<void> {
  const kinds = (await kubectl(['api-resources', '--namespaced', '--verbs=list,delete', '-o', 'name'])).split('\n').filter((k) => k && !k.startsWith('events')).join(',')
  await kubectl(['delete', kinds, '--all', '-n', ns, '--ignore-not-found', '--wait=false'])
  const end = Date.now() + 15_000
  let left: string
  do {
    left = (await kubectl(['get', kinds, '-n', ns, '-o', 'name', '--ignore-not-found'])).trim()
    if (!left) break
    await new Promise((r) => setTimeout(r, 200))
  } while (Date.now() < end)
  expect(left, `left in ${ns} after deleting its content`).toBe('')
  const obj = JSON.parse(await kubectl(['get', 'namespace', ns, '-o', 'json'])) as Obj
  expect(obj.metadata.deletionTimestamp, `${ns} is being deleted`).toBeTruthy()
  await kubectl(['replace', '--raw', `/api/v1/namespaces/${ns}/finalize`, '-f', '-'], JSON.stringify({...obj, spec: {finalizers: []}}))
}

/** `mesh stat` as the restricted user (its token, same cluster). */
async function spawnRestricted(kc: string): Promise<RunResult> {
  const file = path.join(runner.dir, 'restricted.kubeconfig')
  const c = JSON.parse(readFileSync(kc, 'utf8')) as Obj
  c.users[0].user.token = cluster.tokens.restricted
  writeFileSync(file, JSON.stringify(c), {mode: 0o600})
  return meshWithToken(file, 'stat', 'deploy', '-n', SHOP, '-o', 'json')
}

const identity = (sa: string, ns: string): string => `${sa}.${ns}.serviceaccount.identity.mesh-system.cluster.local`

beforeAll(async () => {
  runner = await PodRunner.start(cluster, {namespaces: [SHOP, BOOKS, PLAIN], hostNamespaces: ['mesh-system']})
}, 60_000)

afterAll(async () => {
  await controller?.stop()
  await runner?.stop()
  process.stderr.write(`[e2e] journey ran ${((Date.now() - t0) / 1000).toFixed(1)} s\n`)
  expect(listOurNetns()).toEqual([])
  expect(execFileSync('ip', ['-o', 'link', 'show']).toString()).not.toContain(BRIDGE)
})

describe.sequential('the mesh user journey on the test cluster', () => {
  it('1. mesh check --pre passes as admin and fails for a restricted user', () => step(async () => {
    const admin = await mesh('check', '--pre')
    expectOk(admin, 'mesh check --pre (admin)')
    const restricted = await mesh('check', '--pre', '--context', 'restricted')
    expect(restricted.exitCode, `${restricted.stdout}\n${restricted.stderr}`).toBe(1)
    expect(`${restricted.stdout}${restricted.stderr}`).toMatch(/can create|permission|forbidden|RBAC/i)
  }))

  it('2. mesh install | kubectl apply -f -, the controller on the host, then mesh check passes', () => step(async () => {
    const manifest = expectOk(await mesh('install'), 'mesh install')
    installManifest = manifest
    await kubectl(['apply', '-f', '-'], manifest)
    controller = await startHostController(runner.dir)
    await mirrorControllerPod()
    const end = Date.now() + 60_000
    let check = await mesh('check')
    while (check.exitCode !== 0 && Date.now() < end) {
      await new Promise((r) => setTimeout(r, 1000))
      check = await mesh('check')
    }
    expectOk(check, 'mesh check')
  }))

  it('3a. mesh inject app.yaml | kubectl apply -f - meshes a three-service app', () => step(async () => {
    const file = path.join(runner.dir, 'app.yaml')
    writeFileSync(file, shopYaml(SHOP))
    const injected = expectOk(await mesh('inject', file), 'mesh inject app.yaml')
    expect(injected).toContain('mesh-proxy')
    await kubectl(['apply', '-f', '-'], injected)
    await kubectl(['apply', '-f', '-'], plainYaml(PLAIN))
    await waitApps(SHOP, ['web', 'grpc', 'echo', 'client'])
    await waitApps(PLAIN, ['legacy'])
    for (const name of podsOf(SHOP, 'web')) {
      const pod = runner.pods.get(`${SHOP}/${name}`)!
      expect([...(pod.spec.initContainers ?? []), ...pod.spec.containers].map((c: Obj) => c.name)).toEqual(expect.arrayContaining(['mesh-init', 'mesh-proxy', 'web']))
      expect(runner.instance(SHOP, name)!.describe()).toContain('MESH_OUTPUT')
    }
  }))

  it('3b. a second app meshed by its namespace annotation and the injector webhook', () => step(async () => {
    await pointWebhookAtHost()
    await kubectl(['apply', '-f', '-'], booksYaml(BOOKS))
    await waitApps(BOOKS, ['books'])
    const name = podsOf(BOOKS, 'books')[0]!
    const pod = runner.pods.get(`${BOOKS}/${name}`)!
    expect([...(pod.spec.initContainers ?? []), ...pod.spec.containers].map((c: Obj) => c.name), 'the webhook injected the proxy').toEqual(expect.arrayContaining(['mesh-init', 'mesh-proxy', 'books']))
    const r = await runner.client(SHOP, podsOf(SHOP, 'client')[0]!, ['http', `http://books.${BOOKS}.svc.cluster.local/`, '10'])
    expect(r, r.raw).toMatchObject({ok: 10, failed: 0})
    expect(sumMetric(await proxyMetrics(BOOKS, name), 'request_total', {direction: 'inbound', tls: 'true', client_id: identity('client', SHOP)}), 'inbound mTLS at books from client.shop').toBeGreaterThanOrEqual(10)
  }))

  it('4. HTTP/1.1 and gRPC by service name through the proxies, with mTLS identities; a plain pod is reached in plaintext', () => step(async () => {
    const web = await runner.client(SHOP, podsOf(SHOP, 'client')[0]!, ['http', `http://web.${SHOP}.svc.cluster.local/hello`, '20'])
    expect(web, web.raw).toMatchObject({ok: 20, failed: 0})
    expect(Object.keys(web.pods).sort(), 'both web replicas answered').toEqual(podsOf(SHOP, 'web').sort())
    const grpc = await runner.client(SHOP, podsOf(SHOP, 'client')[0]!, ['grpc', `grpc.${SHOP}.svc.cluster.local:9090`, '10'])
    expect(grpc, grpc.raw).toMatchObject({ok: 10, failed: 0})
    const legacy = await runner.client(SHOP, podsOf(SHOP, 'client')[0]!, ['http', `http://legacy.${PLAIN}.svc.cluster.local/`, '5'])
    expect(legacy, legacy.raw).toMatchObject({ok: 5, failed: 0})
    // The backends' inbound proxies saw the client's identity over mTLS.
    let inboundTls = 0
    for (const name of podsOf(SHOP, 'web')) {
      inboundTls += sumMetric(await proxyMetrics(SHOP, name), 'request_total', {direction: 'inbound', tls: 'true', client_id: identity('client', SHOP)})
    }
    expect(inboundTls, 'inbound mTLS requests at web from default.shop').toBeGreaterThanOrEqual(20)
    // The legacy pod has no proxy: the client's proxy talked plaintext to it.
    const clientMetrics = await proxyMetrics(SHOP, podsOf(SHOP, 'client')[0]!)
    expect(sumMetric(clientMetrics, 'request_total', {direction: 'outbound', dst_namespace: PLAIN, tls: 'no_identity'}) + sumMetric(clientMetrics, 'request_total', {direction: 'outbound', authority: `legacy.${PLAIN}.svc.cluster.local`, tls: 'no_identity'})).toBeGreaterThanOrEqual(5)
  }))

  // By pod IP: by Service name the client's proxy gets a ClusterIP as original destination, and
  // neither the proxy's destination client (IP authorities are passed through) nor the
  // destination service (no ClusterIP lookups) resolve it to the Service (see e2e.md).
  it('4b. opaque TCP: a server-speaks-first app on an opaque port, through both proxies (by pod IP)', () => step(async () => {
    const echo = podsOf(SHOP, 'echo')[0]!
    const ip = runner.instance(SHOP, echo)!.ip
    const r = await runner.client(SHOP, podsOf(SHOP, 'client')[0]!, ['tcp', `${ip}:9000`, '5'])
    expect(r, r.raw).toMatchObject({ok: 5, failed: 0, pods: {[echo]: 5}})
    const m = await proxyMetrics(SHOP, echo)
    expect(sumMetric(m, 'tcp_open_total', {direction: 'inbound'}), `inbound tcp_open_total at echo\n${m.split('\n').filter((l) => l.startsWith('tcp_')).join('\n')}`).toBeGreaterThanOrEqual(5)
  }))

  // Partial: the CLI reaches the tap server through the API server's service proxy with the
  // caller's token (TokenReview + SubjectAccessReview pass), and stat lists the workloads. The
  // counts, success rates and identities (stat, edges, tap, top) are not asserted yet: the tap
  // server's pod resolver counts a pod as meshed only with mesh-proxy in spec.containers, and
  // the injector makes it a native sidecar (initContainers), so no pod is meshed for it; and
  // tap/top lose their query string in the service proxy (see e2e.md).
  it('5 (partial). mesh stat reaches the tap server through the API server\'s service proxy with the caller\'s token', () => step(async () => {
    await controlPlaneEndpoints()
    const kc = tokenKubeconfig(runner.dir)
    const r = await meshWithToken(kc, 'stat', 'deploy', '-n', SHOP, '-o', 'json')
    const rows = (JSON.parse(expectOk(r, 'mesh stat')) as {rows: Array<{name: string; totalPods: number}>}).rows
    expect(Object.fromEntries(rows.map((x) => [x.name, x.totalPods])), r.stdout).toEqual({client: 1, echo: 1, grpc: 1, web: 2})
    // The restricted user (a token with no rights) is refused: by the API server (services/proxy).
    const restricted = await spawnRestricted(kc)
    expect(restricted.exitCode, `${restricted.stdout}${restricted.stderr}`).not.toBe(0)
    expect(restricted.stderr).toMatch(/forbidden|not allowed|cannot|denied|permission/i)
  }))

  it('6a. a removed backend stops receiving traffic within a second of its EndpointSlice change; no request fails', () => step(async () => {
    const client = podsOf(SHOP, 'client')[0]!
    const webs = podsOf(SHOP, 'web').sort()
    expect(webs).toHaveLength(2)
    const served = async (): Promise<number[]> => Promise.all(webs.map(async (w) => sumMetric(await proxyMetrics(SHOP, w), 'request_total', {direction: 'inbound'})))
    const before = await served()
    // Bounded: 600 requests, one per 25 ms (>= 15 s), 5 s per request.
    const loop = runner.client(SHOP, client, ['http', `http://web.${SHOP}.svc.cluster.local/hello`, '600', '25'])
    await new Promise((r) => setTimeout(r, 6000))
    // The balancer may favour one replica: remove the one that is taking traffic now.
    const during = await served()
    const removed = during[0]! - before[0]! >= during[1]! - before[1]! ? webs[0]! : webs[1]!
    const kept = webs.find((w) => w !== removed)!
    const tDelete = Date.now()
    await kubectl(['delete', 'pod', removed, '-n', SHOP, '--wait=false'])
    // When the endpoint controller's slice stopped listing the removed pod.
    let tSlice = 0
    const end = Date.now() + 10_000
    while (!tSlice && Date.now() < end) {
      const slice = await runner.kube.get(`/apis/discovery.k8s.io/v1/namespaces/${SHOP}/endpointslices/web-e2e`)
      if (!((slice.endpoints ?? []) as Obj[]).some((e) => e.targetRef?.name === removed)) tSlice = Date.now()
      else await new Promise((r) => setTimeout(r, 20))
    }
    expect(tSlice, 'the EndpointSlice dropped the removed pod').toBeGreaterThan(0)
    const r = await loop
    const seen = `${r.raw}\nremoved ${removed} (served ${during.map((d, i) => d - before[i]!).join('/')} before), delete at ${tDelete}, slice changed at ${tSlice} (+${tSlice - tDelete} ms)`
    expect(r.started, `the loop was running before the removal: ${seen}`).toBeLessThan(tDelete)
    expect(r, seen).toMatchObject({ok: 600, failed: 0})
    expect(r.pods[removed] ?? 0, `${removed} answered before the removal: ${seen}`).toBeGreaterThan(0)
    expect(r.last[removed]! - tSlice, `${removed} stopped getting traffic within 1 s of the slice change: ${seen}`).toBeLessThanOrEqual(1000)
    expect(r.last[kept] ?? 0, `${kept} took the traffic afterwards: ${seen}`).toBeGreaterThan(tSlice + 1000)
  }))

  // Must stay last: it removes the control plane.
  it('7. mesh uninstall | kubectl delete -f - leaves nothing of ours behind', () => step(async () => {
    // The user removes the meshed apps first (uninstall refuses while proxies run): the
    // Deployments, then (no garbage collector in this cluster) their pods.
    for (const ns of [SHOP, BOOKS]) {
      await kubectl(['delete', 'deployments', '--all', '-n', ns])
      const gone = Date.now() + 10_000
      while ([...runner.deployments.values()].some((d) => d.metadata.namespace === ns) && Date.now() < gone) await new Promise((r) => setTimeout(r, 50))
      await kubectl(['delete', 'pods', '--all', '-n', ns])
    }
    const manifest = expectOk(await mesh('uninstall'), 'mesh uninstall')
    expect(manifest).toContain('MutatingWebhookConfiguration')
    await kubectl(['delete', '-f', '-', '--wait=false'], manifest)
    // The controller's Deployment is gone: its process (on the host) and its mirror pod go too.
    await controller?.stop()
    await kubectl(['delete', 'pod', 'mesh-controller-host', '-n', 'mesh-system', '--ignore-not-found'])
    await finalizeNamespace('mesh-system')
    const ns = await cluster.kubectl(['get', 'namespace', 'mesh-system'], {allowFailure: true, context: 'admin'})
    expect(ns.code, `mesh-system still there: ${ns.stdout}`).not.toBe(0)
    expect(ns.stderr).toMatch(/NotFound|not found/)
    // Nothing that install created is left, cluster-scoped ones included.
    const left = await kubectl(['get', '-f', '-', '--ignore-not-found', '-o', 'name'], installManifest)
    expect(left.trim(), 'objects of mesh install still present').toBe('')
    const labelled = await kubectl(['get', 'clusterroles,clusterrolebindings,mutatingwebhookconfigurations,validatingwebhookconfigurations,pods', '-A', '-l', 'mesh.dev/control-plane-ns', '-o', 'name'])
    expect(labelled.trim(), 'objects labelled mesh.dev/control-plane-ns').toBe('')
    const named = (await kubectl(['get', 'clusterroles,clusterrolebindings,mutatingwebhookconfigurations,validatingwebhookconfigurations', '-o', 'name'])).split('\n').filter((n) => /mesh/.test(n))
    expect(named, 'cluster-scoped objects named mesh').toEqual([])
  }))
})
