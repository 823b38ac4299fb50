// The inbound authorization families (src/protocol/authz.ts AuthzMetrics, read by `mesh authz`):
// decisions under the control plane's policy by the policy that made them and the client's
// verified identity, audit-mode policies that would have refused, and policy messages the proxy
// could not use. Series per family are capped like every family (10,000); label sets past the
// cap are counted in mesh_proxy_inbound_policy_series_dropped_total. The hot path looks a
// series up in two Maps (policy, then client), allocating nothing once it exists.
import {AuthzMetrics} from '../protocol/authz.js'
import type {AuthzOutcome} from '../proxy/core/observe.js'
import type {Counter, CounterChild} from './counter.js'
import {DEFAULT_MAX_SERIES} from './family.js'
import type {Registry} from './registry.js'

export const AUTHZ_STREAM_ERRORS_FAMILY = 'mesh_proxy_authz_stream_errors_total'
export const AUTHZ_SERIES_DROPPED_FAMILY = 'mesh_proxy_inbound_policy_series_dropped_total'

const HELP: Record<AuthzOutcome, string> = {
  allowed: 'Inbound HTTP requests (and connections decided when accepted: opaque TCP, TLS passed through) served under the control plane\'s authorization policy, by the policy that allowed them (namespace/name, default:<policy>, or probe) and the client\'s verified identity.',
  denied: 'Inbound HTTP requests refused with 403 (gRPC: PERMISSION_DENIED) and connections closed under the control plane\'s authorization policy, by the policy that refused them and the client\'s verified identity.',
  audit: 'Inbound requests and connections served although an audit-mode policy (or the audit default) would refuse them: one per such policy, by that policy and the client\'s verified identity.',
}

export class AuthzFamilies {
  /** Registered with the first decision: a proxy that never applied a control-plane policy does not export them (`mesh authz` then says so rather than show zeros). */
  private counters: Record<AuthzOutcome, Counter> | undefined
  private readonly series: Record<AuthzOutcome, Map<string, Map<string, CounterChild>>> = {allowed: new Map(), denied: new Map(), audit: new Map()}
  private readonly streamErrors: CounterChild
  private readonly dropped: CounterChild
  private cached = 0

  constructor(private readonly registry: Registry, private readonly maxSeries = DEFAULT_MAX_SERIES) {
    this.streamErrors = registry.counter({
      name: AUTHZ_STREAM_ERRORS_FAMILY,
      help: 'Authorization policy messages from the control plane this proxy could not use (reason invalid: not a version 1 policy it can rely on); the last good policy stayed in force.',
      labelNames: ['reason'],
    }).labels('invalid')
    this.dropped = registry.counter({
      name: AUTHZ_SERIES_DROPPED_FAMILY,
      help: `Inbound authorization decisions counted without their policy and client labels because the authorization families were at their cap of ${maxSeries} series each.`,
    }).labels()
  }

  count(outcome: AuthzOutcome, policy: string, clientId: string): void {
    let byClient = this.series[outcome].get(policy)
    if (byClient === undefined) {
      byClient = new Map()
      this.series[outcome].set(policy, byClient)
    }
    let child = byClient.get(clientId)
    if (child === undefined) {
      const family = (this.counters ??= this.register())[outcome]
      if (family.size >= this.maxSeries) {
        this.dropped.inc()
        return
      }
      child = family.labels('inbound', policy, clientId)
      if (this.cached < this.maxSeries * 3) {
        byClient.set(clientId, child)
        this.cached++
      }
    }
    child.inc()
  }

  private register(): Record<AuthzOutcome, Counter> {
    const family = (o: AuthzOutcome): Counter => this.registry.counter({name: AuthzMetrics[o], help: HELP[o], labelNames: ['direction', 'policy', 'client_id'], maxSeries: this.maxSeries})
    return {allowed: family('allowed'), denied: family('denied'), audit: family('audit')}
  }

  streamError(): void {
    this.streamErrors.inc()
  }
}
