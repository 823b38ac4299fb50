// Whether a pod (or a workload's pod template) is injected by the webhook, and why: the pod's
// `mesh.dev/inject` wins over its namespace's; the control plane namespace and the system
// namespaces are never injected. Shared by the webhook and `mesh check --inject`.
import {Annotation, NEVER_INJECTED_NAMESPACES} from './constants.js'
import {isInjected, type PodTemplate} from './pod-spec.js'

export interface Decision {
  inject: boolean
  /** `ingress` when the pod or namespace says so. */
  mode?: 'enabled' | 'ingress'
  reason: string
}

export interface DecisionInput {
  template: PodTemplate
  namespace?: string
  namespaceAnnotations?: Record<string, string>
  controlPlaneNamespace: string
}

export function decide(input: DecisionInput): Decision {
  const ns = input.namespace
  if (ns !== undefined && (ns === input.controlPlaneNamespace || NEVER_INJECTED_NAMESPACES.includes(ns))) {
    return {inject: false, reason: `namespace "${ns}" is never injected`}
  }
  if (isInjected(input.template)) return {inject: false, reason: 'the pod already carries the mesh-proxy sidecar'}
  if (input.template.spec?.hostNetwork === true) return {inject: false, reason: 'the pod uses host networking (hostNetwork: true)'}
  const podValue = input.template.metadata?.annotations?.[Annotation.INJECT] as unknown
  const nsValue = input.namespaceAnnotations?.[Annotation.INJECT]
  const on = (v: unknown): v is 'enabled' | 'ingress' => v === 'enabled' || v === 'ingress'
  if (podValue !== undefined) {
    if (on(podValue)) return {inject: true, mode: podValue, reason: `the pod has ${Annotation.INJECT}: ${podValue}`}
    return {inject: false, reason: `the pod has ${Annotation.INJECT}: ${String(podValue)}`}
  }
  const where = ns === undefined ? 'its namespace' : `namespace "${ns}"`
  if (on(nsValue)) return {inject: true, mode: nsValue, reason: `${where} has ${Annotation.INJECT}: ${nsValue}`}
  if (nsValue !== undefined) return {inject: false, reason: `${where} has ${Annotation.INJECT}: ${nsValue}`}
  return {inject: false, reason: `neither the pod nor ${where} has ${Annotation.INJECT}: enabled`}
}
