// The pure transform of one pod template ({metadata, spec}): inject the sidecar, or take out
// exactly what an injection added. Inputs are never mutated; outputs are fresh objects.
import {Annotation, CONFIG_PREFIX, IDENTITY_END_ENTITY_VOLUME, IDENTITY_TOKEN_VOLUME, INIT_CONTAINER, Label, PREFIX, PROXY_CONTAINER} from './constants.js'
import type {ProxyOptions} from './options.js'
import type * as k8s from '@kubernetes/client-node'
import {podProbes} from '../authz/pod.js'
import {identityVolumes, inboundPortsToIgnore, initContainer, proxyContainer, type Obj, type Workload} from './sidecar.js'

export interface PodTemplate {
  metadata?: Obj
  spec?: Obj
}

export interface TemplateInjection {
  options: ProxyOptions
  workload: Workload
  /** Proxy as a native sidecar (init container, restartPolicy Always). */
  native: boolean
  /** `mesh/cli <version>` or `mesh/injector <version>`. */
  createdBy: string
  /** Value for `mesh.dev/workload-ns`, when known. */
  workloadNamespace?: string
  /** `config.mesh.dev/*` keys written from flags in this run (recorded for uninject). */
  flagKeys?: string[]
  /** Mark an ingress controller (`mesh.dev/inject: ingress`). */
  ingress?: boolean
}

const MESH_CONTAINERS = new Set([PROXY_CONTAINER, INIT_CONTAINER])
const MESH_VOLUMES = new Set([IDENTITY_END_ENTITY_VOLUME, IDENTITY_TOKEN_VOLUME])

export function isInjected(template: PodTemplate): boolean {
  const spec = template.spec ?? {}
  return [...asArray(spec.containers), ...asArray(spec.initContainers)].some((c) => c?.name === PROXY_CONTAINER)
}

/** Label values: at most 63 characters, alphanumeric at both ends. */
function isLabelValue(v: string): boolean {
  return v.length <= 63 && /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/.test(v)
}

function asArray(v: unknown): Obj[] {
  return Array.isArray(v) ? (v as Obj[]) : []
}

function setOrDrop(target: Obj, key: string, value: Obj | Obj[]): void {
  const empty = Array.isArray(value) ? value.length === 0 : Object.keys(value).length === 0
  if (empty) delete target[key]
  else target[key] = value
}

function flagKeysOf(annotations: Obj): string[] {
  const raw = annotations[Annotation.CONFIG_FROM_FLAGS]
  return typeof raw === 'string' ? raw.split(',').filter((k) => k !== '') : []
}

/**
 * Removes what an injection added. `forReinject` keeps the user-facing settings (the inject
 * annotation and every config.mesh.dev/* annotation) so a re-injection updates in place.
 */
export function uninjectTemplate(template: PodTemplate, forReinject = false): PodTemplate {
  const out: PodTemplate = structuredClone(template)
  const spec = out.spec
  if (spec && typeof spec === 'object') {
    for (const key of ['containers', 'initContainers']) {
      if (!Array.isArray(spec[key])) continue
      const kept = (spec[key] as Obj[]).filter((c) => !MESH_CONTAINERS.has(c?.name))
      if (key === 'containers') spec[key] = kept
      else setOrDrop(spec, key, kept)
    }
    if (Array.isArray(spec.volumes)) setOrDrop(spec, 'volumes', (spec.volumes as Obj[]).filter((v) => !MESH_VOLUMES.has(v?.name)))
  }
  const meta = out.metadata
  if (meta && typeof meta === 'object') {
    if (meta.annotations && typeof meta.annotations === 'object') {
      const annotations = meta.annotations as Obj
      const fromFlags = new Set(flagKeysOf(annotations))
      const kept: Obj = {}
      for (const [k, v] of Object.entries(annotations)) {
        if (k === Annotation.INJECT && (forReinject || v === 'disabled')) kept[k] = v
        else if (k === Annotation.CONFIG_FROM_FLAGS && forReinject) kept[k] = v
        else if (k.startsWith(PREFIX + '/')) continue
        else if (k.startsWith(CONFIG_PREFIX + '/') && fromFlags.has(k) && !forReinject) continue
        else kept[k] = v
      }
      setOrDrop(meta, 'annotations', kept)
    }
    if (meta.labels && typeof meta.labels === 'object') {
      setOrDrop(meta, 'labels', Object.fromEntries(Object.entries(meta.labels as Obj).filter(([k]) => !k.startsWith(PREFIX + '/'))))
    }
    // Injection creates the template's metadata when it has none; take it out again.
    if (Object.keys(meta).length === 0 && !forReinject) delete out.metadata
  }
  return out
}

/** Injects (or re-injects in place) the sidecar into a pod template. */
export function injectTemplate(template: PodTemplate, t: TemplateInjection): PodTemplate {
  const out = uninjectTemplate(template, true)
  const meta: Obj = (out.metadata ??= {})
  const spec: Obj = (out.spec ??= {})
  const annotations: Obj = {...meta.annotations}
  annotations[Annotation.PROXY_VERSION] = t.options.version
  annotations[Annotation.IDENTITY_MODE] = 'default'
  annotations[Annotation.CREATED_BY] = t.createdBy
  if (t.ingress) annotations[Annotation.INJECT] = 'ingress'
  recordFlagKeys(annotations, t.flagKeys)
  meta.annotations = annotations
  const labels: Obj = {...meta.labels}
  labels[Label.CONTROL_PLANE_NS] = t.options.controlPlaneNamespace
  if (t.workload.name && isLabelValue(t.workload.name)) labels[Label.proxyOwner(t.workload.kind)] = t.workload.name
  if (t.workloadNamespace && isLabelValue(t.workloadNamespace)) labels[Label.WORKLOAD_NS] = t.workloadNamespace
  meta.labels = labels

  // The probes the proxy will see (not on skipped ports; HTTPS, a host or an opaque port it cannot read: mesh check says so).
  const {probes} = podProbes({spec} as k8s.V1Pod, {ignoredPorts: inboundPortsToIgnore(t.options).join(','), opaquePorts: t.options.opaquePorts.join(',')})
  const proxy = proxyContainer(t.options, t.workload, t.native, probes)
  const userInit = asArray(spec.initContainers)
  const userContainers = asArray(spec.containers)
  spec.initContainers = t.native ? [initContainer(t.options), proxy, ...userInit] : [initContainer(t.options), ...userInit]
  spec.containers = t.native ? userContainers : [proxy, ...userContainers]
  spec.volumes = [...asArray(spec.volumes), ...identityVolumes()]
  return out
}

/** `--annotate-only`: the inject annotation (and flag annotations) for the webhook to act on. */
export function annotateTemplate(template: PodTemplate, ingress: boolean, flagKeys: string[] | undefined): PodTemplate {
  const out: PodTemplate = structuredClone(template)
  const meta: Obj = (out.metadata ??= {})
  const annotations: Obj = {...meta.annotations}
  if (ingress || annotations[Annotation.INJECT] !== 'enabled') annotations[Annotation.INJECT] = ingress ? 'ingress' : 'enabled'
  recordFlagKeys(annotations, flagKeys)
  meta.annotations = annotations
  return out
}

function recordFlagKeys(annotations: Obj, flagKeys: string[] | undefined): void {
  const keys = [...new Set([...flagKeysOf(annotations), ...(flagKeys ?? [])])].sort()
  if (keys.length > 0) annotations[Annotation.CONFIG_FROM_FLAGS] = keys.join(',')
}
