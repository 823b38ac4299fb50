// The per-kind walkers: where each kind keeps its pod template, and the transform of one
// object (a workload, a Namespace, a List of them, or anything else, which passes through).
import {Annotation} from './constants.js'
import {checkTemplate} from './checks.js'
import type {MeshConfig} from './config.js'
import {annotateTemplate, injectTemplate, isInjected, uninjectTemplate, type PodTemplate} from './pod-spec.js'
import {label, newReport, type ResourceReport} from './report.js'
import {PodSpecError, requireContainers, templateAt, validateTemplate} from './validate.js'
import type {Obj} from './sidecar.js'

/** Path from the object to its pod template; [] means the object is the pod. */
export const TEMPLATE_PATHS: Record<string, string[]> = {
  Deployment: ['spec', 'template'],
  StatefulSet: ['spec', 'template'],
  DaemonSet: ['spec', 'template'],
  ReplicaSet: ['spec', 'template'],
  ReplicationController: ['spec', 'template'],
  Job: ['spec', 'template'],
  CronJob: ['spec', 'jobTemplate', 'spec', 'template'],
  Pod: [],
}

export interface TransformOptions {
  mode: 'inject' | 'uninject'
  config: MeshConfig
  createdBy: string
  native: boolean
  annotateOnly: boolean
  ingress: boolean
  /** `config.mesh.dev/*` annotations to write on every pod template (from flags). */
  flagAnnotations: Record<string, string>
  /** Namespace for objects that name none (the -n flag), for `mesh.dev/workload-ns`. */
  defaultNamespace?: string
  /** The namespace's annotations (webhook): config.mesh.dev/* there apply below the workload's. */
  namespaceAnnotations?: Record<string, string>
}

function isObj(v: unknown): v is Obj {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
}

function getPath(o: Obj, path: string[]): unknown {
  let cur: unknown = o
  for (const k of path) cur = isObj(cur) ? cur[k] : undefined
  return cur
}

function withPath(o: Obj, path: string[], value: Obj): Obj {
  if (path.length === 0) return value
  const [head, ...rest] = path
  return {...o, [head]: withPath(isObj(o[head]) ? o[head] : {}, rest, value)}
}

interface Described {
  kind: string
  /** For the report: the name, the generateName prefix, or `<unnamed>`. */
  name: string
  /** The object's own name, when it has one. */
  objectName?: string
  namespace?: string
}

function describe(obj: unknown, index: number): Described {
  if (!isObj(obj) || typeof obj.kind !== 'string') return {kind: 'document', name: String(index + 1)}
  const meta = isObj(obj.metadata) ? obj.metadata : {}
  const objectName = typeof meta.name === 'string' && meta.name !== '' ? meta.name : undefined
  const name = objectName ?? (typeof meta.generateName === 'string' ? meta.generateName : '<unnamed>')
  return {kind: obj.kind.toLowerCase(), name, objectName, namespace: typeof meta.namespace === 'string' ? meta.namespace : undefined}
}

/** Transforms one object (recursing into `kind: List`), appending one report per resource. */
export function transformObject(obj: unknown, opts: TransformOptions, reports: ResourceReport[], index = 0): unknown {
  if (isObj(obj) && obj.kind === 'List' && Array.isArray(obj.items)) {
    return {...obj, items: obj.items.map((item, i) => {
      try {
        return transformObject(item, opts, reports, i)
      } catch (error) {
        if (error instanceof PodSpecError) throw error.within(`items[${i}]`)
        throw error
      }
    })}
  }
  const d = describe(obj, index)
  const report = newReport(d.kind, d.name, d.namespace)
  reports.push(report)
  if (!isObj(obj)) return obj
  try {
    return transformKnown(obj, d, path0(obj), opts, report)
  } catch (error) {
    if (error instanceof PodSpecError) error.subject ??= label(report)
    throw error
  }
}

function path0(obj: Obj): string[] | undefined {
  return typeof obj.kind === 'string' ? TEMPLATE_PATHS[obj.kind] : undefined
}

/** A Namespace or a workload: checked for what the transform reads or writes, then transformed. */
function transformKnown(obj: Obj, d: Described, path: string[] | undefined, opts: TransformOptions, report: ResourceReport): unknown {
  if (obj.kind !== 'Namespace' && !path) return obj
  validateMetadata(obj.metadata)
  if (obj.kind === 'Namespace') return transformNamespace(obj, opts, report)
  const template = path!.length === 0 ? obj : templateAt(obj, path!)
  if (template !== undefined) validateTemplate(template, path!.join('.'))
  if (!isObj(template) || !isObj(template.spec)) {
    report.warnings.push('has no pod template; left unchanged')
    return obj
  }
  const next = transformTemplate({metadata: template.metadata, spec: template.spec}, obj, d, opts, report, path!.join('.'))
  if (!next) return obj
  const merged = path!.length === 0 ? {...obj, metadata: next.metadata, spec: next.spec} : withPath(obj, path!, {...template, metadata: next.metadata, spec: next.spec})
  if (next.metadata === undefined) delete (path!.length === 0 ? merged : getPath(merged, path!) as Obj).metadata
  return merged
}

function transformNamespace(ns: Obj, opts: TransformOptions, report: ResourceReport): Obj {
  const meta = isObj(ns.metadata) ? ns.metadata : {}
  const annotations = isObj(meta.annotations) ? meta.annotations : {}
  const current = annotations[Annotation.INJECT]
  if (opts.mode === 'uninject') {
    if (current === undefined || current === 'disabled') return ns
    const {[Annotation.INJECT]: _drop, ...rest} = annotations
    const {annotations: _a, ...metaRest} = meta
    report.status = 'uninjected'
    return {...ns, metadata: Object.keys(rest).length > 0 ? {...metaRest, annotations: rest} : metaRest}
  }
  if (current === 'disabled') {
    report.warnings.push(`${Annotation.INJECT}: disabled on the namespace; left unchanged`)
    return ns
  }
  report.status = 'annotated'
  const value = opts.ingress ? 'ingress' : current === 'ingress' ? 'ingress' : 'enabled'
  return {...ns, metadata: {...meta, annotations: {...annotations, [Annotation.INJECT]: value}}}
}

/** The object's own metadata, when it has any: a mapping whose annotations and labels map to strings. */
function validateMetadata(meta: unknown): void {
  if (meta !== undefined && meta !== null) validateTemplate({metadata: meta}, '')
}

function transformTemplate(template: PodTemplate, obj: Obj, d: Described, opts: TransformOptions, report: ResourceReport, at: string): PodTemplate | undefined {
  const templateAnnotations = isObj(template.metadata?.annotations) ? template.metadata.annotations as Obj : {}
  if (opts.mode === 'uninject') {
    if (!isInjected(template) && !Object.keys(templateAnnotations).some((k) => k.startsWith('mesh.dev/')) && !isObj(template.metadata?.labels)) return undefined
    const out = uninjectTemplate(template)
    if (JSON.stringify(out) === JSON.stringify(template)) return undefined
    report.status = 'uninjected'
    return out
  }
  const workloadAnnotations = obj.kind === 'Pod' ? undefined : isObj(obj.metadata) && isObj(obj.metadata.annotations) ? obj.metadata.annotations : undefined
  const injectValue = templateAnnotations[Annotation.INJECT] ?? workloadAnnotations?.[Annotation.INJECT]
  if (injectValue === 'disabled') {
    report.warnings.push(`${Annotation.INJECT}: disabled on the ${templateAnnotations[Annotation.INJECT] ? 'pod template' : 'workload'}; left unchanged`)
    return undefined
  }
  const flagKeys = Object.keys(opts.flagAnnotations).filter((k) => templateAnnotations[k] === undefined || String(templateAnnotations[Annotation.CONFIG_FROM_FLAGS] ?? '').split(',').includes(k))
  const withFlags: PodTemplate = {...template, metadata: {...template.metadata, annotations: {...templateAnnotations, ...opts.flagAnnotations}}}
  const outcome = checkTemplate(withFlags, opts.config, [opts.namespaceAnnotations, workloadAnnotations, withFlags.metadata?.annotations])
  report.passed.push(...outcome.passed)
  report.warnings.push(...outcome.warnings)
  if (outcome.refusals.length > 0 || !outcome.options) {
    report.status = 'refused'
    report.refusals.push(...outcome.refusals)
    return undefined
  }
  if (opts.annotateOnly) {
    report.status = 'annotated'
    return annotateTemplate(withFlags, opts.ingress, flagKeys)
  }
  requireContainers(template.spec, at)
  report.status = 'injected'
  return injectTemplate(withFlags, {
    options: outcome.options,
    workload: {kind: d.kind, name: d.objectName},
    native: opts.native,
    createdBy: opts.createdBy,
    workloadNamespace: d.namespace ?? opts.defaultNamespace,
    flagKeys,
    ingress: opts.ingress,
  })
}
