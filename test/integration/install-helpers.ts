// Shared by the install and injector cluster suites: clients for the test cluster, the mesh
// CLI run in process against it, and a clean removal of the control plane (this cluster has
// no namespace controller, so a deleted namespace is finalized here once it is empty).
import {AppsV1Api, CoreV1Api, KubeConfig, KubernetesObjectApi} from '@kubernetes/client-node'
import {testCluster} from '../cluster/cluster.js'
import {CONTROL_PLANE_NAMESPACE, ControlPlane} from '../../src/protocol/control-plane.js'
import {controllerPod, setPodStatus} from '../check/cluster-fixtures.js'
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

/** `mesh check -o json`: the exit code and, per check id, "success" or "<result>: <error>". */
export async function checkResults(...args: string[]): Promise<{exitCode: number; results: Record<string, string>}> {
  const r = await mesh('check', '-o', 'json', ...args)
  const doc = JSON.parse(r.stdout) as {categories: Array<{checks: Array<{id: string; result: string; error: string}>}>}
  return {exitCode: r.exitCode, results: Object.fromEntries(doc.categories.flatMap((c) => c.checks).map((c) => [c.id, c.result === 'success' ? 'success' : `${c.result}: ${c.error}`]))}
}

/** A Running, Ready pod of the installed controller Deployment (no kubelet here): what the pod and version checks read. */
export async function controllerPodReady(name: string): Promise<void> {
  const deploy = await kc.makeApiClient(AppsV1Api).readNamespacedDeployment({name: ControlPlane.controller, namespace: CONTROL_PLANE_NAMESPACE})
  const pod = controllerPod(CONTROL_PLANE_NAMESPACE, name, deploy.spec!.template.spec!.containers[0]!.image!)
  await core.createNamespacedPod({namespace: CONTROL_PLANE_NAMESPACE, body: pod})
  await setPodStatus(kc, pod, true)
}
