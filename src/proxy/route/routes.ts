// The control plane's route policy applied to one outbound request (docs/architecture/routes.md,
// "What a proxy must do"): the rule (PolicyMatcher.select, the reference matcher), the backend by
// weight (pickBackend), and what the codecs then do with it, as a RoutePolicy: where the request
// goes, the rule's timeouts and retries (defaults for what it leaves out), the header changes and
// the metric labels. Every codec calls this once per request, before it asks for a target, so
// a request keeps the rule it was given whatever policy arrives while it is in flight.
// The policies are built once per rule backend (WeakMap by the policy's own objects, which a new
// policy message replaces), so the per-request cost is the match and one random draw.
import {backendLabel, routeLabels, type RouteBackend, type RoutePolicyRule} from '../../protocol/routes.js'
import {isGrpcContentType, pickBackend, type RequestFacts} from '../../routes/match.js'
import type {RoutePolicy} from '../config/route-policy.js'
import type {ConnCtx} from '../core/conn.js'
import {ProxyError} from '../core/errors.js'
import type {HeaderSource, RequestAuthz, Side} from './side.js'

/** The text of `mesh-proxy-error` when a policy's routes match nothing (404). */
export const NO_ROUTE_MATCHES = 'no route matches'

/** A request the route policy answers itself: 404 (no route matches) or 500 (a backend with a problem). */
export interface RouteRefusal extends RoutePolicy {
  readonly refusal: ProxyError
}

const byBackend = new WeakMap<RouteBackend, RoutePolicy>()
const byRuleInvalid = new WeakMap<RoutePolicyRule, RoutePolicy>()
const defaults = new WeakMap<RoutePolicy, RoutePolicy>()

/** `[[500, 599]]` to the statuses the retry decision compares with. */
function statusesOf(ranges: ReadonlyArray<readonly [number, number]>): number[] {
  const out: number[] = []
  for (const [lo, hi] of ranges) for (let s = Math.max(100, lo); s <= Math.min(599, hi); s++) out.push(s)
  return out
}

/** The policy of a rule (to `backend`, or to none: a problem), the proxy's defaults for what the rule leaves out. */
function rulePolicy(side: Side, rule: RoutePolicyRule, backend: RouteBackend | undefined): RoutePolicy {
  const cfg = side.config
  const labels = routeLabels(rule)
  const r = rule.retry
  return {
    route: labels.route,
    routeKind: labels.route_kind,
    backend: backend ? backendLabel(backend) : 'invalid:NoWeight',
    backendAuthority: backend?.problem === undefined ? backend?.authority : undefined,
    requestTimeoutMs: rule.timeouts?.requestMs ?? cfg.requestTimeoutMs,
    attemptTimeoutMs: rule.timeouts?.backendRequestMs ?? 0,
    retryBackoffMs: r?.backoffMs,
    // A route that configures retries makes every method retryable (routes.md, point 4).
    retry: r ? {...cfg.retry, limit: r.limit, statuses: statusesOf(r.httpStatuses), grpcStatuses: [...r.grpcStatuses], retryable: true} : cfg.retry,
    requestHeaders: rule.requestHeaders,
  }
}

/**
 * The policy of one outbound request: `base` (MESH_PROXY_ROUTES or the defaults) when the
 * authority has no control-plane routes; the default route's labels on `base` when its policy
 * has no routes; else the chosen rule and backend, or a refusal (RouteRefusal.refusal).
 * Inbound (`conn` given, a side that authorizes): `base`, with the route labels of the
 * authorization policy's route table, or a refusal by that policy (403).
 */
export function routePolicyOf(side: Side, authority: string, method: string, target: string, req: HeaderSource, base: RoutePolicy, conn?: ConnCtx): RoutePolicy | RouteRefusal {
  if (side.authorize !== undefined && conn !== undefined) {
    const a = side.authorize(conn, method, target, req)
    return a === undefined ? base : authorized(a, base)
  }
  const matcher = side.routes?.(authority)
  // (no allocation for an authority without control-plane routes)
  if (matcher === undefined) return base
  const sel = matcher.select(requestFacts(method, target, req))
  if (sel.kind === 'rule') {
    const rule = sel.rule
    const b = pickBackend(rule.backends, Math.random())
    if (b === undefined || b.problem !== undefined || b.authority === undefined) {
      let p = b ? byBackend.get(b) : byRuleInvalid.get(rule)
      if (p === undefined) {
        p = rulePolicy(side, rule, b)
        if (b) byBackend.set(b, p)
        else byRuleInvalid.set(rule, p)
      }
      const why = b ? `its backend ${backendLabel(b)} cannot take traffic` : 'every backend weight is 0'
      return {...p, refusal: new ProxyError('BACKEND_INVALID', `route ${rule.route.namespace}/${rule.route.name}: ${why}`)}
    }
    let p = byBackend.get(b)
    if (p === undefined) {
      p = rulePolicy(side, rule, b)
      byBackend.set(b, p)
    }
    return p
  }
  let d = defaults.get(base)
  if (d === undefined) {
    // (the MESH_PROXY_ROUTES rule that matched keeps its name: `mesh top` and tap show it)
    d = {...base, ...routeLabels(undefined), routeKind: 'default', route: base.route || 'default'}
    defaults.set(base, d)
  }
  if (sel.kind === 'default') return d
  return {...d, refusal: new ProxyError('NO_ROUTE', NO_ROUTE_MATCHES)}
}

const labelled = new WeakMap<RoutePolicy, WeakMap<object, RoutePolicy>>()

/** `base` with the route labels of an authorization decision (one object per base and route), or its refusal. */
function authorized(a: RequestAuthz, base: RoutePolicy): RoutePolicy | RouteRefusal {
  let p = base
  const l = a.labels
  if (l !== undefined) {
    let byLabels = labelled.get(base)
    if (byLabels === undefined) labelled.set(base, (byLabels = new WeakMap()))
    let q = byLabels.get(l)
    if (q === undefined) byLabels.set(l, (q = {...base, route: l.route, routeKind: l.routeKind, backend: ''}))
    p = q
  }
  return a.refusal === undefined ? p : {...p, refusal: a.refusal}
}

/** A request's facts, as a route match or an authorization reads them (its headers read from `req` when asked). */
export function requestFacts(method: string, target: string, req: HeaderSource): RequestFacts {
  return {method, target, grpc: isGrpcContentType(headerOf(req, 'content-type')), header: (n) => headerOf(req, n)}
}

/** A value of a request's header record as the matcher reads it (several values joined by `,`). */
function headerOf(req: HeaderSource, name: string): string | undefined {
  const v = req.headers[name]
  return v === undefined ? undefined : Array.isArray(v) ? v.join(',') : v
}

/**
 * A rule's request header changes on a flat raw header list (`name, value, ...`, case kept):
 * set (replacing every field of that name), then add, then remove. Returns a new list.
 */
export function modifyRawHeaders(raw: readonly string[], mod: NonNullable<RoutePolicy['requestHeaders']>): string[] {
  const drop = new Set<string>([...(mod.set ?? []).map((h) => h.name), ...(mod.remove ?? [])])
  const out: string[] = []
  for (let i = 0; i < raw.length; i += 2) if (!drop.has(raw[i]!.toLowerCase())) out.push(raw[i]!, raw[i + 1]!)
  const removed = new Set(mod.remove ?? [])
  for (const h of mod.set ?? []) if (!removed.has(h.name)) out.push(h.name, h.value)
  for (const h of mod.add ?? []) if (!removed.has(h.name)) out.push(h.name, h.value)
  return out
}
