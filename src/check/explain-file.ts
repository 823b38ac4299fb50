// `mesh check --inject FILE`: for each workload in the file, would the webhook inject its pods,
// and why (the same decision src/inject makes). Namespace annotations come from Namespace
// objects in the file, else from the cluster when one is reachable, else none (said on stderr).
import {explainInjection, type Explanation} from '../inject/explain.js'
import {readSources} from '../inject/inputs.js'
import {parseSource} from '../inject/stream.js'
import type {KubeOptions} from '../k8s/client.js'
import type {Output} from '../lib/output.js'

export interface ExplainFileOptions {
  file: string
  /** -n: namespace for objects that name none. */
  namespace?: string
  controlPlaneNamespace: string
  kube: KubeOptions
  /** Read namespace annotations from the cluster (default true). */
  useCluster?: boolean
}

export interface WorkloadExplanation extends Explanation {
  /** file:document */
  source: string
  namespace: string
}

type Annotations = Record<string, string>
type Lookup = (ns: string) => Promise<Annotations | undefined>

export async function explainFile(o: ExplainFileOptions, out: Output): Promise<WorkloadExplanation[]> {
  const docs = (await readSources([o.file])).flatMap(parseSource)
  const fromFile = new Map<string, Annotations>()
  for (const d of docs) {
    const v = d.value as {kind?: unknown; metadata?: {name?: unknown; annotations?: Annotations}}
    if (v?.kind === 'Namespace' && typeof v.metadata?.name === 'string') fromFile.set(v.metadata.name, v.metadata.annotations ?? {})
  }
  const lookup = o.useCluster === false ? undefined : await clusterLookup(o, out)
  const defaultNs = o.namespace ?? lookup?.defaultNamespace ?? 'default'
  const cache = new Map<string, Annotations>()
  const annotationsOf = async (ns: string): Promise<Annotations> => {
    if (fromFile.has(ns)) return fromFile.get(ns)!
    if (!cache.has(ns)) cache.set(ns, (await lookup?.get(ns)) ?? {})
    return cache.get(ns)!
  }
  const result: WorkloadExplanation[] = []
  for (const d of docs) {
    const v = d.value as {kind?: unknown; items?: unknown[]; metadata?: {namespace?: string}}
    const items = v?.kind === 'List' && Array.isArray(v.items) ? v.items : [v]
    for (const item of items) {
      const ns = (item as {metadata?: {namespace?: string}})?.metadata?.namespace ?? defaultNs
      for (const e of explainInjection(item, await annotationsOf(ns), {namespace: ns, controlPlaneNamespace: o.controlPlaneNamespace})) {
        if (e.kind === 'namespace') continue
        result.push({...e, namespace: e.namespace ?? ns, source: `${d.source}:${d.index}`})
      }
    }
  }
  return result
}

async function clusterLookup(o: ExplainFileOptions, out: Output): Promise<{get: Lookup; defaultNamespace: string} | undefined> {
  const {loadKube, apiStatus} = await import('../k8s/client.js')
  let kube
  try {
    kube = await loadKube(o.kube)
  } catch (error) {
    out.info(`note: no cluster (${(error as Error).message}): namespace annotations come from the file only`)
    return undefined
  }
  // One failed read (not a 404) means the cluster is of no help: the other namespaces are not
  // asked, so a mute API server costs one --request-timeout, not one per namespace.
  let down = false
  const get: Lookup = async (name) => {
    if (down) return undefined
    try {
      const ns = await kube.core().readNamespace({name})
      return ns.metadata?.annotations ?? {}
    } catch (error) {
      if (apiStatus(error) !== 404) {
        down = true
        out.info(`note: cannot read namespace ${name} from ${kube.server} (${(error as Error).message.split('\n')[0]}): namespace annotations come from the file only`)
      }
      return undefined
    }
  }
  return {get, defaultNamespace: kube.namespace}
}

export async function renderExplanations(list: WorkloadExplanation[], format: 'table' | 'short' | 'json', out: Output): Promise<void> {
  if (format === 'json') {
    out.json({workloads: list.map((e) => ({source: e.source, kind: e.kind, namespace: e.namespace, name: e.name, inject: e.inject, reason: e.reason}))})
    return
  }
  if (list.length === 0) {
    out.info('no workloads in the input')
    return
  }
  const rows = list.map((e) => [e.kind, e.namespace, e.name, e.inject ? 'yes' : 'no', e.reason])
  out.stdout.write(await out.table(['KIND', 'NAMESPACE', 'NAME', 'INJECTED', 'REASON'], rows))
}
