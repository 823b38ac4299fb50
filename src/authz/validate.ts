// An AuthorizationPolicy (policy.mesh.dev/v1alpha1) as mesh reads it: untrusted JSON (from the
// API server, whose CRD schema checked most of this already, or from the local registry file,
// which nothing checked) to a validated policy, or the one reason it is refused. Everything the
// CRD's schema and CEL rules refuse is refused here too (an old or edited CRD, or a local file,
// may let anything through), plus what CEL cannot say: CIDRs with host bits set, regexes RE2
// cannot compile or that are too large, repeated entries.
import type {AuthzSource, DefaultInboundPolicy} from '../protocol/authz.js'
import {DEFAULT_INBOUND_POLICIES} from '../protocol/authz.js'
import type {PathMatch} from '../protocol/routes.js'
import {identityName} from '../protocol/proxy-env.js'
import {compileRegex} from '../routes/regex.js'
import {formatCidr, MAX_CIDR_LENGTH, parseCidr} from './cidr.js'
import {DNS_LABEL, DNS_SUBDOMAIN, identityPatternProblem, namespaceIdentitySuffix} from './identity.js'
import {validateSelector, type LabelSelector} from './selector.js'
import {AUTHZ_LIMITS, HTTP_METHODS, WORKLOAD_KINDS, type WorkloadKind} from './limits.js'

export {AUTHZ_LIMITS, HTTP_METHODS, WORKLOAD_KINDS, type WorkloadKind} from './limits.js'

export type PolicyTarget =
  | {kind: 'workload'; name: string; workloadKind?: WorkloadKind}
  | {kind: 'workload'; selector: LabelSelector}
  | {kind: 'service'; name: string; port?: number}
  | {kind: 'route'; routeKind: 'HTTPRoute' | 'GRPCRoute'; name: string}

/** A `to` entry with its ports still as written (named ports are resolved per pod). */
export interface PolicyOperation {
  ports?: Array<number | string>
  methods?: string[]
  paths?: PathMatch[]
}

export interface ValidPolicySpec {
  mode: 'enforce' | 'audit'
  target: PolicyTarget
  /** serviceAccounts and namespaces already written as identities and identity patterns. */
  from: AuthzSource[]
  to: PolicyOperation[]
}

export interface ValidatedPolicy {
  namespace: string
  name: string
  generation: number
  /** metadata.creationTimestamp in ms (0 when unknown). */
  created: number
  verdict: {ok: true; spec: ValidPolicySpec} | {ok: false; message: string}
}

export interface ValidateOptions {
  controlPlaneNamespace?: string
  trustDomain?: string
}

class Refused extends Error {}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

/** A value as the user wrote it, short, whatever it is (never throws: objects may lack a prototype). */
function show(v: unknown): string {
  let text: string | undefined
  try {
    text = JSON.stringify(v)
  } catch {
    text = undefined
  }
  return (text ?? typeof v).slice(0, 40)
}

function refuse(at: string, problem: string): never {
  throw new Refused(`${at} ${problem}`)
}

function onlyKeys(o: Record<string, unknown>, at: string, known: readonly string[]): void {
  for (const k of Object.keys(o)) if (!known.includes(k)) refuse(`${at}.${k.slice(0, 60)}`, `is not a field of AuthorizationPolicy (known here: ${known.join(', ')})`)
}

function list(v: unknown, at: string, max: number, required = false): unknown[] | undefined {
  if (v === undefined || v === null) {
    if (required) refuse(at, 'is required')
    return undefined
  }
  if (!Array.isArray(v)) refuse(at, 'must be a list')
  if (v.length === 0) refuse(at, 'must not be empty (leave it out instead)')
  if (v.length > max) refuse(at, `has ${v.length} entries; at most ${max}`)
  return v
}

function name(v: unknown, at: string, label = false): string {
  if (typeof v !== 'string' || v.length === 0) refuse(at, 'must be a non-empty string')
  if (v.length > (label ? 63 : AUTHZ_LIMITS.nameBytes)) refuse(at, `is longer than ${label ? 63 : AUTHZ_LIMITS.nameBytes} characters`)
  if (!(label ? DNS_LABEL : DNS_SUBDOMAIN).test(v)) refuse(at, `"${v.slice(0, 80)}" is not a valid ${label ? 'namespace name (a DNS label)' : 'name (a lower-case DNS subdomain)'}`)
  return v
}

function unique<T>(items: T[], at: string, key: (t: T) => string = String): T[] {
  const seen = new Set<string>()
  items.forEach((t, i) => {
    const k = key(t)
    if (seen.has(k)) refuse(`${at}[${i}]`, `repeats ${JSON.stringify(k).slice(0, 80)}`)
    seen.add(k)
  })
  return items
}

/** Repeats dropped (the schema does not refuse them, and they change nothing). */
function dedupe<T>(items: T[], key: (t: T) => string = String): T[] {
  const seen = new Set<string>()
  return items.filter((t) => {
    const k = key(t)
    if (seen.has(k)) return false
    seen.add(k)
    return true
  })
}

function target(v: unknown, at: string): PolicyTarget {
  if (!isObj(v)) refuse(at, 'is required: a mapping with one of workload, service or route')
  onlyKeys(v, at, ['workload', 'service', 'route'])
  const given = ['workload', 'service', 'route'].filter((k) => v[k] !== undefined && v[k] !== null)
  if (given.length !== 1) refuse(at, `must name exactly one of workload, service or route (it names ${given.length === 0 ? 'none' : given.join(' and ')})`)
  if (given[0] === 'workload') {
    const w = v.workload
    const here = `${at}.workload`
    if (!isObj(w)) refuse(here, 'must be a mapping')
    onlyKeys(w, here, ['kind', 'name', 'selector'])
    const hasName = w.name !== undefined && w.name !== null
    const hasSelector = w.selector !== undefined && w.selector !== null
    if (hasName === hasSelector) refuse(here, 'needs exactly one of name or selector')
    if (hasSelector) {
      if (w.kind !== undefined) refuse(`${here}.kind`, 'goes with name, not with selector')
      return {kind: 'workload', selector: validateSelector(w.selector, `${here}.selector`, (a, p) => refuse(a, p))}
    }
    const out: PolicyTarget = {kind: 'workload', name: name(w.name, `${here}.name`)}
    if (w.kind !== undefined) {
      if (!WORKLOAD_KINDS.includes(w.kind as WorkloadKind)) refuse(`${here}.kind`, `${show(w.kind)} is not one of ${WORKLOAD_KINDS.join(', ')}`)
      out.workloadKind = w.kind as WorkloadKind
    }
    return out
  }
  if (given[0] === 'service') {
    const s = v.service
    const here = `${at}.service`
    if (!isObj(s)) refuse(here, 'must be a mapping')
    onlyKeys(s, here, ['name', 'port'])
    const out: PolicyTarget = {kind: 'service', name: name(s.name, `${here}.name`)}
    if (s.port !== undefined && s.port !== null) out.port = port(s.port, `${here}.port`)
    return out
  }
  const r = v.route
  const here = `${at}.route`
  if (!isObj(r)) refuse(here, 'must be a mapping')
  onlyKeys(r, here, ['kind', 'name'])
  const kind = r.kind ?? 'HTTPRoute'
  if (kind !== 'HTTPRoute' && kind !== 'GRPCRoute') refuse(`${here}.kind`, `${show(kind)} is not HTTPRoute or GRPCRoute`)
  return {kind: 'route', routeKind: kind, name: name(r.name, `${here}.name`)}
}

function port(v: unknown, at: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 65535) refuse(at, 'must be a port number from 1 to 65535')
  return v
}

/** A port number, or a container port name (an IANA service name: 1-15 characters, a letter among them). */
function portOrName(v: unknown, at: string): number | string {
  if (typeof v === 'number') return port(v, at)
  if (typeof v !== 'string' || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(v) || v.length > 15 || !/[a-z]/.test(v) || v.includes('--')) {
    refuse(at, `${JSON.stringify(v).slice(0, 40)} is neither a port number (1-65535) nor a container port name`)
  }
  return v
}

function cidr(v: unknown, at: string): string {
  if (typeof v !== 'string') refuse(at, 'must be a string (a CIDR such as 10.0.0.0/8)')
  if (v.length > MAX_CIDR_LENGTH) refuse(at, `is longer than ${MAX_CIDR_LENGTH} characters`)
  const r = parseCidr(v)
  if (!r.ok) refuse(at, r.problem.replace(/^"[^"]*" /, `"${v}" `))
  return formatCidr(r.cidr)
}

function source(v: unknown, at: string, ns: string, cp: string, td: string): AuthzSource {
  if (!isObj(v)) refuse(at, 'must be a mapping')
  onlyKeys(v, at, ['identities', 'serviceAccounts', 'namespaces', 'networks'])
  const ids: string[] = []
  const identities = list(v.identities, `${at}.identities`, AUTHZ_LIMITS.identities)
  identities?.forEach((id, i) => {
    const problem = identityPatternProblem(id)
    if (problem) refuse(`${at}.identities[${i}]`, problem)
    ids.push(id as string)
  })
  if (identities) unique(identities, `${at}.identities`)
  const sas = list(v.serviceAccounts, `${at}.serviceAccounts`, AUTHZ_LIMITS.serviceAccounts)
  sas?.forEach((sa, i) => {
    const here = `${at}.serviceAccounts[${i}]`
    if (!isObj(sa)) refuse(here, 'must be a mapping with a name (and a namespace)')
    onlyKeys(sa, here, ['name', 'namespace'])
    const saNs = sa.namespace === undefined || sa.namespace === null ? ns : name(sa.namespace, `${here}.namespace`, true)
    ids.push(identityName(name(sa.name, `${here}.name`), saNs, cp, td))
  })
  const nss = list(v.namespaces, `${at}.namespaces`, AUTHZ_LIMITS.namespaces)
  nss?.forEach((n, i) => ids.push(`*.${namespaceIdentitySuffix(name(n, `${at}.namespaces[${i}]`, true), cp, td)}`))
  if (nss) unique(nss, `${at}.namespaces`)
  const out: AuthzSource = {}
  if (ids.length > 0) out.identities = [...new Set(ids)]
  const nets = list(v.networks, `${at}.networks`, AUTHZ_LIMITS.networks)
  if (nets) {
    out.networks = nets.map((n, i) => {
      const here = `${at}.networks[${i}]`
      if (!isObj(n)) refuse(here, 'must be a mapping with a cidr (and except)')
      onlyKeys(n, here, ['cidr', 'except'])
      const net: {cidr: string; except?: string[]} = {cidr: cidr(n.cidr, `${here}.cidr`)}
      const except = list(n.except, `${here}.except`, AUTHZ_LIMITS.except)
      if (except) net.except = dedupe(except.map((x, j) => cidr(x, `${here}.except[${j}]`)))
      return net
    })
    out.networks = dedupe(out.networks, (n) => JSON.stringify(n))
  }
  if (!out.identities && !out.networks) refuse(at, 'needs at least one of identities, serviceAccounts, namespaces or networks')
  return out
}

function pathMatch(v: unknown, at: string): PathMatch {
  if (!isObj(v)) refuse(at, 'must be a mapping with a value (and a type)')
  onlyKeys(v, at, ['type', 'value'])
  const type = v.type ?? 'PathPrefix'
  const value = v.value
  if (typeof value !== 'string' || value.length === 0) refuse(`${at}.value`, 'must be a non-empty string')
  if (value.length > AUTHZ_LIMITS.pathBytes) refuse(`${at}.value`, `is longer than ${AUTHZ_LIMITS.pathBytes} characters`)
  if (type === 'RegularExpression') {
    const c = compileRegex(value)
    if (!c.ok) refuse(`${at}.value`, c.problem)
    return {type: 'regex', value}
  }
  if (type !== 'Exact' && type !== 'PathPrefix') refuse(`${at}.type`, `${show(type)} is not Exact, PathPrefix or RegularExpression`)
  if (!value.startsWith('/')) refuse(`${at}.value`, `"${value.slice(0, 60)}" must start with /`)
  if (!/^\/[!-~]*$/.test(value) || /[?#]/.test(value)) refuse(`${at}.value`, `${show(value)} is not a path as requests carry it: printable ASCII (percent-encode the rest), no ?, # or spaces`)
  if (type === 'Exact') return {type: 'exact', value}
  return {type: 'prefix', value: value.length > 1 ? value.replace(/\/+$/, '') || '/' : value}
}

function operation(v: unknown, at: string): PolicyOperation {
  if (!isObj(v)) refuse(at, 'must be a mapping')
  onlyKeys(v, at, ['ports', 'methods', 'paths'])
  const op: PolicyOperation = {}
  const ports = list(v.ports, `${at}.ports`, AUTHZ_LIMITS.ports)
  if (ports) op.ports = dedupe(ports.map((p, i) => portOrName(p, `${at}.ports[${i}]`)))
  const methods = list(v.methods, `${at}.methods`, AUTHZ_LIMITS.methods)
  if (methods) {
    op.methods = unique(methods.map((m, i) => {
      if (!HTTP_METHODS.includes(m as never)) refuse(`${at}.methods[${i}]`, `${JSON.stringify(m).slice(0, 40)} is not one of ${HTTP_METHODS.join(', ')}`)
      return m as string
    }), `${at}.methods`)
  }
  const paths = list(v.paths, `${at}.paths`, AUTHZ_LIMITS.paths)
  if (paths) op.paths = dedupe(paths.map((p, i) => pathMatch(p, `${at}.paths[${i}]`)), (p) => `${p.type}:${p.value}`)
  if (!op.ports && !op.methods && !op.paths) refuse(at, 'needs at least one of ports, methods or paths (leave `to` out to allow everything the target covers)')
  return op
}

/** The spec of an AuthorizationPolicy in namespace `ns`, or throws Refused naming the field. */
function validateSpec(spec: unknown, ns: string, cp: string, td: string): ValidPolicySpec {
  if (!isObj(spec)) refuse('spec', 'is required')
  onlyKeys(spec, 'spec', ['target', 'from', 'to', 'mode'])
  const mode = spec.mode ?? 'enforce'
  if (mode !== 'enforce' && mode !== 'audit') refuse('spec.mode', `${show(mode)} is not enforce or audit`)
  const t = target(spec.target, 'spec.target')
  const from = list(spec.from, 'spec.from', AUTHZ_LIMITS.from, true)!.map((f, i) => source(f, `spec.from[${i}]`, ns, cp, td))
  const to = (list(spec.to, 'spec.to', AUTHZ_LIMITS.to) ?? []).map((o, i) => operation(o, `spec.to[${i}]`))
  return {mode, target: t, from, to}
}

/** Reads one AuthorizationPolicy; undefined when it has no namespace and name (not an object at all). */
export function validatePolicy(obj: unknown, o: ValidateOptions = {}): ValidatedPolicy | undefined {
  if (!isObj(obj)) return undefined
  const meta = isObj(obj.metadata) ? obj.metadata : {}
  if (typeof meta.name !== 'string' || typeof meta.namespace !== 'string') return undefined
  const created = typeof meta.creationTimestamp === 'string' ? Date.parse(meta.creationTimestamp) : meta.creationTimestamp instanceof Date ? meta.creationTimestamp.getTime() : 0
  const out: ValidatedPolicy = {
    namespace: meta.namespace,
    name: meta.name,
    generation: typeof meta.generation === 'number' ? meta.generation : 1,
    created: Number.isFinite(created) ? created : 0,
    verdict: {ok: false, message: ''},
  }
  try {
    out.verdict = {ok: true, spec: validateSpec(obj.spec, meta.namespace, o.controlPlaneNamespace ?? 'mesh-system', o.trustDomain ?? 'cluster.local')}
  } catch (err) {
    if (!(err instanceof Refused)) throw err
    out.verdict = {ok: false, message: err.message}
  }
  return out
}

/** A default inbound policy value (install value, annotation), or undefined when it is not one. */
export function parseDefaultInbound(v: unknown): DefaultInboundPolicy | undefined {
  const s = typeof v === 'string' ? v.trim() : ''
  return (DEFAULT_INBOUND_POLICIES as readonly string[]).includes(s) ? (s as DefaultInboundPolicy) : undefined
}
