// Validation of HTTPRoute and GRPCRoute objects (gateway.networking.k8s.io/v1) whose parent is
// a Service (GAMMA): from untrusted JSON (the API server, or the local registry file) to the
// parts the policy compiler needs, or the one reason the route cannot be applied. Every field
// mesh does not implement is named in that reason (Accepted=False, UnsupportedValue): nothing
// is silently ignored. Bounds are checked here whatever the installed CRD enforced (an older or
// edited CRD, or a local file, may let anything through).
import type {BackendProblem, GrpcMethodMatch, HeaderMatch, HeaderModifier, PathMatch, QueryParamMatch, RouteMatch, RoutePolicyRule, StringMatchType} from '../protocol/routes.js'
import {GRPC_STATUS_CODES} from '../protocol/routes.js'
import {parseGatewayDuration} from './duration.js'
import {compileRegex} from './regex.js'

export const GATEWAY_GROUP = 'gateway.networking.k8s.io'
export const GATEWAY_VERSION = 'v1'
/** status.parents[].controllerName of the entries this controller writes. */
export const CONTROLLER_NAME = 'mesh.dev/controller'
export type RouteKind = 'HTTPRoute' | 'GRPCRoute'

/** The Gateway API release the tests install (test/cluster/gateway-api/go.mod). */
export const GATEWAY_API_TESTED_VERSION = 'v1.6.3'
/** How a user installs the Gateway API CRDs (they belong to the cluster: mesh never does). */
export const GATEWAY_API_INSTALL = `kubectl apply --server-side -f https://github.com/kubernetes-sigs/gateway-api/releases/download/${GATEWAY_API_TESTED_VERSION}/standard-install.yaml`

/** Annotations that configure retries on a route whose CRD has no `retry` field (standard channel). */
export const RETRY_ANNOTATIONS = {
  http: 'retry.mesh.dev/http',
  grpc: 'retry.mesh.dev/grpc',
  limit: 'retry.mesh.dev/limit',
  timeout: 'retry.mesh.dev/timeout',
} as const

/** Bounds (the standard CRD's own, enforced again here). */
export const LIMITS = {
  parentRefs: 32,
  rules: 16,
  matchesPerRule: 64,
  matchesPerRoute: 128,
  headersPerMatch: 16,
  queryParamsPerMatch: 16,
  filtersPerRule: 16,
  headerModifierEntries: 16,
  backendRefsPerRule: 16,
  pathBytes: 1024,
  headerNameBytes: 256,
  headerValueBytes: 4096,
  queryValueBytes: 1024,
  grpcNameBytes: 1024,
  nameBytes: 253,
  retryAttempts: 10,
  weight: 1_000_000,
} as const

/** Headers a route may not set, add or remove: they frame the message or are per hop. */
const FRAMING_HEADERS = new Set(['connection', 'content-length', 'transfer-encoding', 'keep-alive', 'upgrade', 'te', 'trailer', 'proxy-connection', 'host'])
const HTTP_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH'])
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/

/** A parentRef that names a Service (group "" or "core", kind Service): ours to serve and report on. */
export interface ServiceParent {
  /** The parentRef exactly as written (status.parents[].parentRef repeats it). */
  ref: Record<string, unknown>
  namespace: string
  name: string
  port?: number
  /** Why this parent cannot be used, whatever the rest of the route says. */
  problem?: {reason: 'UnsupportedValue' | 'NoMatchingParent'; message: string}
}

export interface BackendRefSpec {
  group: string
  kind: string
  name: string
  namespace: string
  port?: number
  weight: number
}

export interface ValidRule {
  index: number
  name?: string
  matches: RouteMatch[]
  /** The rule's policy without its backends (those are resolved against the cluster). */
  policy: Omit<RoutePolicyRule, 'backends' | 'route'>
}

export interface RouteIdentity {
  kind: RouteKind
  namespace: string
  name: string
  /** metadata.generation (1 in the local file). */
  generation: number
  /** metadata.creationTimestamp in ms (0 when absent): older routes take precedence. */
  created: number
}

export interface ValidatedRoute extends RouteIdentity {
  /** Its Service parentRefs (parentRefs to Gateways and others are not ours). */
  parents: ServiceParent[]
  /** backendRefs per rule, read leniently so ResolvedRefs can be reported even when the route is refused. */
  backendRefs: BackendRefSpec[][]
  verdict: {ok: true; rules: ValidRule[]; notes: string[]} | {ok: false; message: string}
}

class Refused extends Error {}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

function refuse(at: string, problem: string): never {
  throw new Refused(`${at} ${problem}`)
}

function str(v: unknown, at: string, maxBytes: number, required = false): string | undefined {
  if (v === undefined || v === null) {
    if (required) refuse(at, 'is required')
    return undefined
  }
  if (typeof v !== 'string') refuse(at, 'must be a string')
  if (Buffer.byteLength(v) > maxBytes) refuse(at, `is longer than ${maxBytes} bytes`)
  return v
}

function list(v: unknown, at: string, max: number): unknown[] {
  if (v === undefined || v === null) return []
  if (!Array.isArray(v)) refuse(at, 'must be a list')
  if (v.length > max) refuse(at, `has ${v.length} entries; at most ${max} are supported`)
  return v
}

function int(v: unknown, at: string, min: number, max: number): number | undefined {
  if (v === undefined || v === null) return undefined
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) refuse(at, `must be an integer from ${min} to ${max}`)
  return v
}

/** Refuses keys outside `known`, naming the unsupported ones (`supported` says what is). */
function onlyKeys(o: Record<string, unknown>, at: string, known: readonly string[], unsupported: Record<string, string> = {}): void {
  for (const k of Object.keys(o)) {
    if (known.includes(k)) continue
    const why = unsupported[k]
    refuse(`${at}.${k}`, why ?? `is not supported by mesh (supported here: ${known.join(', ')})`)
  }
}

function headerName(v: unknown, at: string): string {
  const name = str(v, at, LIMITS.headerNameBytes, true)!
  if (!TOKEN.test(name)) refuse(at, `"${name.slice(0, 60)}" is not an HTTP header name`)
  return name.toLowerCase()
}

function headerValue(v: unknown, at: string, maxBytes: number): string {
  const value = str(v, at, maxBytes, true)!
  if (/[\r\n\0]/.test(value)) refuse(at, 'contains CR, LF or NUL')
  return value
}

function matchType(v: unknown, at: string): StringMatchType {
  if (v === undefined || v === null || v === 'Exact') return 'exact'
  if (v === 'RegularExpression') return 'regex'
  refuse(at, `"${String(v).slice(0, 40)}" is not supported (Exact or RegularExpression)`)
}

function regexOk(pattern: string, at: string): void {
  const c = compileRegex(pattern)
  if (!c.ok) refuse(at, c.problem)
}

function stringMatches<T extends HeaderMatch | QueryParamMatch>(v: unknown, at: string, max: number, header: boolean, notes: string[]): T[] {
  const out: T[] = []
  const seen = new Set<string>()
  list(v, at, max).forEach((raw, i) => {
    const here = `${at}[${i}]`
    if (!isObj(raw)) refuse(here, 'must be a mapping')
    onlyKeys(raw, here, ['name', 'type', 'value'])
    const name = header ? headerName(raw.name, `${here}.name`) : str(raw.name, `${here}.name`, LIMITS.headerNameBytes, true)!
    if (!header && name.length === 0) refuse(`${here}.name`, 'must not be empty')
    const type = matchType(raw.type, `${here}.type`)
    const value = headerValue(raw.value, `${here}.value`, header ? LIMITS.headerValueBytes : LIMITS.queryValueBytes)
    if (type === 'regex') regexOk(value, `${here}.value`)
    // Gateway API: only the first of several entries with an equivalent name is considered.
    if (seen.has(name)) {
      notes.push(`${here} repeats the name "${name}": only the first entry counts`)
      return
    }
    seen.add(name)
    out.push({name, type, value} as T)
  })
  return out
}

function pathMatch(v: unknown, at: string): PathMatch {
  if (v === undefined || v === null) return {type: 'prefix', value: '/'}
  if (!isObj(v)) refuse(at, 'must be a mapping')
  onlyKeys(v, at, ['type', 'value'])
  const type = v.type ?? 'PathPrefix'
  const value = str(v.value, `${at}.value`, LIMITS.pathBytes) ?? '/'
  if (type === 'RegularExpression') {
    regexOk(value, `${at}.value`)
    return {type: 'regex', value}
  }
  if (type !== 'Exact' && type !== 'PathPrefix') refuse(`${at}.type`, `"${String(type).slice(0, 40)}" is not Exact, PathPrefix or RegularExpression`)
  if (!value.startsWith('/')) refuse(`${at}.value`, `"${value.slice(0, 60)}" must start with /`)
  // The CRD's own rules: no ?, #, //, /./, /../, %2f in a plain path.
  if (/[?#\s]/.test(value) || /\/\/|\/\.\.?(\/|$)|%2f/i.test(value)) refuse(`${at}.value`, `"${value.slice(0, 60)}" is not a normalised path (no ?, #, //, /./, /../ or %2F)`)
  if (type === 'Exact') return {type: 'exact', value}
  return {type: 'prefix', value: value.length > 1 ? value.replace(/\/+$/, '') || '/' : value}
}

function httpMatch(raw: unknown, at: string, notes: string[]): RouteMatch {
  if (!isObj(raw)) refuse(at, 'must be a mapping')
  onlyKeys(raw, at, ['path', 'headers', 'queryParams', 'method'])
  const m: RouteMatch = {path: pathMatch(raw.path, `${at}.path`)}
  if (raw.method !== undefined && raw.method !== null) {
    if (typeof raw.method !== 'string' || !HTTP_METHODS.has(raw.method)) refuse(`${at}.method`, `"${String(raw.method).slice(0, 20)}" is not one of ${[...HTTP_METHODS].join(', ')}`)
    m.method = raw.method
  }
  const headers = stringMatches<HeaderMatch>(raw.headers, `${at}.headers`, LIMITS.headersPerMatch, true, notes)
  if (headers.length) m.headers = headers
  const query = stringMatches<QueryParamMatch>(raw.queryParams, `${at}.queryParams`, LIMITS.queryParamsPerMatch, false, notes)
  if (query.length) m.queryParams = query
  return m
}

function grpcMatch(raw: unknown, at: string, notes: string[]): RouteMatch {
  if (!isObj(raw)) refuse(at, 'must be a mapping')
  onlyKeys(raw, at, ['method', 'headers'])
  const m: RouteMatch = {}
  if (raw.method !== undefined && raw.method !== null) {
    const mm = raw.method
    const here = `${at}.method`
    if (!isObj(mm)) refuse(here, 'must be a mapping')
    onlyKeys(mm, here, ['type', 'service', 'method'])
    const type = matchType(mm.type, `${here}.type`)
    const service = str(mm.service, `${here}.service`, LIMITS.grpcNameBytes)
    const method = str(mm.method, `${here}.method`, LIMITS.grpcNameBytes)
    if (!service && !method) refuse(here, 'needs a service or a method')
    for (const [k, v] of [['service', service], ['method', method]] as const) {
      if (v === undefined) continue
      if (type === 'regex') regexOk(v, `${here}.${k}`)
      else if (v.length === 0 || v.includes('/')) refuse(`${here}.${k}`, `"${v.slice(0, 60)}" is not a gRPC ${k} name`)
    }
    const g: GrpcMethodMatch = {type}
    if (service) g.service = service
    if (method) g.method = method
    m.grpc = g
  }
  const headers = stringMatches<HeaderMatch>(raw.headers, `${at}.headers`, LIMITS.headersPerMatch, true, notes)
  if (headers.length) m.headers = headers
  return m
}

function headerModifier(raw: unknown, at: string): HeaderModifier {
  if (!isObj(raw)) refuse(at, 'must be a mapping')
  onlyKeys(raw, at, ['set', 'add', 'remove'])
  const out: HeaderModifier = {}
  const names = new Set<string>()
  const guard = (name: string, here: string): string => {
    if (FRAMING_HEADERS.has(name)) refuse(here, `"${name}" frames the message or belongs to one hop; a route may not change it`)
    if (names.has(name)) refuse(here, `"${name}" is modified twice in one filter`)
    names.add(name)
    return name
  }
  for (const op of ['set', 'add'] as const) {
    const entries = list(raw[op], `${at}.${op}`, LIMITS.headerModifierEntries).map((e, i) => {
      const here = `${at}.${op}[${i}]`
      if (!isObj(e)) refuse(here, 'must be a mapping')
      onlyKeys(e, here, ['name', 'value'])
      return {name: guard(headerName(e.name, `${here}.name`), `${here}.name`), value: headerValue(e.value, `${here}.value`, LIMITS.headerValueBytes)}
    })
    if (entries.length) out[op] = entries
  }
  const remove = list(raw.remove, `${at}.remove`, LIMITS.headerModifierEntries).map((n, i) => guard(headerName(n, `${at}.remove[${i}]`), `${at}.remove[${i}]`))
  if (remove.length) out.remove = remove
  return out
}

function duration(v: unknown, at: string): number | undefined {
  if (v === undefined || v === null) return undefined
  const ms = typeof v === 'string' ? parseGatewayDuration(v) : NaN
  if (!Number.isFinite(ms)) refuse(at, `"${String(v).slice(0, 40)}" is not a Gateway API duration (e.g. 500ms, 2s, 1m30s; 0s turns it off)`)
  return ms
}

/** Sorted statuses as inclusive ranges: [500..599] -> [[500, 599]]. */
export function statusRanges(codes: Iterable<number>): Array<[number, number]> {
  const out: Array<[number, number]> = []
  for (const c of [...new Set(codes)].sort((a, b) => a - b)) {
    const last = out[out.length - 1]
    if (last && last[1] === c - 1) last[1] = c
    else out.push([c, c])
  }
  return out
}

/** `5xx`, `gateway-error`, `503`, `500-504`: HTTP statuses 400-599. */
export function parseHttpRetryOn(value: string, at: string): number[] {
  const out = new Set<number>()
  for (const part of value.split(',')) {
    const p = part.trim().toLowerCase()
    let m: RegExpExecArray | null
    if (p === '5xx') for (let c = 500; c <= 599; c++) out.add(c)
    else if (p === 'gateway-error') [502, 503, 504].forEach((c) => out.add(c))
    else if ((m = /^([45]\d\d)(?:-([45]\d\d))?$/.exec(p))) {
      const lo = Number(m[1])
      const hi = m[2] ? Number(m[2]) : lo
      if (hi < lo) refuse(at, `has the range "${p}", which runs backwards`)
      for (let c = lo; c <= hi; c++) out.add(c)
    } else refuse(at, `has "${part.trim().slice(0, 30)}", which is not 5xx, gateway-error, a status 400-599 or a range such as 500-504`)
  }
  return [...out].sort((a, b) => a - b)
}

/** gRPC status names: `unavailable,deadline-exceeded`. */
export function parseGrpcRetryOn(value: string, at: string): number[] {
  const out = new Set<number>()
  for (const part of value.split(',')) {
    const p = part.trim().toLowerCase()
    const code = GRPC_STATUS_CODES[p]
    if (code === undefined) refuse(at, `has "${part.trim().slice(0, 30)}", which is not a gRPC status name (${Object.keys(GRPC_STATUS_CODES).join(', ')})`)
    out.add(code)
  }
  return [...out].sort((a, b) => a - b)
}

type Retry = NonNullable<RoutePolicyRule['retry']>

/** The retry.mesh.dev/* annotations of a route, or undefined when it has none. */
function annotationRetry(annotations: Record<string, unknown>): {retry: Retry; perTryMs?: number} | undefined {
  const names = Object.values(RETRY_ANNOTATIONS)
  if (!names.some((n) => annotations[n] !== undefined)) return undefined
  const get = (n: string): string | undefined => {
    const v = annotations[n]
    if (v === undefined) return undefined
    if (typeof v !== 'string' || v.length > 512) refuse(`metadata.annotations["${n}"]`, 'must be a string of at most 512 characters')
    return v
  }
  const http = get(RETRY_ANNOTATIONS.http)
  const grpc = get(RETRY_ANNOTATIONS.grpc)
  const limit = get(RETRY_ANNOTATIONS.limit)
  const timeout = get(RETRY_ANNOTATIONS.timeout)
  const retry: Retry = {
    limit: 1,
    httpStatuses: http === undefined ? [] : statusRanges(parseHttpRetryOn(http, `metadata.annotations["${RETRY_ANNOTATIONS.http}"]`)),
    grpcStatuses: grpc === undefined ? [] : parseGrpcRetryOn(grpc, `metadata.annotations["${RETRY_ANNOTATIONS.grpc}"]`),
  }
  if (limit !== undefined) {
    if (!/^\d{1,2}$/.test(limit.trim()) || Number(limit) > LIMITS.retryAttempts) refuse(`metadata.annotations["${RETRY_ANNOTATIONS.limit}"]`, `"${limit.slice(0, 20)}" is not a number from 0 to ${LIMITS.retryAttempts}`)
    retry.limit = Number(limit)
  }
  if (retry.httpStatuses.length === 0 && retry.grpcStatuses.length === 0) {
    refuse('metadata.annotations', `set ${RETRY_ANNOTATIONS.limit} or ${RETRY_ANNOTATIONS.timeout} without ${RETRY_ANNOTATIONS.http} or ${RETRY_ANNOTATIONS.grpc}, which say what to retry (e.g. ${RETRY_ANNOTATIONS.http}: 5xx)`)
  }
  const perTryMs = timeout === undefined ? undefined : duration(timeout.trim(), `metadata.annotations["${RETRY_ANNOTATIONS.timeout}"]`)
  return {retry, perTryMs}
}

function gatewayRetry(raw: unknown, at: string): Retry {
  if (!isObj(raw)) refuse(at, 'must be a mapping')
  onlyKeys(raw, at, ['attempts', 'codes', 'backoff'])
  const retry: Retry = {limit: int(raw.attempts, `${at}.attempts`, 0, LIMITS.retryAttempts) ?? 1, httpStatuses: [], grpcStatuses: []}
  retry.httpStatuses = statusRanges(list(raw.codes, `${at}.codes`, 200).map((c, i) => int(c, `${at}.codes[${i}]`, 400, 599)!))
  const backoff = duration(raw.backoff, `${at}.backoff`)
  if (backoff !== undefined) retry.backoffMs = backoff
  return retry
}

function readBackendRefs(raw: unknown, routeNs: string): BackendRefSpec[] {
  if (!Array.isArray(raw)) return []
  return raw.slice(0, LIMITS.backendRefsPerRule).map((b) => {
    const o = isObj(b) ? b : {}
    const s = (v: unknown, d: string): string => (typeof v === 'string' ? v.slice(0, LIMITS.nameBytes) : d)
    const spec: BackendRefSpec = {group: s(o.group, ''), kind: s(o.kind, 'Service'), name: s(o.name, ''), namespace: s(o.namespace, routeNs), weight: typeof o.weight === 'number' && Number.isInteger(o.weight) ? o.weight : 1}
    if (typeof o.port === 'number' && Number.isInteger(o.port)) spec.port = o.port
    return spec
  })
}

function readParents(spec: Record<string, unknown>, routeNs: string): ServiceParent[] {
  const refs = Array.isArray(spec.parentRefs) ? spec.parentRefs.slice(0, LIMITS.parentRefs) : []
  const out: ServiceParent[] = []
  for (const r of refs) {
    if (!isObj(r)) continue
    const group = r.group ?? GATEWAY_GROUP
    if (r.kind !== 'Service' || (group !== '' && group !== 'core')) continue
    const name = typeof r.name === 'string' ? r.name : ''
    const namespace = typeof r.namespace === 'string' ? r.namespace : routeNs
    const p: ServiceParent = {ref: r, namespace, name}
    if (typeof r.port === 'number') p.port = r.port
    if (!name) p.problem = {reason: 'NoMatchingParent', message: 'the parentRef names no Service'}
    else if (namespace !== routeNs) {
      p.problem = {reason: 'UnsupportedValue', message: `the Service is in namespace ${namespace}, the route in ${routeNs}: mesh applies routes in the Service's own namespace (producer routes) only`}
    } else if (r.sectionName !== undefined) p.problem = {reason: 'UnsupportedValue', message: 'sectionName is not supported on a Service parent; name the port with port'}
    else if (r.port !== undefined && (typeof r.port !== 'number' || !Number.isInteger(r.port) || r.port < 1 || r.port > 65535)) p.problem = {reason: 'UnsupportedValue', message: 'port must be 1-65535'}
    out.push(p)
  }
  return out
}

/** GRPC statuses a route can name are in src/protocol/routes.ts; HTTP statuses 400-599. */
function validateRules(kind: RouteKind, spec: Record<string, unknown>, annotations: Record<string, unknown>, notes: string[]): ValidRule[] {
  const http = kind === 'HTTPRoute'
  onlyKeys(spec, 'spec', ['parentRefs', 'hostnames', 'rules'])
  if (Array.isArray(spec.hostnames) && spec.hostnames.length > 0) notes.push('spec.hostnames does not apply to a Service parent (the Service is the host) and is not used')
  const rawRules = spec.rules === undefined || spec.rules === null ? [{}] : list(spec.rules, 'spec.rules', LIMITS.rules)
  const fromAnnotations = annotationRetry(annotations)
  let total = 0
  return rawRules.map((raw, i) => {
    const at = `spec.rules[${i}]`
    if (!isObj(raw)) refuse(at, 'must be a mapping')
    const known = http ? ['name', 'matches', 'filters', 'backendRefs', 'timeouts', 'retry'] : ['name', 'matches', 'filters', 'backendRefs']
    onlyKeys(raw, at, known, {sessionPersistence: 'is not supported by mesh (session persistence)', timeouts: 'is not supported on a GRPCRoute'})
    const name = str(raw.name, `${at}.name`, LIMITS.nameBytes)
    const rawMatches = raw.matches === undefined || raw.matches === null ? [{}] : list(raw.matches, `${at}.matches`, LIMITS.matchesPerRule)
    if (rawMatches.length === 0) rawMatches.push({})
    total += rawMatches.length
    if (total > LIMITS.matchesPerRoute) refuse('spec.rules', `have more than ${LIMITS.matchesPerRoute} matches in all`)
    const matches = rawMatches.map((m, j) => (http ? httpMatch(m, `${at}.matches[${j}]`, notes) : grpcMatch(m, `${at}.matches[${j}]`, notes)))
    const policy: ValidRule['policy'] = {}
    const filters = list(raw.filters, `${at}.filters`, LIMITS.filtersPerRule)
    filters.forEach((f, j) => {
      const here = `${at}.filters[${j}]`
      if (!isObj(f)) refuse(here, 'must be a mapping')
      if (f.type !== 'RequestHeaderModifier') refuse(`${here}.type`, `${JSON.stringify(String(f.type).slice(0, 40))} is not supported by mesh (supported: RequestHeaderModifier)`)
      onlyKeys(f, here, ['type', 'requestHeaderModifier'])
      if (policy.requestHeaders) refuse(here, 'repeats RequestHeaderModifier; use one per rule')
      policy.requestHeaders = headerModifier(f.requestHeaderModifier, `${here}.requestHeaderModifier`)
    })
    const backends = list(raw.backendRefs, `${at}.backendRefs`, LIMITS.backendRefsPerRule)
    backends.forEach((b, j) => {
      const here = `${at}.backendRefs[${j}]`
      if (!isObj(b)) refuse(here, 'must be a mapping')
      onlyKeys(b, here, ['group', 'kind', 'name', 'namespace', 'port', 'weight', 'filters'])
      if (Array.isArray(b.filters) && b.filters.length > 0) refuse(`${here}.filters`, 'is not supported by mesh (put filters on the rule)')
      str(b.name, `${here}.name`, LIMITS.nameBytes, true)
      int(b.weight, `${here}.weight`, 0, LIMITS.weight)
      int(b.port, `${here}.port`, 1, 65535)
    })
    if (http && raw.timeouts !== undefined && raw.timeouts !== null) {
      const t = raw.timeouts
      if (!isObj(t)) refuse(`${at}.timeouts`, 'must be a mapping')
      onlyKeys(t, `${at}.timeouts`, ['request', 'backendRequest'])
      const requestMs = duration(t.request, `${at}.timeouts.request`)
      const backendRequestMs = duration(t.backendRequest, `${at}.timeouts.backendRequest`)
      if (requestMs && backendRequestMs && backendRequestMs > requestMs) refuse(`${at}.timeouts.backendRequest`, 'is longer than timeouts.request, which covers every attempt')
      policy.timeouts = {}
      if (requestMs !== undefined) policy.timeouts.requestMs = requestMs
      if (backendRequestMs !== undefined) policy.timeouts.backendRequestMs = backendRequestMs
    }
    if (http && raw.retry !== undefined && raw.retry !== null) {
      if (fromAnnotations) refuse(`${at}.retry`, `and the ${RETRY_ANNOTATIONS.http}/${RETRY_ANNOTATIONS.grpc} annotations both configure retries; use one`)
      policy.retry = gatewayRetry(raw.retry, `${at}.retry`)
    } else if (fromAnnotations) {
      policy.retry = {...fromAnnotations.retry}
      if (fromAnnotations.perTryMs) {
        const t = (policy.timeouts ??= {})
        t.backendRequestMs = t.backendRequestMs ? Math.min(t.backendRequestMs, fromAnnotations.perTryMs) : fromAnnotations.perTryMs
      }
    }
    const rule: ValidRule = {index: i, matches, policy}
    if (name) rule.name = name
    return rule
  })
}

/** Reads one HTTPRoute or GRPCRoute; `undefined` when it has no Service parent (not ours). */
export function validateRoute(obj: unknown): ValidatedRoute | undefined {
  if (!isObj(obj)) return undefined
  const kind = obj.kind === 'GRPCRoute' ? 'GRPCRoute' : obj.kind === 'HTTPRoute' ? 'HTTPRoute' : undefined
  const meta = isObj(obj.metadata) ? obj.metadata : {}
  const spec = isObj(obj.spec) ? obj.spec : {}
  if (!kind || typeof meta.name !== 'string' || typeof meta.namespace !== 'string') return undefined
  const namespace = meta.namespace
  const parents = readParents(spec, namespace)
  if (parents.length === 0) return undefined
  const created = typeof meta.creationTimestamp === 'string' ? Date.parse(meta.creationTimestamp) : meta.creationTimestamp instanceof Date ? meta.creationTimestamp.getTime() : 0
  const route: ValidatedRoute = {
    kind,
    namespace,
    name: meta.name,
    generation: typeof meta.generation === 'number' ? meta.generation : 1,
    created: Number.isFinite(created) ? created : 0,
    parents,
    backendRefs: Array.isArray(spec.rules) ? spec.rules.slice(0, LIMITS.rules).map((r) => readBackendRefs(isObj(r) ? r.backendRefs : undefined, namespace)) : [[]],
    verdict: {ok: false, message: ''},
  }
  const notes: string[] = []
  try {
    const rules = validateRules(kind, spec, isObj(meta.annotations) ? meta.annotations : {}, notes)
    route.verdict = {ok: true, rules, notes}
  } catch (err) {
    if (!(err instanceof Refused)) throw err
    route.verdict = {ok: false, message: err.message}
  }
  return route
}

/** Why a backendRef cannot be used, given what the cluster has; undefined when it can. */
export function backendProblem(b: BackendRefSpec, routeNs: string, servicePorts: (ns: string, name: string) => number[] | undefined): {problem: BackendProblem; message: string} | undefined {
  if ((b.group !== '' && b.group !== 'core') || b.kind !== 'Service') return {problem: 'InvalidKind', message: `backendRef ${b.group || 'core'}/${b.kind} ${b.name}: only Services are supported`}
  if (b.namespace !== routeNs) return {problem: 'RefNotPermitted', message: `backendRef ${b.namespace}/${b.name}: a backend in another namespace needs a ReferenceGrant, which mesh does not read; use a Service in ${routeNs}`}
  if (b.port === undefined) return {problem: 'BackendNotFound', message: `backendRef ${b.name}: a Service backend needs a port`}
  const ports = servicePorts(b.namespace, b.name)
  if (!ports) return {problem: 'BackendNotFound', message: `backendRef ${b.name}: Service ${b.namespace}/${b.name} not found`}
  if (!ports.includes(b.port)) return {problem: 'BackendNotFound', message: `backendRef ${b.name}: Service ${b.namespace}/${b.name} has no port ${b.port} (ports: ${ports.join(', ') || 'none'})`}
  return undefined
}
