/**
 * First suites on the real test cluster (etcd + kube-apiserver on 127.0.0.1, started by
 * test/cluster/global-setup.ts). Run with `npm run test:cluster`.
 */
import {randomBytes} from 'node:crypto'
import https from 'node:https'
import type {AddressInfo} from 'node:net'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {
  AdmissionregistrationV1Api,
  AuthenticationV1Api,
  AuthorizationV1Api,
  CoreV1Api,
  DiscoveryV1Api,
  KubeConfig,
  KubernetesObjectApi,
  PatchStrategy,
  RbacAuthorizationV1Api,
  Watch,
} from '@kubernetes/client-node'
import type {KubernetesObject, V1ConfigMap, V1EndpointSlice, V1Pod} from '@kubernetes/client-node'
import {issueCertificate, testCluster} from '../cluster/cluster.js'
import {eventuallyWith} from '../helpers/eventually.js'

const cluster = testCluster()
const ns = `mesh-it-${randomBytes(3).toString('hex')}`

function kubeConfig(context = 'admin'): KubeConfig {
  const kc = new KubeConfig()
  kc.loadFromFile(cluster.kubeconfigPath)
  kc.setCurrentContext(context)
  return kc
}

const kc = kubeConfig()
const core = kc.makeApiClient(CoreV1Api)
const objects = KubernetesObjectApi.makeApiClient(kc)

function statusOf(err: unknown): number | undefined {
  return (err as {code?: number}).code
}

const eventually = eventuallyWith({timeoutMs: 20_000})

beforeAll(async () => {
  await core.createNamespace({body: {metadata: {name: ns}}})
})

afterAll(async () => {
  // No namespace controller runs: the namespace stays Terminating until the cluster stops.
  await core.deleteNamespace({name: ns}).catch(() => {})
})

describe('test cluster', () => {
  it('serves /version as the built Kubernetes release', async () => {
    const {stdout} = await cluster.kubectl(['version', '-o', 'json'])
    const v = JSON.parse(stdout) as {serverVersion: {gitVersion: string; major: string}; clientVersion: {gitVersion: string}}
    expect(v.serverVersion.gitVersion).toMatch(/^v1\.\d+\.\d+$/)
    expect(v.serverVersion.gitVersion).not.toBe('v0.0.0')
    expect(v.clientVersion.gitVersion).toBe(v.serverVersion.gitVersion)
  })

  it('server-side apply records the field manager and returns 409 to a second manager without force', async () => {
    const cm = (value: string): V1ConfigMap & KubernetesObject => ({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {name: 'ssa', namespace: ns},
      data: {mode: value},
    })
    const first = await objects.patch(cm('permissive'), undefined, undefined, 'mesh-a', false, PatchStrategy.ServerSideApply)
    expect(first.data).toEqual({mode: 'permissive'})
    expect(first.metadata?.managedFields?.map((f) => [f.manager, f.operation])).toContainEqual(['mesh-a', 'Apply'])

    // Same manager, same value: no conflict; a second manager with another value: 409.
    await objects.patch(cm('permissive'), undefined, undefined, 'mesh-a', false, PatchStrategy.ServerSideApply)
    const err = await objects
      .patch(cm('strict'), undefined, undefined, 'mesh-b', false, PatchStrategy.ServerSideApply)
      .then(() => undefined, (e: unknown) => e)
    expect(statusOf(err)).toBe(409)
    expect(String((err as {body?: unknown}).body)).toMatch(/conflict/i)
    expect(String((err as {body?: unknown}).body)).toContain('mesh-a')

    const forced = await objects.patch(cm('strict'), undefined, undefined, 'mesh-b', true, PatchStrategy.ServerSideApply)
    expect(forced.data).toEqual({mode: 'strict'})
    const managers = forced.metadata?.managedFields?.map((f) => f.manager) ?? []
    expect(managers).toContain('mesh-b')
    expect(managers).not.toContain('mesh-a') // mesh-a lost its only field
  })

  it('issues ServiceAccount tokens (TokenRequest) that TokenReview accepts only for their audience', async () => {
    await core.createNamespacedServiceAccount({namespace: ns, body: {metadata: {name: 'workload'}}})
    const tr = await core.createNamespacedServiceAccountToken({
      name: 'workload',
      namespace: ns,
      body: {spec: {audiences: ['identity.mesh.dev'], expirationSeconds: 600}},
    })
    const token = tr.status?.token
    expect(token).toBeTruthy()
    const payload = JSON.parse(Buffer.from(token!.split('.')[1]!, 'base64url').toString('utf8')) as {aud: string[]; iss: string; sub: string}
    expect(payload.aud).toEqual(['identity.mesh.dev'])
    expect(payload.iss).toBe(cluster.serviceAccountIssuer)
    expect(payload.sub).toBe(`system:serviceaccount:${ns}:workload`)

    const authn = kc.makeApiClient(AuthenticationV1Api)
    const ok = await authn.createTokenReview({body: {spec: {token: token!, audiences: ['identity.mesh.dev']}}})
    expect(ok.status?.authenticated).toBe(true)
    expect(ok.status?.user?.username).toBe(`system:serviceaccount:${ns}:workload`)
    expect(ok.status?.audiences).toEqual(['identity.mesh.dev'])

    const wrong = await authn.createTokenReview({body: {spec: {token: token!, audiences: ['wrong.example']}}})
    expect(wrong.status?.authenticated).not.toBe(true)
    expect(wrong.status?.error).toBeTruthy()

    // Without audiences the API server checks its own (--api-audiences): rejected too.
    const apiAud = await authn.createTokenReview({body: {spec: {token: token!}}})
    expect(apiAud.status?.authenticated).not.toBe(true)
  })

  it('authorizes the restricted user only after a RoleBinding (SelfSubjectAccessReview)', async () => {
    const restricted = kubeConfig('restricted')
    const authz = restricted.makeApiClient(AuthorizationV1Api)
    const review = async (): Promise<boolean> => {
      const r = await authz.createSelfSubjectAccessReview({
        body: {spec: {resourceAttributes: {namespace: ns, verb: 'list', group: 'discovery.k8s.io', resource: 'endpointslices'}}},
      })
      return r.status?.allowed === true
    }
    expect(await review()).toBe(false)
    const denied = await restricted
      .makeApiClient(DiscoveryV1Api)
      .listNamespacedEndpointSlice({namespace: ns})
      .then(() => undefined, (e: unknown) => e)
    expect(statusOf(denied)).toBe(403)
    const kubectlDenied = await cluster.kubectl(['--context', 'restricted', '-n', ns, 'get', 'endpointslices'], {allowFailure: true})
    expect(kubectlDenied.code).not.toBe(0)
    expect(kubectlDenied.stderr).toMatch(/forbidden/i)

    const rbac = kc.makeApiClient(RbacAuthorizationV1Api)
    await rbac.createNamespacedRole({
      namespace: ns,
      body: {
        metadata: {name: 'endpointslice-reader'},
        rules: [{apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['get', 'list', 'watch']}],
      },
    })
    await rbac.createNamespacedRoleBinding({
      namespace: ns,
      body: {
        metadata: {name: 'restricted-reads-endpointslices'},
        roleRef: {apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'endpointslice-reader'},
        subjects: [{apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: cluster.users.restricted}],
      },
    })
    await eventually(async () => ((await review()) ? true : undefined), 'the RoleBinding to take effect')
    const list = await restricted.makeApiClient(DiscoveryV1Api).listNamespacedEndpointSlice({namespace: ns})
    expect(list.items).toBeInstanceOf(Array)
    // Still nothing outside the binding.
    const r = await authz.createSelfSubjectAccessReview({
      body: {spec: {resourceAttributes: {namespace: ns, verb: 'delete', group: 'discovery.k8s.io', resource: 'endpointslices'}}},
    })
    expect(r.status?.allowed).toBe(false)
  })

  it('watches EndpointSlices: ADDED, MODIFIED, DELETED', async () => {
    const discovery = kc.makeApiClient(DiscoveryV1Api)
    const initial = await discovery.listNamespacedEndpointSlice({namespace: ns})
    const events: Array<{type: string; addresses: string[]; name: string}> = []
    const watch = new Watch(kc)
    let watchErr: unknown
    const controller = await watch.watch(
      `/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices`,
      {resourceVersion: initial.metadata?.resourceVersion, allowWatchBookmarks: false},
      (type, obj: V1EndpointSlice) => {
        events.push({type, name: obj.metadata?.name ?? '', addresses: (obj.endpoints ?? []).flatMap((e) => e.addresses)})
      },
      (err: unknown) => {
        watchErr = err
      },
    )
    const waitFor = (n: number): Promise<void> =>
      eventually(async () => (events.length >= n ? true : watchErr ? Promise.reject(watchErr) : undefined), `${n} watch events`, 15_000).then(
        () => undefined,
      )
    try {
      const slice = (addresses: string[]): V1EndpointSlice => ({
        metadata: {name: 'web-abc12', namespace: ns, labels: {'kubernetes.io/service-name': 'web'}},
        addressType: 'IPv4',
        ports: [{name: 'http', port: 8080, protocol: 'TCP'}],
        endpoints: addresses.map((ip) => ({addresses: [ip], conditions: {ready: true}})),
      })
      await discovery.createNamespacedEndpointSlice({namespace: ns, body: slice(['10.244.1.5'])})
      await waitFor(1)
      await discovery.replaceNamespacedEndpointSlice({
        name: 'web-abc12',
        namespace: ns,
        body: {...slice(['10.244.1.5', '10.244.1.6'])},
      })
      await waitFor(2)
      await discovery.deleteNamespacedEndpointSlice({name: 'web-abc12', namespace: ns})
      await waitFor(3)
      expect(events.map((e) => e.type)).toEqual(['ADDED', 'MODIFIED', 'DELETED'])
      expect(events[0]!.addresses).toEqual(['10.244.1.5'])
      expect(events[1]!.addresses).toEqual(['10.244.1.5', '10.244.1.6'])
      expect(events.every((e) => e.name === 'web-abc12')).toBe(true)

      // Loopback endpoints are rejected by validation (why tests use 10.244.x.x pods).
      const loop = await discovery
        .createNamespacedEndpointSlice({namespace: ns, body: {...slice(['127.0.0.1']), metadata: {name: 'loop', namespace: ns}}})
        .then(() => undefined, (e: unknown) => e)
      expect(statusOf(loop)).toBe(422)
    } finally {
      controller.abort()
    }
  })

  it('calls a mutating admission webhook on Pod CREATE and stores its JSON patch', async () => {
    const cert = await issueCertificate(
      {certPem: cluster.caPem, keyPem: cluster.caKeyPem, publicKeyPem: ''},
      {commonName: 'mesh-test-webhook', ips: ['127.0.0.1'], dnsNames: ['localhost']},
    )
    const calls: Array<{operation: string; kind: string; dryRun: boolean; name: string}> = []
    const server = https.createServer({cert: cert.certPem, key: cert.keyPem}, (req, res) => {
      let body = ''
      req.setEncoding('utf8')
      req.on('data', (c: string) => (body += c))
      req.on('end', () => {
        const review = JSON.parse(body) as {
          request: {uid: string; operation: string; kind: {kind: string}; dryRun?: boolean; object: V1Pod}
        }
        const pod = review.request.object
        calls.push({
          operation: review.request.operation,
          kind: review.request.kind.kind,
          dryRun: review.request.dryRun === true,
          name: pod.metadata?.name ?? '',
        })
        const patch = [
          ...(pod.metadata?.annotations ? [] : [{op: 'add', path: '/metadata/annotations', value: {}}]),
          {op: 'add', path: '/metadata/annotations/mesh.dev~1injected', value: 'true'},
          {op: 'add', path: '/spec/initContainers', value: [{name: 'mesh-init', image: 'mesh/init:test', args: ['--redirect', '4140']}]},
        ]
        res.writeHead(200, {'content-type': 'application/json'})
        res.end(
          JSON.stringify({
            apiVersion: 'admission.k8s.io/v1',
            kind: 'AdmissionReview',
            response: {
              uid: review.request.uid,
              allowed: true,
              patchType: 'JSONPatch',
              patch: Buffer.from(JSON.stringify(patch)).toString('base64'),
            },
          }),
        )
      })
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const port = (server.address() as AddressInfo).port
    const admission = kc.makeApiClient(AdmissionregistrationV1Api)
    const webhookName = `${ns}-inject`
    try {
      await admission.createMutatingWebhookConfiguration({
        body: {
          metadata: {name: webhookName},
          webhooks: [
            {
              name: 'inject.mesh.dev',
              clientConfig: {url: `https://127.0.0.1:${port}/mutate`, caBundle: Buffer.from(cluster.caPem).toString('base64')},
              rules: [{operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods']}],
              namespaceSelector: {matchLabels: {'kubernetes.io/metadata.name': ns}},
              admissionReviewVersions: ['v1'],
              sideEffects: 'None',
              failurePolicy: 'Fail',
              timeoutSeconds: 10,
            },
          ],
        },
      })
      const pod = (name: string): V1Pod => ({
        metadata: {name, namespace: ns, labels: {app: 'web'}},
        spec: {containers: [{name: 'app', image: 'example/web:1'}]},
      })
      // The API server picks the configuration up asynchronously: probe with dry-run creates.
      await eventually(async () => {
        const dry = await core.createNamespacedPod({namespace: ns, body: pod('probe'), dryRun: 'All'})
        return dry.metadata?.annotations?.['mesh.dev/injected'] === 'true' ? true : undefined
      }, 'the webhook configuration to take effect')

      await core.createNamespacedPod({namespace: ns, body: pod('web-0')})
      const stored = await core.readNamespacedPod({name: 'web-0', namespace: ns})
      expect(stored.metadata?.annotations?.['mesh.dev/injected']).toBe('true')
      expect(stored.spec?.initContainers?.map((c) => c.name)).toEqual(['mesh-init'])
      expect(stored.spec?.containers.map((c) => c.name)).toEqual(['app'])
      expect(calls).toContainEqual({operation: 'CREATE', kind: 'Pod', dryRun: false, name: 'web-0'})
      // No scheduler: the pod stays Pending without a node.
      expect(stored.spec?.nodeName).toBeFalsy()
    } finally {
      await admission.deleteMutatingWebhookConfiguration({name: webhookName}).catch(() => {})
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  })

  it('kubectl apply -f - from stdin, then kubectl get', async () => {
    const manifest = `
apiVersion: v1
kind: ConfigMap
metadata:
  name: mesh-config
  namespace: ${ns}
data:
  mode: "on"
  port: "4140"
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: ${ns}
spec:
  selector:
    app: web
  ports:
    - name: http
      port: 80
      targetPort: 8080
`
    const applied = await cluster.kubectl(['apply', '-f', '-'], {stdin: manifest})
    expect(applied.stdout).toContain('configmap/mesh-config created')
    expect(applied.stdout).toContain('service/web created')
    const again = await cluster.kubectl(['apply', '-f', '-'], {stdin: manifest})
    expect(again.stdout).toContain('configmap/mesh-config unchanged')

    const table = await cluster.kubectl(['-n', ns, 'get', 'configmap', 'mesh-config'])
    expect(table.stdout).toMatch(/^NAME\s+DATA\s+AGE\n/)
    expect(table.stdout).toMatch(/\nmesh-config\s+2\s+/)
    const mode = await cluster.kubectl(['-n', ns, 'get', 'configmap', 'mesh-config', '-o', 'jsonpath={.data.mode}'])
    expect(mode.stdout).toBe('on') // YAML 1.1 "on" stays a string when quoted
    const svc = await cluster.kubectl(['-n', ns, 'get', 'service', 'web', '-o', 'json'])
    const clusterIP = (JSON.parse(svc.stdout) as {spec: {clusterIP: string}}).spec.clusterIP
    expect(clusterIP).toMatch(/^10\.96\./)

    // Server-side apply through kubectl with its own field manager.
    const ssa = await cluster.kubectl(['apply', '--server-side', '--field-manager=mesh-cli', '-f', '-'], {
      stdin: `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: mesh-ssa\n  namespace: ${ns}\ndata:\n  a: "1"\n`,
    })
    expect(ssa.stdout).toContain('configmap/mesh-ssa serverside-applied')
    const fields = await cluster.kubectl(['-n', ns, 'get', 'configmap', 'mesh-ssa', '--show-managed-fields', '-o', 'jsonpath={.metadata.managedFields[*].manager}'])
    expect(fields.stdout.split(' ')).toContain('mesh-cli')
  })
})
