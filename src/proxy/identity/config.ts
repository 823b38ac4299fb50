// The proxy identity client's settings, from MESH_PROXY_* env vars (src/protocol/proxy-env.ts).
import {readFileSync} from 'node:fs'
import {CONTROLLER_SERVICE_ACCOUNT} from '../../protocol/identity.js'
import {identityName, ProxyEnv} from '../../protocol/proxy-env.js'

export interface IdentityLogger {
  debug(msg: string, fields?: Record<string, unknown>): void
  info(msg: string, fields?: Record<string, unknown>): void
  warn(msg: string, fields?: Record<string, unknown>): void
}

export interface ProxyIdentityConfig {
  /** This proxy's identity name. */
  localName: string
  /** https://host:port of the identity service. */
  identityAddr: string
  /** The identity the identity service presents (default mesh-controller.<cp-ns>.serviceaccount...). */
  identityServiceName: string
  /** File holding the ServiceAccount token (re-read before every certify: it rotates). */
  tokenFile: string
  trustAnchorsPem: string
  /** Where the key (0600) and certificate are kept; nothing is written when absent. */
  dir?: string
  /** Fraction of the lifetime after which to renew (default 0.7). */
  renewFraction?: number
  /** Backoff after a failed certify: from minMs doubling up to maxMs (default 500 ms .. 30 s). */
  backoff?: {minMs: number; maxMs: number}
  keyBits?: number
  requestTimeoutMs?: number
  log?: IdentityLogger
}

export class IdentityConfigError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'IdentityConfigError'
  }
}

/**
 * Reads the identity settings from the environment; undefined when identity is disabled
 * (MESH_PROXY_IDENTITY_DISABLED=1 or no MESH_PROXY_IDENTITY_ADDR). Throws naming the missing
 * variable when identity is on but incomplete.
 */
export function identityConfigFromEnv(env: NodeJS.ProcessEnv = process.env): ProxyIdentityConfig | undefined {
  if (env[ProxyEnv.IDENTITY_DISABLED] === '1' || !env[ProxyEnv.IDENTITY_ADDR]) return undefined
  const need = (name: string): string => {
    const v = env[name]
    if (!v) throw new IdentityConfigError(`${name} is not set; it is required when ${ProxyEnv.IDENTITY_ADDR} is set (or set ${ProxyEnv.IDENTITY_DISABLED}=1)`)
    return v
  }
  const cpNs = env[ProxyEnv.CONTROL_PLANE_NAMESPACE] ?? 'mesh-system'
  const trustDomain = env[ProxyEnv.TRUST_DOMAIN] ?? 'cluster.local'
  let anchors = need(ProxyEnv.IDENTITY_TRUST_ANCHORS_PEM)
  // Accept a file path too (a mounted ConfigMap), for convenience.
  if (!anchors.includes('-----BEGIN')) {
    try {
      anchors = readFileSync(anchors, 'utf8')
    } catch {
      throw new IdentityConfigError(`${ProxyEnv.IDENTITY_TRUST_ANCHORS_PEM} is neither PEM nor a readable file`)
    }
  }
  return {
    localName: need(ProxyEnv.IDENTITY_LOCAL_NAME),
    identityAddr: need(ProxyEnv.IDENTITY_ADDR),
    identityServiceName: env[ProxyEnv.IDENTITY_SVC_NAME] ?? identityName(CONTROLLER_SERVICE_ACCOUNT, cpNs, cpNs, trustDomain),
    tokenFile: need(ProxyEnv.IDENTITY_TOKEN_FILE),
    trustAnchorsPem: anchors,
    dir: env[ProxyEnv.IDENTITY_DIR],
  }
}
