/**
 * The controller's RBAC, proven two ways on the real API server after `mesh install --apply`:
 * 1. `kubectl auth can-i --as=<the controller's ServiceAccount>` for every API call in
 *    src/control/** (the table below, one row per call site), and a few it must not have;
 * 2. the whole Kubernetes-mode controller (identity, destination, injector, tap) started in
 *    this process with a TokenRequest token of that ServiceAccount as its only credential:
 *    it starts, certifies a proxy, streams endpoints, injects a Pod through the webhook, and
 *    serves stat and tap to a user bound to the user-facing ClusterRole mesh-tap-admin, whose
 *    rules match exactly the SubjectAccessReviews the tap server issues.
 */
import {randomBytes} from 'node:crypto'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import https from 'node:https'
import type {IncomingMessage} from 'node:http'
import os from 'node:os'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import * as k8s from '@kubernetes/client-node'
import {freePort} from '../cluster/cluster.js'
import {startController, type RunningController} from '../../src/control/controller.js'
import {createLogger} from '../../src/control/logger.js'
import {CALLER_TOKEN_HEADER} from '../../src/control/tap/api.js'
import {AccessDenied, KubeAuthorizer, TAP_API_GROUP, type AccessCheck} from '../../src/control/tap/auth.js'
import type {ResourceKind} from '../../src/control/tap/resource.js'
import {TAP_ADMIN_ROLE} from '../../src/install/render.js'
import {loadKube} from '../../src/k8s/client.js'
import {ControlPlane, ControlPlanePorts, CONTROL_PLANE_NAMESPACE, TAP_SERVICE_PROXY_NAME} from '../../src/protocol/control-plane.js'
import {identityName} from '../../src/protocol/proxy-env.js'
import {DestinationClient} from '../../src/proxy/discovery/destination-client.js'
import {callCertify} from '../../src/proxy/identity/index.js'
import {createCsr, generateRsaKey, parseCertificate, singleDnsSan} from '../../src/tls/index.js'
import {fixture} from '../install/helpers.js'
import {gatewayApiCrds} from '../cluster/gateway-api.js'
import {cluster, core, finalizeNamespace, fixtureIdentity, kc, mesh, removeControlPlane} from './install-helpers.js'
import {eventuallyWith} from '../helpers/eventually.js'

const appNs = `mesh-it-rbac-${randomBytes(3).toString('hex')}`
const SA = `system:serviceaccount:${CONTROL_PLANE_NAMESPACE}:${ControlPlane.controller}`
const anchorsPem = readFileSync(fixture('identity', 'ca.crt'), 'utf8')
const logs: string[] = []
let tmp: string
let controller: RunningController
let saKubeconfig: string

/** Every API call the controller makes in Kubernetes mode: [who, file, kubectl auth can-i args]. */
const CALLS: [string, string, string[]][] = [
  ['identity', 'k8s-tokens.ts createTokenReview', ['create', 'tokenreviews.authentication.k8s.io']],
  ['identity', 'events.ts createNamespacedEvent', ['create', 'events', '-n', 'any-app-ns']],
  ['identity', 'k8s-issuer.ts list issuer Secret', ['list', `secrets/${ControlPlane.issuerSecret}`, '-n', CONTROL_PLANE_NAMESPACE]],
  ['identity', 'k8s-issuer.ts watch issuer Secret', ['watch', `secrets/${ControlPlane.issuerSecret}`, '-n', CONTROL_PLANE_NAMESPACE]],
  ['identity', 'k8s-issuer.ts list trust roots', ['list', `configmaps/${ControlPlane.trustRootsConfigMap}`, '-n', CONTROL_PLANE_NAMESPACE]],
  ['identity', 'k8s-issuer.ts watch trust roots', ['watch', `configmaps/${ControlPlane.trustRootsConfigMap}`, '-n', CONTROL_PLANE_NAMESPACE]],
  ...(['services', 'endpointslices.discovery.k8s.io', 'pods', 'namespaces'].flatMap((r) => [
    ['destination', `k8s-registry.ts informer ${r}`, ['list', r, '--all-namespaces']],
    ['destination', `k8s-registry.ts informer ${r}`, ['watch', r, '--all-namespaces']],
  ]) as [string, string, string[]][]),
  ['injector', 'sources.ts readNamespace', ['get', 'namespaces/any-app-ns']],
  ['injector', 'sources.ts readNamespacedConfigMap mesh-config', ['get', `configmaps/${ControlPlane.configMap}`, '-n', CONTROL_PLANE_NAMESPACE]],
  ['tap', 'auth.ts createTokenReview', ['create', 'tokenreviews.authentication.k8s.io']],
  ['tap', 'auth.ts createSubjectAccessReview', ['create', 'subjectaccessreviews.authorization.k8s.io']],
  ['tap', 'auth.ts readNamespacedConfigMap (client CA, caller-proof)', ['get', 'configmaps/extension-apiserver-authentication', '-n', 'kube-system']],
  ['tap', 'kube-resolver.ts readNamespacedPod', ['get', 'pods', '-n', 'any-app-ns']],
  ['tap', 'kube-resolver.ts listPodForAllNamespaces (by IP)', ['list', 'pods', '--all-namespaces']],
  ['tap', 'kube-resolver.ts listNamespace', ['list', 'namespaces']],
  ...(['deployments.apps', 'replicasets.apps', 'statefulsets.apps', 'daemonsets.apps', 'jobs.batch', 'services', 'pods'].flatMap((r) => [
    ['tap', `kube-resolver.ts read ${r}`, ['get', r, '-n', 'any-app-ns']],
    ['tap', `kube-resolver.ts list ${r} in a namespace`, ['list', r, '-n', 'any-app-ns']],
    ['tap', `kube-resolver.ts list ${r} (-A)`, ['list', r, '--all-namespaces']],
  ]) as [string, string, string[]][]),
  ...(['httproutes', 'grpcroutes'].flatMap((r) => [
    ['routes', `k8s-routes.ts look (list, limit 1) and informer ${r}`, ['list', `${r}.gateway.networking.k8s.io`, '--all-namespaces']],
    ['routes', `k8s-routes.ts informer ${r}`, ['watch', `${r}.gateway.networking.k8s.io`, '--all-namespaces']],
    ['routes', `k8s-routes.ts get ${r}`, ['get', `${r}.gateway.networking.k8s.io`, '-n', 'any-app-ns']],
    ['routes', `k8s-routes.ts replaceNamespacedCustomObjectStatus ${r}`, ['update', `${r}.gateway.networking.k8s.io`, '--subresource=status', '-n', 'any-app-ns']],
    ['routes', `k8s-routes.ts status patch ${r}`, ['patch', `${r}.gateway.networking.k8s.io`, '--subresource=status', '-n', 'any-app-ns']],
  ]) as [string, string, string[]][]),
  ['authz', 'k8s-authz.ts look (list, limit 1) and informer authorizationpolicies', ['list', 'authorizationpolicies.policy.mesh.dev', '--all-namespaces']],
  ['authz', 'k8s-authz.ts informer authorizationpolicies', ['watch', 'authorizationpolicies.policy.mesh.dev', '--all-namespaces']],
]

/** What it must not be able to do. */
const DENIED: string[][] = [
  ['create', 'secrets', '-n', CONTROL_PLANE_NAMESPACE],
  ['list', 'secrets', '--all-namespaces'],
  ['list', 'secrets', '-n', CONTROL_PLANE_NAMESPACE],
  ['get', 'secrets', '-n', 'any-app-ns'],
  ['get', `secrets/${ControlPlane.issuerSecret}`, '-n', CONTROL_PLANE_NAMESPACE],
  ['delete', 'pods', '-n', 'any-app-ns'],
  ['create', 'pods', '-n', 'any-app-ns'],
  ['patch', 'pods', '-n', 'any-app-ns'],
  ['update', `configmaps/${ControlPlane.configMap}`, '-n', CONTROL_PLANE_NAMESPACE],
  ['list', 'configmaps', '--all-namespaces'],
  ['get', 'configmaps/kube-root-ca.crt', '-n', 'kube-system'],
  ['watch', 'deployments.apps', '--all-namespaces'],
  ['update', 'deployments.apps', '-n', 'any-app-ns'],
  ['list', 'cronjobs.batch', '--all-namespaces'],
  ['delete', 'events', '-n', 'any-app-ns'],
  ['create', 'serviceaccounts/token', '-n', 'any-app-ns'],
  ['update', 'mutatingwebhookconfigurations.admissionregistration.k8s.io'],
  ['create', 'clusterrolebindings.rbac.authorization.k8s.io'],
  // Routes: their status only, never their spec; the CRDs belong to the cluster.
  ['update', 'httproutes.gateway.networking.k8s.io', '-n', 'any-app-ns'],
  ['patch', 'grpcroutes.gateway.networking.k8s.io', '-n', 'any-app-ns'],
  ['create', 'httproutes.gateway.networking.k8s.io', '-n', 'any-app-ns'],
  ['delete', 'httproutes.gateway.networking.k8s.io', '-n', 'any-app-ns'],
  ['list', 'gateways.gateway.networking.k8s.io', '--all-namespaces'],
  ['create', 'customresourcedefinitions.apiextensions.k8s.io'],
  ['update', 'customresourcedefinitions.apiextensions.k8s.io'],
  ['list', 'referencegrants.gateway.networking.k8s.io', '--all-namespaces'],
  // AuthorizationPolicies: read only (list and watch), no status, no get (nothing calls it).
  ['create', 'authorizationpolicies.policy.mesh.dev', '-n', 'any-app-ns'],
  ['update', 'authorizationpolicies.policy.mesh.dev', '-n', 'any-app-ns'],
  ['patch', 'authorizationpolicies.policy.mesh.dev', '-n', 'any-app-ns'],
  ['delete', 'authorizationpolicies.policy.mesh.dev', '-n', 'any-app-ns'],
  ['update', 'authorizationpolicies.policy.mesh.dev', '--subresource=status', '-n', 'any-app-ns'],
  ['get', 'authorizationpolicies.policy.mesh.dev', '-n', 'any-app-ns'],
]

/** A SubjectAccessReview asked by the admin (kubectl cannot name a group the API server does not serve). */
async function allowed(user: string, attrs: k8s.V1ResourceAttributes): Promise<boolean> {
  const authz = kc.makeApiClient(k8s.AuthorizationV1Api)
  const r = await authz.createSubjectAccessReview({body: {spec: {user, groups: user.startsWith('system:serviceaccount:') ? ['system:serviceaccounts', 'system:authenticated'] : ['system:authenticated'], resourceAttributes: attrs}}})
  return r.status?.allowed === true
}

const canI = async (args: string[], as = SA) => (await cluster.kubectl(['auth', 'can-i', ...args, '--as', as], {allowFailure: true})).stdout.trim()

const eventually = eventuallyWith({timeoutMs: 15_000})

/** A kubeconfig whose only credential is a TokenRequest token of the controller's ServiceAccount. */
async function serviceAccountKubeconfig(): Promise<string> {
  const tr = await core.createNamespacedServiceAccountToken({name: ControlPlane.controller, namespace: CONTROL_PLANE_NAMESPACE, body: {spec: {audiences: [], expirationSeconds: 3600}}})
  const file = path.join(tmp, 'controller.kubeconfig')
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{name: 'test', cluster: {server: cluster.server, 'certificate-authority-data': Buffer.from(cluster.caPem).toString('base64')}}],
    users: [{name: 'controller', user: {token: tr.status!.token}}],
    contexts: [{name: 'controller', context: {cluster: 'test', user: 'controller'}}],
    'current-context': 'controller',
  }
  writeFileSync(file, JSON.stringify(config), {mode: 0o600})
  return file
}

/** GET on the controller's tap server (HTTPS, the controller's serving certificate). */
function tapGet(pathAndQuery: string, token: string): Promise<{status: number; body: any}> {
  const url = new URL(controller.ctx.tap!.server!.url + pathAndQuery)
  return new Promise((resolve, reject) => {
    const req = https.get(url, {ca: anchorsPem, servername: controller.ctx.identity!.serviceName, headers: {[CALLER_TOKEN_HEADER]: token}}, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => (text += c))
      res.on('end', () => resolve({status: res.statusCode ?? 0, body: JSON.parse(text)}))
    })
    req.on('error', reject)
  })
}

beforeAll(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'mesh-it-rbac-'))
  await finalizeNamespace(CONTROL_PLANE_NAMESPACE)
  await core.createNamespace({body: {metadata: {name: appNs, annotations: {'mesh.dev/inject': 'enabled'}}}})
  const injectorPort = await freePort()
  // kubectl auth can-i names a resource by its group only when discovery serves it: without the
  // Gateway API CRDs (another suite may have removed them), httproutes would be asked in group ''.
  await cluster.kubectl(['apply', '--server-side', '-f', gatewayApiCrds().standard])
  const r = await mesh('install', ...fixtureIdentity, '--webhook-url', `https://127.0.0.1:${injectorPort}/inject`, '--apply')
  if (r.exitCode !== 0) throw new Error(`mesh install --apply failed: ${r.stderr}`)
  saKubeconfig = await serviceAccountKubeconfig()
  controller = await startController({
    mode: 'kubernetes',
    host: '127.0.0.1',
    identityPort: 0,
    destinationPort: 0,
    injectorPort,
    tapPort: 0,
    adminPort: 0,
    kube: {kubeconfig: saKubeconfig},
    log: createLogger({level: 'debug', write: (l) => logs.push(l)}),
  })
})

afterAll(async () => {
  await controller?.stop()
  await removeControlPlane().catch(() => {})
  await finalizeNamespace(appNs).catch(() => {})
  if (tmp) rmSync(tmp, {recursive: true, force: true})
})

describe('the controller ServiceAccount (kubectl auth can-i)', () => {
  it('may make every API call in src/control/**', async () => {
    const denied: string[] = []
    for (const [who, where, args] of CALLS) if ((await canI(args)) !== 'yes') denied.push(`${who} (${where}): ${args.join(' ')}`)
    expect(denied).toEqual([])
  })

  it('may not write Secrets, Pods, config or RBAC, nor read Secrets other than its issuer through list/watch', async () => {
    const granted: string[] = []
    for (const args of DENIED) if ((await canI(args)) !== 'no') granted.push(args.join(' '))
    // Tapping is for users (mesh-tap-admin), not for the controller.
    if (await allowed(SA, {group: TAP_API_GROUP, resource: 'deployments', subresource: 'tap', verb: 'watch', namespace: 'any-app-ns'})) granted.push('watch deployments/tap')
    expect(granted).toEqual([])
  })
})

describe('the Kubernetes-mode controller with only its ServiceAccount token', () => {
  it('starts all six components and logs no RBAC failure', () => {
    expect(controller.components).toEqual(['identity', 'destination', 'routes', 'authz', 'injector', 'tap'])
    // \b: a random port such as 39403 in a listening line is not an HTTP 403.
    expect(logs.join('')).not.toMatch(/forbidden|\b403\b/i)
  })

  it('identity: certifies a proxy (TokenReview) and records an Event on its ServiceAccount', async () => {
    await core.createNamespacedServiceAccount({namespace: appNs, body: {metadata: {name: 'web'}}})
    const tr = await core.createNamespacedServiceAccountToken({name: 'web', namespace: appNs, body: {spec: {audiences: ['identity.mesh.dev'], expirationSeconds: 600}}})
    const name = identityName('web', appNs, CONTROL_PLANE_NAMESPACE)
    const key = (await generateRsaKey()).keyPem
    const id = controller.ctx.identity!
    const res = await callCertify({url: `https://127.0.0.1:${id.port}`, anchorsPem, serviceName: id.serviceName}, {identity: name, csr: createCsr(key, name), token: tr.status!.token!})
    expect(singleDnsSan(parseCertificate(res.certificate))).toBe(name)
    const events = await eventually(async () => {
      const list = await core.listNamespacedEvent({namespace: appNs, fieldSelector: 'involvedObject.kind=ServiceAccount,involvedObject.name=web'})
      return list.items.length > 0 ? list.items : undefined
    }, 'an Event on ServiceAccount web')
    expect(events.map((e) => e.type)).toContain('Normal')
  })

  it('destination: streams the endpoints of a Service from the informers', async () => {
    await core.createNamespacedService({namespace: appNs, body: {metadata: {name: 'web'}, spec: {ports: [{name: 'http', port: 80, targetPort: 8080}], selector: {app: 'web'}}}})
    const discovery = kc.makeApiClient(k8s.DiscoveryV1Api)
    await discovery.createNamespacedEndpointSlice({
      namespace: appNs,
      body: {
        metadata: {name: 'web-1', labels: {'kubernetes.io/service-name': 'web'}},
        addressType: 'IPv4',
        ports: [{name: 'http', port: 8080, protocol: 'TCP'}],
        endpoints: [{addresses: ['10.244.9.9'], conditions: {ready: true}}],
      },
    })
    const client = new DestinationClient({addr: `wss://127.0.0.1:${controller.ctx.destination!.port}`, namespace: appNs, trustAnchorsPem: anchorsPem, serverName: controller.ctx.identity!.serviceName})
    try {
      const hosts = await eventually(async () => {
        const r = await client.resolve(`web.${appNs}.svc.cluster.local:80`)
        const h = r?.current().endpoints.map((e) => `${e.host}:${e.port}`)
        return h && h.length > 0 ? h : undefined
      }, 'endpoints of web')
      expect(hosts).toEqual(['10.244.9.9:8080'])
    } finally {
      client.close()
    }
  })

  it('injector: a Pod created in the annotated namespace is stored with the sidecar (namespace and mesh-config read)', async () => {
    const pod = await core.createNamespacedPod({
      namespace: appNs,
      body: {metadata: {name: 'web-0', labels: {app: 'web'}}, spec: {serviceAccountName: 'web', containers: [{name: 'app', image: 'nginx:1.27'}]}},
    })
    expect([...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])].map((c) => c.name)).toEqual(expect.arrayContaining(['mesh-init', 'mesh-proxy', 'app']))
    expect(logs.join('')).toMatch(new RegExp(`injected .*namespace=${appNs} pod=web-0`))
  })

  it('admin: ready, and its /metrics counts the injection (the injector\'s counters served by the controller)', async () => {
    const get = async (p: string) => {
      const res = await fetch(`http://127.0.0.1:${controller.admin!.port}${p}`, {signal: AbortSignal.timeout(10_000)})
      return {status: res.status, body: await res.text()}
    }
    expect(await get('/ready')).toEqual({status: 200, body: 'ready\n'})
    const metrics = await get('/metrics')
    expect(metrics.status).toBe(200)
    expect(metrics.body).toMatch(/^mesh_injector_requests_total\{result="injected"\} [1-9]\d*$/m)
    expect(metrics.body).toMatch(/^mesh_controller_build_info\{version="/m)
  })

  it('authz: the AuthorizationPolicy informer (list/watch as the ServiceAccount) sees a policy applied with kubectl, and it applies to the injected pod', async () => {
    const file = path.join(tmp, 'policy.yaml')
    writeFileSync(file, JSON.stringify({apiVersion: 'policy.mesh.dev/v1alpha1', kind: 'AuthorizationPolicy', metadata: {name: 'web-in', namespace: appNs}, spec: {target: {workload: {selector: {matchLabels: {app: 'web'}}}}, from: [{namespaces: [appNs]}]}}))
    await cluster.kubectl(['apply', '-f', file])
    const p = await eventually(() => {
      const got = controller.ctx.authz!.get(appNs, 'web-0')
      return got.kind === 'policy' && got.policy.rules.length === 1 ? got.policy : undefined
    }, 'the policy of web-0')
    expect(p.rules[0]!.policy).toEqual({namespace: appNs, name: 'web-in'})
    expect(p.workload.identity).toBe(identityName('web', appNs))
  })
})

describe('the user-facing ClusterRole mesh-tap-admin', () => {
  const kinds: ResourceKind[] = ['deployment', 'pod', 'namespace', 'statefulset', 'daemonset', 'job', 'service', 'replicaset']
  const checks = (name?: string): AccessCheck[] =>
    kinds.flatMap((kind) => [
      {verb: 'watch', subresource: 'tap', resource: {kind, name: kind === 'namespace' ? appNs : name}, namespace: appNs},
      {verb: 'get', subresource: 'stat', resource: {kind, name: kind === 'namespace' ? appNs : name}, namespace: appNs},
      {verb: 'get', subresource: 'edges', resource: {kind, name: kind === 'namespace' ? appNs : name}, namespace: appNs},
      {verb: 'get', subresource: 'authz', resource: {kind, name: kind === 'namespace' ? appNs : name}, namespace: appNs},
    ])
  const request = (token: string) => ({headers: {[CALLER_TOKEN_HEADER]: token}}) as unknown as IncomingMessage
  let authorizer: KubeAuthorizer

  beforeAll(async () => {
    // The tap server's own authorizer, with the controller's credentials.
    authorizer = new KubeAuthorizer(await loadKube({kubeconfig: saKubeconfig}))
  })

  it('is refused before the binding: stat through the controller answers 403', async () => {
    const r = await tapGet(`/v1/stat?resource=po&namespace=${appNs}`, cluster.tokens.restricted)
    expect(r.status).toBe(403)
    expect(JSON.stringify(r.body)).toContain(TAP_API_GROUP)
  })

  it('bound in one namespace, it passes every SubjectAccessReview the tap server issues there, and no other', async () => {
    const rbac = kc.makeApiClient(k8s.RbacAuthorizationV1Api)
    await rbac.createNamespacedRoleBinding({
      namespace: appNs,
      body: {
        metadata: {name: 'tap-admin'},
        roleRef: {apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: TAP_ADMIN_ROLE},
        subjects: [{kind: 'User', name: cluster.users.restricted, apiGroup: 'rbac.authorization.k8s.io'}],
      },
    })
    const user = request(cluster.tokens.restricted)
    await eventually(() => authorizer.authorize(user, checks('web')[0]), 'the RoleBinding to reach the authorizer')
    for (const c of [...checks('web'), ...checks(undefined)]) {
      const caller = await authorizer.authorize(user, c).catch((e: unknown) => e)
      expect(caller, `${c.verb} ${c.resource.kind}/${c.subresource}`).toMatchObject({user: cluster.users.restricted})
    }
    // Not the verbs it does not issue, not cluster-wide, not another namespace.
    const refused: AccessCheck[] = [
      {verb: 'list', subresource: 'tap', resource: {kind: 'deployment', name: 'web'}, namespace: appNs},
      {verb: 'get', subresource: 'tap', resource: {kind: 'deployment', name: 'web'}, namespace: appNs},
      {verb: 'watch', subresource: 'stat', resource: {kind: 'deployment', name: 'web'}, namespace: appNs},
      {verb: 'watch', subresource: 'tap', resource: {kind: 'deployment', name: 'web'}, namespace: ''},
      {verb: 'watch', subresource: 'tap', resource: {kind: 'deployment', name: 'web'}, namespace: 'kube-system'},
    ]
    for (const c of refused) {
      const err = await authorizer.authorize(user, c).catch((e: unknown) => e)
      expect(err, `${c.verb} ${c.resource.kind}/${c.subresource} in "${c.namespace}"`).toBeInstanceOf(AccessDenied)
      expect((err as AccessDenied).status).toBe(403)
    }
    // The role grants nothing outside tap.mesh.dev.
    expect(await canI(['get', 'pods', '-n', appNs], cluster.users.restricted)).toBe('no')
    expect(await allowed(cluster.users.restricted, {group: TAP_API_GROUP, resource: 'secrets', verb: 'get', namespace: appNs})).toBe(false)
    expect(await allowed(cluster.users.restricted, {group: TAP_API_GROUP, resource: 'deployments', subresource: 'tap', verb: 'create', namespace: appNs})).toBe(false)
  })

  it('bound in the control plane namespace, it lets the user reach the tap server through the service proxy, and no other service', async () => {
    const rbac = kc.makeApiClient(k8s.RbacAuthorizationV1Api)
    const svcProxy = (name: string, ns = CONTROL_PLANE_NAMESPACE) => ['get', `services/${name}`, '--subresource=proxy', '-n', ns]
    const tapService = TAP_SERVICE_PROXY_NAME
    expect(await canI(svcProxy(tapService), cluster.users.restricted)).toBe('no')
    await rbac.createNamespacedRoleBinding({
      namespace: CONTROL_PLANE_NAMESPACE,
      body: {
        metadata: {name: 'tap-access'},
        roleRef: {apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: TAP_ADMIN_ROLE},
        subjects: [{kind: 'User', name: cluster.users.restricted, apiGroup: 'rbac.authorization.k8s.io'}],
      },
    })
    try {
      await eventually(async () => ((await canI(svcProxy(tapService), cluster.users.restricted)) === 'yes' ? true : undefined), 'services/proxy granted')
      for (const other of [ControlPlane.tapService, `${ControlPlane.tapService}:${ControlPlanePorts.tap}`, `https:${ControlPlane.injectorService}:443`]) {
        expect(await canI(svcProxy(other), cluster.users.restricted), other).toBe('no')
      }
      expect(await canI(['get', 'services', '-n', CONTROL_PLANE_NAMESPACE], cluster.users.restricted)).toBe('no')
    } finally {
      await rbac.deleteNamespacedRoleBinding({name: 'tap-access', namespace: CONTROL_PLANE_NAMESPACE})
    }
  })

  it('the controller then serves stat to that user: pods, deployments and jobs resolve through its own RBAC', async () => {
    const apps = kc.makeApiClient(k8s.AppsV1Api)
    await apps.createNamespacedDeployment({
      namespace: appNs,
      body: {metadata: {name: 'web'}, spec: {selector: {matchLabels: {app: 'web'}}, template: {metadata: {labels: {app: 'web'}}, spec: {containers: [{name: 'app', image: 'nginx:1.27'}]}}}},
    })
    const pods = await tapGet(`/v1/stat?resource=po&namespace=${appNs}`, cluster.tokens.restricted)
    expect(pods.status, JSON.stringify(pods.body)).toBe(200)
    expect(pods.body.rows.map((x: any) => x.name)).toEqual(['web-0'])
    const deploy = await tapGet(`/v1/stat?resource=deploy/web&namespace=${appNs}`, cluster.tokens.restricted)
    expect(deploy.status, JSON.stringify(deploy.body)).toBe(200)
    expect(deploy.body.rows.map((x: any) => [x.name, x.totalPods])).toEqual([['web', 1]])
    for (const kind of ['job', 'sts', 'ds', 'rs', 'svc', `ns/${appNs}`]) {
      const r = await tapGet(`/v1/stat?resource=${kind}&namespace=${appNs}`, cluster.tokens.restricted)
      expect(r.status, `${kind}: ${JSON.stringify(r.body)}`).toBe(200)
    }
  })

  it('and authz (get deployments/authz): the policy the controller streams to web-0, the one applied with kubectl above', async () => {
    const r = await tapGet(`/v1/authz?resource=deploy/web&namespace=${appNs}`, cluster.tokens.restricted)
    expect(r.status, JSON.stringify(r.body)).toBe(200)
    expect(r.body).toMatchObject({resource: 'deployment/web', namespace: appNs, workload: {kind: 'Deployment', name: 'web'}, refused: []})
    expect(r.body.pods.map((p: any) => p.pod)).toEqual(['web-0'])
    const policy = r.body.pods[0].policy
    expect(policy.workload.identity).toBe(identityName('web', appNs))
    expect(policy.rules.map((x: any) => x.policy)).toEqual([{namespace: appNs, name: 'web-in'}])
    // No kubelet runs the pod: its proxy's metrics cannot be read, and the answer says so.
    expect(r.body.pods[0].metricsError).toBe('not running')
    // A Service is not a workload: refused by the tap server too (400), not only by the CLI.
    const svc = await tapGet(`/v1/authz?resource=svc/web&namespace=${appNs}`, cluster.tokens.restricted)
    expect(svc.status).toBe(400)
  })
})
