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
import {serviceProxyRoute, type ServiceProxyRoute} from '../tap/service-proxy.js'
import {signProof} from '../../src/control/tap/caller-proof.js'
import {CALLER_TOKEN_HEADER, type TapStreamMessage} from '../../src/control/tap/api.js'
import {KubeAuthorizer, TAP_API_GROUP} from '../../src/control/tap/auth.js'
import {KubeResolver} from '../../src/control/tap/kube-resolver.js'
import {startTapServer, type RunningTapServer} from '../../src/control/tap/server.js'
import {loadKube} from '../../src/k8s/client.js'
import type {StatReport} from '../../src/stat/types.js'
import {resolveControlPlane, tapServiceProxyPath} from '../../src/tapclient/target.js'

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
  await kc?.makeApiClient(k8s.CoreV1Api).deleteNamespace({name: ns}).catch(() => {})
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
    let t = await tap(`resource=deploy/web&namespace=${ns}`, cluster.tokens.restricted)
    for (let i = 0; i < 20 && t.status !== 101; i++) {
      await new Promise((r) => setTimeout(r, 250))
      t = await tap(`resource=deploy/web&namespace=${ns}`, cluster.tokens.restricted)
    }
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

  const mesh = (context: string, ...args: string[]) => runMesh([...args, '--kubeconfig', kubeconfig, '--context', context])

  beforeAll(async () => {
    const kube = await loadKube({kubeconfig: cluster.kubeconfigPath, context: 'admin'})
    clusterCa = {certPem: cluster.caPem, keyPem: cluster.caKeyPem, publicKeyPem: ''}
    route = await serviceProxyRoute(kc)
    // The API server's service proxy speaks https to the endpoint and does not verify it.
    const serving = await issueCertificate(clusterCa, {commonName: 'mesh-tap', ips: [route.ip]})
    viaProxy = await startTapServer({
      host: route.ip, tls: {cert: serving.certPem, key: serving.keyPem},
      resolver: new KubeResolver({lib: kube.k8s, kc}), authorizer: new KubeAuthorizer(kube), refreshMs: 200,
    })
    await route.publish(viaProxy.port)
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
    // Reaching the tap service through the API server needs `get` on services/proxy (as mesh-tap-admin grants).
    const rbac = kc.makeApiClient(k8s.RbacAuthorizationV1Api)
    await rbac.createNamespacedRole({namespace: 'mesh-system', body: {metadata: {name: `tap-proxy-${ns}`}, rules: [{apiGroups: [''], resources: ['services/proxy'], resourceNames: ['mesh-tap', 'https:mesh-tap:8089'], verbs: ['get', 'create']}]}})
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
    await viaProxy?.close()
    await route?.close()
    if (dir) rmSync(dir, {recursive: true, force: true})
  })

  /** Retries while RBAC (read from the API server's cache) has not caught up. */
  async function eventually(args: [string, ...string[]], ok: (r: {stdout: string; stderr: string; exitCode: number}) => boolean) {
    let r = await mesh(...args)
    for (let i = 0; i < 20 && !ok(r); i++) {
      await new Promise((res) => setTimeout(res, 250))
      r = await mesh(...args)
    }
    return r
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
})
