// Builds a control plane in the real test cluster the way `mesh install` would leave it: the
// objects named in src/protocol/control-plane.ts, real certificates, and Pods whose status is
// written through the status subresource (the test cluster has no kubelet). Used by
// test/integration/check.test.ts.
import type {KubeConfig, KubernetesObject, V1Pod} from '@kubernetes/client-node'
import {ControlPlane} from '../../src/protocol/control-plane.js'
import {ProxyEnv} from '../../src/protocol/proxy-env.js'
import type {CaMaterial} from '../../src/tls/index.js'

export interface Pki {
  anchor: CaMaterial
  issuer: CaMaterial
  webhookCa: {certPem: string}
  webhookCert: {certPem: string; keyPem: string}
}

export const b64 = (s: string): string => Buffer.from(s).toString('base64')

export function controlPlaneObjects(ns: string, version: string, pki: Pki, webhookPort: number, webhookScope: string): KubernetesObject[] {
  const labels = {[ControlPlane.componentLabel]: 'controller', [ControlPlane.controlPlaneNsLabel]: ns}
  return [
    {apiVersion: 'v1', kind: 'ServiceAccount', metadata: {name: ControlPlane.controller, namespace: ns, labels}},
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {name: ControlPlane.configMap, namespace: ns, labels},
      data: {values: JSON.stringify({proxyVersion: version, trustAnchorsPEM: pki.anchor.certPem, controlPlaneNamespace: ns})},
    } as KubernetesObject,
    {apiVersion: 'v1', kind: 'ConfigMap', metadata: {name: ControlPlane.trustRootsConfigMap, namespace: ns, labels}, data: {'ca-bundle.crt': pki.anchor.certPem}} as KubernetesObject,
    issuerSecret(ns, pki.issuer, pki.anchor),
    {
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'kubernetes.io/tls',
      metadata: {name: ControlPlane.injectorTlsSecret, namespace: ns, labels},
      data: {'tls.crt': b64(pki.webhookCert.certPem), 'tls.key': b64(pki.webhookCert.keyPem), 'ca.crt': b64(pki.webhookCa.certPem)},
    } as KubernetesObject,
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: {name: ControlPlane.controller, labels},
      rules: [{apiGroups: [''], resources: ['pods', 'services', 'namespaces'], verbs: ['get', 'list', 'watch']}],
    } as KubernetesObject,
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: {name: ControlPlane.controller, labels},
      roleRef: {apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: ControlPlane.controller},
      subjects: [{kind: 'ServiceAccount', name: ControlPlane.controller, namespace: ns}],
    } as KubernetesObject,
    webhookConfiguration(pki.webhookCa.certPem, webhookPort, webhookScope, labels),
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: {name: ControlPlane.controller, namespace: ns, labels: {...labels, 'app.kubernetes.io/version': version}},
      spec: {
        selector: {matchLabels: {[ControlPlane.componentLabel]: 'controller'}},
        template: {
          metadata: {labels},
          spec: {serviceAccountName: ControlPlane.controller, containers: [{name: 'controller', image: `ghcr.io/mesh-dev/mesh:${version}`, args: ['controller']}]},
        },
      },
    } as KubernetesObject,
  ]
}

export function issuerSecret(ns: string, issuer: CaMaterial, anchor: CaMaterial): KubernetesObject {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'kubernetes.io/tls',
    metadata: {name: ControlPlane.issuerSecret, namespace: ns},
    data: {'tls.crt': b64(issuer.certPem), 'tls.key': b64(issuer.keyPem), 'ca.crt': b64(anchor.certPem)},
  } as KubernetesObject
}

/** The injector webhook, scoped by a namespace label only this test sets, failing open. */
export function webhookConfiguration(caPem: string, port: number, scope: string, labels: Record<string, string> = {}): KubernetesObject {
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: {name: ControlPlane.webhookConfiguration, labels},
    webhooks: [
      {
        name: 'proxy-injector.mesh.dev',
        admissionReviewVersions: ['v1'],
        sideEffects: 'None',
        failurePolicy: 'Ignore',
        timeoutSeconds: 2,
        clientConfig: {url: `https://127.0.0.1:${port}/inject`, caBundle: b64(caPem)},
        namespaceSelector: {matchLabels: {'mesh-check-scope': scope}},
        rules: [{operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods']}],
      },
    ],
  } as KubernetesObject
}

export function controllerPod(ns: string, name: string, version: string): V1Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {name, namespace: ns, labels: {[ControlPlane.componentLabel]: 'controller', [ControlPlane.controlPlaneNsLabel]: ns}},
    spec: {containers: [{name: 'controller', image: `ghcr.io/mesh-dev/mesh:${version}`}]},
  }
}

export function meshedPod(ns: string, name: string, cpNs: string, o: {version: string; anchorsPem: string}): V1Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {name, namespace: ns, labels: {app: name, [ControlPlane.controlPlaneNsLabel]: cpNs}, annotations: {'mesh.dev/proxy-version': o.version}},
    spec: {
      containers: [
        {name: 'app', image: 'nginx'},
        {name: 'mesh-proxy', image: `ghcr.io/mesh-dev/mesh:${o.version}`, env: [{name: ProxyEnv.IDENTITY_TRUST_ANCHORS_PEM, value: o.anchorsPem}]},
      ],
    },
  }
}

/** Writes a Pod's status as a kubelet would: Running, with Ready and per-container readiness. */
export async function setPodStatus(kc: KubeConfig, pod: V1Pod, ready: boolean | Record<string, boolean>): Promise<void> {
  const {CoreV1Api} = await import('@kubernetes/client-node')
  const core = kc.makeApiClient(CoreV1Api)
  const current = await core.readNamespacedPod({name: pod.metadata!.name!, namespace: pod.metadata!.namespace!})
  const names = (current.spec?.containers ?? []).map((c) => c.name)
  const readyOf = (n: string): boolean => (typeof ready === 'boolean' ? ready : (ready[n] ?? true))
  const now = new Date()
  current.status = {
    phase: 'Running',
    podIP: undefined,
    conditions: [
      {type: 'Ready', status: names.every(readyOf) ? 'True' : 'False', lastTransitionTime: now},
      {type: 'ContainersReady', status: names.every(readyOf) ? 'True' : 'False', lastTransitionTime: now},
    ],
    containerStatuses: names.map((n) => ({
      name: n,
      image: 'img',
      imageID: '',
      ready: readyOf(n),
      restartCount: 0,
      started: true,
      state: {running: {startedAt: now}},
    })),
  }
  await core.replaceNamespacedPodStatus({name: current.metadata!.name!, namespace: current.metadata!.namespace!, body: current})
}
