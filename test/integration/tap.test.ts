/**
 * The tap server against the real API server: targets resolve to pods through the Kubernetes
 * resolver, and callers are authorized with a TokenReview + SubjectAccessReview on their own
 * identity. The restricted user is refused until an admin binds it to the tap role; a caller
 * without a token or with a bad one is refused as unauthenticated. Then the whole way through the
 * API server's service proxy (the tap server in this process, reached at a veth address as the
 * API server would reach the controller's pod): the query of a tap WebSocket survives, and a
 * kubeconfig user with a client certificate (no token) is known to the tap server by the proof
 * of its key. Run with `npm run test:cluster`.
 */
import {randomBytes} from 'node:crypto'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import http from 'node:http'
import https from 'node:https'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import * as k8s from '@kubernetes/client-node'
import WebSocket from 'ws'
import {createCertificateAuthority, issueCertificate, testCluster, type CertificateAuthority} from '../cluster/cluster.js'
import {runMesh} from '../helpers/run.js'
import {finalizeNamespace} from './install-helpers.js'
import {send, scriptedTraffic, startMeshPod, type MeshPod} from '../tap/harness.js'
import {serviceProxyRoute, type ServiceProxyRoute} from '../tap/service-proxy.js'
import {CONTROLLER_IDENTITY, meshTrust, startPublishedTapServer, type MeshTrust} from '../tap/published-tap.js'
import {startPrometheus, type PrometheusServer} from '../stat/prometheus-server.js'
import {Output} from '../../src/lib/output.js'
import type {Identity} from '../../src/proxy/core/contracts.js'
import type {TapEvent} from '../../src/protocol/tap.js'
import type {AuthzReport} from '../../src/authz/report.js'
import {runTapCommand} from '../../src/tapclient/tap-run.js'
import type {TopSnapshot} from '../../src/tapclient/top-aggregate.js'
import {runTopCommand} from '../../src/tapclient/top-run.js'
import {signProof} from '../../src/control/tap/caller-proof.js'
import {CALLER_TOKEN_HEADER, type TapStreamMessage} from '../../src/control/tap/api.js'
import {KubeAuthorizer, TAP_API_GROUP} from '../../src/control/tap/auth.js'
import {KubeResolver} from '../../src/control/tap/kube-resolver.js'
import {startTapServer, type RunningTapServer} from '../../src/control/tap/server.js'
import {loadKube} from '../../src/k8s/client.js'
import type {StatReport} from '../../src/stat/types.js'
import {resolveControlPlane, tapServiceProxyPath} from '../../src/tapclient/target.js'
import {eventually as poll} from '../helpers/eventually.js'

const cluster = testCluster()
const ns = `mesh-tap-${randomBytes(3).toString('hex')}`
let server: RunningTapServer
let kc: k8s.KubeConfig

function get(path: string, token?: string): Promise<{status: number; body: any}> {
  return new Promise((resolve, reject) => {
    const req = http.get(server.url + path, {headers: token ? {[CALLER_TOKEN_HEADER]: token} : {}}, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => (text += c))
      res.on('end', () => resolve({status: res.statusCode ?? 0, body: JSON.parse(text)}))
    })
    req.on('error', reject)
  })
}

/** Opens a tap stream; collects its messages until the server closes it (at most 5 s). */
function tap(query: string, token: string): Promise<{status: number; body?: any; messages?: TapStreamMessage[]}> {
  return new Promise((resolve, reject) => {
    const messages: TapStreamMessage[] = []
    const ws = new WebSocket(`${server.url.replace('http', 'ws')}/v1/tap?${query}`, {headers: {[CALLER_TOKEN_HEADER]: token}})
    ws.on('unexpected-response', (_req, res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => (text += c))
      res.on('end', () => resolve({status: res.statusCode ?? 0, body: JSON.parse(text)}))
    })
    ws.on('message', (d) => messages.push(JSON.parse(String(d))))
    ws.on('open', () => setTimeout(() => ws.close(), 5_000).unref())
    ws.on('close', () => resolve({status: 101, messages}))
    ws.on('error', reject)
  })
}

beforeAll(async () => {
  // The tap server runs with the admin's credentials (in a cluster: the controller's ServiceAccount).
  const kube = await loadKube({kubeconfig: cluster.kubeconfigPath, context: 'admin'})
  kc = kube.kc
  server = await startTapServer({resolver: new KubeResolver({lib: kube.k8s, kc}), authorizer: new KubeAuthorizer(kube), refreshMs: 200})
  const core = kc.makeApiClient(k8s.CoreV1Api)
  const apps = kc.makeApiClient(k8s.AppsV1Api)
  await core.createNamespace({body: {metadata: {name: ns}}})
  const labels = {app: 'web'}
  await apps.createNamespacedDeployment({
    namespace: ns,
    body: {metadata: {name: 'web'}, spec: {selector: {matchLabels: labels}, template: {metadata: {labels}, spec: {containers: [{name: 'app', image: 'app'}]}}}},
  })
  // No controller-manager here: the Deployment's pod is created directly, with a proxy container.
  await core.createNamespacedPod({
    namespace: ns,
    body: {metadata: {name: 'web-0', labels}, spec: {containers: [{name: 'app', image: 'app'}, {name: 'mesh-proxy', image: 'mesh'}]}},
  })
  await core.createNamespacedPod({namespace: ns, body: {metadata: {name: 'other-0', labels: {app: 'other'}}, spec: {containers: [{name: 'app', image: 'app'}]}}})
})

afterAll(async () => {
  await server?.close()
  // No kubelet and no namespace controller here: the pods go first (a meshed pod left behind
  // makes later suites' `mesh uninstall` refuse), then the namespace is finalized.
  if (kc) await finalizeNamespace(ns).catch((e: unknown) => process.stderr.write(`tap.test: cleanup of ${ns}: ${String(e)}\n`))
})

describe('tap server authorization (TokenReview + SubjectAccessReview)', () => {
  it('refuses the restricted user with 403, naming the user and the permission', async () => {
    const r = await get(`/v1/stat?resource=deploy/web&namespace=${ns}`, cluster.tokens.restricted)
    expect(r.status).toBe(403)
    expect(r.body.error.code).toBe('MESH_TAP_FORBIDDEN')
    expect(r.body.error.message).toContain(`user ${cluster.users.restricted} may not get deployments/stat web (API group ${TAP_API_GROUP}) in namespace ${ns}`)
    const t = await tap(`resource=deploy/web&namespace=${ns}`, cluster.tokens.restricted)
    expect(t.status).toBe(403)
    expect(t.body.error.message).toContain(`may not watch deployments/tap web`)
  })

  it('refuses a caller without a token, or with a token the API server does not know, with 401', async () => {
    const none = await get(`/v1/stat?resource=deploy/web&namespace=${ns}`)
    expect(none.status).toBe(401)
    expect(none.body.error.message).toContain(CALLER_TOKEN_HEADER)
    const bad = await get(`/v1/stat?resource=deploy/web&namespace=${ns}`, 'not-a-real-token')
    expect(bad.status).toBe(401)
    expect(bad.body.error.message).toContain('not accepted by the API server')
  })

  it('lets the admin (system:masters) read stat: the deployment resolves to its pod, meshed', async () => {
    const r = await get(`/v1/stat?resource=deploy&namespace=${ns}`, cluster.tokens.admin)
    expect(r.status).toBe(200)
    const report = r.body as StatReport
    expect(report.rows.map((x) => [x.name, x.meshedPods, x.totalPods, x.requests])).toEqual([['web', 1, 1, null]])
    const pods = await get(`/v1/stat?resource=po&namespace=${ns}`, cluster.tokens.admin)
    expect((pods.body as StatReport).rows.map((x) => [x.name, x.meshedPods])).toEqual([['other-0', 0], ['web-0', 1]])
    const missing = await get(`/v1/stat?resource=deploy/nope&namespace=${ns}`, cluster.tokens.admin)
    expect(missing.status).toBe(404)
  })

  it('allows the restricted user once bound to a role with watch on deployments/tap', async () => {
    const rbac = kc.makeApiClient(k8s.RbacAuthorizationV1Api)
    await rbac.createNamespacedRole({
      namespace: ns,
      body: {metadata: {name: 'tap'}, rules: [{apiGroups: [TAP_API_GROUP], resources: ['deployments/tap'], verbs: ['watch']}]},
    })
    await rbac.createNamespacedRoleBinding({
      namespace: ns,
      body: {metadata: {name: 'tap'}, roleRef: {apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'tap'}, subjects: [{kind: 'User', name: cluster.users.restricted, apiGroup: 'rbac.authorization.k8s.io'}]},
    })
    // RBAC is read from the API server's cache: allow it a moment.
    const t = await poll('the restricted user\'s tap to be allowed', async () => {
      const r = await tap(`resource=deploy/web&namespace=${ns}`, cluster.tokens.restricted)
      return r.status === 101 ? r : undefined
    }, {intervalMs: 250})
    expect(t.status).toBe(101)
    // The pod is not running (no kubelet): the stream says there is nothing to tap.
    expect(t.messages).toEqual([
      {type: 'warning', message: `pod ${ns}/web-0 is not running yet: it is tapped once it runs`},
      {type: 'end', reason: 'no meshed pod to tap'},
    ])
    // Watching taps does not grant stat.
    const s = await get(`/v1/stat?resource=deploy/web&namespace=${ns}`, cluster.tokens.restricted)
    expect(s.status).toBe(403)
  })
})

describe('the CLI side in a cluster', () => {
  it('goes through the API server service proxy and forwards the user token for the tap server', async () => {
    const t = await resolveControlPlane({kubeconfig: cluster.kubeconfigPath, context: 'restricted'}, {})
    expect(t.mode).toBe('kube')
    expect(t.baseUrl).toBe(`${cluster.server}/api/v1/namespaces/mesh-system/services/https:mesh-tap:8089/proxy`)
    expect(t.requestOptions.headers[CALLER_TOKEN_HEADER]).toBe(cluster.tokens.restricted)
    expect(t.clientCertificate).toBeUndefined()
  })

  it('a client certificate user forwards no token: it signs each request with its key instead', async () => {
    const t = await resolveControlPlane({kubeconfig: cluster.kubeconfigPath, context: 'admin'}, {})
    expect(t.requestOptions.headers[CALLER_TOKEN_HEADER]).toBeUndefined()
    expect(t.clientCertificate?.certPem).toBe(cluster.adminCertPem)
  })
})

describe('through the API server service proxy (client certificate users, tap WebSocket)', () => {
  const CERT_USER = 'cert-user'
  const CERT_GROUP = 'mesh:cert-group'
  let route: ServiceProxyRoute
  let viaProxy: RunningTapServer
  let dir: string
  let kubeconfig: string
  let clusterCa: CertificateAuthority

  const CONTROLLER = CONTROLLER_IDENTITY
  let trust: MeshTrust
  let api: MeshPod | undefined
  let client: MeshPod | undefined
  let prom: PrometheusServer | undefined

  const mesh = (context: string, ...args: string[]) => runMesh([...args, '--kubeconfig', kubeconfig, '--context', context])

  const meshIdentity = (name: string): Promise<Identity> => trust.identity(name)

  beforeAll(async () => {
    const kube = await loadKube({kubeconfig: cluster.kubeconfigPath, context: 'admin'})
    clusterCa = {certPem: cluster.caPem, keyPem: cluster.caKeyPem, publicKeyPem: ''}
    // The mesh's own trust: the tap server dials the proxies' tap ports over mTLS as the controller.
    trust = await meshTrust()
    route = await serviceProxyRoute(kc)
    viaProxy = await startPublishedTapServer({route, kube, clusterCa, controller: await meshIdentity(CONTROLLER)})
    // A user the API server knows only by a client certificate of its CA (CN user, O group).
    const user = await issueCertificate(clusterCa, {commonName: CERT_USER, organizations: [CERT_GROUP]})
    dir = mkdtempSync(path.join(tmpdir(), 'mesh-tap-kc-'))
    kubeconfig = path.join(dir, 'kubeconfig')
    const b64 = (x: string) => Buffer.from(x).toString('base64')
    writeFileSync(kubeconfig, JSON.stringify({
      apiVersion: 'v1', kind: 'Config', 'current-context': 'cert',
      clusters: [{name: 'test', cluster: {server: cluster.server, 'certificate-authority-data': b64(cluster.caPem)}}],
      users: [
        {name: CERT_USER, user: {'client-certificate-data': b64(user.certPem), 'client-key-data': b64(user.keyPem)}},
        {name: 'admin', user: {'client-certificate-data': b64(cluster.adminCertPem), 'client-key-data': b64(cluster.adminKeyPem)}},
      ],
      contexts: [
        {name: 'cert', context: {cluster: 'test', user: CERT_USER, namespace: ns}},
        {name: 'admin', context: {cluster: 'test', user: 'admin', namespace: ns}},
      ],
    }), {mode: 0o600})
    // Reaching the tap service through the API server needs `get` on services/proxy, and the name
    // RBAC checks is the proxy path's `https:mesh-tap:8089` (`mesh-tap` alone is refused).
    const rbac = kc.makeApiClient(k8s.RbacAuthorizationV1Api)
    await rbac.createNamespacedRole({namespace: 'mesh-system', body: {metadata: {name: `tap-proxy-${ns}`}, rules: [{apiGroups: [''], resources: ['services/proxy'], resourceNames: ['https:mesh-tap:8089'], verbs: ['get', 'create']}]}})
    await rbac.createNamespacedRoleBinding({
      namespace: 'mesh-system',
      body: {
        metadata: {name: `tap-proxy-${ns}`}, roleRef: {apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: `tap-proxy-${ns}`},
        subjects: [{kind: 'Group', name: CERT_GROUP, apiGroup: 'rbac.authorization.k8s.io'}, {kind: 'User', name: cluster.users.restricted, apiGroup: 'rbac.authorization.k8s.io'}],
      },
    })
  })

  afterAll(async () => {
    const rbac = kc?.makeApiClient(k8s.RbacAuthorizationV1Api)
    await rbac?.deleteNamespacedRoleBinding({namespace: 'mesh-system', name: `tap-proxy-${ns}`}).catch(() => {})
    await rbac?.deleteNamespacedRole({namespace: 'mesh-system', name: `tap-proxy-${ns}`}).catch(() => {})
    await prom?.stop()
    await viaProxy?.close()
    await Promise.all([api?.stop(), client?.stop()])
    await route?.close()
    if (dir) rmSync(dir, {recursive: true, force: true})
  })

  /** Retries while RBAC (read from the API server's cache) has not caught up. */
  function eventually(args: [string, ...string[]], ok: (r: {stdout: string; stderr: string; exitCode: number}) => boolean) {
    return poll(`mesh ${args.join(' ')} to answer as expected`, async () => {
      const r = await mesh(...args)
      if (!ok(r)) throw new Error(`exit ${r.exitCode}: ${r.stderr.trim().slice(0, 500)}`)
      return r
    }, {intervalMs: 250})
  }

  it('a client-certificate user is known by its certificate: refused by name until bound, then served', async () => {
    const refused = await eventually(['cert', 'stat', 'deploy/web', '-o', 'json'], (r) => r.stderr.includes('may not'))
    expect(refused.exitCode).toBe(1)
    expect(refused.stdout).toBe('')
    expect(refused.stderr).toContain(`user ${CERT_USER} may not get deployments/stat web (API group ${TAP_API_GROUP}) in namespace ${ns}`)
    const rbac = kc.makeApiClient(k8s.RbacAuthorizationV1Api)
    await rbac.createNamespacedRole({namespace: ns, body: {metadata: {name: 'cert-tap'}, rules: [{apiGroups: [TAP_API_GROUP], resources: ['deployments/tap', 'deployments/stat'], verbs: ['watch', 'get']}]}})
    // Bound by group: the groups come from the certificate's O entries.
    await rbac.createNamespacedRoleBinding({
      namespace: ns,
      body: {metadata: {name: 'cert-tap'}, roleRef: {apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'cert-tap'}, subjects: [{kind: 'Group', name: CERT_GROUP, apiGroup: 'rbac.authorization.k8s.io'}]},
    })
    const served = await eventually(['cert', 'stat', 'deploy/web', '-o', 'json'], (r) => r.exitCode === 0)
    expect(served.stderr).toBe('')
    expect(served.exitCode).toBe(0)
    expect((JSON.parse(served.stdout) as StatReport).rows.map((x) => [x.name, x.meshedPods, x.totalPods])).toEqual([['web', 1, 1]])
  })

  it('mesh tap through the service proxy: the stream gets its query (target and namespace) across the upgrade', async () => {
    const r = await eventually(['cert', 'tap', 'deploy/web', '-o', 'json', '--duration', '20s'], (x) => x.stderr.includes('not running yet'))
    // The tap server resolved deploy/web in the namespace: its one pod is not running (no kubelet).
    expect(r.stderr).toContain(`pod ${ns}/web-0 is not running yet`)
    expect(r.stderr).toContain('nothing to tap in deploy/web: no meshed pod to tap')
    expect(r.stderr).not.toContain('missing query parameter')
    expect(r.stdout).toBe('')
    expect(r.exitCode).toBe(1)
  })

  it('the admin kubeconfig (client certificate, system:masters) works with no binding', async () => {
    const r = await mesh('admin', 'stat', 'po', '-o', 'json')
    expect(r.stderr).toBe('')
    expect((JSON.parse(r.stdout) as StatReport).rows.map((x) => x.name)).toEqual(['other-0', 'web-0'])
  })

  it('mesh authz through the service proxy: the workload\'s pods as the tap server sees them; this tap server has no controller behind it, and the CLI says so rather than show a policy', async () => {
    const r = await mesh('admin', 'authz', 'deploy/web', '-n', ns, '-o', 'json')
    expect(r.stderr).toBe('')
    expect(r.exitCode).toBe(0)
    const report = JSON.parse(r.stdout) as AuthzReport
    expect(report).toMatchObject({resource: 'deployment/web', namespace: ns, workload: {kind: 'Deployment', name: 'web'}, scraped: 0})
    expect(report.pods).toEqual([{pod: 'web-0', metricsError: 'not running'}])
    const table = await mesh('admin', 'authz', 'deploy/web', '-n', ns)
    expect(table.exitCode).toBe(0)
    expect(table.stderr).toContain('pod web-0: metrics unavailable: not running')
    expect(table.stderr).toContain('the controller has no authorization policy for these pods')
    const suggestion = await mesh('admin', 'authz', 'suggest', 'deploy/web', '-n', ns)
    expect(suggestion.exitCode).toBe(1)
    expect(suggestion.stdout).toBe('')
    expect(suggestion.stderr).toContain('counted no caller with a mesh identity')
  })

  it('a caller cannot claim a certificate it has no key for: the admin\'s certificate with another key\'s signature is refused', async () => {
    const stranger = await createCertificateAuthority('stranger')
    const query = `resource=deploy%2Fweb&namespace=${ns}`
    const proof = signProof(cluster.adminCertPem, stranger.keyPem, {method: 'GET', path: '/v1/stat', query})
    const url = new URL(`${cluster.server}${tapServiceProxyPath()}/v1/stat?${query}`)
    const r = await new Promise<{status: number; body: any}>((resolve, reject) => {
      const req = https.get(url, {ca: cluster.caPem, headers: {authorization: `Bearer ${cluster.tokens.restricted}`, 'x-mesh-query': query, ...proof}}, (res) => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (c: string) => (text += c))
        res.on('end', () => resolve({status: res.statusCode ?? 0, body: JSON.parse(text)}))
      })
      req.on('error', reject)
    })
    expect(r.status).toBe(401)
    expect(r.body.error.message).toContain('the signature does not match your client certificate and this request')
  })
  describe('a running meshed pod (a real proxy at the pod IP, native sidecar in the pod spec)', () => {
    beforeAll(async () => {
      // api-0's proxy runs in this process at the pod IP; only the controller may tap it (mTLS).
      api = await startMeshPod({
        namespace: ns, name: 'api-0', deployment: 'api', host: route.podIp,
        tapIdentity: {identity: await meshIdentity(`api.${ns}.serviceaccount.identity.mesh-system.cluster.local`), tapServiceName: CONTROLLER},
      })
      client = await startMeshPod({name: 'client-0', deployment: 'client', routes: {'api:80': api}})
      const core = kc.makeApiClient(k8s.CoreV1Api)
      const apps = kc.makeApiClient(k8s.AppsV1Api)
      const labels = {app: 'api'}
      await apps.createNamespacedDeployment({namespace: ns, body: {metadata: {name: 'api'}, spec: {selector: {matchLabels: labels}, template: {metadata: {labels}, spec: {containers: [{name: 'app', image: 'app'}]}}}}})
      const port = (a: string) => Number(a.split(':').pop())
      const pod = await core.createNamespacedPod({
        namespace: ns,
        body: {
          metadata: {name: 'api-0', labels: {...labels, 'mesh.dev/control-plane-ns': 'mesh-system'}},
          spec: {
            serviceAccountName: 'api',
            initContainers: [{
              name: 'mesh-proxy', image: 'mesh', restartPolicy: 'Always',
              ports: [{name: 'mesh-tap', containerPort: port(api.info.tapAddress!)}, {name: 'mesh-admin', containerPort: port(api.info.adminAddress!)}],
            }],
            containers: [{name: 'app', image: 'app'}],
          },
        },
      })
      await core.replaceNamespacedPodStatus({namespace: ns, name: 'api-0', body: {...pod, status: {phase: 'Running', podIP: route.podIp, podIPs: [{ip: route.podIp}]}}})
    })

    it('mesh tap as a certificate user: the proxy\'s events come through the API server service proxy', async () => {
      const o = {stdout: '', stderr: ''}
      const out = new Output({stdout: {write: (c: string) => (o.stdout += c)}, stderr: {write: (c: string) => (o.stderr += c)}, env: {NO_COLOR: '1'}})
      const abort = new AbortController()
      const guard = setTimeout(() => abort.abort(), 30_000)
      let opened: () => void = () => {}
      const started = new Promise<void>((r) => (opened = r))
      const run = runTapCommand(out, 'deploy/api', {kubeconfig, context: 'cert', 'max-rps': 1000, output: 'json', 'max-events': 9}, {
        signal: abort.signal,
        onMessage: (m) => m.type === 'podStart' && opened(),
      })
      await Promise.race([started, run])
      for (const p of ['/ok', '/fail', '/ok']) await send(client!, 'api:80', p)
      await run
      clearTimeout(guard)
      const events = o.stdout.trim().split('\n').map((l) => JSON.parse(l) as TapEvent & {pod: string})
      expect(events).toHaveLength(9)
      expect(new Set(events.map((e) => e.pod))).toEqual(new Set([`${ns}/api-0`]))
      expect(events.filter((e) => e.type === 'requestInit').map((e) => (e as {path?: string}).path)).toEqual(['/ok', '/fail', '/ok'])
      expect(events.filter((e) => e.type === 'responseInit').map((e) => (e as {status?: number}).status)).toEqual([200, 500, 200])
      expect(events.every((e) => e.direction === 'inbound')).toBe(true)
    })

    it('mesh stat as a certificate user: the tap server scrapes the proxy at the pod IP', async () => {
      const sent = await scriptedTraffic(client!, 'api:80')
      expect(sent.filter((x) => x.status === 500)).toHaveLength(5)
      const r = await mesh('cert', 'stat', 'deploy/api', '-o', 'json')
      expect(r.stderr).toBe('')
      const row = (JSON.parse(r.stdout) as StatReport).rows[0]
      // 3 requests while tapping + 30 scripted: 6 failures.
      expect(row).toMatchObject({name: 'api', meshedPods: 1, totalPods: 1, requests: 33})
      expect(row.successRate).toBeCloseTo(27 / 33, 10)
    })

    it('mesh top -o json as a certificate user: rows from the proxy\'s events through the service proxy', async () => {
      let stdout = ''
      const out = new Output({stdout: {write: (c: string) => (stdout += c)}, stderr: {write: () => true}, env: {NO_COLOR: '1'}})
      const abort = new AbortController()
      const guard = setTimeout(() => abort.abort(), 30_000)
      let opened: () => void = () => {}
      const started = new Promise<void>((r) => (opened = r))
      let seen = 0
      const run = runTopCommand(out, 'deploy/api', {kubeconfig, context: 'cert', paths: false, interval: '200ms', 'max-rps': 1000, output: 'json'}, {
        signal: abort.signal,
        onMessage: (m) => {
          if (m.type === 'podStart') opened()
          if (m.type === 'event') seen++
        },
      })
      await Promise.race([started, run])
      for (const p of ['/ok', '/fail', '/ok']) await send(client!, 'api:80', p)
      // Every event is in the table once counted (the hook runs first, in the same turn); then
      // one periodic snapshot besides the last.
      await poll('9 tap events', () => (seen >= 9 ? true : undefined), {intervalMs: 50})
      const printed = stdout.length
      await poll('a periodic snapshot', () => (stdout.length > printed ? true : undefined), {intervalMs: 50})
      abort.abort()
      await run
      clearTimeout(guard)
      const snaps = stdout.trim().split('\n').map((l) => JSON.parse(l) as TopSnapshot)
      const last = snaps[snaps.length - 1]
      expect(last.rows.map((r) => [r.destination, r.method, r.route, r.count, r.successRate])).toEqual([
        ['api-0', 'GET', '/ok', 2, 1],
        ['api-0', 'GET', '/fail', 1, 0],
      ])
    })

    it('a Prometheus with the documented relabelling scrapes only the proxy\'s admin port; stat --prometheus-url counts the traffic', async () => {
      // Debian's Prometheus is built without kubernetes_sd: file_sd hands it the targets the pod
      // role would discover for api-0 (one per container port, with the same meta labels), and
      // the documented relabel rules must keep only the proxy's admin port.
      const meta = (container: string, portName: string, port: string) => ({
        targets: [`${route.podIp}:${port.split(':').pop()}`],
        labels: {__meta_kubernetes_namespace: ns, __meta_kubernetes_pod_name: 'api-0', __meta_kubernetes_pod_container_name: container, __meta_kubernetes_pod_container_port_name: portName},
      })
      const sd = path.join(dir, 'targets.json')
      writeFileSync(sd, JSON.stringify([meta('mesh-proxy', 'mesh-admin', api!.info.adminAddress!), meta('mesh-proxy', 'mesh-tap', api!.info.tapAddress!), meta('app', 'http', api!.info.adminAddress!)]))
      prom = await startPrometheus({
        targets: 1,
        scrapeConfig: [
          '  - job_name: mesh-proxy',
          '    honor_labels: true',
          `    file_sd_configs: [{files: [${JSON.stringify(sd)}]}]`,
          '    relabel_configs:',
          '      - source_labels: [__meta_kubernetes_pod_container_name, __meta_kubernetes_pod_container_port_name]',
          '        action: keep',
          '        regex: mesh-proxy;mesh-admin',
        ],
      })
      await prom.waitForScrapes(1, 30_000)
      const firstScrape = Date.now()
      const targets = await prom.targets()
      expect(targets).toHaveLength(1)
      expect(targets[0]).toMatchObject({health: 'up', scrapeUrl: `http://${api!.info.adminAddress}/metrics`})
      await prom.waitForScrapes(6)
      const trafficStart = Date.now()
      await scriptedTraffic(client!, 'api:80')
      await prom.waitForScrapes(2)
      // The window starts between the first scrape and the traffic, however late the query runs.
      const W = Math.ceil((Date.now() - (firstScrape + trafficStart) / 2) / 1000)
      const r = await runMesh(['stat', 'deploy/api', '-n', ns, '--prometheus-url', prom.url, '--window', `${W}s`, '-o', 'json'])
      expect(r.stderr).toBe('')
      const row = (JSON.parse(r.stdout) as StatReport).rows[0]
      expect(row).toMatchObject({namespace: ns, name: 'api', meshedPods: 1, requests: 30})
      expect(row.successRate).toBeCloseTo(25 / 30, 10)
    }, 90_000)
  })
})
