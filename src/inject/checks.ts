// The checks run on every pod template before injection. Checks are data: each has a
// description (reported as passed with --verbose), and yields refusals or warnings.
import {FOREIGN_SIDECARS} from './constants.js'
import {AnnotationValueError, resolveOptions, type ProxyOptions} from './options.js'
import type {MeshConfig} from './config.js'
import type {PodTemplate} from './pod-spec.js'
import type {Obj} from './sidecar.js'

export interface CheckOutcome {
  /** Descriptions of the checks that passed. */
  passed: string[]
  /** Reasons the template must not be injected (exit 1). */
  refusals: string[]
  warnings: string[]
}

interface Check {
  description: string
  run(template: PodTemplate): {refusal?: string; warnings?: string[]}
}

function containers(spec: Obj | undefined): Obj[] {
  const list = [...(Array.isArray(spec?.initContainers) ? spec.initContainers : []), ...(Array.isArray(spec?.containers) ? spec.containers : [])]
  return list.filter((c): c is Obj => c !== null && typeof c === 'object')
}

export const CHECKS: Check[] = [
  {
    description: 'pods do not use host networking',
    run: (t) => (t.spec?.hostNetwork === true
      ? {refusal: 'pods use host networking (hostNetwork: true), so the proxy would intercept the node\'s traffic'}
      : {}),
  },
  {
    description: 'pods do not carry another mesh\'s sidecar',
    run: (t) => {
      const found = containers(t.spec).map((c) => c.name as string).filter((n) => n in FOREIGN_SIDECARS)
      if (found.length === 0) return {}
      const meshes = [...new Set(found.map((n) => FOREIGN_SIDECARS[n]))].join(' and ')
      return {refusal: `pods already carry ${meshes}'s sidecar (${found.map((n) => `container "${n}"`).join(', ')})`}
    },
  },
  {
    description: 'pods do not expose UDP ports',
    run: (t) => {
      const warnings: string[] = []
      for (const c of containers(t.spec)) {
        for (const p of Array.isArray(c.ports) ? (c.ports as Obj[]) : []) {
          if (p?.protocol === 'UDP') warnings.push(`container "${String(c.name)}" port ${String(p.containerPort)}/UDP is not proxied: UDP traffic bypasses the mesh`)
        }
      }
      return {warnings}
    },
  },
]

export const CONFIG_CHECK = 'config.mesh.dev annotations are valid'

/** Runs the checks, then resolves the proxy options from the annotation layers. */
export function checkTemplate(template: PodTemplate, config: MeshConfig, layers: (Obj | undefined)[]): CheckOutcome & {options?: ProxyOptions} {
  const outcome: CheckOutcome & {options?: ProxyOptions} = {passed: [], refusals: [], warnings: []}
  for (const check of CHECKS) {
    const r = check.run(template)
    if (r.refusal) outcome.refusals.push(r.refusal)
    else if (r.warnings && r.warnings.length > 0) outcome.warnings.push(...r.warnings)
    else outcome.passed.push(check.description)
  }
  try {
    const {options, unknown} = resolveOptions(config, layers)
    outcome.options = options
    for (const key of unknown) outcome.warnings.push(`annotation ${key} is not a known option and has no effect`)
    if (unknown.length === 0) outcome.passed.push(CONFIG_CHECK)
  } catch (error) {
    if (!(error instanceof AnnotationValueError)) throw error
    outcome.refusals.push(error.message)
  }
  return outcome
}
