/**
 * `mesh check` against the real test cluster (kube-apiserver + etcd on 127.0.0.1): each check
 * passes on a healthy control plane and fails for a real reason (RBAC, an expired or foreign
 * issuer, a deleted webhook configuration, Pod Security, unready pods). The control plane is
 * built by test/check/cluster-fixtures.ts in a namespace of its own (--control-plane-namespace),
 * so this suite never collides with the install suites sharing the cluster.
 */
import {gatewayApiCrds} from '../cluster/gateway-api.js'
import {randomBytes} from 'node:crypto'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {
  AdmissionregistrationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  KubernetesObjectApi,
  PatchStrategy,
  RbacAuthorizationV1Api,
} from '@kubernetes/client-node'
import type {KubernetesObject, V1Pod} from '@kubernetes/client-node'
import {ControlPlane} from '../../src/protocol/control-plane.js'
import {TRUST_ROOTS_CONFIGMAP_KEY} from '../../src/protocol/identity.js'
import {meshVersion} from '../../src/lib/version.js'
import {generateIssuer, generateTrustAnchor, type CaMaterial} from '../../src/tls/index.js'
import {testCluster} from '../cluster/cluster.js'
import {runMesh} from '../helpers/run.js'
import {controllerPod, installObjects, issuerSecret, meshedPod, setPodStatus, startInjectorStandIn} from '../check/cluster-fixtures.js'
import {schemaProblems} from '../check/schema.js'
import {eventually} from '../helpers/eventually.js'

const cluster = testCluster()
const suffix = randomBytes(3).toString('hex')
const cpNs = `mesh-ck-${suffix}`
const appNs = `mesh-ck-app-${suffix}`
const psaNs = `mesh-ck-psa-${suffix}`
const scope = `ck-${suffix}`
const version = meshVersion()
const DAY = 24 * 3600 * 1000

const kc = new KubeConfig()
kc.loadFromFile(cluster.kubeconfigPath)
kc.setCurrentContext('admin')
const core = kc.makeApiClient(CoreV1Api)
const rbac = kc.makeApiClient(RbacAuthorizationV1Api)
const admission = kc.makeApiClient(AdmissionregistrationV1Api)
const objects = KubernetesObjectApi.makeApiClient(kc)
/** Rendered objects this suite applied outside its own namespaces (cluster-scoped, kube-system): removed in afterAll. */
const outside: KubernetesObject[] = []
let pki: {anchor: CaMaterial; issuer: CaMaterial}

const apply = (o: KubernetesObject) => objects.patch(o, undefined, undefined, 'mesh-check-test', true, PatchStrategy.ServerSideApply)

interface Doc {
  success: boolean
  categories: Array<{categoryName: string; checks: Array<{id: string; result: string; error: string; description: string; hint: string}>}>
}

/** Runs `mesh check <args> -o json` in process; returns exit code, id -> "result[: error]" and the document. */
async function check(args: string[], context = 'admin') {
  const r = await runMesh(['check', ...args, '-o', 'json', '--kubeconfig', cluster.kubeconfigPath, '--context', context, '--control-plane-namespace', cpNs])
  const doc = JSON.parse(r.stdout) as Doc
  expect(schemaProblems(doc)).toEqual([])
  expect(doc.success).toBe(r.exitCode === 0)
  const results = Object.fromEntries(doc.categories.flatMap((c) => c.checks).map((k) => [k.id, k.result === 'success' ? 'success' : `${k.result}: ${k.error}`]))
  return {exitCode: r.exitCode, results, doc, stderr: r.stderr}
}

async function setPodSecurity(name: string, level: string): Promise<void> {
  const ns = await core.readNamespace({name})
  ns.metadata!.labels = {...ns.metadata!.labels, 'pod-security.kubernetes.io/enforce': level}
  await core.replaceNamespace({name, body: ns})
}

const failing = (results: Record<string, string>) => Object.keys(results).filter((id) => !results[id]!.startsWith('success')).sort()

beforeAll(async () => {
  const anchor = await generateTrustAnchor()
  pki = {anchor, issuer: await generateIssuer(anchor)}
  for (const name of [appNs, psaNs]) await core.createNamespace({body: {metadata: {name}}})
}, 120_000)

afterAll(async () => {
  // Cluster-scoped objects share names with a real install: remove ours. Namespaces stay
  // Terminating (no namespace controller) but hold nothing that acts.
  await admission.deleteMutatingWebhookConfiguration({name: ControlPlane.webhookConfiguration}).catch(() => {})
  for (const o of outside) await objects.delete(o).catch(() => {})
  await rbac.deleteClusterRoleBinding({name: `mesh-check-restricted-${suffix}`}).catch(() => {})
  await rbac.deleteClusterRole({name: `mesh-check-restricted-${suffix}`}).catch(() => {})
  for (const name of [cpNs, appNs, psaNs]) await core.deleteNamespace({name}).catch(() => {})
})

describe('mesh check --pre', () => {
  it('passes for a cluster admin on a cluster without mesh: exit 0', async () => {
    const r = await check(['--pre', '-n', appNs])
    // MESH1301/1302 (Gateway API CRDs) depend on whether another suite installed them: below.
    expect(failing(r.results).filter((id) => !id.startsWith('MESH13'))).toEqual([])
    expect(Object.keys(r.results).sort()).toEqual(
      ['MESH1001', 'MESH1002', 'MESH1003', 'MESH1004', 'MESH1101', 'MESH1102', 'MESH1103', 'MESH1104', 'MESH1105', 'MESH1106', 'MESH1107', 'MESH1108', 'MESH1109', 'MESH1110', 'MESH1111', 'MESH1201', 'MESH1202', 'MESH1301', 'MESH1302'],
    )
    expect(r.exitCode).toBe(0)
  })

  it('gateway-api: without the CRDs a warning with the install command (exit 0); with them, the release found', async () => {
    const crds = ['httproutes.gateway.networking.k8s.io', 'grpcroutes.gateway.networking.k8s.io']
    await cluster.kubectl(['delete', 'crd', ...crds, '--ignore-not-found', '--wait=true'])
    const without = await check(['--pre', '-n', appNs])
    expect(without.results.MESH1301).toBe('warning: httproutes.gateway.networking.k8s.io is not installed: no HTTPRoutes apply')
    expect(without.results.MESH1302).toBe('warning: grpcroutes.gateway.networking.k8s.io is not installed: no GRPCRoutes apply')
    const hint = without.doc.categories.flatMap((c) => c.checks).find((k) => k.id === 'MESH1301')!.hint
    expect(hint).toContain('kubectl apply --server-side -f https://github.com/kubernetes-sigs/gateway-api/releases/download/')
    expect(without.exitCode).toBe(0)
    const crdSet = gatewayApiCrds()
    await cluster.kubectl(['apply', '--server-side', '-f', crdSet.standard])
    const withCrds = await check(['--pre', '-n', appNs])
    const found = withCrds.doc.categories.flatMap((c) => c.checks).filter((k) => k.id.startsWith('MESH13'))
    expect(found.map((k) => [k.result, k.description])).toEqual([
      ['success', `HTTPRoute CRD is installed (${crdSet.version}, standard channel, serves v1, v1beta1; retries: retry.mesh.dev annotations)`],
      ['success', `GRPCRoute CRD is installed (${crdSet.version}, standard channel, serves v1)`],
    ])
  })

  it('an RBAC-restricted user fails exactly on the kinds it cannot create: exit 1', async () => {
    const name = `mesh-check-restricted-${suffix}`
    await rbac.createClusterRole({
      body: {
        metadata: {name},
        rules: [
          {apiGroups: [''], resources: ['namespaces'], verbs: ['get', 'list', 'create']},
          {apiGroups: [''], resources: ['configmaps', 'secrets'], verbs: ['create']},
          {apiGroups: ['apps'], resources: ['deployments'], verbs: ['create']},
        ],
      },
    })
    await rbac.createClusterRoleBinding({
      body: {metadata: {name}, roleRef: {apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name}, subjects: [{kind: 'User', name: cluster.users.restricted, apiGroup: 'rbac.authorization.k8s.io'}]},
    })
    // RBAC changes reach the authorizer's cache within moments: wait until the grant shows.
    let r = await check(['--pre', '-n', appNs], 'restricted')
    await eventually('the grant to show in mesh check --pre', async () => {
      r = await check(['--pre', '-n', appNs], 'restricted')
      return r.results.MESH1109 === 'success' ? true : undefined
    }, {timeoutMs: 60_000, intervalMs: 300}).catch(() => undefined)
    const errors = Object.keys(r.results).filter((id) => r.results[id]!.startsWith('error')).sort()
    expect(errors).toEqual(['MESH1103', 'MESH1104', 'MESH1105', 'MESH1106', 'MESH1107', 'MESH1108'])
    expect(r.results.MESH1103).toBe('error: you may not create clusterroles.rbac.authorization.k8s.io')
    expect(r.results.MESH1107).toBe(`error: you may not create serviceaccounts in namespace ${cpNs}`)
    for (const ok of ['MESH1101', 'MESH1102', 'MESH1109', 'MESH1110', 'MESH1111', 'MESH1202']) expect(r.results[ok]).toBe('success')
    // It may not create pods either, so the capability probe cannot tell: a warning.
    expect(r.results.MESH1201).toBe(`warning: cannot tell: you may not create pods in namespace ${appNs}`)
    expect(r.exitCode).toBe(1)
  })

  it('a namespace enforcing Pod Security "baseline" rejects the NET_ADMIN init container: warnings, exit 0', async () => {
    await setPodSecurity(psaNs, 'baseline')
    try {
      const r = await check(['--pre', '-n', psaNs])
      expect(r.results.MESH1201).toMatch(new RegExp(`^warning: namespace ${psaNs} rejects the mesh-init init container \\(NET_ADMIN, NET_RAW\\): .*violates PodSecurity "baseline:latest"`))
      expect(r.results.MESH1202).toContain(`${psaNs} (baseline)`)
      expect(r.exitCode).toBe(0)
      // and the same cluster with the namespace at "privileged" admits it
      await setPodSecurity(psaNs, 'privileged')
      const ok = await check(['--pre', '-n', psaNs])
      expect(ok.results.MESH1201).toBe('success')
    } finally {
      await setPodSecurity(psaNs, 'privileged')
    }
  })
})

describe('mesh check on an installed control plane', () => {
  let controller: V1Pod
  let injector: {port: number; close(): Promise<void>}
  let webhookObject: KubernetesObject
  const webhookWith = (mutate: (hook: {clientConfig: {url?: string; caBundle?: string}}) => void): KubernetesObject => {
    const copy = JSON.parse(JSON.stringify(webhookObject)) as KubernetesObject & {webhooks: Array<{clientConfig: {url?: string; caBundle?: string}}>}
    copy.webhooks.forEach(mutate)
    return copy
  }

  beforeAll(async () => {
    // What `mesh install --webhook-url` renders, applied as `mesh install --apply` would, in our namespace.
    injector = await startInjectorStandIn(cpNs, pki.anchor, pki.issuer)
    const rendered = await installObjects(cpNs, {...pki, webhookUrl: `https://127.0.0.1:${injector.port}/inject`, scope})
    for (const o of rendered) {
      if (o.kind !== 'MutatingWebhookConfiguration' && o.metadata?.namespace !== cpNs && o.kind !== 'Namespace') outside.push(o)
      await apply(o)
    }
    webhookObject = rendered.find((o) => o.kind === 'MutatingWebhookConfiguration')!
    const deployment = rendered.find((o) => o.kind === 'Deployment') as {spec: {template: {spec: {containers: Array<{image: string}>}}}} & KubernetesObject
    controller = controllerPod(cpNs, 'mesh-controller-1', deployment.spec.template.spec.containers[0]!.image)
    await core.createNamespacedPod({namespace: cpNs, body: controller})
    await setPodStatus(kc, controller, true)
  }, 120_000)

  afterAll(async () => {
    await injector?.close()
  })

  it('--pre now fails: the control plane namespace exists', async () => {
    const r = await check(['--pre', '-n', appNs])
    expect(r.results.MESH1101).toBe(`error: namespace ${cpNs} already exists`)
    expect(r.exitCode).toBe(1)
  })

  it('every check passes on a healthy control plane: exit 0', async () => {
    const r = await check([])
    expect(failing(r.results).filter((id) => !id.startsWith('MESH13'))).toEqual([])
    expect(r.doc.categories.map((c) => c.categoryName)).toEqual(['kubernetes-api', 'kubernetes-version', 'mesh-existence', 'mesh-identity', 'mesh-webhook', 'mesh-version', 'gateway-api'])
    expect(r.exitCode).toBe(0)
    // the same run as a person sees it
    const table = await runMesh(['check', '--kubeconfig', cluster.kubeconfigPath, '--control-plane-namespace', cpNs])
    expect(table.exitCode).toBe(0)
    expect(table.stdout).toContain('mesh-identity\n-------------\n√ trust anchors are valid\n')
    expect(table.stdout).toContain('√ controller pods are ready\n')
    expect(table.stdout).not.toMatch(/[×‼]/)
    expect(table.stdout.endsWith('\nStatus check results are √\n')).toBe(true)
  })

  it('a controller pod that is not ready fails; --wait retries until it becomes ready', async () => {
    await setPodStatus(kc, controller, false)
    const r = await check([])
    expect(r.results.MESH2006).toBe('error: 1 of 1 pods not ready: mesh-controller-1: not ready (containers not ready: controller)')
    expect(r.exitCode).toBe(1)
    const later = setTimeout(() => void setPodStatus(kc, controller, true), 1500)
    try {
      const waited = await check(['--wait', '30s'])
      expect(waited.results.MESH2006).toBe('success')
      expect(waited.exitCode).toBe(0)
    } finally {
      clearTimeout(later)
      await setPodStatus(kc, controller, true)
    }
  })

  it('an expired issuer certificate fails the identity checks', async () => {
    const expired = await generateIssuer(pki.anchor, {now: new Date(Date.now() - 400 * DAY), validityDays: 365})
    await apply(issuerSecret(cpNs, expired, pki.anchor))
    try {
      const r = await check([])
      expect(r.results.MESH2103).toMatch(/^error: issuer certificate in Secret .* expired at /)
      expect(r.results.MESH2105).toMatch(/^error: .* does not chain to the trust anchors: issuer certificate expired at|^error: .*expired at/)
      expect(failing(r.results).filter((id) => r.results[id]!.startsWith('error'))).toEqual(['MESH2103', 'MESH2105', 'MESH2106'])
      expect(r.exitCode).toBe(1)
    } finally {
      await apply(issuerSecret(cpNs, pki.issuer, pki.anchor))
    }
  })

  it('a foreign issuer (signed by another anchor) fails the chain checks, not the validity check', async () => {
    const foreign = await generateIssuer(await generateTrustAnchor({commonName: 'root.elsewhere'}))
    await apply(issuerSecret(cpNs, foreign, pki.anchor))
    try {
      const r = await check([])
      expect(r.results.MESH2103).toBe('success')
      expect(r.results.MESH2105).toMatch(/^error: issuer certificate .* does not chain to the trust anchors/)
      expect(r.results.MESH2106).toMatch(/^error: issuer certificate .* does not chain to the trust anchors/)
      expect(r.exitCode).toBe(1)
    } finally {
      await apply(issuerSecret(cpNs, pki.issuer, pki.anchor))
    }
  })

  it('an issuer expiring within 60 days is a warning: exit 0', async () => {
    const soon = await generateIssuer(pki.anchor, {validityDays: 30})
    await apply(issuerSecret(cpNs, soon, pki.anchor))
    try {
      const r = await check([])
      expect(r.results.MESH2104).toMatch(/^warning: issuer certificate .* expires at .*, in (29|30) days$/)
      expect(failing(r.results).filter((id) => !id.startsWith('MESH13'))).toEqual(['MESH2104'])
      expect(r.exitCode).toBe(0)
    } finally {
      await apply(issuerSecret(cpNs, pki.issuer, pki.anchor))
    }
  })

  it('a trust anchor expiring within 60 days is a warning with the rotation command; an expired one an error with the recovery: exit 0, then 1', async () => {
    const roots = {apiVersion: 'v1', kind: 'ConfigMap', metadata: {name: ControlPlane.trustRootsConfigMap, namespace: cpNs}}
    const withAnchors = (...pems: string[]) => ({...roots, data: {[TRUST_ROOTS_CONFIGMAP_KEY]: pems.join('')}}) as KubernetesObject
    const soon = await generateTrustAnchor({commonName: 'root.soon', validityDays: 45})
    const gone = await generateTrustAnchor({commonName: 'root.gone', validityDays: 1, now: new Date(Date.now() - 3 * DAY)})
    const doc = (r: Awaited<ReturnType<typeof check>>, id: string) => r.doc.categories.flatMap((c) => c.checks).find((c) => c.id === id)!
    try {
      await apply(withAnchors(pki.anchor.certPem, soon.certPem))
      const warned = await check([])
      expect(warned.results.MESH2102).toMatch(/^warning: trust anchor \(CN=root\.soon\) expires at .*, in (44|45) days$/)
      expect(doc(warned, 'MESH2102').hint).toContain('mesh identity rotate-anchor --new ca2.crt')
      expect(failing(warned.results).filter((id) => !id.startsWith('MESH13'))).toEqual(['MESH2102'])
      expect(warned.exitCode).toBe(0)

      await apply(withAnchors(pki.anchor.certPem, gone.certPem))
      const failed = await check([])
      expect(failed.results.MESH2101).toMatch(/^error: trust anchor \(CN=root\.gone\) expired at /)
      expect(doc(failed, 'MESH2101').hint).toContain('mesh upgrade --identity-trust-anchors-file ca.crt')
      expect(failed.exitCode).toBe(1)
    } finally {
      await apply(withAnchors(pki.anchor.certPem))
    }
  })

  it('a deleted webhook configuration fails its checks', async () => {
    await admission.deleteMutatingWebhookConfiguration({name: ControlPlane.webhookConfiguration})
    try {
      const r = await check([])
      expect(r.results.MESH2005).toBe(`error: MutatingWebhookConfiguration ${ControlPlane.webhookConfiguration} not found`)
      expect(r.results.MESH2201).toBe(`error: MutatingWebhookConfiguration ${ControlPlane.webhookConfiguration} not found: nothing calls the injector`)
      expect(r.exitCode).toBe(1)
    } finally {
      await apply(webhookObject)
    }
  })

  it('a webhook caBundle that does not validate the serving certificate fails MESH2201', async () => {
    const other = await generateTrustAnchor({commonName: 'root.elsewhere'})
    await apply(webhookWith((h) => (h.clientConfig.caBundle = Buffer.from(other.certPem).toString('base64'))))
    try {
      const r = await check([])
      expect(r.results.MESH2201).toMatch(
        /^error: serving certificate at https:\/\/127\.0\.0\.1:\d+\/inject, checked against the caBundle of webhook mesh-proxy-injector.mesh.dev, \(CN=mesh-proxy-injector\..*\) does not chain to the trust anchors/,
      )
      expect(r.exitCode).toBe(1)
    } finally {
      await apply(webhookObject)
    }
  })

  it('an injector that does not answer fails MESH2201, naming the URL', async () => {
    await apply(webhookWith((h) => (h.clientConfig.url = 'https://127.0.0.1:1/inject')))
    try {
      const r = await check([])
      expect(r.results.MESH2201).toMatch(/^error: cannot read the injector's serving certificate from https:\/\/127\.0\.0\.1:1\/inject: .*ECONNREFUSED/)
      expect(r.exitCode).toBe(1)
    } finally {
      await apply(webhookObject)
    }
  })

  it('with the in-cluster Service (no URL), the caBundle must validate the issuer that signs the serving certificate', async () => {
    const serviceMode = (await installObjects(cpNs, {...pki, scope})).find((o) => o.kind === 'MutatingWebhookConfiguration')!
    // Server-side apply by the same manager drops the url it no longer applies.
    await apply(serviceMode)
    try {
      const ok = await check([])
      expect(ok.results.MESH2201).toBe('success')
      const foreign = await generateIssuer(await generateTrustAnchor({commonName: 'root.elsewhere'}))
      await apply(issuerSecret(cpNs, foreign, pki.anchor))
      const r = await check([])
      expect(r.results.MESH2201).toMatch(/^error: issuer certificate in Secret .* \(which signs the injector's serving certificate\), checked against the caBundle of webhook mesh-proxy-injector.mesh.dev, .* does not chain/)
    } finally {
      await apply(issuerSecret(cpNs, pki.issuer, pki.anchor))
      await apply(webhookObject)
    }
  })

  it('--expected-version other than the control plane\'s fails the version check', async () => {
    const r = await check(['--expected-version', '9.9.9'])
    expect(r.results.MESH2301).toBe(`error: control plane (mesh-controller) runs ${version}, expected 9.9.9`)
    expect(r.exitCode).toBe(1)
  })

  describe('--proxy', () => {
    const pods: V1Pod[] = []
    beforeAll(async () => {
      for (const name of ['web', 'api']) {
        const pod = meshedPod(appNs, name, cpNs, {version, anchorsPem: pki.anchor.certPem})
        await core.createNamespacedPod({namespace: appNs, body: pod})
        await setPodStatus(kc, pod, true)
        pods.push(pod)
      }
      // The AuthorizationPolicy CRD (applied with the control plane above) serves lists once its
      // storage is initialized; until then the API server answers "storage is (re)initializing".
      const custom = kc.makeApiClient(CustomObjectsApi)
      await eventually('AuthorizationPolicies to be listable', () => custom.listNamespacedCustomObject({group: 'policy.mesh.dev', version: 'v1alpha1', plural: 'authorizationpolicies', namespace: appNs}).then(() => true, (e: {code?: number}) => (e.code === 404 ? true : undefined)), {timeoutMs: 60_000})
    })

    it('passes when every meshed pod is ready, on the control plane version, trusting the current anchors', async () => {
      const r = await check(['--proxy', '-n', appNs])
      expect(failing(r.results).filter((id) => !id.startsWith('MESH13'))).toEqual([])
      expect(r.results).toMatchObject({MESH3001: 'success', MESH3002: 'success', MESH3003: 'success'})
      expect(r.exitCode).toBe(0)
    })

    it('fails on a pod whose proxy is not ready, on a stale version (warning) and on foreign anchors', async () => {
      await setPodStatus(kc, pods[1]!, {'mesh-proxy': false})
      const foreign = await generateTrustAnchor({commonName: 'root.elsewhere'})
      const old = meshedPod(appNs, 'old', cpNs, {version: '0.0.1', anchorsPem: foreign.certPem})
      await core.createNamespacedPod({namespace: appNs, body: old})
      await setPodStatus(kc, old, true)
      const r = await check(['--proxy', '-n', appNs])
      expect(r.results.MESH3001).toBe(`error: 1 of 3 proxies not ready: ${appNs}/api: container mesh-proxy not ready`)
      expect(r.results.MESH3002).toBe(`warning: 1 of 3 proxies do not run ${version}: ${appNs}/old runs 0.0.1`)
      expect(r.results.MESH3003).toMatch(new RegExp(`^error: 1 of 3 proxies do not match the current trust anchors: ${appNs}/old: `))
      expect(r.exitCode).toBe(1)
    })

    it('mesh-authz warns on a default-deny pod whose probe its proxy cannot see, and on a policy naming a ServiceAccount that does not exist', async () => {
      const quiet = await check(['--proxy', '-n', appNs])
      expect([quiet.results.MESH3101, quiet.results.MESH3102]).toEqual(['success', 'success'])
      const probed = meshedPod(appNs, 'probed', cpNs, {version, anchorsPem: pki.anchor.certPem})
      probed.metadata!.annotations = {...probed.metadata!.annotations, 'config.mesh.dev/default-inbound-policy': 'deny'}
      probed.spec!.containers[0]!.readinessProbe = {httpGet: {path: '/ready', port: 8443, scheme: 'HTTPS'}}
      await core.createNamespacedPod({namespace: appNs, body: probed})
      // The CRD as mesh install renders it, then a policy naming web (which exists) and ghost (which does not).
      const crds = await runMesh(['install', '--crds', '--ignore-cluster', '-o', 'json'])
      for (const o of (JSON.parse(crds.stdout) as {items: KubernetesObject[]}).items) await apply(o)
      await core.createNamespacedServiceAccount({namespace: appNs, body: {metadata: {name: 'web'}}})
      const policy = {apiVersion: 'policy.mesh.dev/v1alpha1', kind: 'AuthorizationPolicy', metadata: {name: 'to-web', namespace: appNs}, spec: {target: {workload: {name: 'web'}}, from: [{serviceAccounts: [{name: 'web'}, {name: 'ghost'}]}]}}
      await eventually('the AuthorizationPolicy to be created (once the CRD is served)', () => apply(policy as KubernetesObject).then(() => true, () => undefined), {timeoutMs: 60_000})
      const r = await check(['--proxy', '-n', appNs])
      expect(r.results.MESH3101).toBe(`warning: 1 pod has probes its proxy would refuse under its default: ${appNs}/probed (default deny, from the workload): readiness probe of container app on port 8443: its httpGet probe uses HTTPS on port 8443: the application's own TLS passes through the proxy, which cannot see the path (allow the port with a networks rule, or skip it: config.mesh.dev/skip-inbound-ports)`)
      expect(r.results.MESH3102).toBe(`warning: 1 AuthorizationPolicy names ServiceAccounts that do not exist: ${appNs}/to-web names ${appNs}/ghost`)
      await core.deleteNamespacedPod({name: 'probed', namespace: appNs})
    })

    it('--proxy on a namespace without meshed pods fails, and on a missing namespace names it', async () => {
      const r = await check(['--proxy', '-n', psaNs])
      expect(r.results.MESH3001).toBe(`error: no meshed proxies found in namespace ${psaNs} (cluster ${cluster.server})`)
      const missing = await check(['--proxy', '-n', `nope-${suffix}`])
      expect(missing.results.MESH3001).toBe(`error: namespace nope-${suffix} not found`)
    })
  })
})
