// `--apply`: server-side apply, field manager `mesh`, one object at a time in the rendered
// (dependency) order: the namespace first, CRDs next (waiting until they are Established), the
// webhook last. Deletions go the other way. One progress line per object on stderr.
import {apiStatus, clusterError, type Kube} from '../k8s/client.js'
import type {Output} from '../lib/output.js'
import {FIELD_MANAGER} from '../protocol/control-plane.js'
import {describeObject} from './format.js'
import type {KubeObject} from './render.js'

export interface ApplyOptions {
  dryRun?: boolean
  /** How long to wait for a CRD to be Established (default 60 s). */
  establishTimeoutMs?: number
}

export type ApplyResult = 'created' | 'configured' | 'unchanged'

export async function applyObjects(kube: Kube, objects: KubeObject[], out: Output, opts: ApplyOptions = {}): Promise<Record<ApplyResult, number>> {
  const api = kube.objects()
  const counts: Record<ApplyResult, number> = {created: 0, configured: 0, unchanged: 0}
  const dryRun = opts.dryRun ? 'All' : undefined
  for (const obj of objects) {
    const name = describeObject(obj)
    let before: string | undefined
    try {
      before = (await api.read(header(obj))).metadata?.resourceVersion
    } catch (error) {
      if (apiStatus(error) !== 404) throw clusterError(`cannot read ${name}`, error, kube.server)
    }
    let after: KubeObject
    try {
      after = (await api.patch(modelForm(kube, obj), undefined, dryRun, FIELD_MANAGER, true, kube.k8s.PatchStrategy.ServerSideApply)) as KubeObject
    } catch (error) {
      throw clusterError(`cannot apply ${name}`, error, kube.server)
    }
    const result: ApplyResult = before === undefined ? 'created' : before === (after.metadata as {resourceVersion?: string}).resourceVersion ? 'unchanged' : 'configured'
    counts[result]++
    out.info(`${name} ${result}${opts.dryRun ? ' (server dry run)' : ''}`)
    if (obj.kind === 'CustomResourceDefinition' && !opts.dryRun) await waitEstablished(kube, obj, out, opts.establishTimeoutMs ?? 60_000)
  }
  return counts
}

/**
 * The client writes a built-in kind through its generated model, whose property names are not
 * always the wire's (`x-kubernetes-validations` is `x_kubernetes_validations`, `enum` is `_enum`,
 * `default` is `_default`), and drops keys the model does not name: sent as rendered, a CRD lost
 * its validation rules, enums and defaults (and a re-apply by kubectl changed it). The client's
 * own loadYaml reads the wire form into the model form (JSON is YAML).
 */
function modelForm(kube: Kube, obj: KubeObject): KubeObject {
  return kube.k8s.loadYaml<KubeObject>(JSON.stringify(obj))
}

function header(obj: KubeObject): {apiVersion: string; kind: string; metadata: {name: string; namespace?: string}} {
  return {apiVersion: obj.apiVersion, kind: obj.kind, metadata: {name: obj.metadata.name, ...(obj.metadata.namespace ? {namespace: obj.metadata.namespace} : {})}}
}

async function waitEstablished(kube: Kube, crd: KubeObject, out: Output, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const got = (await kube.objects().read(header(crd))) as {status?: {conditions?: {type: string; status: string}[]}}
    if (got.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) {
      out.info(`${describeObject(crd)} established`)
      return
    }
    if (Date.now() > deadline) throw clusterError(`${describeObject(crd)} was not Established within ${timeoutMs / 1000} s`, new Error('timeout'), kube.server)
    await new Promise((r) => setTimeout(r, 250))
  }
}

/** Deletes in reverse order; objects already gone count as deleted. */
export async function deleteObjects(kube: Kube, objects: KubeObject[], out: Output): Promise<{deleted: number; absent: number}> {
  const api = kube.objects()
  let deleted = 0
  let absent = 0
  for (const obj of [...objects].reverse()) {
    const name = describeObject(obj)
    try {
      await api.delete(header(obj), undefined, undefined, undefined, undefined, 'Background')
      deleted++
      out.info(`${name} deleted`)
    } catch (error) {
      if (apiStatus(error) !== 404) throw clusterError(`cannot delete ${name}`, error, kube.server)
      absent++
      out.info(`${name} not found`)
    }
  }
  return {deleted, absent}
}
