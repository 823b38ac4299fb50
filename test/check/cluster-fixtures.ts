// Builds a control plane in the real test cluster from `mesh install`'s own renderer
// (src/install), moved into a namespace of this suite's own, plus what the test cluster lacks:
// controller Pods whose status is written through the status subresource (no kubelet), and an
// injector stand-in on 127.0.0.1 serving the certificate the controller would sign
// (src/control/injector/serving-cert.ts). Used by test/integration/check.test.ts.
import type {AddressInfo} from 'node:net'
import {createServer, type Server} from 'node:tls'
import type {KubeConfig, KubernetesObject, V1Pod} from '@kubernetes/client-node'
import {loadIssuer} from '../../src/control/identity/issuer.js'
import {serviceNames, signServingCert} from '../../src/control/injector/serving-cert.js'
import {resolveValues} from '../../src/install/inputs.js'
import {renderObjects} from '../../src/install/render.js'
import {CONTROL_PLANE_NAMESPACE, ControlPlane} from '../../src/protocol/control-plane.js'
import {ISSUER_SECRET_KEYS} from '../../src/protocol/identity.js'
import {ProxyEnv} from '../../src/protocol/proxy-env.js'
import {generateRsaKey, type CaMaterial} from '../../src/tls/index.js'

export const b64 = (s: string): string => Buffer.from(s).toString('base64')

/** `mesh install`'s objects, rendered with this identity, moved from mesh-system to `ns`. */
export async function installObjects(ns: string, o: {anchor: CaMaterial; issuer: CaMaterial; webhookUrl?: string; scope: string}): Promise<KubernetesObject[]> {
  const values = await resolveValues({webhookUrl: o.webhookUrl})
  const rendered = await renderObjects({values, identity: {trustAnchorsPEM: o.anchor.certPem, issuerCertPEM: o.issuer.certPem, issuerKeyPEM: o.issuer.keyPem}})
  const moved = JSON.parse(JSON.stringify(rendered).replaceAll(CONTROL_PLANE_NAMESPACE, ns)) as KubernetesObject[]
  for (const obj of moved) {
    if (obj.kind !== 'MutatingWebhookConfiguration') continue
    // Only pods in namespaces this suite labels reach the stand-in injector.
    for (const hook of (obj as unknown as {webhooks: Array<Record<string, unknown>>}).webhooks) hook.namespaceSelector = {matchLabels: {'mesh-check-scope': o.scope}}
  }
  return moved
}

export function issuerSecret(ns: string, issuer: CaMaterial, anchor: CaMaterial): KubernetesObject {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'Opaque',
    metadata: {name: ControlPlane.issuerSecret, namespace: ns},
    data: {[ISSUER_SECRET_KEYS.cert]: b64(issuer.certPem), [ISSUER_SECRET_KEYS.key]: b64(issuer.keyPem), [ISSUER_SECRET_KEYS.anchor]: b64(anchor.certPem)},
  } as KubernetesObject
}

/** A TLS listener on 127.0.0.1 presenting the serving certificate the injector signs with `issuer`. */
export async function startInjectorStandIn(ns: string, anchor: CaMaterial, issuer: CaMaterial): Promise<{port: number; close(): Promise<void>}> {
  const state = loadIssuer({anchorsPem: anchor.certPem, issuerCertPem: issuer.certPem, issuerKeyPem: issuer.keyPem, source: 'test'})
  const key = await generateRsaKey()
  const {certPem} = signServingCert(state, key.publicKeyPem, [...serviceNames(ControlPlane.injectorService, ns), '127.0.0.1'])
  const server: Server = createServer({key: key.keyPem, cert: certPem + issuer.certPem}, (socket) => socket.end())
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return {port: (server.address() as AddressInfo).port, close: () => new Promise((r) => server.close(() => r()))}
}

export function controllerPod(ns: string, name: string, image: string): V1Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {name, namespace: ns, labels: {[ControlPlane.componentLabel]: 'controller', [ControlPlane.controlPlaneNsLabel]: ns}},
    spec: {containers: [{name: 'controller', image}]},
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
  const all = names.every(readyOf) ? 'True' : 'False'
  current.status = {
    phase: 'Running',
    conditions: [
      {type: 'Ready', status: all, lastTransitionTime: now},
      {type: 'ContainersReady', status: all, lastTransitionTime: now},
    ],
    containerStatuses: names.map((n) => ({name: n, image: 'img', imageID: '', ready: readyOf(n), restartCount: 0, started: true, state: {running: {startedAt: now}}})),
  }
  await core.replaceNamespacedPodStatus({name: current.metadata!.name!, namespace: current.metadata!.namespace!, body: current})
}
