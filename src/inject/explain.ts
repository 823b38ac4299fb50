// `mesh check --inject`: for each workload in an object (or List), whether the webhook would
// inject its pods and why.
import {CONTROL_PLANE_NAMESPACE} from './constants.js'
import {decide} from './decision.js'
import type {Obj} from './sidecar.js'
import {TEMPLATE_PATHS} from './workloads.js'

export interface Explanation {
  kind: string
  name: string
  namespace?: string
  inject: boolean
  reason: string
}

export interface ExplainOptions {
  /** Namespace for objects that name none. */
  namespace?: string
  controlPlaneNamespace?: string
}

export function explainInjection(object: unknown, nsAnnotations: Record<string, string> = {}, opts: ExplainOptions = {}): Explanation[] {
  if (object === null || typeof object !== 'object' || Array.isArray(object)) return []
  const obj = object as Obj
  if (obj.kind === 'List' && Array.isArray(obj.items)) return obj.items.flatMap((i: unknown) => explainInjection(i, nsAnnotations, opts))
  const kind = typeof obj.kind === 'string' ? obj.kind : 'Unknown'
  const name = String(obj.metadata?.name ?? obj.metadata?.generateName ?? '<unnamed>')
  const namespace = (obj.metadata?.namespace as string | undefined) ?? opts.namespace
  const path = TEMPLATE_PATHS[kind]
  if (!path) return [{kind: kind.toLowerCase(), name, namespace, inject: false, reason: `kind ${kind} has no pods to inject`}]
  let template: unknown = obj
  for (const k of path) template = (template as Obj | undefined)?.[k]
  const t = (template ?? {}) as Obj
  const d = decide({
    template: {metadata: t.metadata, spec: t.spec},
    namespace,
    namespaceAnnotations: nsAnnotations,
    controlPlaneNamespace: opts.controlPlaneNamespace ?? CONTROL_PLANE_NAMESPACE,
  })
  return [{kind: kind.toLowerCase(), name, namespace, inject: d.inject, reason: d.reason}]
}
