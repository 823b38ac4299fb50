/**
 * vitest globalSetup for the cluster suites (vitest.cluster.config.ts): starts one test cluster
 * for the whole run and stops it in teardown.
 *
 * Test workers find it through environment variables set here before any worker starts
 * (workers inherit process.env):
 *   MESH_TEST_CLUSTER     path of a JSON ClusterInfo (read it with testCluster() from ./cluster.js)
 *   MESH_TEST_KUBECONFIG  kubeconfig path (contexts 'admin' (current) and 'restricted')
 *   MESH_CLUSTER_BIN      directory with kube-apiserver, kubectl, etcd
 * The same values are also provided as inject('meshCluster') / inject('kubeconfig').
 */
import type {TestProject} from 'vitest/node'
import {CLUSTER_INFO_ENV, KUBECONFIG_ENV, startCluster, writeClusterInfo} from './cluster.js'
import type {Cluster} from './cluster.js'

declare module 'vitest' {
  export interface ProvidedContext {
    kubeconfig: string
    meshCluster: string
  }
}

let cluster: Cluster | undefined

export async function setup(project: TestProject): Promise<void> {
  cluster = await startCluster()
  const infoFile = writeClusterInfo(cluster)
  process.env[CLUSTER_INFO_ENV] = infoFile
  process.env[KUBECONFIG_ENV] = cluster.kubeconfigPath
  process.env['MESH_CLUSTER_BIN'] = cluster.binDir
  project.provide('kubeconfig', cluster.kubeconfigPath)
  project.provide('meshCluster', infoFile)
}

export async function teardown(): Promise<void> {
  const c = cluster
  cluster = undefined
  if (!c) return
  if (process.env['MESH_CLUSTER_KEEP_LOGS']) {
    process.stderr.write(`[test-cluster] logs:\n${c.logs(80)}\n`)
  }
  await c.stop()
  for (const k of [CLUSTER_INFO_ENV, KUBECONFIG_ENV]) delete process.env[k]
}
