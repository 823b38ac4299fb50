// Reads the installed control plane's config (ConfigMap mesh-config) through the API server,
// with the command's --request-timeout (src/k8s/client.ts). @kubernetes/client-node is imported
// there, lazily, only when a cluster is asked.
import {apiStatus, loadKube, type KubeOptions} from '../k8s/client.js'
import {ClusterError, MeshError, TimeoutError} from '../lib/errors.js'
import {CONTROL_PLANE_NAMESPACE} from './constants.js'
import {configFromConfigMapData, MESH_CONFIG_MAP, type MeshConfig} from './config.js'

export interface ClusterOptions extends KubeOptions {
  controlPlaneNamespace?: string
}

const IGNORE_HINT = 'To inject without a cluster, pass --ignore-cluster --identity-trust-anchors-file <ca.pem>.'

export async function loadClusterConfig(opts: ClusterOptions = {}): Promise<MeshConfig> {
  const ns = opts.controlPlaneNamespace ?? CONTROL_PLANE_NAMESPACE
  let kube
  try {
    kube = await loadKube(opts)
  } catch (error) {
    if (!(error instanceof MeshError)) throw error
    throw new ClusterError(`cannot read the control plane's config: ${error.message}`, {
      code: 'MESH_INJECT_NO_CLUSTER',
      suggestions: [IGNORE_HINT, ...error.suggestions],
      cause: error,
    })
  }
  try {
    const cm = await kube.core().readNamespacedConfigMap({name: MESH_CONFIG_MAP, namespace: ns})
    return configFromConfigMapData(cm.data, `ConfigMap ${ns}/${MESH_CONFIG_MAP}`)
  } catch (error) {
    if ((error as {code?: string}).code === 'MESH_INJECT_CONFIG') throw error
    if (apiStatus(error) === 404) {
      throw new ClusterError(`the cluster at ${kube.server} has no ConfigMap ${ns}/${MESH_CONFIG_MAP}: is mesh installed?`, {
        code: 'MESH_INJECT_NOT_INSTALLED',
        suggestions: ['Install the control plane with `mesh install | kubectl apply -f -`.', IGNORE_HINT],
      })
    }
    const status = apiStatus(error)
    const detail = status !== undefined ? `the API server answered ${status}` : (error as Error).message
    throw new ClusterError(`cannot read ConfigMap ${ns}/${MESH_CONFIG_MAP} from ${kube.server}: ${detail}`, {
      code: error instanceof TimeoutError ? error.code : 'MESH_INJECT_NO_CLUSTER',
      suggestions: [IGNORE_HINT, ...(error instanceof TimeoutError ? error.suggestions : ['Check the cluster with `kubectl get configmap -n mesh-system mesh-config`.'])],
      cause: error,
    })
  }
}
