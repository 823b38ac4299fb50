// The control plane's configuration as the injection needs it. In a cluster it lives in
// ConfigMap `mesh-config` in the control plane namespace, key `values`, as JSON of the
// `MeshConfigValues` shape below (`mesh install` writes it; `mesh inject` and the webhook
// read it). With --ignore-cluster the CLI builds the same object from defaults and flags.
import {InputError} from '../lib/errors.js'
import {meshVersion} from '../lib/version.js'
import {
  CONTROL_PLANE_NAMESPACE, DEFAULT_DESTINATION_ADDR, DEFAULT_IDENTITY_ADDR, DEFAULT_PROXY_IMAGE, TRUST_DOMAIN,
} from './constants.js'

export const MESH_CONFIG_MAP = 'mesh-config'
export const MESH_CONFIG_KEY = 'values'

export interface ProxyResources {
  cpuRequest?: string
  cpuLimit?: string
  memoryRequest?: string
  memoryLimit?: string
}

/** The JSON stored under `data.values` of ConfigMap `mesh-config`. Every field is optional there. */
export interface MeshConfigValues {
  /** Image repository, without tag, e.g. `ghcr.io/mesh-dev/mesh`. */
  proxyImage?: string
  /** Image tag and the `mesh.dev/proxy-version` annotation. */
  proxyVersion?: string
  proxyImagePullPolicy?: 'Always' | 'IfNotPresent' | 'Never'
  /** PEM bundle of the trust anchors (roots) proxies verify peers against. */
  trustAnchorsPEM?: string
  destinationAddr?: string
  identityAddr?: string
  trustDomain?: string
  controlPlaneNamespace?: string
  proxyLogLevel?: string
  proxyResources?: ProxyResources
  /** Ports carried as opaque TCP cluster-wide (comma list, ranges a-b). */
  opaquePorts?: string
}

export type MeshConfig = Required<Omit<MeshConfigValues, 'proxyResources' | 'opaquePorts'>> & {
  proxyResources: ProxyResources
  opaquePorts?: string
}

export function defaultConfig(overrides: MeshConfigValues = {}): MeshConfig {
  return {
    proxyImage: DEFAULT_PROXY_IMAGE,
    proxyVersion: meshVersion(),
    proxyImagePullPolicy: 'IfNotPresent',
    trustAnchorsPEM: '',
    destinationAddr: DEFAULT_DESTINATION_ADDR,
    identityAddr: DEFAULT_IDENTITY_ADDR,
    trustDomain: TRUST_DOMAIN,
    controlPlaneNamespace: CONTROL_PLANE_NAMESPACE,
    proxyLogLevel: 'info',
    ...stripUndefined(overrides),
    proxyResources: {...overrides.proxyResources},
  }
}

/** Parses the ConfigMap's `data` into a config, naming the ConfigMap in every error. */
export function configFromConfigMapData(data: Record<string, string> | undefined, where: string): MeshConfig {
  const raw = data?.[MESH_CONFIG_KEY]
  if (raw === undefined) {
    throw new InputError(`${where} has no "${MESH_CONFIG_KEY}" key`, {
      code: 'MESH_INJECT_CONFIG',
      suggestions: ['Reinstall the control plane with `mesh install`, or pass --ignore-cluster.'],
    })
  }
  let values: unknown
  try {
    values = JSON.parse(raw)
  } catch (error) {
    throw new InputError(`${where} key "${MESH_CONFIG_KEY}" is not valid JSON: ${(error as Error).message}`, {code: 'MESH_INJECT_CONFIG', cause: error})
  }
  if (values === null || typeof values !== 'object' || Array.isArray(values)) {
    throw new InputError(`${where} key "${MESH_CONFIG_KEY}" must hold a JSON object`, {code: 'MESH_INJECT_CONFIG'})
  }
  const v = values as Record<string, unknown>
  for (const key of ['proxyImage', 'proxyVersion', 'trustAnchorsPEM', 'destinationAddr', 'identityAddr', 'trustDomain', 'controlPlaneNamespace', 'proxyLogLevel', 'opaquePorts', 'proxyImagePullPolicy']) {
    if (v[key] !== undefined && typeof v[key] !== 'string') {
      throw new InputError(`${where}: "${key}" must be a string`, {code: 'MESH_INJECT_CONFIG'})
    }
  }
  return defaultConfig(v as MeshConfigValues)
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>
}
