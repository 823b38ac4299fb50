// Reads the installed control plane's config (ConfigMap mesh-config) through the API server.
// @kubernetes/client-node is imported here, lazily, only when a cluster is asked.
import {existsSync} from 'node:fs'
import {homedir} from 'node:os'
import {join} from 'node:path'
import {ClusterError} from '../lib/errors.js'
import {CONTROL_PLANE_NAMESPACE} from './constants.js'
import {configFromConfigMapData, MESH_CONFIG_MAP, type MeshConfig} from './config.js'

export interface ClusterOptions {
  kubeconfig?: string
  context?: string
  controlPlaneNamespace?: string
  timeoutMs?: number
}

const IGNORE_HINT = 'To inject without a cluster, pass --ignore-cluster --identity-trust-anchors-file <ca.pem>.'

export async function loadClusterConfig(opts: ClusterOptions = {}): Promise<MeshConfig> {
  const ns = opts.controlPlaneNamespace ?? CONTROL_PLANE_NAMESPACE
  const file = opts.kubeconfig ?? process.env.KUBECONFIG?.split(':')[0] ?? join(homedir(), '.kube', 'config')
  if (!existsSync(file)) {
    throw new ClusterError(`cannot read the control plane's config: no kubeconfig at ${file}`, {
      code: 'MESH_INJECT_NO_CLUSTER',
      suggestions: [IGNORE_HINT, 'Or point --kubeconfig at the cluster where mesh is installed.'],
    })
  }
  const k8s = await import('@kubernetes/client-node')
  const kc = new k8s.KubeConfig()
  try {
    kc.loadFromFile(file)
    if (opts.context) kc.setCurrentContext(opts.context)
  } catch (error) {
    throw new ClusterError(`cannot use kubeconfig ${file}: ${(error as Error).message}`, {code: 'MESH_INJECT_NO_CLUSTER', suggestions: [IGNORE_HINT], cause: error})
  }
  if (opts.context && !kc.getContextObject(opts.context)) {
    throw new ClusterError(`kubeconfig ${file} has no context "${opts.context}"`, {code: 'MESH_INJECT_NO_CLUSTER', suggestions: ['List the contexts with `kubectl config get-contexts`.', IGNORE_HINT]})
  }
  const server = kc.getCurrentCluster()?.server ?? '(no server)'
  const api = kc.makeApiClient(k8s.CoreV1Api)
  const timeoutMs = opts.timeoutMs ?? 10_000
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs / 1000} s`)), timeoutMs)
    timer.unref()
  })
  try {
    const cm = await Promise.race([api.readNamespacedConfigMap({name: MESH_CONFIG_MAP, namespace: ns}), timeout])
    return configFromConfigMapData(cm.data, `ConfigMap ${ns}/${MESH_CONFIG_MAP}`)
  } catch (error) {
    if (error instanceof ClusterError || (error as {code?: string}).code === 'MESH_INJECT_CONFIG') throw error
    const status = (error as {code?: unknown}).code
    if (status === 404) {
      throw new ClusterError(`the cluster at ${server} has no ConfigMap ${ns}/${MESH_CONFIG_MAP}: is mesh installed?`, {
        code: 'MESH_INJECT_NOT_INSTALLED',
        suggestions: ['Install the control plane with `mesh install | kubectl apply -f -`.', IGNORE_HINT],
      })
    }
    const detail = typeof status === 'number' ? `the API server answered ${status}` : (error as Error).message
    throw new ClusterError(`cannot read ConfigMap ${ns}/${MESH_CONFIG_MAP} from ${server}: ${detail}`, {
      code: 'MESH_INJECT_NO_CLUSTER',
      suggestions: [IGNORE_HINT, 'Check the cluster with `kubectl get configmap -n mesh-system mesh-config`.'],
      cause: error,
    })
  } finally {
    clearTimeout(timer)
  }
}
