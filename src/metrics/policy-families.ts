// The proxy's policy family: inbound connections the inbound policy (MESH_PROXY_INBOUND_POLICY)
// refused, by reason. Named like the proxy's other own families (mesh_proxy_tap_*); every
// reason's series exists from the start at 0, so rate() and alerts see it before a refusal.
import {REFUSAL_REASONS} from '../proxy/config/inbound-policy.js'
import {REFUSAL_REASON_NAMES, REFUSAL_REASONS as BOUND_REASONS, type RefusalReason} from '../proxy/core/refusals.js'
import {IGNORED_REASON_NAMES, IGNORED_REASONS, type IgnoredReason} from '../proxy/core/ignored.js'
import type {Direction} from '../protocol/tap.js'
import type {CounterChild} from './counter.js'
import type {Registry} from './registry.js'

export const INBOUND_REFUSED_FAMILY = 'mesh_proxy_inbound_policy_refused_total'

export type InboundRefusals = ReadonlyMap<string, CounterChild>

export function registerPolicyFamilies(registry: Registry): InboundRefusals {
  const family = registry.counter({
    name: INBOUND_REFUSED_FAMILY,
    help: 'Inbound connections refused by the inbound policy, by reason (untrusted_certificate: a client certificate that does not verify; unauthenticated: plaintext or passed-through TLS; no_client_certificate: mesh TLS without a client certificate; identity_not_allowed: an identity the policy does not list).',
    labelNames: ['reason'],
  })
  return new Map(REFUSAL_REASONS.map((r) => [r, family.labels(r)]))
}

export const REFUSED_FAMILY = 'mesh_proxy_refused_total'

/** Refusals by direction, then reason: every series registered at 0. */
export type Refusals = Record<Direction, Record<RefusalReason, CounterChild>>

export function registerRefusalFamily(registry: Registry): Refusals {
  const family = registry.counter({
    name: REFUSED_FAMILY,
    help: `Input the proxy refused or cut off because a bound fired, by direction and reason (${REFUSAL_REASON_NAMES.map((r) => `${r}: ${BOUND_REASONS[r]}`).join('; ')}).`,
    labelNames: ['direction', 'reason'],
  })
  const side = (d: Direction) => Object.fromEntries(REFUSAL_REASON_NAMES.map((r) => [r, family.labels(d, r)])) as Record<RefusalReason, CounterChild>
  return {inbound: side('inbound'), outbound: side('outbound')}
}

export const IGNORED_BYTES_FAMILY = 'mesh_proxy_ignored_bytes_total'

/** Ignored bytes by direction, then reason: every series registered at 0. */
export type IgnoredBytes = Record<Direction, Record<IgnoredReason, CounterChild>>

export function registerIgnoredFamily(registry: Registry): IgnoredBytes {
  const family = registry.counter({
    name: IGNORED_BYTES_FAMILY,
    help: `Bytes peers sent that the proxy neither forwarded nor answered, no refusal (the connection was already closing), by direction and reason (${IGNORED_REASON_NAMES.map((r) => `${r}: ${IGNORED_REASONS[r]}`).join('; ')}).`,
    labelNames: ['direction', 'reason'],
  })
  const side = (d: Direction) => Object.fromEntries(IGNORED_REASON_NAMES.map((r) => [r, family.labels(d, r)])) as Record<IgnoredReason, CounterChild>
  return {inbound: side('inbound'), outbound: side('outbound')}
}
