// What is installed: the install record and identity read back from the cluster (for
// `mesh upgrade` and the "already installed" refusal), and the meshed pods that block
// `mesh uninstall`.
import {apiStatus, clusterError, type Kube} from '../k8s/client.js'
import {ClusterError, InputError} from '../lib/errors.js'
import {CONTROL_PLANE_NAMESPACE, ControlPlane} from '../protocol/control-plane.js'
import {ISSUER_SECRET_KEYS, TLS_SECRET_KEYS, TRUST_ROOTS_CONFIGMAP_KEY} from '../protocol/identity.js'
import {validateIdentity, type IdentityMaterial} from './identity.js'
import type {InstalledRecord} from './render.js'
import {flattenFile, type FlatValues} from './values.js'

export const INSTALL_KEY = 'install'

const CONFIG_WHERE = `ConfigMap ${CONTROL_PLANE_NAMESPACE}/${ControlPlane.configMap}`

/** The mesh-config ConfigMap's data, or undefined when there is none (not installed). */
export async function readMeshConfigData(kube: Kube): Promise<Record<string, string> | undefined> {
  try {
    const cm = await kube.core().readNamespacedConfigMap({name: ControlPlane.configMap, namespace: CONTROL_PLANE_NAMESPACE})
    return cm.data ?? {}
  } catch (error) {
    if (apiStatus(error) === 404) return undefined
    throw clusterError(`cannot read ${CONFIG_WHERE}`, error, kube.server)
  }
}

/** Refuses when a control plane is already there. */
export async function refuseIfInstalled(kube: Kube): Promise<void> {
  const data = await readMeshConfigData(kube)
  if (data === undefined) return
  throw new ClusterError(`a mesh control plane is already installed in namespace ${CONTROL_PLANE_NAMESPACE} (${CONFIG_WHERE} exists)`, {
    code: 'MESH_ALREADY_INSTALLED',
    suggestions: ['To change or update it, run `mesh upgrade`.', 'To render anyway (e.g. for GitOps), pass --ignore-cluster.'],
  })
}

/** The install record `mesh install` wrote into mesh-config's `data`; throws when it is missing or unreadable. */
function installRecord(data: Record<string, string>): InstalledRecord {
  const raw = data[INSTALL_KEY]
  if (raw === undefined) {
    throw new InputError(`${CONFIG_WHERE} has no "${INSTALL_KEY}" key: it was not written by \`mesh install\``, {
      code: 'MESH_UPGRADE_NO_RECORD',
      suggestions: ['Reinstall with `mesh uninstall` then `mesh install`.'],
    })
  }
  try {
    return JSON.parse(raw) as InstalledRecord
  } catch (error) {
    throw new InputError(`${CONFIG_WHERE} key "${INSTALL_KEY}" is not valid JSON: ${(error as Error).message}`, {code: 'MESH_UPGRADE_NO_RECORD', cause: error})
  }
}

/**
 * The version of the installed control plane: the image tag it was rendered with (what its
 * pods run; `mesh upgrade` moves it), from the install record in mesh-config's `data`
 * (undefined: no mesh-config). Throws an error saying what is missing.
 */
export function serverVersionOf(data: Record<string, string> | undefined, server: string): string {
  if (data === undefined) {
    throw new ClusterError(`no mesh control plane is installed on ${server} (no ${CONFIG_WHERE})`, {code: 'MESH_NOT_INSTALLED'})
  }
  const record = installRecord(data)
  const tag = (record.values as {image?: {tag?: unknown}} | undefined)?.image?.tag
  if (typeof tag === 'string' && tag !== '') return tag
  if (typeof record.cliVersion === 'string' && record.cliVersion !== '') return record.cliVersion
  throw new InputError(`${CONFIG_WHERE} key "${INSTALL_KEY}" names no version`, {code: 'MESH_UPGRADE_NO_RECORD'})
}

/** A ConfigMap's `data` from the API server's answer at `where`; throws a message naming it when the body is not one. */
export function configMapData(body: string, where: string): Record<string, string> {
  let cm: unknown
  try {
    cm = JSON.parse(body)
  } catch {
    throw new Error(`the answer to GET ${where} is not JSON (is the kubeconfig's server a Kubernetes API server?)`)
  }
  if (cm === null || typeof cm !== 'object' || Array.isArray(cm)) throw new Error(`the answer to GET ${where} is not a ConfigMap`)
  const data = (cm as {data?: unknown}).data
  if (data === undefined) return {}
  if (data === null || typeof data !== 'object' || Array.isArray(data)) throw new Error(`the answer to GET ${where} has a "data" that is not a map`)
  return data as Record<string, string>
}

export interface Installed {
  record: InstalledRecord
  values: FlatValues
}

/** The values of the installed control plane; throws when there is none. Identity is read apart (below). */
export async function readInstalled(kube: Kube): Promise<Installed> {
  const data = await readMeshConfigData(kube)
  if (data === undefined) {
    throw new ClusterError(`no mesh control plane is installed on ${kube.server} (no ${CONFIG_WHERE})`, {
      code: 'MESH_NOT_INSTALLED',
      suggestions: ['Install it first: `mesh install | kubectl apply -f -`.'],
    })
  }
  const record = installRecord(data)
  return {record, values: flattenFile(record.values, `${CONFIG_WHERE} key "${INSTALL_KEY}"`)}
}

const SECRET_WHERE = `Secret ${CONTROL_PLANE_NAMESPACE}/${ControlPlane.issuerSecret}`
const ROOTS_WHERE = `ConfigMap ${CONTROL_PLANE_NAMESPACE}/${ControlPlane.trustRootsConfigMap}`

/** The installed trust anchors bundle (the trust-roots ConfigMap); throws when it cannot be read. */
export async function readInstalledAnchors(kube: Kube): Promise<string> {
  let roots: string | undefined
  try {
    const cm = await kube.core().readNamespacedConfigMap({name: ControlPlane.trustRootsConfigMap, namespace: CONTROL_PLANE_NAMESPACE})
    roots = cm.data?.[TRUST_ROOTS_CONFIGMAP_KEY]
  } catch (error) {
    throw clusterError(`cannot read the installed trust anchors (${ROOTS_WHERE})`, error, kube.server)
  }
  if (!roots?.trim()) {
    throw new InputError(`${ROOTS_WHERE} has no "${TRUST_ROOTS_CONFIGMAP_KEY}" key`, {
      code: 'MESH_UPGRADE_IDENTITY',
      suggestions: ['Pass the trust anchors to `mesh upgrade` with --identity-trust-anchors-file.'],
    })
  }
  return roots
}

/** The suggestion every "cannot keep the installed identity" error ends with. */
export const REPLACE_ISSUER_SUGGESTIONS = [
  'Replace the issuer: `mesh upgrade --identity-trust-anchors-file ca.crt --identity-issuer-certificate-file issuer.crt --identity-issuer-key-file issuer.key --apply` ' +
    '(an issuer signed by the installed anchor keeps every running proxy trusting it: they get new certificates on their next renewal attempt, without a restart).',
  'A new trust anchor instead: while the old issuer still works, `mesh identity rotate-anchor --new ca2.crt`; once it has expired, every meshed workload must restart after the upgrade.',
]

/**
 * The installed identity (mesh.dev/tls scheme), checked as `mesh install` checks files. When it
 * cannot be kept as it is (expired, broken, missing), the error says so and how to replace it:
 * `mesh upgrade` with new identity files never reads it (recovering from expired material).
 */
export async function readInstalledIdentity(kube: Kube, now = new Date()): Promise<IdentityMaterial> {
  let secretData: Record<string, string>
  try {
    const secret = await kube.core().readNamespacedSecret({name: ControlPlane.issuerSecret, namespace: CONTROL_PLANE_NAMESPACE})
    secretData = secret.data ?? {}
  } catch (error) {
    throw clusterError(`cannot read the installed identity (${SECRET_WHERE})`, error, kube.server)
  }
  const decode = (key: string): string => {
    const v = secretData[key]
    if (v === undefined) {
      throw new InputError(`${SECRET_WHERE} has no "${key}" key`, {code: 'MESH_UPGRADE_IDENTITY', suggestions: REPLACE_ISSUER_SUGGESTIONS})
    }
    return Buffer.from(v, 'base64').toString('utf8')
  }
  const identity: IdentityMaterial = {
    trustAnchorsPEM: await readInstalledAnchors(kube).catch(() => decode(ISSUER_SECRET_KEYS.anchor)),
    issuerCertPEM: decode(ISSUER_SECRET_KEYS.cert),
    issuerKeyPEM: decode(ISSUER_SECRET_KEYS.key),
  }
  try {
    await validateIdentity(identity, {anchors: ROOTS_WHERE, cert: `${SECRET_WHERE} key ${ISSUER_SECRET_KEYS.cert}`, key: `${SECRET_WHERE} key ${ISSUER_SECRET_KEYS.key}`}, now)
  } catch (error) {
    if (!(error instanceof InputError)) throw error
    throw new InputError(`the installed identity cannot be kept: ${error.message}`, {code: 'MESH_UPGRADE_IDENTITY', suggestions: REPLACE_ISSUER_SUGGESTIONS, cause: error})
  }
  return identity
}

/**
 * Under the kubernetes.io/tls scheme: what the cert-manager Secret holds right now, as a line for
 * stderr (it is cert-manager's to create; the controller waits for it and reloads it).
 */
export async function describeExternalIssuer(kube: Kube, anchorsPem: string, now = new Date()): Promise<{ok: boolean; line: string}> {
  let secret
  try {
    secret = await kube.core().readNamespacedSecret({name: ControlPlane.issuerSecret, namespace: CONTROL_PLANE_NAMESPACE})
  } catch (error) {
    if (apiStatus(error) === 404) return {ok: false, line: `${SECRET_WHERE} does not exist yet: the controller starts once cert-manager (a Certificate with secretName ${ControlPlane.issuerSecret}, isCA: true) has created it.`}
    return {ok: false, line: `cannot read ${SECRET_WHERE} (${(error as Error).message.split('\n')[0]}); the controller reads it once it exists.`}
  }
  const data = secret.data ?? {}
  const missing = Object.values(TLS_SECRET_KEYS).filter((k) => k !== TLS_SECRET_KEYS.anchor && !data[k])
  if (missing.length > 0) return {ok: false, line: `${SECRET_WHERE} has no ${missing.join(', ')}: it is not a kubernetes.io/tls Secret made by cert-manager.`}
  try {
    await validateIdentity(
      {trustAnchorsPEM: anchorsPem, issuerCertPEM: Buffer.from(data[TLS_SECRET_KEYS.cert]!, 'base64').toString('utf8'), issuerKeyPEM: Buffer.from(data[TLS_SECRET_KEYS.key]!, 'base64').toString('utf8')},
      {anchors: 'the trust anchors', cert: `${SECRET_WHERE} key ${TLS_SECRET_KEYS.cert}`, key: `${SECRET_WHERE} key ${TLS_SECRET_KEYS.key}`},
      now,
    )
  } catch (error) {
    return {ok: false, line: (error as Error).message}
  }
  return {ok: true, line: `${SECRET_WHERE} (kubernetes.io/tls) holds an issuer that chains to the trust anchors.`}
}

/** Pods outside the control plane namespace that carry a proxy of this control plane. */
export async function meshedPods(kube: Kube): Promise<string[]> {
  try {
    const list = await kube.core().listPodForAllNamespaces({labelSelector: `${ControlPlane.controlPlaneNsLabel}=${CONTROL_PLANE_NAMESPACE}`, limit: 500})
    return list.items
      .filter((p) => p.metadata?.namespace !== CONTROL_PLANE_NAMESPACE)
      .map((p) => `${p.metadata?.namespace}/${p.metadata?.name}`)
      .sort()
  } catch (error) {
    throw clusterError('cannot list meshed pods', error, kube.server)
  }
}

/** The Prometheus Operator's CRD that `prometheus.podMonitor=true` needs (mesh never installs it). */
export const PODMONITOR_CRD = 'podmonitors.monitoring.coreos.com'

/**
 * Whether the cluster serves PodMonitors: `absent` when its CRD is not there, `unknown` when it
 * could not be read (no permission to read CRDs, say).
 */
export async function podMonitorCrd(kube: Kube): Promise<'present' | 'absent' | 'unknown'> {
  try {
    await kube.objects().read({apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', metadata: {name: PODMONITOR_CRD}})
    return 'present'
  } catch (error) {
    return apiStatus(error) === 404 ? 'absent' : 'unknown'
  }
}

/** The problem with rendering a PodMonitor for a cluster without its CRD, and what to do. */
export function noPodMonitorCrd(server: string): ClusterError {
  return new ClusterError(`prometheus.podMonitor=true renders a PodMonitor, but ${server} has no PodMonitor CRD (${PODMONITOR_CRD}): the Prometheus Operator is not installed there`, {
    code: 'MESH_INSTALL_NO_PODMONITOR_CRD',
    suggestions: [
      'Install the Prometheus Operator (it owns that CRD; mesh never installs it), then run this again.',
      'Or leave prometheus.podMonitor off and scrape the proxies with the configuration in README ("Metrics: Prometheus and Grafana").',
    ],
  })
}
