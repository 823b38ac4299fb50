// Per-route reliability policy (timeouts, retries) from MESH_PROXY_ROUTES / `--routes`.
//
//   rules  = rule *(";" rule)
//   rule   = authority [" " METHOD] [" " /path-prefix] "=" setting *("," setting)
//   setting = timeout:<500ms|2s|1m|0> | retries:<0-10> | retry-on:<code>+<code> | retryable:<true|false>
//
// `authority` is host:port (a host alone means port 80) or `*` for any; METHOD is optional
// (any when left out); the path prefix defaults to `/` and matches as a string prefix. Codes in
// retry-on are HTTP statuses 500-599 or gRPC status names (unavailable, resource-exhausted, ...).
// The most specific rule wins: the longest path prefix, then a rule naming the method, then a
// rule naming the authority. Settings a rule leaves out take the proxy's defaults.
// Rules are compiled once into a table per authority, so a lookup is a Map get and a short scan
// with no allocation. A matched rule's policy carries its route name (the metrics and tap
// `route` label): the method and path prefix as written, `GET /api/` or `/api/` when the rule
// names no method; requests no rule matches (and every inbound request) have route ''. The
// names are built once per rule here, so the label's cardinality is bounded by the config.
import {InputError} from '../../lib/errors.js'
import type {ProxyConfig, RetryPolicy} from './config.js'

/** What governs one request: how long it may take, and how it is retried. */
export interface RoutePolicy {
  /** Time for the whole request, until the response headers arrive (0: none). */
  readonly requestTimeoutMs: number
  readonly retry: RetryPolicy
  /** The matched rule's route name (`GET /api/`, `/api/`), or '' when no rule matched. */
  readonly route: string
}

export interface RouteRule {
  /** The rule as written (for errors and logs). */
  text: string
  /** Normalised host:port, or `*`. */
  authority: string
  /** Upper-case method, or undefined for any. */
  method?: string
  pathPrefix: string
  timeoutMs?: number
  retries?: number
  httpStatuses?: number[]
  grpcStatuses?: number[]
  retryable?: boolean
}

export const GRPC_STATUS: Record<string, number> = {
  cancelled: 1, unknown: 2, 'deadline-exceeded': 4, 'resource-exhausted': 8, aborted: 10, internal: 13, unavailable: 14,
}

const EXAMPLE = 'web.shop.svc.cluster.local:80 GET /api/=timeout:2s,retries:2,retry-on:502+503;* POST /pay=timeout:5s,retries:0'
const MAX_RETRIES = 10
const MAX_TIMEOUT_MS = 3_600_000

function bad(name: string, entry: string, problem: string, fix: string): InputError {
  return new InputError(`${name}: entry "${entry}" ${problem}`, {suggestions: [fix, `A full example: ${name}="${EXAMPLE}"`]})
}

/** `500ms`, `2s`, `1.5s`, `1m`, or `0` (off), in milliseconds; NaN when not a duration. */
export function parseDuration(v: string): number {
  if (v === '0') return 0
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)$/.exec(v)
  if (!m) return NaN
  return Math.round(Number(m[1]) * (m[2] === 'ms' ? 1 : m[2] === 's' ? 1000 : 60_000))
}

function normalize(authority: string): string {
  if (authority === '*' || authority === '*:*') return '*'
  const a = authority.toLowerCase()
  if (a.startsWith('[')) return a.includes(']:') ? a : `${a}:80`
  return a.includes(':') ? a : `${a}:80`
}

function parseSetting(rule: RouteRule, setting: string, name: string, entry: string): void {
  const colon = setting.indexOf(':')
  const key = colon === -1 ? setting : setting.slice(0, colon).trim()
  const value = colon === -1 ? '' : setting.slice(colon + 1).trim()
  switch (key) {
    case 'timeout': {
      const ms = parseDuration(value)
      if (!Number.isFinite(ms) || ms > MAX_TIMEOUT_MS) throw bad(name, entry, `has timeout "${value}", which is not a duration up to 1h`, 'Write the timeout as 500ms, 2s or 1m (0 turns it off).')
      rule.timeoutMs = ms
      return
    }
    case 'retries': {
      const n = /^\d{1,2}$/.test(value) ? Number(value) : NaN
      if (!(n <= MAX_RETRIES)) throw bad(name, entry, `has retries "${value}", which is not a number from 0 to ${MAX_RETRIES}`, 'Write e.g. retries:2 (retries:0 turns retries off).')
      rule.retries = n
      return
    }
    case 'retry-on': {
      const http: number[] = []
      const grpc: number[] = []
      for (const code of value.split('+')) {
        const c = code.trim().toLowerCase()
        if (/^5\d\d$/.test(c)) http.push(Number(c))
        else if (GRPC_STATUS[c] !== undefined) grpc.push(GRPC_STATUS[c])
        else throw bad(name, entry, `has retry-on code "${code}", which is neither an HTTP status 500-599 nor a gRPC status name`, `Join codes with +, e.g. retry-on:502+503+unavailable (gRPC names: ${Object.keys(GRPC_STATUS).join(', ')}).`)
      }
      rule.httpStatuses = http
      rule.grpcStatuses = grpc
      return
    }
    case 'retryable': {
      if (value !== 'true' && value !== 'false') throw bad(name, entry, `has retryable "${value}", which is not true or false`, 'Write retryable:true to retry every method on this route (as if each request carried mesh-retryable: true).')
      rule.retryable = value === 'true'
      return
    }
    default:
      throw bad(name, entry, `has an unknown setting "${setting}"`, 'Settings are timeout:<duration>, retries:<n>, retry-on:<code>+<code> and retryable:<true|false>, joined by commas.')
  }
}

/** Parses the rules; errors name the variable (or flag), the entry and the fix. */
export function parseRoutes(value: string, name: string): RouteRule[] {
  const rules: RouteRule[] = []
  const seen = new Map<string, string>()
  for (const raw of value.split(';')) {
    const entry = raw.trim()
    if (entry === '') continue
    const eq = entry.indexOf('=')
    if (eq <= 0) throw bad(name, entry, 'is not "authority [METHOD] [/path-prefix]=settings"', 'Write a rule as authority, an optional method and an optional path prefix, then = and the settings.')
    const words = entry.slice(0, eq).trim().split(/\s+/)
    if (words.length > 3) throw bad(name, entry, `has ${words.length} words before "=", at most 3 (authority, method, path prefix)`, 'Separate rules with ";" and write each as e.g. web:80 GET /api/=timeout:2s.')
    const rule: RouteRule = {text: entry, authority: normalize(words[0]), pathPrefix: '/'}
    const port = /:(\d{1,5})$/.exec(words[0])?.[1]
    if (!/^(\*|\*:\*|\[[0-9a-fA-F:.]+\](:\d{1,5})?|[A-Za-z0-9.-]+(:\d{1,5})?)$/.test(words[0]) || (port !== undefined && (Number(port) < 1 || Number(port) > 65535))) {
      throw bad(name, entry, `has authority "${words[0]}", which is not host, host:port or *`, 'Write the authority as the client names the service, e.g. web.shop.svc.cluster.local:80, or * for every authority.')
    }
    const rest = words.slice(1)
    if (rest.length > 0 && rest[rest.length - 1].startsWith('/')) rule.pathPrefix = rest.pop()!
    if (rest.length > 1) throw bad(name, entry, `has "${rest.join(' ')}" before the path prefix, where only one method fits`, 'Write one rule per method, e.g. web:80 GET /api/=retries:2;web:80 PUT /api/=retries:2.')
    if (rest.length === 1) {
      const m = rest[0]
      if (!/^([A-Za-z]{1,20}|\*)$/.test(m)) throw bad(name, entry, `has "${m}", which is neither an HTTP method nor a path prefix starting with /`, 'Write the method before the path prefix, e.g. web:80 POST /pay=timeout:5s (both are optional).')
      if (m !== '*') rule.method = m.toUpperCase()
    }
    const settings = entry.slice(eq + 1).split(',').map((s) => s.trim()).filter((s) => s !== '')
    if (settings.length === 0) throw bad(name, entry, 'has no settings after "="', 'Add at least one of timeout:2s, retries:2, retry-on:502+503, retryable:true.')
    for (const s of settings) parseSetting(rule, s, name, entry)
    const key = `${rule.authority} ${rule.method ?? '*'} ${rule.pathPrefix}`
    const earlier = seen.get(key)
    if (earlier !== undefined) throw bad(name, entry, `matches the same requests as entry "${earlier}"`, 'Merge the two entries into one.')
    seen.set(key, entry)
    rules.push(rule)
  }
  return rules
}

interface Compiled {
  method: string | undefined
  prefix: string
  policy: RoutePolicy
}

/** The `route` label of a rule: its method and path prefix, e.g. `GET /api/`, or `/api/`. */
export function routeName(rule: Pick<RouteRule, 'method' | 'pathPrefix'>): string {
  return rule.method === undefined ? rule.pathPrefix : `${rule.method} ${rule.pathPrefix}`
}

/** More specific first: longer prefix, then a named method, then a named authority. */
function specificity(a: RouteRule, b: RouteRule): number {
  return (b.pathPrefix.length - a.pathPrefix.length) ||
    ((b.method ? 1 : 0) - (a.method ? 1 : 0)) ||
    ((b.authority === '*' ? 0 : 1) - (a.authority === '*' ? 0 : 1))
}

/** The compiled rules of one proxy: a table per named authority, one for every other. */
export class RouteTable {
  private readonly byAuthority = new Map<string, Compiled[]>()
  private readonly others: Compiled[]
  /** The policy of requests no rule matches (the proxy's defaults, shared). */
  readonly fallback: RoutePolicy
  /** The inbound side's policy: the global timeout, never a retry (the client's proxy retries). */
  readonly inbound: RoutePolicy

  constructor(rules: readonly RouteRule[], requestTimeoutMs: number, retry: RetryPolicy) {
    this.fallback = {requestTimeoutMs, retry, route: ''}
    this.inbound = {requestTimeoutMs, retry: {...retry, limit: 0}, route: ''}
    const compile = (r: RouteRule): Compiled => ({
      method: r.method,
      prefix: r.pathPrefix,
      policy: {
        route: routeName(r),
        requestTimeoutMs: r.timeoutMs ?? requestTimeoutMs,
        retry: {
          ...retry,
          limit: r.retries ?? retry.limit,
          statuses: r.httpStatuses ?? retry.statuses,
          grpcStatuses: r.grpcStatuses ?? retry.grpcStatuses,
          retryable: r.retryable ?? retry.retryable,
        },
      },
    })
    const sorted = [...rules].sort(specificity)
    const wild = sorted.filter((r) => r.authority === '*')
    this.others = wild.map(compile)
    for (const a of new Set(sorted.map((r) => r.authority))) {
      if (a !== '*') this.byAuthority.set(a, sorted.filter((r) => r.authority === a || r.authority === '*').map(compile))
    }
  }

  /** The policy of one request; `authority` normalised (host:port, lower case). */
  lookup(authority: string, path: string, method: string): RoutePolicy {
    const rules = this.byAuthority.get(authority) ?? this.others
    for (let i = 0; i < rules.length; i++) {
      const r = rules[i]
      if ((r.method === undefined || r.method === method) && path.startsWith(r.prefix)) return r.policy
    }
    return this.fallback
  }
}

const tables = new WeakMap<ProxyConfig, RouteTable>()

/** The compiled table of a config, built on first use (after any test tweaks of the config). */
export function routeTable(config: ProxyConfig): RouteTable {
  let t = tables.get(config)
  if (!t) {
    t = new RouteTable(config.routes, config.requestTimeoutMs, config.retry)
    tables.set(config, t)
  }
  return t
}
