// PRIVILEGED (root, iproute2, iptables, gcc for the SO_ORIGINAL_DST addon): the user's journey
// on the test cluster, steps 1-7 of issue 11, with pods realized as network namespaces by the
// pod runner and real iptables interception. Each step prints what it saw when it fails: the
// command output, the pods' events and logs, their nat rules, the controller's log.
import {execFileSync} from 'node:child_process'
import {existsSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {PodRunner} from './runner/runner.js'
import {BRIDGE, listOurNetns} from './runner/net.js'
import type {Obj} from './runner/kube.js'
import type {RunResult} from '../helpers/run.js'
import {eventually, identity, installMesh, LONG_STEP_MS, LONG_TEST_MS, progress, proxyMetrics, renewalsIn, runStep, STEP_MS, sumMetric, uninstallMesh, whileTraffic, type Renewal} from './journey-kit.js'
import type {EdgeRow, EdgesReport, StatReport} from '../../src/stat/types.js'
import type {TopRow, TopSnapshot} from '../../src/tapclient/top-aggregate.js'
import type {TapEvent} from '../../src/protocol/tap.js'
import {retryStep, splitStep, timeoutStep, type RoutesContext} from './routes-steps.js'
import {gatewayApiCrds} from '../cluster/gateway-api.js'
import {booksYaml, cluster, controlPlaneEndpoints, pointWebhookAtHost, expectOk, meshAs, meshWithToken, tokenKubeconfig, kubectl, mesh, plainYaml, shopYaml, type HostController} from './mesh-env.js'

const SHOP = 'shop'
const BOOKS = 'books'
const PLAIN = 'plain'
let runner: PodRunner
let controller: HostController | undefined
/** `mesh install`'s output (step 2): step 7 checks that none of it is left. */
let installManifest = ''
const t0 = Date.now()

/** Runs a step (its own deadline); on failure it adds its commands, the pods, the controller's log. */
function step<T>(fn: () => Promise<T>, budgetMs = STEP_MS): Promise<T> {
  return runStep(fn, budgetMs, () => [`--- pods ---\n${runner?.describe() ?? '(no runner)'}`, controller ? `--- controller log ---\n${controller.log(60)}` : '--- controller: not started ---'])
}

function podsOf(ns: string, app: string): string[] {
  return [...runner.pods.values()].filter((p) => p.metadata.namespace === ns && p.metadata.labels?.app === app).map((p) => p.metadata.name as string)
}

async function waitApps(ns: string, apps: string[], timeoutMs = 90_000): Promise<void> {
  const end = Date.now() + timeoutMs
  await eventually(`pods of ${apps.join(', ')} in ${ns}`, () => (apps.every((a) => podsOf(ns, a).length > 0) ? true : undefined), {timeoutMs, intervalMs: 100})
  await runner.waitReady(apps.flatMap((a) => podsOf(ns, a).map((n) => `${ns}/${n}`)), Math.max(1000, end - Date.now()))
}

const metricsOf = (ns: string, pod: string): Promise<string> => proxyMetrics(runner, ns, pod)

/** `mesh stat` as the restricted user (its token, same cluster). */
async function spawnRestricted(kc: string): Promise<RunResult> {
  const file = path.join(runner.dir, 'restricted.kubeconfig')
  const c = JSON.parse(readFileSync(kc, 'utf8')) as Obj
  c.users[0].user.token = cluster.tokens.restricted
  writeFileSync(file, JSON.stringify(c), {mode: 0o600})
  return meshWithToken(file, 'stat', 'deploy', '-n', SHOP, '-o', 'json')
}

/** Requests step 3b sends to books: step 5 counts them in. */
const BOOKS_3B_REQUESTS = 10

beforeAll(async () => {
  runner = await PodRunner.start(cluster, {namespaces: [SHOP, BOOKS, PLAIN], hostNamespaces: ['mesh-system']})
}, 60_000)

afterAll(async () => {
  await controller?.stop()
  await runner?.stop()
  process.stderr.write(`[e2e] journey ran ${((Date.now() - t0) / 1000).toFixed(1)} s\n`)
  expect(listOurNetns()).toEqual([])
  const links = execFileSync('ip', ['-o', 'link', 'show']).toString()
  expect(links).not.toContain(BRIDGE)
  expect(links, 'host ends of our veths').not.toMatch(/\bmve\d+@/)
})

describe('the mesh user journey on the test cluster', () => {
  it('1. mesh check --pre passes as admin and fails for a restricted user', () => step(async () => {
    const admin = await mesh('check', '--pre')
    expectOk(admin, 'mesh check --pre (admin)')
    const restricted = await mesh('check', '--pre', '--context', 'restricted')
    expect(restricted.exitCode, `${restricted.stdout}\n${restricted.stderr}`).toBe(1)
    expect(`${restricted.stdout}${restricted.stderr}`).toMatch(/can create|permission|forbidden|RBAC/i)
  }))

  it('2. mesh install | kubectl apply -f -, the controller on the host, then mesh check passes', () => step(async () => {
    // The cluster's Gateway API CRDs (they belong to the cluster, mesh never installs them), there
    // before the controller starts so that it watches routes at once (steps 6c-6e).
    installManifest = await installMesh(runner.dir, (c) => (controller = c), async () => {
      await kubectl(['apply', '--server-side', '-f', gatewayApiCrds().standard])
      await eventually('the Gateway API CRDs to be Established', async () => {
        const crds = JSON.parse(await kubectl(['get', 'crd', 'httproutes.gateway.networking.k8s.io', 'grpcroutes.gateway.networking.k8s.io', '-o', 'json'])) as {items: Obj[]}
        return crds.items.every((c) => (c.status?.conditions ?? []).some((x: Obj) => x.type === 'Established' && x.status === 'True')) ? true : undefined
      }, 60_000)
    })
  }))

  it('3a. mesh inject app.yaml | kubectl apply -f - meshes a three-service app', () => step(async () => {
    const file = path.join(runner.dir, 'app.yaml')
    writeFileSync(file, shopYaml(SHOP))
    const injected = expectOk(await mesh('inject', file), 'mesh inject app.yaml')
    expect(injected).toContain('mesh-proxy')
    await kubectl(['apply', '-f', '-'], injected)
    await kubectl(['apply', '-f', '-'], plainYaml(PLAIN))
    await waitApps(SHOP, ['web', 'grpc', 'echo', 'client'], 240_000)
    await waitApps(PLAIN, ['legacy'], 30_000)
    for (const name of podsOf(SHOP, 'web')) {
      const pod = runner.pods.get(`${SHOP}/${name}`)!
      expect([...(pod.spec.initContainers ?? []), ...pod.spec.containers].map((c: Obj) => c.name)).toEqual(expect.arrayContaining(['mesh-init', 'mesh-proxy', 'web']))
      expect(runner.instance(SHOP, name)!.describe()).toContain('MESH_OUTPUT')
    }
  }, LONG_STEP_MS), LONG_TEST_MS)

  it('3b. a second app meshed by its namespace annotation and the injector webhook', () => step(async () => {
    await pointWebhookAtHost()
    await kubectl(['apply', '-f', '-'], booksYaml(BOOKS))
    await waitApps(BOOKS, ['books'], 150_000)
    const name = podsOf(BOOKS, 'books')[0]!
    const pod = runner.pods.get(`${BOOKS}/${name}`)!
    expect([...(pod.spec.initContainers ?? []), ...pod.spec.containers].map((c: Obj) => c.name), 'the webhook injected the proxy').toEqual(expect.arrayContaining(['mesh-init', 'mesh-proxy', 'books']))
    const r = await runner.client(SHOP, podsOf(SHOP, 'client')[0]!, ['http', `http://books.${BOOKS}.svc.cluster.local/`, String(BOOKS_3B_REQUESTS)])
    expect(r, r.raw).toMatchObject({ok: BOOKS_3B_REQUESTS, failed: 0})
    expect(sumMetric(await metricsOf(BOOKS, name), 'request_total', {direction: 'inbound', tls: 'true', client_id: identity('client', SHOP)}), 'inbound mTLS at books from client.shop').toBe(BOOKS_3B_REQUESTS)
  }))

  it('4. HTTP/1.1 and gRPC by service name through the proxies, with mTLS identities; a plain pod is reached in plaintext', () => step(async () => {
    const web = await runner.client(SHOP, podsOf(SHOP, 'client')[0]!, ['http', `http://web.${SHOP}.svc.cluster.local/hello`, '20'])
    expect(web, web.raw).toMatchObject({ok: 20, failed: 0})
    // Both replicas serve the Service through the mesh. Not "both answered these 20": the second
    // endpoint may not have reached the client's proxy yet. Send in rounds until each replica
    // has answered (bounded: 200 rounds of 20 and 120 s, inside the step's deadline), every
    // request of every round answered. (A balancer that starved an endpoint failed this with
    // 4,000 requests to one replica: see docs/architecture/e2e.md.)
    const replicas = podsOf(SHOP, 'web').sort()
    expect(replicas).toHaveLength(2)
    const answered = new Set(Object.keys(web.pods))
    const rounds: string[] = []
    const until = Date.now() + 120_000
    for (let i = 0; i < 200 && Date.now() < until && !replicas.every((p) => answered.has(p)); i++) {
      const round = await runner.client(SHOP, podsOf(SHOP, 'client')[0]!, ['http', `http://web.${SHOP}.svc.cluster.local/hello`, '20'])
      expect(round, round.raw).toMatchObject({ok: 20, failed: 0})
      for (const p of Object.keys(round.pods)) answered.add(p)
      rounds.push(JSON.stringify(round.pods))
    }
    progress(`4: both web replicas answered after ${rounds.length + 1} rounds of 20 (the last: ${rounds.at(-1) ?? JSON.stringify(web.pods)})`)
    expect([...answered].sort(), `both web replicas answered: ${[JSON.stringify(web.pods), ...rounds].join(' ')}`).toEqual(replicas)
    const grpc = await runner.client(SHOP, podsOf(SHOP, 'client')[0]!, ['grpc', `grpc.${SHOP}.svc.cluster.local:9090`, '10'])
    expect(grpc, grpc.raw).toMatchObject({ok: 10, failed: 0})
    const legacy = await runner.client(SHOP, podsOf(SHOP, 'client')[0]!, ['http', `http://legacy.${PLAIN}.svc.cluster.local/`, '5'])
    expect(legacy, legacy.raw).toMatchObject({ok: 5, failed: 0})
    // The backends' inbound proxies saw the client's identity over mTLS.
    let inboundTls = 0
    for (const name of podsOf(SHOP, 'web')) {
      inboundTls += sumMetric(await metricsOf(SHOP, name), 'request_total', {direction: 'inbound', tls: 'true', client_id: identity('client', SHOP)})
    }
    expect(inboundTls, 'inbound mTLS requests at web from default.shop').toBeGreaterThanOrEqual(20)
    // The legacy pod has no proxy: the client's proxy talked plaintext to it.
    const clientMetrics = await metricsOf(SHOP, podsOf(SHOP, 'client')[0]!)
    expect(sumMetric(clientMetrics, 'request_total', {direction: 'outbound', dst_namespace: PLAIN, tls: 'no_identity'}) + sumMetric(clientMetrics, 'request_total', {direction: 'outbound', authority: `legacy.${PLAIN}.svc.cluster.local`, tls: 'no_identity'})).toBeGreaterThanOrEqual(5)
  }))

  // By Service name: the client's proxy sees the ClusterIP as the original destination and asks
  // destination about ip:port, which finds the Service (src/control/destination, ClusterIP
  // lookups); by pod IP: the endpoint itself. Either way both proxies carry it over mTLS.
  it('4b. opaque TCP: a server-speaks-first app on an opaque port, through both proxies over mTLS, by Service name and by pod IP', () => step(async () => {
    const echo = podsOf(SHOP, 'echo')[0]!
    const client = podsOf(SHOP, 'client')[0]!
    const ip = runner.instance(SHOP, echo)!.ip
    const inbound = async (): Promise<{mtls: number; plain: number; lines: string}> => {
      const m = await metricsOf(SHOP, echo)
      return {
        mtls: sumMetric(m, 'tcp_open_total', {direction: 'inbound', tls: 'true', client_id: identity('client', SHOP), server_id: identity('echo', SHOP)}),
        plain: sumMetric(m, 'tcp_open_total', {direction: 'inbound', tls: 'no_identity'}),
        lines: m.split('\n').filter((l) => l.startsWith('tcp_open_total')).join('\n'),
      }
    }
    const send = async (how: string, target: string): Promise<{mtls: number; plain: number; seen: string}> => {
      const before = await inbound()
      const r = await runner.client(SHOP, client, ['tcp', target, '5'])
      expect(r, `${how}: ${r.raw}`).toMatchObject({ok: 5, failed: 0, pods: {[echo]: 5}})
      const after = await inbound()
      const d = {mtls: after.mtls - before.mtls, plain: after.plain - before.plain}
      const seen = `${how} (${target}): +${d.mtls} mTLS, +${d.plain} plaintext at echo's inbound`
      progress(`4b: ${seen}`)
      return {...d, seen: `${seen}\n${after.lines}`}
    }
    const byName = await send('by Service name', `echo.${SHOP}.svc.cluster.local:9000`)
    expect(byName.mtls, byName.seen).toBe(5)
    // By pod IP the client's proxy asks destination about ip:port, which finds the running pod
    // with that IP (src/control/destination/pod-endpoint.ts) and answers it alone, with its
    // identity: mTLS as well.
    const byIp = await send('by pod IP', `${ip}:9000`)
    expect(byIp.mtls, byIp.seen).toBe(5)
  }))

  it('5. mesh stat, edges, tap and top report what was sent: counts, success rates, mTLS identities', () => step(async () => {
    await controlPlaneEndpoints()
    const kc = tokenKubeconfig(runner.dir)
    const client = podsOf(SHOP, 'client')[0]!
    const booksPod = podsOf(BOOKS, 'books')[0]!
    const url = `http://books.${BOOKS}.svc.cluster.local`
    // Known traffic to books: 20 answered 200 and 5 answered 500, after step 3b's 10 (200).
    const ok = await runner.client(SHOP, client, ['http', `${url}/hello`, '20'])
    expect(ok, ok.raw).toMatchObject({ok: 20, failed: 0, statuses: {200: 20}})
    const bad = await runner.client(SHOP, client, ['http', `${url}/status/500`, '5'])
    expect(bad, bad.raw).toMatchObject({ok: 0, failed: 5, statuses: {500: 5}})
    const total = BOOKS_3B_REQUESTS + 25
    const rate = (BOOKS_3B_REQUESTS + 20) / total
    const clientId = identity('client', SHOP)
    const booksId = identity('books', BOOKS)

    // stat: the books row (inbound at books), then client --to books (client's outbound). The tap
    // server scrapes a pod at most every 5 s: wait for the counts to arrive, then assert them.
    const books = await eventually('mesh stat deploy -n books to count every request', async () => {
      const rep = JSON.parse(expectOk(await meshAs(kc, 'stat', 'deploy', '-n', BOOKS, '--window', '10m', '-o', 'json'), 'mesh stat deploy -n books')) as StatReport
      const row = rep.rows.find((r) => r.name === 'books')
      return row?.requests === total ? row : undefined
    }, 60_000)
    expect(books).toMatchObject({namespace: BOOKS, kind: 'deployment', meshedPods: 1, totalPods: 1, requests: total})
    expect(books.successRate, 'success rate of books').toBeCloseTo(rate, 6)
    expect(books.latencyMs.p50, 'p50 latency of books').toBeGreaterThan(0)
    progress('5: mesh stat counts every request')
    const to = await eventually('mesh stat deploy/client --to deploy/books to count every request', async () => {
      const rep = JSON.parse(expectOk(await meshAs(kc, 'stat', 'deploy/client', '-n', SHOP, '--to', 'deploy/books', '--to-namespace', BOOKS, '--window', '10m', '-o', 'json'), 'mesh stat --to')) as StatReport
      return rep.rows[0]?.requests === total ? rep : undefined
    }, 60_000)
    expect(to.rows, JSON.stringify(to)).toHaveLength(1)
    expect(to.rows[0]).toMatchObject({name: 'client', requests: total})
    expect(to.rows[0]!.successRate).toBeCloseTo(rate, 6)
    // Every shop workload is meshed (the native sidecar counts).
    const shop = JSON.parse(expectOk(await meshAs(kc, 'stat', 'deploy', '-n', SHOP, '--window', '10m', '-o', 'json'), 'mesh stat deploy -n shop')) as StatReport
    expect(Object.fromEntries(shop.rows.map((x) => [x.name, `${x.meshedPods}/${x.totalPods}`])), JSON.stringify(shop)).toEqual({client: '1/1', echo: '1/1', grpc: '1/1', web: '2/2'})
    expect(shop.rows.find((r) => r.name === 'web')!.successRate, 'web answered everything').toBe(1)

    // edges: client -> books over mTLS with both identities, from either side.
    const inEdges = JSON.parse(expectOk(await meshAs(kc, 'edges', 'deploy', '-n', BOOKS, '-o', 'json'), 'mesh edges -n books')) as EdgesReport
    expect(inEdges.edges, JSON.stringify(inEdges)).toContainEqual(expect.objectContaining({src: 'sa/client', srcNamespace: SHOP, dst: 'deploy/books', dstNamespace: BOOKS, secured: true, clientId, serverId: booksId, requests: total}))
    const outEdges = JSON.parse(expectOk(await meshAs(kc, 'edges', 'deploy', '-n', SHOP, '-o', 'json'), 'mesh edges -n shop')) as EdgesReport
    const edge = (dst: string, dstNs: string): EdgeRow | undefined => outEdges.edges.find((e) => e.src === 'deploy/client' && e.dst === dst && e.dstNamespace === dstNs)
    expect(edge('deploy/books', BOOKS), JSON.stringify(outEdges)).toMatchObject({secured: true, clientId, serverId: booksId, requests: total})
    expect(edge('deploy/web', SHOP), JSON.stringify(outEdges)).toMatchObject({secured: true, clientId, serverId: identity('web', SHOP)})
    expect(edge('deploy/web', SHOP)!.requests).toBeGreaterThanOrEqual(20)
    progress('5: mesh stat --to, mesh edges')

    // tap: 30 events (request, response, end of 10 requests) under /tap, as the proxy of books saw them.
    const tap = await whileTraffic(runner, SHOP, client, meshWithToken(kc, 'tap', 'deploy/books', '-n', BOOKS, '--path', '/tap', '--max-events', '30', '--duration', '60s', '-o', 'json'), [`${url}/tap/x`])
    const events = expectOk(tap, 'mesh tap').trim().split('\n').map((l) => JSON.parse(l) as TapEvent & {pod: string})
    expect(events, tap.stdout).toHaveLength(30)
    for (const ev of events) {
      expect(ev, JSON.stringify(ev)).toMatchObject({pod: expect.stringContaining(booksPod), direction: 'inbound', tls: {tls: true, clientId}})
      if (ev.type === 'requestInit') expect(ev).toMatchObject({method: 'GET', path: '/tap/x'})
      else expect(ev.status, JSON.stringify(ev)).toBe(200)
    }
    expect(events.filter((e) => e.type === 'requestInit').length).toBeGreaterThanOrEqual(9)
    progress('5: mesh tap --max-events 30')

    // top: rows per source and route (no rule matched: templates learnt from the paths, so
    // /status/500 is /status/{id}), with their success rates.
    const top = await whileTraffic(runner, SHOP, client, meshWithToken(kc, 'top', 'deploy/books', '-n', BOOKS, '--duration', '12s', '--interval', '2s', '-o', 'json'), [`${url}/top`, `${url}/status/500`])
    const snaps = expectOk(top, 'mesh top').trim().split('\n').map((l) => JSON.parse(l) as TopSnapshot)
    const rows = snaps.at(-1)!.rows
    const row = (p: string): TopRow | undefined => rows.find((r) => r.route === p)
    expect(row('/top'), top.stdout).toMatchObject({successRate: 1})
    expect(row('/top')!.count).toBeGreaterThanOrEqual(1)
    expect(row('/top')!.source, top.stdout).toContain('client')
    expect(row('/status/{id}'), top.stdout).toMatchObject({routeKind: 'template', successes: 0, successRate: 0})
    progress('5: mesh top -o json')

    // The restricted user (a token with no rights) is refused: by the API server (services/proxy).
    const restricted = await spawnRestricted(kc)
    expect(restricted.exitCode, `${restricted.stdout}${restricted.stderr}`).not.toBe(0)
    expect(restricted.stderr).toMatch(/forbidden|not allowed|cannot|denied|permission/i)
  }, LONG_STEP_MS), LONG_TEST_MS)

  it('6a. a removed backend stops receiving traffic after its EndpointSlice change; no request fails', () => step(async () => {
    const client = podsOf(SHOP, 'client')[0]!
    const webs = podsOf(SHOP, 'web').sort()
    expect(webs).toHaveLength(2)
    const served = async (): Promise<number[]> => Promise.all(webs.map(async (w) => sumMetric(await metricsOf(SHOP, w), 'request_total', {direction: 'inbound'})))
    const before = await served()
    // Bounded: 600 requests, one per 25 ms (>= 15 s), 5 s per request.
    const loop = runner.client(SHOP, client, ['http', `http://web.${SHOP}.svc.cluster.local/hello`, '600', '25'])
    // The loop is flowing (a few dozen requests served), not a fixed pause.
    const during = await eventually('the loop to be flowing', async () => {
      const now = await served()
      return now.reduce((a, n, i) => a + n - before[i]!, 0) >= 40 ? now : undefined
    }, {timeoutMs: 60_000, intervalMs: 250})
    // The balancer may favour one replica: remove the one that is taking traffic now.
    const removed = during[0]! - before[0]! >= during[1]! - before[1]! ? webs[0]! : webs[1]!
    const kept = webs.find((w) => w !== removed)!
    const tDelete = Date.now()
    await kubectl(['delete', 'pod', removed, '-n', SHOP, '--wait=false'])
    // When the endpoint controller's slice stopped listing the removed pod.
    const tSlice = await eventually('the EndpointSlice to drop the removed pod', async () => {
      const slice = await runner.kube.get(`/apis/discovery.k8s.io/v1/namespaces/${SHOP}/endpointslices/web-e2e`)
      return ((slice.endpoints ?? []) as Obj[]).some((e) => e.targetRef?.name === removed) ? undefined : Date.now()
    }, {timeoutMs: 30_000, intervalMs: 20})
    const r = await loop
    const seen = `${r.raw}\nremoved ${removed} (served ${during.map((d, i) => d - before[i]!).join('/')} before), delete at ${tDelete}, slice changed at ${tSlice} (+${tSlice - tDelete} ms)`
    expect(r.started, `the loop was running before the removal: ${seen}`).toBeLessThan(tDelete)
    expect(r, seen).toMatchObject({ok: 600, failed: 0})
    expect(r.pods[removed] ?? 0, `${removed} answered before the removal: ${seen}`).toBeGreaterThan(0)
    // The replacement the Deployment makes has a name of its own (runner/deployments.ts), so
    // its answers, once it is ready, are never counted as the removed pod's.
    // It stopped getting traffic while the loop went on: the kept replica answered after its
    // last answer, and no request failed. How soon after the slice change is measured (the
    // progress line), not bounded: that depends on the machine.
    progress(`6a: ${removed}'s last answer came ${r.last[removed]! - tSlice} ms after the slice change`)
    expect(r.last[kept] ?? 0, `${kept} took the traffic afterwards: ${seen}`).toBeGreaterThan(Math.max(r.last[removed]!, tSlice))
  }))

  it('6b. certificates renewed under load fail nothing', () => step(async () => {
    const client = podsOf(SHOP, 'client')[0]!
    const books = podsOf(BOOKS, 'books')[0]!
    const proxies = [[SHOP, client], [BOOKS, books]] as const
    const renewals = (ns: string, pod: string): Renewal[] => renewalsIn(runner.instance(ns, pod)!.log('mesh-proxy'))
    // Bounded: at most 3000 requests, one per 40 ms (>= 120 s), stopped 3 s after both proxies
    // renewed once the load was flowing (the client marks its first request in stopFile.started).
    const stopFile = path.join(os.tmpdir(), `mesh-e2e-stop-6b-${process.pid}`)
    const startedFile = `${stopFile}.started`
    for (const f of [stopFile, startedFile]) rmSync(f, {force: true})
    const loop = runner.client(SHOP, client, ['http', `http://books.${BOOKS}.svc.cluster.local/renew`, '3000', '40', stopFile], {timeoutMs: 180_000})
    const end = Date.now() + 150_000
    let loadStart = 0
    let renewedAt = 0
    while (Date.now() < end) {
      if (!loadStart && existsSync(startedFile)) loadStart = Number(readFileSync(startedFile, 'utf8')) || 0
      if (loadStart && proxies.every(([ns, pod]) => renewals(ns, pod).some((x) => x.at > loadStart))) {
        renewedAt ||= Date.now()
        // Keep the load on a little after the last renewal: connections made with the new certificates.
        if (Date.now() - renewedAt > 3000) break
      }
      // (a poll on a condition with its own deadline above; the 3 s of load after the renewal is the input)
      await new Promise((r) => setTimeout(r, 250))
    }
    writeFileSync(stopFile, '')
    progress(`6b: both proxies renewed ${renewedAt ? `${((renewedAt - loadStart) / 1000).toFixed(1)} s after the load began` : 'NOT within the bound'}`)
    const r = await loop.finally(() => { for (const f of [stopFile, startedFile]) rmSync(f, {force: true}) })
    const during = (ns: string, pod: string): Renewal[] => renewals(ns, pod).filter((x) => x.at > r.started && x.at < r.started + r.ms)
    const seen = proxies.map(([ns, pod]) => `${ns}/${pod} renewals (load ${r.started}..${r.started + r.ms}):\n${renewals(ns, pod).map((x) => `  ${x.line}`).join('\n')}`).join('\n')
    expect(renewedAt, `both proxies renewed under load within the bound:\n${seen}\n${r.raw}`).toBeGreaterThan(0)
    expect(r.failed, `${r.raw}\n${seen}`).toBe(0)
    expect(r.ok, r.raw).toBeGreaterThan(0)
    for (const [ns, pod] of proxies) {
      const renewed = during(ns, pod)
      expect(renewed.length, `${ns}/${pod} renewed during the load:\n${seen}`).toBeGreaterThan(0)
      // Requests kept being answered after the renewal, and the new certificate is in force.
      expect(r.last[books]!, `answers after ${ns}/${pod} renewed:\n${seen}\n${r.raw}`).toBeGreaterThan(renewed.at(-1)!.at + 1000)
      expect(renewed.at(-1)!.validUntil).toBeGreaterThan(r.last[books]!)
    }
  }, LONG_STEP_MS), LONG_TEST_MS)

  const routes = (): RoutesContext => ({runner, ns: SHOP, podsOf, waitApps})

  it('6c. routes: a running client proxy picks up a route\'s 1 s timeout (504, mesh-proxy-error), no restart; deleting the route restores the default', () => step(() => timeoutStep(routes())))

  it('6d. routes: a header match sends all to the canary, a 90/10 split lands within 3 points, mesh stat --routes counts exactly, 0/100 under load fails nothing', () => step(() => splitStep(routes()), LONG_STEP_MS), LONG_TEST_MS)

  it('6e. routes: retries on a route recover a backend failing 1 in 3', () => step(() => retryStep(routes())))

  // Must stay last: it removes the control plane.
  it('7. mesh uninstall | kubectl delete -f - leaves nothing of ours behind', () => step(async () => {
    const manifest = await uninstallMesh(runner, [SHOP, BOOKS], controller)
    expect(manifest).toContain('MutatingWebhookConfiguration')
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
