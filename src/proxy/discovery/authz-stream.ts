// The watchAuthz stream of this proxy's own pod (src/protocol/authz.ts, docs/architecture/authz.md
// "On the wire"), on the destination connection: every `authz` message is the whole policy,
// checked here for the shape the inbound side relies on before it is reported; anything else
// (another version, wrong types, CIDRs or regexes that do not compile, a source that names
// nobody) is reported as invalid and changes nothing. An `error` ends the stream: it is reported
// and asked for again after a backoff, as on a new connection (whose first message replaces
// what the proxy held).
import {AUTHZ_POLICY_VERSION, DEFAULT_INBOUND_POLICIES, type AuthzPolicy, type WatchAuthzRequest} from '../../protocol/authz.js'
import type {DestinationRequest, StreamMessage} from '../../protocol/destination.js'
import {parseCidr} from '../../authz/cidr.js'
import {identityPatternProblem} from '../../authz/identity.js'
import {compileRegex} from '../../routes/regex.js'
import type {AuthzEvents} from '../core/contracts.js'

/** What the stream needs of the destination connection (destination-client.ts). */
export interface StreamHost {
  watch(stream: {authority: string; request(id: number): DestinationRequest; subscribed(): void; handle(msg: StreamMessage, id: number): void}): number
  unwatch(id: number, tell: boolean): void
  delivered(): void
}

/** Regular expressions one policy may carry (each compiled when checked, and again by the matcher). */
export const MAX_POLICY_REGEXES = 4096

export class AuthzStream {
  readonly authority: string
  private id: number | undefined
  private closed = false
  private attempts = 0
  private timer: NodeJS.Timeout | undefined

  constructor(private readonly host: StreamHost, private readonly namespace: string, private readonly pod: string, private readonly events: AuthzEvents, private readonly backoffMs: (attempts: number) => number) {
    this.authority = `authz:${namespace}/${pod}`
    this.id = host.watch(this)
  }

  request(id: number): DestinationRequest {
    const r: WatchAuthzRequest = {type: 'watchAuthz', id, namespace: this.namespace, pod: this.pod, version: AUTHZ_POLICY_VERSION}
    return r
  }

  subscribed(): void {}

  handle(msg: StreamMessage, id: number): void {
    if (id !== this.id || this.closed) return
    if (msg.type === 'authz') {
      this.attempts = 0
      this.host.delivered()
      const {type: _type, id: _id, ...policy} = msg
      const problem = authzPolicyProblem(policy)
      if (problem) this.events.invalid(problem)
      else this.events.policy(policy as AuthzPolicy)
      return
    }
    if (msg.type === 'error') {
      this.host.unwatch(id, false)
      this.id = undefined
      this.events.ended(String(msg.code).slice(0, 40), String(msg.message).slice(0, 500))
      this.attempts++
      this.timer = setTimeout(() => {
        this.timer = undefined
        if (!this.closed) this.id = this.host.watch(this)
      }, this.backoffMs(this.attempts))
      this.timer.unref()
      return
    }
    this.events.invalid(`a message of type ${JSON.stringify(String((msg as {type?: unknown}).type).slice(0, 40))} on an authorization stream`)
  }

  close(): void {
    this.closed = true
    clearTimeout(this.timer)
    if (this.id !== undefined) this.host.unwatch(this.id, true)
    this.id = undefined
  }
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)
const isPort = (v: unknown): boolean => Number.isInteger(v) && (v as number) >= 1 && (v as number) <= 65535
const isStr = (v: unknown, max = 1024): v is string => typeof v === 'string' && v.length <= max
const optList = (v: unknown, each: (x: unknown) => boolean): boolean => v === undefined || (Array.isArray(v) && v.every(each))
const isCidr = (v: unknown): boolean => isStr(v, 64) && parseCidr(v).ok
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}$/

/** Checks string matches, counting regexes against MAX_POLICY_REGEXES. */
class Checker {
  regexes = 0

  stringMatch(type: unknown, value: unknown): boolean {
    if (!isStr(value, 4096)) return false
    if (type === 'exact' || type === 'prefix') return true
    if (type !== 'regex') return false
    return ++this.regexes <= MAX_POLICY_REGEXES && compileRegex(value).ok
  }

  path(p: unknown): boolean {
    return isObj(p) && p.type !== undefined && this.stringMatch(p.type, p.value)
  }

  named(list: unknown): boolean {
    return optList(list, (h) => isObj(h) && isStr(h.name, 256) && (h.type === 'exact' || h.type === 'regex') && this.stringMatch(h.type, h.value))
  }

  match(m: unknown): boolean {
    if (!isObj(m)) return false
    if (m.path !== undefined && !this.path(m.path)) return false
    if (m.method !== undefined && !(isStr(m.method) && TOKEN.test(m.method))) return false
    if (m.grpc !== undefined) {
      const g = m.grpc
      if (!isObj(g) || (g.type !== 'exact' && g.type !== 'regex')) return false
      if (g.service !== undefined && !this.stringMatch(g.type, g.service)) return false
      if (g.method !== undefined && !this.stringMatch(g.type, g.method)) return false
    }
    return this.named(m.headers) && this.named(m.queryParams)
  }
}

function routeRef(r: unknown): boolean {
  return isObj(r) && (r.kind === 'HTTPRoute' || r.kind === 'GRPCRoute') && isStr(r.namespace, 253) && isStr(r.name, 253)
}

function source(s: unknown): boolean {
  if (!isObj(s) || (s.identities === undefined && s.networks === undefined)) return false
  if (!optList(s.identities, (id) => isStr(id, 253) && identityPatternProblem(id) === undefined)) return false
  return optList(s.networks, (n) => isObj(n) && isCidr(n.cidr) && optList(n.except, isCidr))
}

function rule(r: unknown, c: Checker): boolean {
  if (!isObj(r) || !isObj(r.policy) || !isStr(r.policy.namespace, 253) || !isStr(r.policy.name, 253)) return false
  if (r.mode !== 'enforce' && r.mode !== 'audit') return false
  const t = r.target
  if (!isObj(t)) return false
  if (t.kind === 'route') {
    if (!routeRef(t.route) || !Array.isArray(t.ports) || !t.ports.every(isPort)) return false
  } else if (t.kind === 'service') {
    if (!Array.isArray(t.ports) || !t.ports.every(isPort)) return false
  } else if (t.kind !== 'workload') return false
  if (!Array.isArray(r.from) || r.from.length === 0 || !r.from.every(source)) return false
  return Array.isArray(r.to) && r.to.every((op) => isObj(op) && optList(op.ports, isPort)
    && optList(op.methods, (m) => isStr(m) && TOKEN.test(m)) && optList(op.paths, (p) => c.path(p)))
}

/**
 * Why `p` is not a version 1 policy the proxy can rely on (undefined: it is). The matcher
 * (src/authz/evaluate.ts) is built from exactly what passes: every field it reads has the type
 * it expects, every CIDR parses (a bad `except` would otherwise let in what it excludes) and
 * every regex compiles (a route that never matches would leave its requests to the default).
 */
export function authzPolicyProblem(p: unknown): string | undefined {
  if (!isObj(p)) return 'not an object'
  if (p.version !== AUTHZ_POLICY_VERSION) return `version ${JSON.stringify(p.version)?.slice(0, 20)}, not ${AUTHZ_POLICY_VERSION}`
  if (!isStr(p.revision, 256)) return 'no revision'
  if (!isObj(p.workload)) return 'no workload'
  const d = p.default
  if (!isObj(d) || !(DEFAULT_INBOUND_POLICIES as readonly unknown[]).includes(d.policy)) return 'no default inbound policy this proxy knows'
  if (!optList(d.identities, (id) => isStr(id, 253))) return 'default identities that are not a list of names'
  if (!Array.isArray(p.clusterNetworks) || !p.clusterNetworks.every(isCidr)) return 'clusterNetworks that are not a list of CIDRs'
  if (!Array.isArray(p.probes) || !p.probes.every((x) => isObj(x) && isPort(x.port) && (x.method === 'GET' || x.method === 'POST') && isStr(x.path, 4096))) return 'probes that are not a list of {port, method, path}'
  const c = new Checker()
  const entries = (list: unknown): boolean => Array.isArray(list) && list.every((e) => isObj(e) && routeRef(e.route) && c.match(e.match))
  if (!Array.isArray(p.routes) || !p.routes.every((t) => isObj(t) && isPort(t.port) && entries(t.http) && entries(t.grpc))) return 'route tables that are not a list of {port, http, grpc}'
  if (!Array.isArray(p.rules)) return 'rules that are not a list'
  const bad = p.rules.findIndex((r) => !rule(r, c))
  if (bad !== -1) return c.regexes > MAX_POLICY_REGEXES ? `more than ${MAX_POLICY_REGEXES} regular expressions` : `rule ${bad} is not one this proxy can apply`
  if (c.regexes > MAX_POLICY_REGEXES) return `more than ${MAX_POLICY_REGEXES} regular expressions`
  if (!Array.isArray(p.policies)) return 'policies that are not a list'
  return undefined
}
