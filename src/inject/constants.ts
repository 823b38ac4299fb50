// Names the injection writes into Kubernetes objects. The install renderer and the webhook
// import these too, so a name changes in one place. Env var names and ports live in
// src/protocol/proxy-env.ts (the proxy reads what we write).
import {PROXY_PORTS} from '../protocol/proxy-env.js'

export const CONTROL_PLANE_NAMESPACE = 'mesh-system'
export const TRUST_DOMAIN = 'cluster.local'

/** The Services `mesh install` creates for the controller's listeners. */
export const DEFAULT_DESTINATION_ADDR = `wss://mesh-dst.${CONTROL_PLANE_NAMESPACE}.svc.${TRUST_DOMAIN}:8086`
export const DEFAULT_IDENTITY_ADDR = `https://mesh-identity.${CONTROL_PLANE_NAMESPACE}.svc.${TRUST_DOMAIN}:8080`
/** The controller's ServiceAccount: destination and tap both run inside the controller. */
export const CONTROLLER_SERVICE_ACCOUNT = 'mesh-controller'
/** The one image (`mesh` entrypoint) serving as CLI, proxy, proxy-init and controller. */
export const DEFAULT_PROXY_IMAGE = 'ghcr.io/mesh-dev/mesh'

export const PROXY_CONTAINER = 'mesh-proxy'
/** The proxy container's port names: inbound, admin (/metrics, /ready, /live) and tap. */
export const PROXY_PORT_NAMES = {inbound: 'mesh-proxy', admin: 'mesh-admin', tap: 'mesh-tap'} as const
export const INIT_CONTAINER = 'mesh-init'

export const IDENTITY_END_ENTITY_VOLUME = 'mesh-identity-end-entity'
export const IDENTITY_END_ENTITY_DIR = '/var/run/mesh/identity/end-entity'
export const IDENTITY_TOKEN_VOLUME = 'mesh-identity-token'
export const IDENTITY_TOKEN_DIR = '/var/run/secrets/tokens'
export const IDENTITY_TOKEN_PATH = 'mesh-identity-token'
export const IDENTITY_TOKEN_AUDIENCE = 'identity.mesh.dev'
export const IDENTITY_TOKEN_EXPIRATION_SECONDS = 86_400

/** Ports the inbound redirect always skips: the proxy's own admin and tap listeners. */
export const ALWAYS_SKIPPED_INBOUND_PORTS = [PROXY_PORTS.tap, PROXY_PORTS.admin]

export const PREFIX = 'mesh.dev'
export const CONFIG_PREFIX = 'config.mesh.dev'

export const Annotation = {
  INJECT: 'mesh.dev/inject',
  PROXY_VERSION: 'mesh.dev/proxy-version',
  IDENTITY_MODE: 'mesh.dev/identity-mode',
  CREATED_BY: 'mesh.dev/created-by',
  /** The config.mesh.dev/* keys this injection wrote from flags, so uninject removes exactly them. */
  CONFIG_FROM_FLAGS: 'mesh.dev/config-from-flags',
} as const

export const Label = {
  CONTROL_PLANE_NS: 'mesh.dev/control-plane-ns',
  WORKLOAD_NS: 'mesh.dev/workload-ns',
  /** `mesh.dev/proxy-<kind>: <name>` */
  proxyOwner: (kind: string) => `mesh.dev/proxy-${kind}`,
} as const

export type InjectMode = 'enabled' | 'disabled' | 'ingress'

/** Sidecars of other meshes: a pod carrying one is refused. */
export const FOREIGN_SIDECARS: Record<string, string> = {
  'istio-proxy': 'Istio',
  'istio-init': 'Istio',
  'istio-validation': 'Istio',
  'linkerd-proxy': 'Linkerd',
  'linkerd-init': 'Linkerd',
  'linkerd-network-validator': 'Linkerd',
}

/** Namespaces the webhook never injects. */
export const NEVER_INJECTED_NAMESPACES = ['kube-system', 'kube-public', 'kube-node-lease']
