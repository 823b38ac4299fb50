// Who called a workload, as its proxies' own counters say (since each proxy started): the
// inbound request and connection families by client identity (`client_id`, present when the
// client was authenticated by mTLS), the port (the connection's original destination, from the
// inbound `tcp_open_total` authority), and the route when the proxy labels inbound requests
// with one (`route_kind` HTTPRoute/GRPCRoute, the proxy half of routes and authorization).
// Plus the inbound policy's refusals by reason, and the per-policy decision families the proxy
// half exports (src/protocol/authz.ts AuthzMetrics), when they are there. Nothing is inferred:
// what the metrics do not carry is reported as missing.
import type {MetricFamily} from '../metrics/parse.js'
import {sumBy} from '../metrics/query.js'
import {AuthzMetrics} from '../protocol/authz.js'

export const INBOUND_REFUSED_FAMILY = 'mesh_proxy_inbound_policy_refused_total'

/** Callers a report holds: the proxies' series caps allow more, and a report is read by people. */
export const MAX_OBSERVED_CALLERS = 1000

/** Keeps the `max` most active callers (by requests + connections), counting the rest in `omitted`. */
export function boundObserved(o: ObservedInbound, max = MAX_OBSERVED_CALLERS): void {
  if (o.callers.length <= max) return
  const kept = new Set([...o.callers].sort((a, b) => b.requests + b.connections - (a.requests + a.connections)).slice(0, max))
  o.omitted = (o.omitted ?? 0) + o.callers.length - kept.size
  o.callers = o.callers.filter((c) => kept.has(c))
}

/** The families `mesh authz` reads from a proxy's /metrics. */
export const AUTHZ_METRIC_FAMILIES = ['request_total', 'tcp_open_total', INBOUND_REFUSED_FAMILY, AuthzMetrics.allowed, AuthzMetrics.denied, AuthzMetrics.audit] as const

export interface ObservedRoute {
  kind: string
  name: string
  requests: number
}

export interface ObservedCaller {
  /** The verified identity; absent: clients without one (plaintext, or TLS passed through). */
  clientId?: string
  /** Why there was no mTLS (the proxy's no_tls_reason), for clients without an identity. */
  noTlsReason?: string
  /** Ports it connected to (sorted); empty when only requests were seen (no connection series). */
  ports: number[]
  requests: number
  connections: number
  /** Requests by inbound route, when the proxy labels them. */
  routes: ObservedRoute[]
  /**
   * The control plane's policy decisions about this caller (requests and connections, summed
   * over policies), when the proxies export them: a caller every decision refused was never
   * served, and `mesh authz suggest` leaves it out.
   */
  decisions?: PolicyCounts
}

export interface PolicyCounts {
  allowed: number
  denied: number
  audit: number
}

export interface ObservedInbound {
  callers: ObservedCaller[]
  /** Callers left out by the bound (MAX_OBSERVED_CALLERS, the least active first). */
  omitted?: number
  /** mesh_proxy_inbound_policy_refused_total by reason (summed over pods); absent when no proxy exports it. */
  refused?: Record<string, number>
  /** By policy label, when the proxies export the per-policy families; absent otherwise. */
  policies?: Record<string, PolicyCounts>
}

function portOf(authority: string | undefined): number | undefined {
  const m = /:(\d{1,5})$/.exec(authority ?? '')
  const p = m ? Number(m[1]) : NaN
  return p >= 1 && p <= 65535 ? p : undefined
}

const inbound = (l: Record<string, string>): boolean => l.direction === 'inbound'

/**
 * Counts add saturating at 2^53 - 1: a proxy's counter never gets there, but a hostile text's
 * `1e308` twice would sum to Infinity (and a number past 2^53 is no longer exact anyway).
 */
const plus = (a: number, b: number): number => Math.min(a + b, Number.MAX_SAFE_INTEGER)

/** Adds one pod's families into `into` (callers keyed by identity, or by no_tls_reason). */
export function addObserved(into: ObservedInbound, families: ReadonlyMap<string, MetricFamily>): void {
  const byKey = new Map(into.callers.map((c) => [c.clientId ?? `\u0000${c.noTlsReason ?? ''}`, c]))
  const caller = (l: Record<string, string>): ObservedCaller | undefined => {
    const secured = l.tls === 'true'
    // The application's own hop through its proxy on loopback is not a caller.
    if (!secured && l.no_tls_reason === 'loopback') return undefined
    const key = secured ? (l.client_id ?? '') : `\u0000${l.no_tls_reason ?? ''}`
    let c = byKey.get(key)
    if (!c) {
      c = {ports: [], requests: 0, connections: 0, routes: []}
      if (secured && l.client_id) c.clientId = l.client_id
      if (!secured && l.no_tls_reason) c.noTlsReason = l.no_tls_reason
      byKey.set(key, c)
      into.callers.push(c)
    }
    return c
  }
  for (const g of sumBy(families.get('tcp_open_total') as MetricFamily | undefined, ['tls', 'client_id', 'no_tls_reason', 'authority'], inbound)) {
    if (!(g.value > 0) || !Number.isFinite(g.value)) continue
    const c = caller(g.labels)
    if (!c) continue
    c.connections = plus(c.connections, g.value)
    const port = portOf(g.labels.authority)
    if (port !== undefined && !c.ports.includes(port)) c.ports = [...c.ports, port].sort((a, b) => a - b)
  }
  for (const g of sumBy(families.get('request_total') as MetricFamily | undefined, ['tls', 'client_id', 'no_tls_reason', 'route', 'route_kind'], inbound)) {
    if (!(g.value > 0) || !Number.isFinite(g.value)) continue
    const c = caller(g.labels)
    if (!c) continue
    c.requests = plus(c.requests, g.value)
    const kind = g.labels.route_kind
    if ((kind === 'HTTPRoute' || kind === 'GRPCRoute') && g.labels.route) {
      const r = c.routes.find((x) => x.kind === kind && x.name === g.labels.route)
      if (r) r.requests = plus(r.requests, g.value)
      else c.routes.push({kind, name: g.labels.route, requests: plus(0, g.value)})
    }
  }
  const refused = families.get(INBOUND_REFUSED_FAMILY) as MetricFamily | undefined
  if (refused) {
    into.refused ??= {}
    for (const g of sumBy(refused, ['reason'])) if (Number.isFinite(g.value) && g.value >= 0) into.refused[g.labels.reason ?? ''] = plus(into.refused[g.labels.reason ?? ''] ?? 0, g.value)
  }
  for (const [field, name] of [['allowed', AuthzMetrics.allowed], ['denied', AuthzMetrics.denied], ['audit', AuthzMetrics.audit]] as const) {
    const f = families.get(name) as MetricFamily | undefined
    if (!f) continue
    into.policies ??= {}
    for (const g of sumBy(f, ['policy'])) {
      if (!Number.isFinite(g.value) || g.value < 0) continue
      const label = g.labels.policy ?? ''
      const counts = (into.policies[label] ??= {allowed: 0, denied: 0, audit: 0})
      counts[field] = plus(counts[field], g.value)
    }
    // Per caller: only callers already seen in the request or connection series, by identity.
    for (const g of sumBy(f, ['client_id'], (l) => l.direction === undefined || inbound(l))) {
      if (!g.labels.client_id || !Number.isFinite(g.value) || g.value < 0) continue
      const c = byKey.get(g.labels.client_id)
      if (!c) continue
      const d = (c.decisions ??= {allowed: 0, denied: 0, audit: 0})
      d[field] = plus(d[field], g.value)
    }
  }
  into.callers.sort((a, b) => (a.clientId ?? '\uffff').localeCompare(b.clientId ?? '\uffff') || (a.noTlsReason ?? '').localeCompare(b.noTlsReason ?? ''))
}
