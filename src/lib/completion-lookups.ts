// Where completion finds names: a running `mesh demo` (its tap server's stat report) unless a
// --context is typed, else the kubeconfig's cluster (the API server's lists) and contexts.
// Each lookup has a short deadline and fails to nothing: a completion never prints an error
// and never keeps the shell waiting long.
import type {Lookups, Scope} from './completion.js'

/** How long one lookup may take (the shell waits for it while the user waits for TAB). */
export const COMPLETION_TIMEOUT_MS = 2_000

async function quietly<T>(fn: () => Promise<T[]>): Promise<T[]> {
  try {
    return await fn()
  } catch {
    return []
  }
}

const sortedUnique = (names: (string | undefined)[]): string[] => [...new Set(names.filter((n): n is string => typeof n === 'string' && n !== ''))].sort()

export function kubeLookups(env: NodeJS.ProcessEnv = process.env): Lookups {
  const demo = async (scope: Scope) => {
    if (scope.context) return undefined
    const {readLocalContext} = await import('../tapclient/local-context.js')
    const local = readLocalContext(env)
    return local.state === 'live' ? local.context : undefined
  }
  const kube = async (scope: Scope) => {
    const {loadKube} = await import('../k8s/client.js')
    return loadKube({...scope, requestTimeoutMs: COMPLETION_TIMEOUT_MS})
  }
  return {
    names: (kind, scope) => quietly(async () => {
      const ctx = await demo(scope)
      if (ctx) {
        const [{resolveControlPlane}, {fetchStat}] = await Promise.all([import('../tapclient/target.js'), import('../stat/run.js')])
        const target = await resolveControlPlane({namespace: scope.namespace, 'request-timeout': COMPLETION_TIMEOUT_MS}, env)
        const report = await fetchStat(target, {resource: kind, namespace: target.namespace, window: '1m'})
        return sortedUnique(report.rows.map((r) => r.name))
      }
      const k = await kube(scope)
      const namespace = k.namespace
      const names = (list: {items: {metadata?: {name?: string}}[]}) => sortedUnique(list.items.map((i) => i.metadata?.name))
      switch (kind) {
        case 'deployment': return names(await k.apps().listNamespacedDeployment({namespace}))
        case 'statefulset': return names(await k.apps().listNamespacedStatefulSet({namespace}))
        case 'daemonset': return names(await k.apps().listNamespacedDaemonSet({namespace}))
        case 'replicaset': return names(await k.apps().listNamespacedReplicaSet({namespace}))
        case 'pod': return names(await k.core().listNamespacedPod({namespace}))
        case 'service': return names(await k.core().listNamespacedService({namespace}))
        case 'job': return names(await k.api(k.k8s.BatchV1Api).listNamespacedJob({namespace}))
        default: return []
      }
    }),
    namespaces: (scope) => quietly(async () => {
      const ctx = await demo(scope)
      if (ctx) return [ctx.namespace]
      const k = await kube(scope)
      return sortedUnique((await k.core().listNamespace()).items.map((i) => i.metadata?.name))
    }),
    contexts: (scope) => quietly(async () => {
      const {loadKube} = await import('../k8s/client.js')
      const k = await loadKube({kubeconfig: scope.kubeconfig, requestTimeoutMs: COMPLETION_TIMEOUT_MS})
      return sortedUnique(k.kc.getContexts().map((c) => c.name))
    }),
  }
}
