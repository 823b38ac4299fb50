// Everything the proxy's /metrics shows, in one call: the Linkerd families (fed by the returned
// observer), process_* and mesh_proxy_build_info.
import {meshVersion} from '../lib/version.js'
import {ProxyEnv} from '../protocol/proxy-env.js'
import {registerBuildInfo, registerProcessMetrics} from './process.js'
import {ProxyMetricsObserver, type ProxyMetricsOptions} from './proxy-observer.js'
import {Registry} from './registry.js'

const WORKLOAD_KINDS = new Set(['deployment', 'statefulset', 'daemonset', 'replicaset', 'job', 'cronjob', 'replicationcontroller'])

export interface ProxyMetrics {
  registry: Registry
  observer: ProxyMetricsObserver
}

export function createProxyMetrics(options: ProxyMetricsOptions & {version?: string} = {}): ProxyMetrics {
  const registry = new Registry()
  const observer = new ProxyMetricsObserver(registry, options)
  registerProcessMetrics(registry)
  registerBuildInfo(registry, options.version ?? meshVersion(), {node_version: process.version})
  return {registry, observer}
}

/** The local pod's labels, from MESH_PROXY_POD_NAMESPACE / POD_NAME / WORKLOAD_KIND / WORKLOAD_NAME. */
export function localLabelsFromEnv(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const labels: Record<string, string> = {}
  const ns = env[ProxyEnv.POD_NAMESPACE]
  const pod = env[ProxyEnv.POD_NAME]
  const kind = env[ProxyEnv.WORKLOAD_KIND]?.toLowerCase()
  const workload = env[ProxyEnv.WORKLOAD_NAME]
  if (ns) labels.namespace = ns
  if (pod) labels.pod = pod
  if (kind && WORKLOAD_KINDS.has(kind) && workload) labels[kind] = workload
  return labels
}
