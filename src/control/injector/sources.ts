// What the injector reads from the API server: a namespace's annotations (per review, bounded
// by a timeout) and the control plane's config (ConfigMap mesh-config, cached for a few
// seconds; the last good copy is kept when a refresh fails).
import type * as k8s from '@kubernetes/client-node'
import {configFromConfigMapData, MESH_CONFIG_MAP, type MeshConfig} from '../../inject/config.js'

export const NAMESPACE_READ_TIMEOUT_MS = 3000
export const CONFIG_TTL_MS = 10_000

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms)
    timer.unref()
  })
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer))
}

export function namespaceReader(core: k8s.CoreV1Api, timeoutMs = NAMESPACE_READ_TIMEOUT_MS): (ns: string) => Promise<Record<string, string>> {
  return async (name) => {
    const ns = await withTimeout(core.readNamespace({name}), timeoutMs, `reading namespace ${name}`)
    return ns.metadata?.annotations ?? {}
  }
}

export function configReader(core: k8s.CoreV1Api, namespace: string, ttlMs = CONFIG_TTL_MS, now = Date.now): () => Promise<MeshConfig> {
  let cached: {config: MeshConfig; at: number} | undefined
  let inflight: Promise<MeshConfig> | undefined
  const load = async (): Promise<MeshConfig> => {
    const cm = await withTimeout(core.readNamespacedConfigMap({name: MESH_CONFIG_MAP, namespace}), NAMESPACE_READ_TIMEOUT_MS, `reading ConfigMap ${namespace}/${MESH_CONFIG_MAP}`)
    const config = configFromConfigMapData(cm.data, `ConfigMap ${namespace}/${MESH_CONFIG_MAP}`)
    cached = {config, at: now()}
    return config
  }
  return async () => {
    if (cached && now() - cached.at < ttlMs) return cached.config
    inflight ??= load().finally(() => (inflight = undefined))
    try {
      return await inflight
    } catch (error) {
      if (cached) return cached.config
      throw error
    }
  }
}
