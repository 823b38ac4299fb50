// One pod's authorization policy (src/protocol/authz.ts) from what the controller knows: the
// pod, the Services whose ports target it, the routes in force on those Service ports, the
// AuthorizationPolicies of its namespace and the defaults. Pure: the controller, `mesh authz`
// and the tests all call this. Precedence of the default, most specific first:
//   1. the pod's (template's) config.mesh.dev/default-inbound-policy annotation;
//   2. its proxy's MESH_PROXY_INBOUND_POLICY (the config.mesh.dev/inbound-policy annotation of
//      the pod or its namespace, as injected): all-unauthenticated / all-authenticated as is,
//      identities:<id>,... as `deny` except those identities;
//   3. the namespace's config.mesh.dev/default-inbound-policy annotation;
//   4. the cluster's (mesh install --set policy.defaultInbound=..., the controller's flag).
import {createHash} from 'node:crypto'
import type {AuthzDefault, AuthzOperation, AuthzPolicy, AuthzRouteRef, AuthzRouteTable, AuthzRule, DefaultInboundPolicy} from '../protocol/authz.js'
import {AUTHZ_POLICY_MAX_BYTES, AUTHZ_POLICY_VERSION, DEFAULT_INBOUND_POLICY_ANNOTATION} from '../protocol/authz.js'
import {compilePolicy, type InForceRoute} from '../routes/policy.js'
import {isIdentityName} from './identity.js'
import {workloadDefaultAnnotation, type PodFacts} from './pod.js'
import {selectorMatches} from './selector.js'
import {parseDefaultInbound, type PolicyOperation, type ValidatedPolicy} from './validate.js'

/** One port of a Service whose target is a port of this pod. */
export interface ServicePortOnPod {
  service: string
  port: number
  podPort: number
}

export interface CompileInput {
  pod: PodFacts
  /** The AuthorizationPolicies of the pod's namespace (refused ones are skipped). */
  policies: readonly ValidatedPolicy[]
  /** The Service ports that target this pod (Services of its namespace whose selector selects it). */
  services: readonly ServicePortOnPod[]
  /** The routes in force attached to Service `name` port `port` (the pod's namespace). */
  routesFor?: (service: string, port: number) => readonly InForceRoute[]
  clusterDefault: DefaultInboundPolicy
  /** The pod's Namespace's annotations (undefined when unknown). */
  namespaceAnnotations?: Readonly<Record<string, string>>
  /** Canonical CIDRs of the cluster's networks. */
  clusterNetworks: readonly string[]
  clusterDomain?: string
}

/** The legacy inbound policy value to a default, or undefined when it does not parse. */
export function legacyDefault(value: string): AuthzDefault | undefined {
  const v = value.trim()
  if (v === '' || v === 'all-unauthenticated') return {policy: 'all-unauthenticated', source: 'inbound-policy'}
  if (v === 'all-authenticated') return {policy: 'all-authenticated', source: 'inbound-policy'}
  if (!v.startsWith('identities:')) return undefined
  const ids = v.slice('identities:'.length).split(',').map((s) => s.trim().toLowerCase()).filter((s) => s.length > 0)
  if (ids.length === 0 || ids.length > 1000 || !ids.every(isIdentityName)) return undefined
  return {policy: 'deny', source: 'inbound-policy', identities: [...new Set(ids)].sort()}
}

/** The pod's default inbound policy and where it came from; `notes` gets what was ignored. */
export function resolveDefault(pod: PodFacts, namespaceAnnotations: Readonly<Record<string, string>> | undefined, clusterDefault: DefaultInboundPolicy, notes: string[] = []): AuthzDefault {
  const own = workloadDefaultAnnotation(pod)
  if (own !== undefined) {
    const p = parseDefaultInbound(own)
    if (p) {
      if (pod.legacyInboundPolicy !== undefined) notes.push(`the pod sets both ${DEFAULT_INBOUND_POLICY_ANNOTATION} (which applies) and config.mesh.dev/inbound-policy "${pod.legacyInboundPolicy}" (ignored by the controller's policy)`)
      return {policy: p, source: 'workload'}
    }
    notes.push(`the pod's ${DEFAULT_INBOUND_POLICY_ANNOTATION} "${own.slice(0, 60)}" is not one of deny, audit, all-authenticated, cluster-authenticated, all-unauthenticated: ignored`)
  }
  if (pod.legacyInboundPolicy !== undefined) {
    const d = legacyDefault(pod.legacyInboundPolicy)
    if (d) return d
    notes.push(`the proxy's MESH_PROXY_INBOUND_POLICY "${pod.legacyInboundPolicy.slice(0, 60)}" does not parse: ignored`)
  }
  const nsValue = namespaceAnnotations?.[DEFAULT_INBOUND_POLICY_ANNOTATION]
  if (nsValue !== undefined) {
    const p = parseDefaultInbound(nsValue)
    if (p) return {policy: p, source: 'namespace'}
    notes.push(`namespace ${pod.namespace}'s ${DEFAULT_INBOUND_POLICY_ANNOTATION} "${nsValue.slice(0, 60)}" is not a default inbound policy: ignored`)
  }
  return {policy: clusterDefault, source: 'cluster'}
}

function owns(p: ValidatedPolicy & {verdict: {ok: true}}, pod: PodFacts): boolean {
  const t = p.verdict.spec.target
  if (t.kind !== 'workload') return false
  if ('selector' in t) return selectorMatches(t.selector, pod.labels)
  const owner = pod.owner ?? {kind: 'Pod' as const, name: pod.name}
  if (t.workloadKind === 'Pod') return t.name === pod.name
  return t.name === owner.name && (t.workloadKind === undefined || t.workloadKind === owner.kind)
}

/** A `to` entry with its named ports resolved on this pod (an unresolvable name is dropped and noted). */
function resolveOperation(op: PolicyOperation, pod: PodFacts, where: string, notes: string[]): AuthzOperation {
  const out: AuthzOperation = {}
  if (op.ports) {
    const ports = new Set<number>()
    for (const p of op.ports) {
      if (typeof p === 'number') ports.add(p)
      else {
        const found = pod.containerPorts.filter((c) => c.name === p)
        if (found.length === 0) notes.push(`${where}: port "${p}" names no container port of pod ${pod.name}; it allows nothing there`)
        for (const c of found) ports.add(c.port)
      }
    }
    // Present and empty: this entry matches no port (never "any port").
    out.ports = [...ports].sort((a, b) => a - b)
  }
  if (op.methods) out.methods = [...op.methods]
  if (op.paths) out.paths = op.paths.map((p) => ({...p}))
  return out
}

function routeRef(r: {kind: 'HTTPRoute' | 'GRPCRoute'; namespace: string; name: string}): AuthzRouteRef {
  return {kind: r.kind, namespace: r.namespace, name: r.name}
}

/** The route table of one pod port: every route in force on a Service port targeting it, in precedence. */
function routeTable(podPort: number, input: CompileInput): AuthzRouteTable {
  const byKey = new Map<string, InForceRoute>()
  const svcs = input.services.filter((s) => s.podPort === podPort)
  for (const s of svcs) for (const r of input.routesFor?.(s.service, s.port) ?? []) byKey.set(`${r.kind}/${r.namespace}/${r.name}`, r)
  const first = svcs[0]
  const compiled = compilePolicy({
    service: {namespace: input.pod.namespace, name: first?.service ?? 'none', port: first?.port ?? podPort},
    clusterDomain: input.clusterDomain ?? 'cluster.local',
    routes: [...byKey.values()],
    servicePorts: () => undefined,
  })
  const entry = (e: {match: unknown; rule: number}) => ({match: e.match as AuthzRouteTable['http'][number]['match'], route: routeRef(compiled.rules[e.rule]!.route)})
  return {port: podPort, http: compiled.http.map(entry), grpc: compiled.grpc.map(entry)}
}

function rulesFor(input: CompileInput, notes: string[]): {rules: AuthzRule[]; tables: AuthzRouteTable[]; policies: AuthzPolicy['policies']} {
  const {pod} = input
  const rules: AuthzRule[] = []
  const routePorts = new Set<number>()
  const policies: AuthzPolicy['policies'] = []
  const sorted = [...input.policies].filter((p) => p.namespace === pod.namespace).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  for (const p of sorted) {
    if (!p.verdict.ok) continue
    const spec = p.verdict.spec
    const t = spec.target
    let target: AuthzRule['target'] | undefined
    if (t.kind === 'workload') {
      if (owns(p as ValidatedPolicy & {verdict: {ok: true}}, pod)) target = {kind: 'workload'}
    } else if (t.kind === 'service') {
      const ports = [...new Set(input.services.filter((s) => s.service === t.name && (t.port === undefined || s.port === t.port)).map((s) => s.podPort))].sort((a, b) => a - b)
      if (ports.length > 0) target = {kind: 'service', ports}
    } else {
      const ports = new Set<number>()
      let route: InForceRoute | undefined
      for (const s of input.services) {
        const r = input.routesFor?.(s.service, s.port).find((x) => x.kind === t.routeKind && x.name === t.name)
        if (r) {
          route = r
          ports.add(s.podPort)
        }
      }
      if (route) {
        for (const port of ports) routePorts.add(port)
        target = {kind: 'route', ports: [...ports].sort((a, b) => a - b), route: routeRef(route)}
      }
    }
    if (!target) continue
    const where = `policy ${p.namespace}/${p.name}`
    rules.push({
      policy: {namespace: p.namespace, name: p.name},
      mode: spec.mode,
      target,
      from: spec.from.map((s) => structuredClone(s)),
      to: spec.to.map((op, i) => resolveOperation(op, pod, `${where} spec.to[${i}]`, notes)),
    })
    policies.push({namespace: p.namespace, name: p.name, mode: spec.mode, generation: p.generation})
  }
  const tables = [...routePorts].sort((a, b) => a - b).map((port) => routeTable(port, input))
  return {rules, tables, policies}
}

function revisionOf(body: Omit<AuthzPolicy, 'revision' | 'notes'>): string {
  return createHash('sha256').update(JSON.stringify(body)).digest('hex').slice(0, 16)
}

/** The authorization policy a pod's proxy receives. */
export function compileAuthz(input: CompileInput): AuthzPolicy {
  const {pod} = input
  const notes: string[] = []
  const def = resolveDefault(pod, input.namespaceAnnotations, input.clusterDefault, notes)
  const {rules, tables, policies} = rulesFor(input, notes)
  const body: Omit<AuthzPolicy, 'revision' | 'notes'> = {
    version: AUTHZ_POLICY_VERSION,
    workload: {namespace: pod.namespace, pod: pod.name, serviceAccount: pod.serviceAccount, identity: pod.identity},
    default: def,
    clusterNetworks: [...input.clusterNetworks],
    probes: pod.probes.map((p) => ({...p})),
    routes: tables,
    rules,
    policies,
  }
  let policy: AuthzPolicy = {...body, revision: revisionOf(body)}
  if (notes.length > 0) policy.notes = notes.slice(0, 100)
  const size = Buffer.byteLength(JSON.stringify(policy))
  if (size > AUTHZ_POLICY_MAX_BYTES - 1024) {
    // Fail closed: dropping any one rule could let in what another covers; refuse everything
    // but the probes, and say why.
    const closed: Omit<AuthzPolicy, 'revision' | 'notes'> = {...body, default: {policy: 'deny', source: def.source}, routes: [], rules: [], policies: []}
    policy = {...closed, revision: revisionOf(closed), notes: [`the policies of this pod come to ${size} bytes, over the bound of ${AUTHZ_POLICY_MAX_BYTES}: everything but the kubelet probes is denied until they are smaller (${policies.map((p) => `${p.namespace}/${p.name}`).slice(0, 20).join(', ')})`]}
  }
  return policy
}
