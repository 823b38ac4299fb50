// One way to reach the cluster for every command and the controller: the user's kubeconfig
// (--kubeconfig, else $KUBECONFIG, else ~/.kube/config; --context; -n) or, inside a pod, the
// in-cluster service account. @kubernetes/client-node is imported lazily: it costs ~280 ms.
import {existsSync} from 'node:fs'
import {homedir} from 'node:os'
import {join} from 'node:path'
import type * as k8s from '@kubernetes/client-node'
import {ClusterError} from '../lib/errors.js'

export interface KubeOptions {
  kubeconfig?: string
  context?: string
  namespace?: string
}

export interface Kube {
  k8s: typeof k8s
  kc: k8s.KubeConfig
  /** The namespace from -n, else the context's, else "default". */
  namespace: string
  /** Server URL of the current cluster. */
  server: string
  core(): k8s.CoreV1Api
  apps(): k8s.AppsV1Api
  objects(): k8s.KubernetesObjectApi
}

/** Loads the kubeconfig the flags name; throws a ClusterError that says how to fix it. */
export async function loadKube(options: KubeOptions = {}): Promise<Kube> {
  const lib = await import('@kubernetes/client-node')
  const kc = new lib.KubeConfig()
  const inCluster = !options.kubeconfig && !process.env.KUBECONFIG && existsSync('/var/run/secrets/kubernetes.io/serviceaccount/token') && process.env.KUBERNETES_SERVICE_HOST
  const path = options.kubeconfig ?? process.env.KUBECONFIG?.split(':')[0] ?? join(homedir(), '.kube', 'config')
  try {
    if (inCluster) kc.loadFromCluster()
    else {
      if (!existsSync(path)) {
        throw new ClusterError(`no kubeconfig at ${path}`, {
          code: 'MESH_NO_KUBECONFIG',
          suggestions: ['Pass --kubeconfig <file>, set KUBECONFIG, or point ~/.kube/config at your cluster.'],
        })
      }
      kc.loadFromFile(path)
    }
  } catch (error) {
    if (error instanceof ClusterError) throw error
    throw new ClusterError(`cannot read kubeconfig ${path}: ${(error as Error).message}`, {
      code: 'MESH_BAD_KUBECONFIG',
      suggestions: ['Check the file with `kubectl config view --kubeconfig ' + path + '`.'],
      cause: error,
    })
  }
  if (options.context) {
    if (!kc.getContextObject(options.context)) {
      throw new ClusterError(`context "${options.context}" is not in ${path}`, {
        code: 'MESH_NO_CONTEXT',
        suggestions: [`List the contexts with \`kubectl config get-contexts --kubeconfig ${path}\`.`],
      })
    }
    kc.setCurrentContext(options.context)
  }
  const cluster = kc.getCurrentCluster()
  if (!cluster) {
    throw new ClusterError(`the kubeconfig ${path} has no current cluster`, {
      code: 'MESH_NO_CLUSTER',
      suggestions: ['Pass --context <name>, or set one with `kubectl config use-context`.'],
    })
  }
  const contextNs = kc.getContextObject(kc.getCurrentContext())?.namespace
  const namespace = options.namespace ?? contextNs ?? 'default'
  const cache = new Map<unknown, unknown>()
  const client = <T>(ctor: new (...a: any[]) => T): T => {
    if (!cache.has(ctor)) cache.set(ctor, kc.makeApiClient(ctor as any))
    return cache.get(ctor) as T
  }
  return {
    k8s: lib,
    kc,
    namespace,
    server: cluster.server,
    core: () => client(lib.CoreV1Api),
    apps: () => client(lib.AppsV1Api),
    objects: () => {
      if (!cache.has('objects')) cache.set('objects', lib.KubernetesObjectApi.makeApiClient(kc))
      return cache.get('objects') as k8s.KubernetesObjectApi
    },
  }
}

/** The HTTP status of an error thrown by client-node (1.x ApiException), if any. */
export function apiStatus(error: unknown): number | undefined {
  const e = error as {code?: unknown; statusCode?: unknown; response?: {statusCode?: unknown}}
  if (typeof e?.code === 'number') return e.code
  if (typeof e?.statusCode === 'number') return e.statusCode
  if (typeof e?.response?.statusCode === 'number') return e.response.statusCode
  return undefined
}

/** Turns a client-node failure into a ClusterError naming what we tried. */
export function clusterError(action: string, error: unknown, server?: string): ClusterError {
  const status = apiStatus(error)
  const e = error as {body?: unknown; message?: string; code?: string}
  let detail = e?.message ?? String(error)
  if (typeof e?.body === 'string') {
    try {
      detail = (JSON.parse(e.body) as {message?: string}).message ?? detail
    } catch {
      // keep the message
    }
  }
  const suggestions: string[] = []
  if (status === 401) suggestions.push('Your credentials were refused: refresh them, or check --kubeconfig/--context.')
  else if (status === 403) suggestions.push('Ask a cluster admin for the RBAC permission named above.')
  else if (status === undefined) suggestions.push(`Check that the API server${server ? ` at ${server}` : ''} is reachable: \`kubectl version\`.`)
  return new ClusterError(`${action}: ${detail.split('\n')[0]}`, {code: status ? `MESH_API_${status}` : 'MESH_API_UNREACHABLE', suggestions, cause: error})
}
