// The routes the control plane knows, from either backend (the Kubernetes informers or the local
// file): each route's current object, validated, and the last version of it that validated (the
// one in force: a route updated into something invalid keeps its previous version applied).
// From these: the routes in force for a Service, and the status each route should show.
import type {Registry} from '../destination/registry.js'
import {admit, type InForceRoute} from '../../routes/policy.js'
import {backendProblem, CONTROLLER_NAME, type ServiceParent, type ValidatedRoute} from '../../routes/validate.js'
import {ChangeFanout} from '../destination/registry.js'

export interface RouteCondition {
  type: 'Accepted' | 'ResolvedRefs'
  status: 'True' | 'False'
  reason: string
  message: string
}

export interface ParentStatus {
  parentRef: Record<string, unknown>
  controllerName: string
  conditions: RouteCondition[]
}

interface Entry {
  current: ValidatedRoute
  /** The last version whose verdict was ok (the one applied). */
  good?: InForceRoute & {parents: ServiceParent[]}
}

const MAX_MESSAGE = 1024

function cap(s: string): string {
  return s.length > MAX_MESSAGE ? `${s.slice(0, MAX_MESSAGE - 3)}...` : s
}

export function routeKey(r: {kind: string; namespace: string; name: string}): string {
  return `${r.kind}/${r.namespace}/${r.name}`
}

/** Service ports from the registry: the ports of Service ns/name, or undefined when it does not exist. */
export function registryPorts(registry: Registry): (ns: string, name: string) => number[] | undefined {
  return (ns, name) => {
    const r = registry.resolve(ns, name, 0)
    if (r.kind === 'noService') return undefined
    if (r.kind === 'noPort') return r.ports
    // An ExternalName Service: it exists, but has no ports the mesh serves.
    return r.kind === 'external' ? [] : undefined
  }
}

export class RouteState {
  private readonly entries = new Map<string, Entry>()
  private readonly fanout = new ChangeFanout()

  /** A route was added or changed (`validated`), or deleted (undefined). Emits a change for its namespace. */
  set(key: string, namespace: string, validated: ValidatedRoute | undefined): void {
    if (!validated) {
      if (this.entries.delete(key)) this.fanout.emit(namespace)
      return
    }
    const before = this.entries.get(key)
    // A status write (or any event that changes nothing mesh reads) changes nothing here.
    if (before && JSON.stringify(before.current) === JSON.stringify(validated)) return
    const entry: Entry = {current: validated, good: before?.good}
    if (validated.verdict.ok) {
      entry.good = {...validated, rules: validated.verdict.rules, parents: validated.parents}
    }
    this.entries.set(key, entry)
    this.fanout.emit(namespace)
  }

  /** Every route of a kind goes (its CRD was removed). */
  clearKind(kind: string): void {
    const namespaces = new Set<string>()
    for (const [k, e] of this.entries) {
      if (e.current.kind !== kind) continue
      this.entries.delete(k)
      namespaces.add(e.current.namespace)
    }
    for (const ns of namespaces) this.fanout.emit(ns)
  }

  onChange(listener: (namespace: string) => void): () => void {
    return this.fanout.add(listener)
  }

  /** Routes known (tests, logs). */
  size(): number {
    return this.entries.size
  }

  /** The routes in force attached to Service ns/name (any port), before admission. */
  private attached(ns: string, name: string, ports: number[] | undefined): Array<InForceRoute & {parents: ServiceParent[]}> {
    if (!ports) return []
    const out: Array<InForceRoute & {parents: ServiceParent[]}> = []
    for (const e of this.entries.values()) {
      const g = e.good
      if (!g || g.namespace !== ns) continue
      if (g.parents.some((p) => usable(p, ns, name, ports))) out.push(g)
    }
    return out
  }

  /** The routes applied to Service port ns/name:port: attached, in force and admitted. */
  inForce(ns: string, name: string, port: number, servicePorts: (ns: string, name: string) => number[] | undefined): InForceRoute[] {
    const ports = servicePorts(ns, name)
    if (!ports?.includes(port)) return []
    const {admitted} = admit(this.attached(ns, name, ports))
    return admitted.filter((r) => r.parents.some((p) => usable(p, ns, name, ports) && (p.port === undefined || p.port === port)))
  }

  /** Every route currently known in a namespace (its current version). */
  routes(namespace?: string): ValidatedRoute[] {
    const out: ValidatedRoute[] = []
    for (const e of this.entries.values()) if (namespace === undefined || e.current.namespace === namespace) out.push(e.current)
    return out
  }

  /** The status.parents entries this controller owns for a route (one per Service parentRef). */
  status(key: string, servicePorts: (ns: string, name: string) => number[] | undefined): ParentStatus[] {
    const e = this.entries.get(key)
    if (!e) return []
    const r = e.current
    const resolved = resolvedRefs(r, servicePorts)
    return r.parents.map((p) => ({parentRef: p.ref, controllerName: CONTROLLER_NAME, conditions: [this.accepted(e, p, servicePorts), resolved]}))
  }

  private accepted(e: Entry, p: ServiceParent, servicePorts: (ns: string, name: string) => number[] | undefined): RouteCondition {
    const r = e.current
    const no = (reason: string, message: string): RouteCondition => ({type: 'Accepted', status: 'False', reason, message: cap(message)})
    if (p.problem) return no(p.problem.reason, p.problem.message)
    const ports = servicePorts(p.namespace, p.name)
    if (!ports) return no('NoMatchingParent', `Service ${p.namespace}/${p.name} not found`)
    if (p.port !== undefined && !ports.includes(p.port)) return no('NoMatchingParent', `Service ${p.namespace}/${p.name} has no port ${p.port} (ports: ${ports.join(', ') || 'none'})`)
    if (!r.verdict.ok) {
      const kept = e.good ? `; generation ${e.good.generation} stays in force` : '; the route is not applied'
      return no('UnsupportedValue', `${r.verdict.message}${kept}`)
    }
    const {refused} = admit(this.attached(p.namespace, p.name, ports))
    const mine = [...refused.entries()].find(([g]) => routeKey(g) === routeKey(r))
    if (mine) return no('UnsupportedValue', mine[1])
    const notes = r.verdict.notes.length ? `; ${r.verdict.notes.join('; ')}` : ''
    return {type: 'Accepted', status: 'True', reason: 'Accepted', message: cap(`applied to ${p.namespace}/${p.name}${p.port === undefined ? '' : `:${p.port}`} by mesh${notes}`)}
  }
}

function usable(p: ServiceParent, ns: string, name: string, ports: number[]): boolean {
  return !p.problem && p.namespace === ns && p.name === name && (p.port === undefined || ports.includes(p.port))
}

/** ResolvedRefs from the route's current backendRefs: the first problems, or True. */
function resolvedRefs(r: ValidatedRoute, servicePorts: (ns: string, name: string) => number[] | undefined): RouteCondition {
  const problems: Array<{problem: string; message: string}> = []
  for (const refs of r.backendRefs) for (const b of refs) {
    const p = backendProblem(b, r.namespace, servicePorts)
    if (p) problems.push(p)
  }
  if (problems.length === 0) return {type: 'ResolvedRefs', status: 'True', reason: 'ResolvedRefs', message: 'every backendRef resolves'}
  // One reason per condition: the first problem's; the message lists them all.
  return {type: 'ResolvedRefs', status: 'False', reason: problems[0]!.problem, message: cap(problems.map((p) => p.message).join('; '))}
}
