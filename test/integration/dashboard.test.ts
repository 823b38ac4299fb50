/**
 * `mesh dashboard` against the real test cluster. The dashboard goes through the API server's
 * service proxy with the kubeconfig's own credentials, as `mesh stat` does, so it shows no more
 * than kubectl would let that user see:
 * - a user without the rights (the restricted context): the page shows the API server's refusal
 *   (403 on services/proxy, naming the user), not data;
 * - a user with exactly the rights the dashboard needs (a client-certificate user bound to
 *   `get` on the tap Service's proxy and on the stat/edges subresources of its namespace): the
 *   request goes past the API server to a real tap server at the Service's endpoint (in this
 *   process, at a veth address, as tap.test.ts does), which scrapes a real proxy at its pod IP;
 *   the page shows that workload with the numbers `mesh stat` gives the same user, and the
 *   workload's page a request sent during the test in its live tap (a WebSocket through the
 *   service proxy; the user may also `watch` deployments/tap). The Service its pod backs shows
 *   with the tap server's refusal until the user may `get` services/stat, then with its rows.
 */
import {randomBytes} from 'node:crypto'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import * as k8s from '@kubernetes/client-node'
import type {Browser} from 'playwright-core'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {issueCertificate, RESTRICTED_USER, testCluster} from '../cluster/cluster.js'
import {launchChromium, requireChromium} from '../helpers/chromium.js'
import {startDashboardProcess} from '../helpers/dashboard.js'
import {eventually} from '../helpers/eventually.js'
import {ROOT, runMesh} from '../helpers/run.js'
import {scriptedTraffic, send, startMeshPod, type MeshPod} from '../tap/harness.js'
import {serviceProxyRoute, type ServiceProxyRoute} from '../tap/service-proxy.js'
import {CONTROLLER_IDENTITY, meshTrust, startPublishedTapServer} from '../tap/published-tap.js'
import {finalizeNamespace} from './install-helpers.js'
import {TAP_API_GROUP} from '../../src/control/tap/auth.js'
import type {RunningTapServer} from '../../src/control/tap/server.js'
import {createMeshedPod} from './meshed-pods.js'
import {ProxyEnv} from '../../src/protocol/proxy-env.js'
import {loadKube} from '../../src/k8s/client.js'
import type {RouteStatReport, StatReport} from '../../src/stat/types.js'

const cluster = testCluster()
const home = mkdtempSync(path.join(tmpdir(), 'mesh-dashboard-cluster-'))
const shot = (name: string): string => path.join(ROOT, `test-artifacts/dashboard/${name}.png`)
let browser: Browser

requireChromium('the dashboard\'s access tests')

beforeAll(async () => {
  browser = await launchChromium()
})
afterAll(async () => {
  await browser?.close()
  rmSync(home, {recursive: true, force: true})
})

describe('mesh dashboard on a cluster', () => {
  it('without the user\'s rights (the restricted context), the page shows the API server\'s refusal, not data', async () => {
    const dashboard = await startDashboardProcess(['--kubeconfig', cluster.kubeconfigPath, '--context', 'restricted'], {MESH_HOME: home})
    try {
      const page = await (await browser.newContext()).newPage()
      await page.goto(dashboard.url)
      const alert = page.getByRole('alert')
      await alert.waitFor({timeout: 60_000})
      const text = (await alert.textContent()) ?? ''
      expect(text).toContain('HTTP 403')
      expect(text).toContain(`User "${RESTRICTED_USER}" cannot get resource "services/proxy"`)
      expect(text).toContain('You need `get` on services/proxy')
      expect(await page.locator('[data-testid="workloads"]').count()).toBe(0)
      expect(await page.locator('[data-testid="graph"]').count()).toBe(0)
      expect(dashboard.stderr()).toContain(`serving the dashboard of cluster ${cluster.server} (context restricted)`)
      await page.screenshot({path: shot('refused-cluster'), fullPage: true})
      await page.context().close()
    } finally {
      await dashboard.stop()
    }
  })

  describe('with the rights: through the service proxy to a real tap server and a real proxy', () => {
    const ns = `mesh-dash-${randomBytes(3).toString('hex')}`
    const GROUP = `mesh:dashboard-${randomBytes(3).toString('hex')}`
    let kc: k8s.KubeConfig
    let route: ServiceProxyRoute | undefined
    let tap: RunningTapServer | undefined
    let api: MeshPod | undefined
    let client: MeshPod | undefined
    let kubeconfig: string
    /** Binds the user to what the routes of a served Service need: `get services/stat`, the route objects' lists. */
    let grantServed: () => Promise<void>

    beforeAll(async () => {
      const kube = await loadKube({kubeconfig: cluster.kubeconfigPath, context: 'admin'})
      kc = kube.kc
      const core = kc.makeApiClient(k8s.CoreV1Api)
      const apps = kc.makeApiClient(k8s.AppsV1Api)
      const rbac = kc.makeApiClient(k8s.RbacAuthorizationV1Api)
      await core.createNamespace({body: {metadata: {name: ns}}})
      // The mesh's own trust (the tap server dials the proxies' tap ports over mTLS as the
      // controller), and the tap server at the mesh-tap Service's endpoint (a veth address the API server dials).
      const trust = await meshTrust()
      const ca = {certPem: cluster.caPem, keyPem: cluster.caKeyPem, publicKeyPem: ''}
      route = await serviceProxyRoute(kc)
      tap = await startPublishedTapServer({route, kube, clusterCa: ca, controller: await trust.identity(CONTROLLER_IDENTITY)})
      // deploy/api: its pod's proxy runs in this process at the pod IP; a client sends it traffic.
      api = await startMeshPod({
        namespace: ns, name: 'api-0', deployment: 'api', host: route.podIp,
        tapIdentity: {identity: await trust.identity(`api.${ns}.serviceaccount.identity.mesh-system.cluster.local`), tapServiceName: CONTROLLER_IDENTITY},
      })
      client = await startMeshPod({name: 'client-0', deployment: 'client', routes: {'api:80': api}})
      const labels = {app: 'api'}
      await apps.createNamespacedDeployment({namespace: ns, body: {metadata: {name: 'api'}, spec: {selector: {matchLabels: labels}, template: {metadata: {labels}, spec: {containers: [{name: 'app', image: 'app'}]}}}}})
      // svc/api selects its pod: the Service deploy/api serves.
      await core.createNamespacedService({namespace: ns, body: {metadata: {name: 'api'}, spec: {selector: labels, ports: [{name: 'http', port: 80}]}}})
      // Its Pod, Running at the pod IP, with the proxy's tap and admin ports where they listen.
      await createMeshedPod(ns, 'api-0', {sa: 'api', ip: route.podIp, env: {[ProxyEnv.TAP_LISTEN_ADDR]: api.info.tapAddress!, [ProxyEnv.ADMIN_LISTEN_ADDR]: api.info.adminAddress!}})
      // 30 requests, 5 of them failing; no more traffic after, so the numbers stand still.
      const sent = await scriptedTraffic(client, 'api:80')
      expect(sent.filter((x) => x.status === 500)).toHaveLength(5)
      // The user: a client certificate of the cluster's CA, its group bound to what the dashboard
      // reads and nothing else: the tap Service's proxy, stat/edges and tap in its namespace.
      const user = await issueCertificate(ca, {commonName: 'dashboard-user', organizations: [GROUP]})
      kubeconfig = path.join(home, 'kubeconfig')
      const b64 = (x: string) => Buffer.from(x).toString('base64')
      writeFileSync(kubeconfig, JSON.stringify({
        apiVersion: 'v1', kind: 'Config', 'current-context': 'dash',
        clusters: [{name: 'test', cluster: {server: cluster.server, 'certificate-authority-data': b64(cluster.caPem)}}],
        users: [{name: 'dashboard-user', user: {'client-certificate-data': b64(user.certPem), 'client-key-data': b64(user.keyPem)}}],
        contexts: [{name: 'dash', context: {cluster: 'test', user: 'dashboard-user', namespace: ns}}],
      }), {mode: 0o600})
      const bind = async (namespace: string, name: string, rules: k8s.V1PolicyRule[]): Promise<void> => {
        await rbac.createNamespacedRole({namespace, body: {metadata: {name}, rules}})
        await rbac.createNamespacedRoleBinding({
          namespace,
          body: {metadata: {name}, roleRef: {apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name}, subjects: [{kind: 'Group', name: GROUP, apiGroup: 'rbac.authorization.k8s.io'}]},
        })
      }
      await bind('mesh-system', `dashboard-proxy-${ns}`, [{apiGroups: [''], resources: ['services/proxy'], resourceNames: ['https:mesh-tap:8089'], verbs: ['get']}])
      grantServed = () => bind(ns, 'dashboard-served', [
        {apiGroups: [TAP_API_GROUP], resources: ['services/stat'], verbs: ['get']},
        {apiGroups: [''], resources: ['services'], verbs: ['list']},
        {apiGroups: ['gateway.networking.k8s.io'], resources: ['httproutes', 'grpcroutes'], verbs: ['list']},
      ])
      const kinds = ['namespaces', 'deployments', 'statefulsets', 'daemonsets']
      await bind(ns, 'dashboard', [
        {apiGroups: [TAP_API_GROUP], resources: kinds.flatMap((k) => [`${k}/stat`, `${k}/edges`]), verbs: ['get']},
        {apiGroups: [TAP_API_GROUP], resources: ['deployments/tap'], verbs: ['watch']},
      ])
    })

    afterAll(async () => {
      const rbac = kc?.makeApiClient(k8s.RbacAuthorizationV1Api)
      await rbac?.deleteNamespacedRoleBinding({namespace: 'mesh-system', name: `dashboard-proxy-${ns}`}).catch(() => {})
      await rbac?.deleteNamespacedRole({namespace: 'mesh-system', name: `dashboard-proxy-${ns}`}).catch(() => {})
      await tap?.close()
      await Promise.all([api?.stop(), client?.stop()])
      await route?.close()
      // No kubelet and no namespace controller here: the pods go first, then the namespace is finalized.
      if (kc) await finalizeNamespace(ns).catch((e: unknown) => process.stderr.write(`dashboard.test: cleanup of ${ns}: ${String(e)}\n`))
    })

    it('the page shows the workload with the numbers `mesh stat` gives the same user, its live tap, and no refusal', async () => {
      // RBAC is read from the API server's cache: the CLI answers once the bindings are seen.
      const stat = await eventually('mesh stat as the dashboard user', async () => {
        const r = await runMesh(['stat', 'deploy/api', '--window', '1h', '-o', 'json', '--kubeconfig', kubeconfig, '--context', 'dash'])
        if (r.exitCode !== 0) throw new Error(`exit ${r.exitCode}: ${r.stderr.trim().slice(0, 500)}`)
        return JSON.parse(r.stdout) as StatReport
      }, {intervalMs: 250})
      const row = stat.rows[0]!
      expect(row).toMatchObject({namespace: ns, name: 'api', meshedPods: 1, totalPods: 1, requests: 30})
      expect(row.successRate).toBe(25 / 30)
      const dashboard = await startDashboardProcess(['--kubeconfig', kubeconfig, '--context', 'dash', '--window', '1h'], {MESH_HOME: home})
      try {
        const page = await (await browser.newContext()).newPage()
        await page.goto(dashboard.url)
        const cell = page.locator(`[data-testid="workloads"] tr[data-workload="${ns}/deploy/api"] td[data-col="success"]`)
        await cell.waitFor({timeout: 60_000})
        expect(await cell.getAttribute('data-value')).toBe(String(row.successRate))
        expect(await cell.textContent()).toBe('83.33%')
        expect(await page.locator(`[data-testid="workloads"] tr[data-workload="${ns}/deploy/api"]`).textContent()).toContain('meshed 1/1')
        expect(await page.getByRole('alert').count()).toBe(0)
        expect(dashboard.stderr()).toContain(`serving the dashboard of cluster ${cluster.server} (context dash)`)
        await page.screenshot({path: shot('cluster'), fullPage: true})
        // The workload's page: its live tap (a WebSocket through the service proxy) shows a request sent now.
        const frames: string[] = []
        page.on('websocket', (w) => w.url().includes('/api/tap') && w.on('framereceived', (f) => frames.length < 20 && frames.push(String(f.payload).slice(0, 300))))
        await page.goto(`${dashboard.origin}/#/workload/${ns}/deploy/api`)
        await page.getByRole('heading', {name: /deploy\/api/}).waitFor()
        const marker = `/ok/dashboard-${Date.now()}`
        const tapped = page.locator(`[data-testid="tap"] tr[data-path="${marker}"]`)
        await eventually('the request in the tap view', async () => {
          await send(client!, 'api:80', marker)
          return (await tapped.count()) > 0 ? true : undefined
        }, {timeoutMs: 60_000, intervalMs: 1000, context: () => `the tap stream said: ${frames.join('\n')}`})
        await expect.poll(() => tapped.first().locator('td').nth(6).textContent()).toBe('200')
        // Its routes: it sent no requests to a Service (its caller is outside the cluster).
        await expect.poll(() => page.locator('[data-testid="routes"]').textContent(), {timeout: 60_000}).toContain('No requests from it to a Service')
        expect(await page.locator('[data-testid="routes"]').getByRole('alert').count()).toBe(0)
        // The Service it serves, svc/api: without `get services/stat` the user sees the tap
        // server's refusal there (and the API server's for the route objects), not data.
        const served = page.locator(`[data-testid="served-routes"] [aria-label="routes of svc/api"]`)
        await expect.poll(() => served.getByRole('alert').allTextContents(), {timeout: 60_000}).toEqual([
          expect.stringContaining('user dashboard-user may not get services/stat api'),
          expect.stringContaining('cannot list the Services of namespace'),
        ])
        expect(await served.locator('tr[data-route]').count()).toBe(0)
        await page.screenshot({path: shot('cluster-served-refused'), fullPage: true})
        // With the rights: svc/api's table with the rows of `mesh stat svc/api --routes` as the same user, no refusal.
        await grantServed()
        const svcStat = await eventually('mesh stat svc/api --routes as the dashboard user', async () => {
          const r = await runMesh(['stat', 'svc/api', '--routes', '--window', '1h', '-o', 'json', '--kubeconfig', kubeconfig, '--context', 'dash'])
          if (r.exitCode !== 0) throw new Error(`exit ${r.exitCode}: ${r.stderr.trim().slice(0, 500)}`)
          return JSON.parse(r.stdout) as RouteStatReport
        }, {intervalMs: 250})
        await expect.poll(() => served.getByRole('alert').count(), {timeout: 60_000}).toBe(0)
        await expect.poll(() => served.locator('tr[data-route]').evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-route'))), {timeout: 60_000})
          .toEqual(svcStat.rows.map((r) => `${r.authority}|${r.routeKind}|${r.route}`))
        // (No rows here: its one caller is no Pod of the cluster, and this tap server has no registry to list routes in force by.)
        expect(await served.locator(`table[data-service="${ns}/api"]`).count()).toBe(1)
        expect(await page.getByRole('alert').count()).toBe(0)
        await page.screenshot({path: shot('cluster-workload'), fullPage: true})
        await page.context().close()
      } finally {
        await dashboard.stop()
      }
    })
  })
})
