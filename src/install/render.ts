// Values + identity -> the control plane's objects, in apply order. The templates hold the
// shape; this file computes what they cannot say (image reference, affinity, the webhook's
// clientConfig, the JSON stored in mesh-config) and fills them in.
import {DEFAULT_DESTINATION_ADDR, DEFAULT_IDENTITY_ADDR, Label, PROXY_CONTAINER, PROXY_PORT_NAMES} from '../inject/constants.js'
import type {MeshConfigValues} from '../inject/config.js'
import {meshVersion} from '../lib/version.js'
import {Annotations, CONTROL_PLANE_NAMESPACE, ControlPlane, ControlPlanePorts, TAP_SERVICE_PROXY_NAME} from '../protocol/control-plane.js'
import {DEFAULT_ISSUER_SCHEME, ISSUER_SECRET_KEYS, TRUST_ROOTS_CONFIGMAP_KEY} from '../protocol/identity.js'
import type {IdentityMaterial} from './identity.js'
import {TAP_API_GROUP} from '../control/tap/auth.js'
import type {ResourceKind} from '../control/tap/resource.js'
import {fill, loadTemplates} from './template.js'
import {AUTHZ_GROUP, AUTHZ_KIND, AUTHZ_PLURAL, AUTHZ_VERSION} from '../protocol/authz.js'
import {CIDR_PATTERN, MAX_CIDR_LENGTH} from '../authz/cidr.js'
import {IDENTITY_PATTERN, LABEL_PATTERN, MAX_IDENTITY_LENGTH, NAME_PATTERN} from '../authz/identity.js'
import {AUTHZ_LIMITS, HTTP_METHODS, WORKLOAD_KINDS} from '../authz/limits.js'
import {LABEL_KEY_PATTERN, LABEL_VALUE_PATTERN, SELECTOR_LIMITS} from '../authz/selector.js'
import {nest, toDocument, type FlatValues, type Resources, type Values} from './values.js'

export interface KubeObject {
  apiVersion: string
  kind: string
  metadata: {name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string>}
  [key: string]: unknown
}

export interface RenderInput {
  values: FlatValues
  identity: IdentityMaterial
}

export const WEBHOOK_NAME = 'mesh-proxy-injector.mesh.dev'
export const WEBHOOK_PATH = '/inject'
/** The user-facing ClusterRole that allows `mesh tap`, `mesh top` and `mesh stat` (20-rbac.yaml). */
export const TAP_ADMIN_ROLE = 'mesh-tap-admin'
/** The resource the tap server's SubjectAccessReview names for each kind it taps (src/control/tap/auth.ts). */
const TAP_KIND_RESOURCES: Record<ResourceKind, string> = {
  deployment: 'deployments', pod: 'pods', namespace: 'namespaces', statefulset: 'statefulsets', daemonset: 'daemonsets',
  job: 'jobs', service: 'services', replicaset: 'replicasets',
}
export const TAP_RESOURCES = Object.values(TAP_KIND_RESOURCES)

/** Templates that only render under a condition. */
const CONDITIONS: Record<string, (v: Values) => boolean> = {
  '70-pdb.yaml': (v) => v.ha,
  '30-identity-issuer.yaml': (v) => v.identity.issuer.scheme === 'mesh.dev/tls',
  '75-podmonitor.yaml': (v) => v.prometheus.podMonitor,
}

/**
 * What Prometheus calls the injector's `mesh.dev/proxy-<kind>` pod label (Kubernetes discovery
 * turns every character a label name cannot hold into `_`): a labelmap with this regex turns
 * `mesh.dev/proxy-deployment=web` into `deployment="web"`, the label the proxies put on their own
 * series and Linkerd's dashboards select on.
 */
export const PROXY_OWNER_META_LABEL = `__meta_kubernetes_pod_label_${Label.proxyOwner('').replace(/[^a-zA-Z0-9_]/g, '_')}(.+)`

/** What `mesh install` stores in mesh-config (key `install`) for `mesh upgrade` to read back. */
export interface InstalledRecord {
  cliVersion: string
  values: Record<string, unknown>
}

export function imageOf(v: Values): string {
  const repo = v.image.registry ? `${v.image.registry}/${v.image.name}` : v.image.name
  return `${repo}:${v.image.tag}`
}

/** The ConfigMap mesh-config's `values`: exactly the MeshConfigValues of src/inject/config.ts. */
export function meshConfigValues(v: Values, identity: IdentityMaterial): MeshConfigValues {
  const repo = v.image.registry ? `${v.image.registry}/${v.image.name}` : v.image.name
  const resources = definedOnly(v.proxy.resources)
  return {
    proxyImage: repo,
    proxyVersion: v.image.tag,
    proxyImagePullPolicy: v.image.pullPolicy,
    trustAnchorsPEM: identity.trustAnchorsPEM,
    destinationAddr: DEFAULT_DESTINATION_ADDR,
    identityAddr: DEFAULT_IDENTITY_ADDR,
    trustDomain: v.identity.trustDomain,
    controlPlaneNamespace: CONTROL_PLANE_NAMESPACE,
    proxyLogLevel: v.proxy.logLevel,
    ...(Object.keys(resources).length > 0 ? {proxyResources: resources} : {}),
    ...(v.proxy.opaquePorts ? {opaquePorts: v.proxy.opaquePorts} : {}),
  }
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, x]) => x !== undefined)) as Partial<T>
}

function k8sResources(r: Resources): Record<string, unknown> {
  const requests = definedOnly({cpu: r.cpuRequest, memory: r.memoryRequest})
  const limits = definedOnly({cpu: r.cpuLimit, memory: r.memoryLimit})
  return {...(Object.keys(requests).length ? {requests} : {}), ...(Object.keys(limits).length ? {limits} : {})}
}

export function antiAffinity(): unknown {
  const term = (topologyKey: string, weight: number) => ({
    weight,
    podAffinityTerm: {labelSelector: {matchLabels: {[ControlPlane.componentLabel]: 'controller'}}, topologyKey},
  })
  return {podAntiAffinity: {preferredDuringSchedulingIgnoredDuringExecution: [term('kubernetes.io/hostname', 100), term('topology.kubernetes.io/zone', 50)]}}
}

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64')

/**
 * JSON with every object's keys sorted, two-space indented, ending in a newline: what Go's
 * encoding/json writes for a map, so the Helm chart's `toPrettyJson` gives the same bytes.
 */
export function sortedJson(value: unknown): string {
  const sort = (x: unknown): unknown =>
    Array.isArray(x) ? x.map(sort) : x && typeof x === 'object' ? Object.fromEntries(Object.keys(x).sort().map((k) => [k, sort((x as Record<string, unknown>)[k])])) : x
  // Go escapes these inside strings (HTML safety); JSON readers read both forms alike.
  const goEscapes: Record<string, string> = {'<': '\\u003c', '>': '\\u003e', '&': '\\u0026', '\u2028': '\\u2028', '\u2029': '\\u2029'}
  return JSON.stringify(sort(value), null, 2).replace(/[<>&\u2028\u2029]/g, (c) => goEscapes[c]!) + '\n'
}

/** What the templates' placeholders name (src/install/helm.ts builds the chart from it too). */
export function renderContext(input: RenderInput): Record<string, unknown> {
  const v = nest(input.values)
  const caBundle = b64(input.identity.trustAnchorsPEM)
  const record: InstalledRecord = {cliVersion: meshVersion(), values: toDocument(input.values)}
  return {
    values: v,
    namespace: CONTROL_PLANE_NAMESPACE,
    names: ControlPlane,
    ports: ControlPlanePorts,
    labels: {component: ControlPlane.componentLabel, controlPlaneNs: ControlPlane.controlPlaneNsLabel},
    annotations: Annotations,
    issuerKeys: ISSUER_SECRET_KEYS,
    trustRootsKey: TRUST_ROOTS_CONFIGMAP_KEY,
    identity: {
      trustAnchorsPEM: input.identity.trustAnchorsPEM,
      trustAnchorsBase64: caBundle,
      issuerCertBase64: b64(input.identity.issuerCertPEM ?? ''),
      issuerKeyBase64: b64(input.identity.issuerKeyPEM ?? ''),
    },
    meshConfigJSON: sortedJson(meshConfigValues(v, input.identity)),
    installJSON: sortedJson(record),
    createdBy: `mesh/cli ${meshVersion()}`,
    image: imageOf(v),
    affinity: v.ha ? antiAffinity() : undefined,
    controllerArgs: [
      'controller',
      `--trust-domain=${v.identity.trustDomain}`,
      `--log-level=${v.controller.logLevel}`,
      `--log-format=${v.controller.logFormat}`,
      `--identity-port=${ControlPlanePorts.identity}`,
      `--destination-port=${ControlPlanePorts.destination}`,
      `--injector-port=${ControlPlanePorts.injector}`,
      `--tap-port=${ControlPlanePorts.tap}`,
      `--admin-port=${ControlPlanePorts.admin}`,
      ...(v.proxy.opaquePorts ? [`--default-opaque-ports=${v.proxy.opaquePorts}`] : []),
      `--default-inbound-policy=${v.policy.defaultInbound}`,
      `--cluster-networks=${v.policy.clusterNetworks}`,
      // Last: src/install/helm.ts appends it under its condition.
      ...(v.identity.issuer.scheme === DEFAULT_ISSUER_SCHEME ? [] : [`--identity-issuer-scheme=${v.identity.issuer.scheme}`]),
    ],
    authz: {
      group: AUTHZ_GROUP, version: AUTHZ_VERSION, kind: AUTHZ_KIND, plural: AUTHZ_PLURAL,
      cidrPattern: CIDR_PATTERN, identityPattern: IDENTITY_PATTERN, namePattern: NAME_PATTERN, labelPattern: LABEL_PATTERN, labelKeyPattern: LABEL_KEY_PATTERN, labelValuePattern: LABEL_VALUE_PATTERN, maxCidrLength: MAX_CIDR_LENGTH, maxIdentityLength: MAX_IDENTITY_LENGTH,
      limits: AUTHZ_LIMITS, selectorLimits: SELECTOR_LIMITS, workloadKinds: [...WORKLOAD_KINDS], methods: [...HTTP_METHODS],
    },
    prometheus: {proxyContainer: PROXY_CONTAINER, adminPort: PROXY_PORT_NAMES.admin, ownerLabel: PROXY_OWNER_META_LABEL},
    tapAdminRole: TAP_ADMIN_ROLE,
    tapServiceProxy: TAP_SERVICE_PROXY_NAME,
    tapApiGroup: TAP_API_GROUP,
    tapResources: {tap: TAP_RESOURCES.map((r) => `${r}/tap`), read: TAP_RESOURCES.flatMap((r) => [`${r}/stat`, `${r}/edges`, `${r}/authz`])},
    controllerResources: k8sResources(v.controller.resources),
    webhookName: WEBHOOK_NAME,
    // HA runs 3 replicas behind a PodDisruptionBudget, so a pod created while none answers is
    // refused (and retried by its controller) rather than started without a sidecar, as Linkerd does.
    webhookFailurePolicy: v.ha ? 'Fail' : 'Ignore',
    webhookClientConfig: v.webhook.url
      ? {url: v.webhook.url, caBundle}
      : {service: {name: ControlPlane.injectorService, namespace: CONTROL_PLANE_NAMESPACE, path: WEBHOOK_PATH, port: 443}, caBundle},
  }
}

/** The control plane's objects in apply order (namespace first, webhook last). */
export async function renderObjects(input: RenderInput): Promise<KubeObject[]> {
  const ctx = renderContext(input)
  const v = ctx.values as Values
  const out: KubeObject[] = []
  for (const t of await loadTemplates()) {
    const when = CONDITIONS[t.file]
    if (when && !when(v)) continue
    for (const doc of t.docs) out.push(fill(doc, ctx, t.file) as KubeObject)
  }
  return out
}
