// The proxy options for one workload: the control plane config, then namespace, workload and
// pod-template `config.mesh.dev/*` annotations (later wins). Flags are written as pod-template
// annotations before this runs, so they win too, and stay visible in the output.
import {MeshError} from '../lib/errors.js'
import {PROXY_PORTS, PROXY_UID} from '../protocol/proxy-env.js'
import {parseInboundPolicy} from '../proxy/config/inbound-policy.js'
import {parseRoutes} from '../proxy/config/route-policy.js'
import {CONFIG_PREFIX} from './constants.js'
import type {MeshConfig, ProxyResources} from './config.js'

export interface ProxyOptions {
  image: string
  version: string
  pullPolicy: string
  logLevel: string
  logFormat?: string
  skipInboundPorts: string[]
  skipOutboundPorts: string[]
  opaquePorts: string[]
  /** MESH_PROXY_ROUTES for the proxy (validated with the proxy's parser), or '' for none. */
  routes: string
  /** MESH_PROXY_INBOUND_POLICY for the proxy (validated likewise), or '' for the default. */
  inboundPolicy: string
  resources: ProxyResources
  inboundPort: number
  outboundPort: number
  adminPort: number
  tapPort: number
  proxyUid: number
  destinationAddr: string
  identityAddr: string
  trustAnchorsPEM: string
  trustDomain: string
  controlPlaneNamespace: string
}

/** A `config.mesh.dev/*` annotation with a value we cannot use. */
export class AnnotationValueError extends Error {
  /**
   * `detail`: the problem as the proxy's own parser words it (naming the annotation, or the
   * flag, and the faulty entry) and its fix, for values with a syntax of their own.
   */
  constructor(readonly key: string, readonly value: string, readonly expected: string, readonly detail?: {problem: string; fix: string}) {
    super(detail ? `annotation ${detail.problem}. ${detail.fix}` : `annotation ${key}: "${value}" is not ${expected}`)
  }
}

/** Validates `value` with one of the proxy's own parsers, which names `key` in its errors. */
function proxySetting(parse: (value: string, name: string) => unknown, expected: string) {
  return (key: string, value: string): string => {
    try {
      parse(value, key)
    } catch (error) {
      if (!(error instanceof MeshError)) throw error
      throw new AnnotationValueError(key, value, expected, {problem: error.message, fix: error.suggestions[0] ?? ''})
    }
    return value.trim()
  }
}

const proxyRoutes = proxySetting(parseRoutes, 'a list of proxy routes')
const inboundPolicy = proxySetting(parseInboundPolicy, 'an inbound policy')

const PORT_ITEM = /^(\d{1,5})(?:-(\d{1,5}))?$/
const QUANTITY = /^\d+(\.\d+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/
const LOG_LEVELS = ['error', 'warn', 'info', 'debug', 'trace']

function portList(key: string, value: string): string[] {
  const items = value.split(',').map((s) => s.trim()).filter((s) => s !== '')
  for (const item of items) {
    const m = PORT_ITEM.exec(item)
    const lo = m ? Number(m[1]) : 0
    const hi = m?.[2] !== undefined ? Number(m[2]) : lo
    if (!m || lo < 1 || hi > 65535 || hi < lo) throw new AnnotationValueError(key, value, 'a comma-separated list of ports (1-65535) or ranges a-b')
  }
  return items
}

function port(key: string, value: string): number {
  const n = Number(value)
  if (!/^\d{1,5}$/.test(value) || n < 1 || n > 65535) throw new AnnotationValueError(key, value, 'a port (1-65535)')
  return n
}

function quantity(key: string, value: string): string {
  if (!QUANTITY.test(value)) throw new AnnotationValueError(key, value, 'a Kubernetes quantity such as 100m or 64Mi')
  return value
}

function oneOf(choices: string[]) {
  return (key: string, value: string): string => {
    if (!choices.includes(value)) throw new AnnotationValueError(key, value, `one of ${choices.join(', ')}`)
    return value
  }
}

function nonEmpty(key: string, value: string): string {
  if (value.trim() === '' || /\s/.test(value)) throw new AnnotationValueError(key, value, 'a non-empty value without spaces')
  return value
}

type Setter = (o: ProxyOptions, key: string, value: string) => void

/** Every `config.mesh.dev/<option>` the injection understands. */
export const CONFIG_OPTIONS: Record<string, Setter> = {
  'proxy-image': (o, k, v) => (o.image = nonEmpty(k, v)),
  'proxy-version': (o, k, v) => (o.version = nonEmpty(k, v)),
  'proxy-image-pull-policy': (o, k, v) => (o.pullPolicy = oneOf(['Always', 'IfNotPresent', 'Never'])(k, v)),
  'proxy-log-level': (o, k, v) => (o.logLevel = oneOf(LOG_LEVELS)(k, v)),
  'proxy-log-format': (o, k, v) => (o.logFormat = oneOf(['plain', 'json'])(k, v)),
  'skip-inbound-ports': (o, k, v) => (o.skipInboundPorts = portList(k, v)),
  'skip-outbound-ports': (o, k, v) => (o.skipOutboundPorts = portList(k, v)),
  'opaque-ports': (o, k, v) => (o.opaquePorts = portList(k, v)),
  'proxy-routes': (o, k, v) => (o.routes = proxyRoutes(k, v)),
  'inbound-policy': (o, k, v) => (o.inboundPolicy = inboundPolicy(k, v)),
  'proxy-cpu-request': (o, k, v) => (o.resources.cpuRequest = quantity(k, v)),
  'proxy-cpu-limit': (o, k, v) => (o.resources.cpuLimit = quantity(k, v)),
  'proxy-memory-request': (o, k, v) => (o.resources.memoryRequest = quantity(k, v)),
  'proxy-memory-limit': (o, k, v) => (o.resources.memoryLimit = quantity(k, v)),
  'inbound-port': (o, k, v) => (o.inboundPort = port(k, v)),
  'outbound-port': (o, k, v) => (o.outboundPort = port(k, v)),
  'admin-port': (o, k, v) => (o.adminPort = port(k, v)),
  'tap-port': (o, k, v) => (o.tapPort = port(k, v)),
  'proxy-uid': (o, k, v) => {
    if (!/^\d{1,10}$/.test(v) || Number(v) > 2_147_483_647) throw new AnnotationValueError(k, v, 'a numeric user id')
    o.proxyUid = Number(v)
  },
}

export function optionsFromConfig(config: MeshConfig): ProxyOptions {
  return {
    image: config.proxyImage,
    version: config.proxyVersion,
    pullPolicy: config.proxyImagePullPolicy,
    logLevel: config.proxyLogLevel,
    skipInboundPorts: [],
    skipOutboundPorts: [],
    opaquePorts: config.opaquePorts ? portList('mesh-config opaquePorts', config.opaquePorts) : [],
    routes: '',
    inboundPolicy: '',
    resources: {...config.proxyResources},
    inboundPort: PROXY_PORTS.inbound,
    outboundPort: PROXY_PORTS.outbound,
    adminPort: PROXY_PORTS.admin,
    tapPort: PROXY_PORTS.tap,
    proxyUid: PROXY_UID,
    destinationAddr: config.destinationAddr,
    identityAddr: config.identityAddr,
    trustAnchorsPEM: config.trustAnchorsPEM,
    trustDomain: config.trustDomain,
    controlPlaneNamespace: config.controlPlaneNamespace,
  }
}

/**
 * Applies annotation layers in order (e.g. namespace, workload, pod template). Unknown
 * `config.mesh.dev/*` keys are returned so the report can warn about them.
 */
export function resolveOptions(config: MeshConfig, layers: (Record<string, string> | undefined)[]): {options: ProxyOptions; unknown: string[]} {
  const options = optionsFromConfig(config)
  const unknown: string[] = []
  for (const layer of layers) {
    for (const [key, value] of Object.entries(layer ?? {})) {
      if (!key.startsWith(CONFIG_PREFIX + '/')) continue
      const setter = CONFIG_OPTIONS[key.slice(CONFIG_PREFIX.length + 1)]
      if (!setter) {
        if (!unknown.includes(key)) unknown.push(key)
        continue
      }
      setter(options, key, String(value))
    }
  }
  return {options, unknown}
}
