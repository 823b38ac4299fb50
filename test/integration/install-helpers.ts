// Shared by the install and injector cluster suites: clients for the test cluster, the mesh
// CLI run in process against it, and a clean removal of the control plane (this cluster has
// no namespace controller, so a deleted namespace is finalized here once it is empty).
import {CoreV1Api, KubeConfig, KubernetesObjectApi} from '@kubernetes/client-node'
import {testCluster} from '../cluster/cluster.js'
import {CONTROL_PLANE_NAMESPACE} from '../../src/protocol/control-plane.js'
import {eventually} from '../helpers/eventually.js'
import {runMesh, type RunResult} from '../helpers/run.js'
import {identityArgs} from '../install/helpers.js'

export const cluster = testCluster()

export function kubeConfig(): KubeConfig {
  const kc = new KubeConfig()
  kc.loadFromFile(cluster.kubeconfigPath)
  kc.setCurrentContext('admin')
  return kc
}

export const kc = kubeConfig()
export const core = kc.makeApiClient(CoreV1Api)
export const objects = KubernetesObjectApi.makeApiClient(kc)

/** `mesh <args> --kubeconfig <test cluster>`. */
export function mesh(...args: string[]): Promise<RunResult> {
  return runMesh([...args, '--kubeconfig', cluster.kubeconfigPath])
}

export const fixtureIdentity = identityArgs()

/** Deletes the control plane (if any) and waits until its namespace is gone. */
export async function removeControlPlane(): Promise<void> {
  const r = await mesh('uninstall', '--apply', '--force')
  if (r.exitCode !== 0) throw new Error(`mesh uninstall failed: ${r.stderr}`)
  await finalizeNamespace(CONTROL_PLANE_NAMESPACE)
}

/** What the namespace controller would do: delete the namespace's pods, then drop its finalizer. */
export async function finalizeNamespace(name: string): Promise<void> {
  await core.deleteCollectionNamespacedPod({namespace: name, gracePeriodSeconds: 0}).catch((error: unknown) => {
    if ((error as {code?: number}).code !== 404) throw error
  })
  await eventually(`namespace ${name} to be gone`, async () => {
    let ns
    try {
      ns = await core.readNamespace({name})
    } catch (error) {
      if ((error as {code?: number}).code === 404) return true
      throw error
    }
    if (!ns.metadata?.deletionTimestamp) await core.deleteNamespace({name})
    else await core.replaceNamespaceFinalize({name, body: {...ns, spec: {finalizers: []}}})
    return undefined
  }, {timeoutMs: 60_000})
}
