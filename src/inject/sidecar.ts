// What the injection adds to a pod spec: the proxy container, the proxy-init container and
// the identity volumes. Pure functions of the resolved options; Kubernetes field names and
// types exactly as the API server expects them.
import type {AuthzProbe} from '../protocol/authz.js'
import {PROXY_RUNTIME_ENV, ProxyEnv} from '../protocol/proxy-env.js'
import {
  CONTROLLER_SERVICE_ACCOUNT, IDENTITY_END_ENTITY_DIR, IDENTITY_END_ENTITY_VOLUME,
  IDENTITY_TOKEN_AUDIENCE, IDENTITY_TOKEN_DIR, IDENTITY_TOKEN_EXPIRATION_SECONDS, IDENTITY_TOKEN_PATH, IDENTITY_TOKEN_VOLUME,
  INIT_CONTAINER, PROXY_CONTAINER, PROXY_PORT_NAMES,
} from './constants.js'
import type {ProxyOptions} from './options.js'

export type Obj = Record<string, any>

export interface Workload {
  /** lower-case kind: deployment, statefulset, ..., pod */
  kind: string
  name?: string
}

function image(o: ProxyOptions): string {
  return `${o.image}:${o.version}`
}

/** The controller's identity: destination and tap both run in the controller. */
export function controllerIdentity(o: ProxyOptions): string {
  return `${CONTROLLER_SERVICE_ACCOUNT}.${o.controlPlaneNamespace}.serviceaccount.identity.${o.controlPlaneNamespace}.${o.trustDomain}`
}

function env(o: ProxyOptions, workload: Workload, probes: readonly AuthzProbe[]): Obj[] {
  const fieldRef = (fieldPath: string) => ({valueFrom: {fieldRef: {fieldPath}}})
  const list: Obj[] = [
    {name: ProxyEnv.LOG_LEVEL, value: o.logLevel},
    ...(o.logFormat ? [{name: ProxyEnv.LOG_FORMAT, value: o.logFormat}] : []),
    {name: ProxyEnv.INBOUND_LISTEN_ADDR, value: `0.0.0.0:${o.inboundPort}`},
    {name: ProxyEnv.OUTBOUND_LISTEN_ADDR, value: `127.0.0.1:${o.outboundPort}`},
    {name: ProxyEnv.ADMIN_LISTEN_ADDR, value: `0.0.0.0:${o.adminPort}`},
    {name: ProxyEnv.TAP_LISTEN_ADDR, value: `0.0.0.0:${o.tapPort}`},
    {name: ProxyEnv.CONTROL_PLANE_NAMESPACE, value: o.controlPlaneNamespace},
    {name: ProxyEnv.TRUST_DOMAIN, value: o.trustDomain},
    {name: ProxyEnv.DESTINATION_ADDR, value: o.destinationAddr},
    {name: ProxyEnv.DESTINATION_IDENTITY, value: controllerIdentity(o)},
    {name: ProxyEnv.TAP_SVC_NAME, value: controllerIdentity(o)},
    {name: ProxyEnv.IDENTITY_ADDR, value: o.identityAddr},
    {name: ProxyEnv.IDENTITY_DIR, value: IDENTITY_END_ENTITY_DIR},
    {name: ProxyEnv.IDENTITY_TOKEN_FILE, value: `${IDENTITY_TOKEN_DIR}/${IDENTITY_TOKEN_PATH}`},
    {name: ProxyEnv.IDENTITY_TRUST_ANCHORS_PEM, value: o.trustAnchorsPEM},
    {name: '_pod_sa', ...fieldRef('spec.serviceAccountName')},
    {name: '_pod_ns', ...fieldRef('metadata.namespace')},
    {name: ProxyEnv.IDENTITY_LOCAL_NAME, value: `$(_pod_sa).$(_pod_ns).serviceaccount.identity.${o.controlPlaneNamespace}.${o.trustDomain}`},
    {name: ProxyEnv.POD_NAME, ...fieldRef('metadata.name')},
    {name: ProxyEnv.POD_NAMESPACE, ...fieldRef('metadata.namespace')},
    {name: ProxyEnv.WORKLOAD_KIND, value: workload.kind},
  ]
  if (workload.name) list.push({name: ProxyEnv.WORKLOAD_NAME, value: workload.name})
  if (o.opaquePorts.length > 0) list.push({name: ProxyEnv.OPAQUE_PORTS, value: o.opaquePorts.join(',')})
  if (o.routes !== '') list.push({name: ProxyEnv.ROUTES, value: o.routes})
  if (o.inboundPolicy !== '') list.push({name: ProxyEnv.INBOUND_POLICY, value: o.inboundPolicy})
  // The pod's kubelet probes: the proxy lets them through in plaintext under any inbound policy.
  if (probes.length > 0) list.push({name: ProxyEnv.INBOUND_PROBES, value: JSON.stringify(probes)})
  list.push({name: ProxyEnv.INBOUND_PORTS_TO_IGNORE, value: inboundPortsToIgnore(o).join(',')})
  if (o.skipOutboundPorts.length > 0) list.push({name: ProxyEnv.OUTBOUND_PORTS_TO_IGNORE, value: o.skipOutboundPorts.join(',')})
  list.push(...RUNTIME_ENV)
  return list
}

/** The runtime tuning every proxy gets (PROXY_RUNTIME_ENV in src/protocol/proxy-env.ts), as env entries. */
const RUNTIME_ENV: readonly Obj[] = Object.entries(PROXY_RUNTIME_ENV).map(([name, value]) => ({name, value}))

export function inboundPortsToIgnore(o: ProxyOptions): string[] {
  const base = [String(o.tapPort), String(o.adminPort)]
  return [...base, ...o.skipInboundPorts.filter((p) => !base.includes(p))]
}

function resources(o: ProxyOptions): Obj | undefined {
  const requests: Obj = {}
  const limits: Obj = {}
  if (o.resources.cpuRequest) requests.cpu = o.resources.cpuRequest
  if (o.resources.memoryRequest) requests.memory = o.resources.memoryRequest
  if (o.resources.cpuLimit) limits.cpu = o.resources.cpuLimit
  if (o.resources.memoryLimit) limits.memory = o.resources.memoryLimit
  const r: Obj = {}
  if (Object.keys(requests).length > 0) r.requests = requests
  if (Object.keys(limits).length > 0) r.limits = limits
  return Object.keys(r).length > 0 ? r : undefined
}

/** The proxy container; `probes`: the kubelet probes of the pod's containers (MESH_PROXY_INBOUND_PROBES). */
export function proxyContainer(o: ProxyOptions, workload: Workload, native: boolean, probes: readonly AuthzProbe[] = []): Obj {
  const probe = (path: string, extra: Obj) => ({httpGet: {path, port: o.adminPort}, ...extra})
  const c: Obj = {
    name: PROXY_CONTAINER,
    image: image(o),
    imagePullPolicy: o.pullPolicy,
    args: ['proxy'],
    env: env(o, workload, probes),
    ports: [
      {name: PROXY_PORT_NAMES.inbound, containerPort: o.inboundPort, protocol: 'TCP'},
      {name: PROXY_PORT_NAMES.admin, containerPort: o.adminPort, protocol: 'TCP'},
      {name: PROXY_PORT_NAMES.tap, containerPort: o.tapPort, protocol: 'TCP'},
    ],
    readinessProbe: probe('/ready', {initialDelaySeconds: 2, periodSeconds: 10, failureThreshold: 3}),
    livenessProbe: probe('/live', {initialDelaySeconds: 10, periodSeconds: 10, failureThreshold: 3}),
  }
  // A native sidecar gates the next containers on its startup probe: the app starts only
  // after the proxy is ready.
  if (native) c.startupProbe = probe('/ready', {periodSeconds: 1, failureThreshold: 120})
  const r = resources(o)
  if (r) c.resources = r
  c.securityContext = {
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    runAsNonRoot: true,
    runAsUser: o.proxyUid,
    capabilities: {drop: ['ALL']},
    seccompProfile: {type: 'RuntimeDefault'},
  }
  c.terminationMessagePolicy = 'FallbackToLogsOnError'
  c.volumeMounts = [
    {name: IDENTITY_END_ENTITY_VOLUME, mountPath: IDENTITY_END_ENTITY_DIR},
    {name: IDENTITY_TOKEN_VOLUME, mountPath: IDENTITY_TOKEN_DIR, readOnly: true},
  ]
  if (native) c.restartPolicy = 'Always'
  return c
}

export function initContainer(o: ProxyOptions): Obj {
  const args = [
    'proxy-init',
    '--incoming-proxy-port', String(o.inboundPort),
    '--outgoing-proxy-port', String(o.outboundPort),
    '--proxy-uid', String(o.proxyUid),
    '--inbound-ports-to-ignore', inboundPortsToIgnore(o).join(','),
  ]
  if (o.skipOutboundPorts.length > 0) args.push('--outbound-ports-to-ignore', o.skipOutboundPorts.join(','))
  return {
    name: INIT_CONTAINER,
    image: image(o),
    imagePullPolicy: o.pullPolicy,
    args,
    securityContext: {
      allowPrivilegeEscalation: false,
      privileged: false,
      runAsNonRoot: false,
      runAsUser: 0,
      capabilities: {add: ['NET_ADMIN', 'NET_RAW']},
      seccompProfile: {type: 'RuntimeDefault'},
    },
    terminationMessagePolicy: 'FallbackToLogsOnError',
  }
}

export function identityVolumes(): Obj[] {
  return [
    {name: IDENTITY_END_ENTITY_VOLUME, emptyDir: {medium: 'Memory'}},
    {
      name: IDENTITY_TOKEN_VOLUME,
      projected: {
        sources: [{serviceAccountToken: {audience: IDENTITY_TOKEN_AUDIENCE, expirationSeconds: IDENTITY_TOKEN_EXPIRATION_SECONDS, path: IDENTITY_TOKEN_PATH}}],
      },
    },
  ]
}
