// The webhook's entry point: a Pod (as the AdmissionReview carries it) plus its namespace's
// annotations and the config in; the decision, the report and an RFC 6902 patch out.
import {CONFIG_PREFIX} from './constants.js'
import type {MeshConfig} from './config.js'
import {decide, type Decision} from './decision.js'
import {diff, type JsonPatchOp} from './json-patch.js'
import {newReport, type ResourceReport} from './report.js'
import type {Obj} from './sidecar.js'
import {PodSpecError} from './validate.js'
import {transformObject} from './workloads.js'

export interface AdmissionInput {
  pod: Obj
  /** The request's namespace (pods being created often carry none in metadata). */
  namespace: string
  namespaceAnnotations?: Record<string, string>
  config: MeshConfig
  /** `mesh/injector <version>` */
  createdBy: string
  native?: boolean
}

export interface AdmissionResult {
  decision: Decision
  /** Empty when the pod is not injected. */
  patch: JsonPatchOp[]
  report?: ResourceReport
}

/** The workload that owns a pod, from its controller ownerReference. */
export function podOwner(pod: Obj): {kind: string; name: string} | undefined {
  const refs = Array.isArray(pod.metadata?.ownerReferences) ? (pod.metadata.ownerReferences as Obj[]) : []
  const ctl = refs.find((r) => r?.controller === true)
  if (!ctl || typeof ctl.kind !== 'string' || typeof ctl.name !== 'string') return undefined
  const hash = pod.metadata?.labels?.['pod-template-hash'] as unknown
  if (ctl.kind === 'ReplicaSet' && typeof hash === 'string' && ctl.name.endsWith(`-${hash}`)) {
    return {kind: 'Deployment', name: ctl.name.slice(0, -hash.length - 1)}
  }
  return {kind: ctl.kind, name: ctl.name}
}

export function injectPodForAdmission(input: AdmissionInput): AdmissionResult {
  const pod = input.pod
  const decision = decide({
    template: {metadata: pod.metadata, spec: pod.spec},
    namespace: input.namespace,
    namespaceAnnotations: input.namespaceAnnotations,
    controlPlaneNamespace: input.config.controlPlaneNamespace,
  })
  if (!decision.inject) return {decision, patch: []}
  const nsConfig = Object.fromEntries(Object.entries(input.namespaceAnnotations ?? {}).filter(([k]) => k.startsWith(CONFIG_PREFIX + '/')))
  const owner = podOwner(pod)
  // Inject as the owning workload would be, so labels and metrics name the workload.
  const subject: Obj = owner
    ? {apiVersion: 'v1', kind: owner.kind, metadata: {name: owner.name, namespace: input.namespace}, spec: {template: {metadata: pod.metadata, spec: pod.spec}}}
    : {...pod, metadata: {...pod.metadata, namespace: input.namespace}}
  const reports: ResourceReport[] = []
  let out: Obj
  try {
    out = transformObject(subject, {
      mode: 'inject',
      config: input.config,
      createdBy: input.createdBy,
      native: input.native ?? true,
      annotateOnly: false,
      ingress: decision.mode === 'ingress',
      flagAnnotations: {},
      namespaceAnnotations: nsConfig,
    }, reports) as Obj
  } catch (error) {
    if (!(error instanceof PodSpecError)) throw error
    // The API server decodes pods before admission, so this is rare; say which field anyway.
    const reason = `${error.field.replace(/^spec\.template\./, '')} ${error.problem}`
    const report = reports[0] ?? newReport('pod', String(pod.metadata?.name ?? '<unnamed>'))
    report.status = 'refused'
    report.refusals.push(reason)
    return {decision: {inject: false, reason}, patch: [], report}
  }
  const report = reports[0]
  if (report.status !== 'injected') {
    return {decision: {inject: false, reason: report.refusals.join('; ') || 'not injectable'}, patch: [], report}
  }
  const template = (owner ? out.spec.template : out) as Obj
  const after = {...pod, metadata: template.metadata, spec: template.spec}
  if (pod.metadata?.namespace === undefined) delete (after.metadata as Obj).namespace
  return {decision, patch: diff(pod, after), report}
}
