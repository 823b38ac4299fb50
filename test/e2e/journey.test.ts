// PRIVILEGED (root, iproute2, iptables, gcc for the SO_ORIGINAL_DST addon): the user's journey
// on the test cluster, steps 1-7 of issue 11, with pods realized as network namespaces by the
// pod runner and real iptables interception. Each step prints what it saw when it fails: the
// command output, the pods' events and logs, their nat rules, the controller's log.
import {execFileSync} from 'node:child_process'
import {writeFileSync} from 'node:fs'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {PodRunner} from './runner/runner.js'
import {BRIDGE, listOurNetns} from './runner/net.js'
import type {Obj} from './runner/kube.js'
import {cluster, expectOk, kubectl, mesh, mirrorControllerPod, plainYaml, shopYaml, startHostController, type HostController} from './mesh-env.js'

const SHOP = 'shop'
const BOOKS = 'books'
const PLAIN = 'plain'
let runner: PodRunner
let controller: HostController | undefined
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
})
