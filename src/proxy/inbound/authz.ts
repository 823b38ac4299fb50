// Inbound authorization applied: the verdict on each connection under the inbound policy
// (config/inbound-policy.ts: what the policies are and how they are written), and the counters
// of refusals by reason.
import type {Observer} from '../core/observe.js'
import type {ClientCert} from '../tls/terminator.js'
import {describePolicy, type InboundPolicy, type RefusalReason, REFUSAL_REASONS} from '../config/inbound-policy.js'

export type Verdict = {allow: true} | {allow: false; reason: RefusalReason; detail: string}

const ALLOW: Verdict = {allow: true}

/**
 * A policy applied: decisions plus counters of refusals by reason, which also go to the
 * observer (the metrics family mesh_proxy_inbound_policy_refused_total{reason}).
 */
export class InboundAuthz {
  readonly refused = Object.fromEntries(REFUSAL_REASONS.map((r) => [r, 0])) as Record<RefusalReason, number>

  constructor(readonly policy: InboundPolicy, private readonly observer?: Pick<Observer, 'inboundRefused'>) {}

  /** Whether clients without a verified identity are served. */
  get allowsUnauthenticated(): boolean {
    return this.policy.kind === 'all-unauthenticated'
  }

  /** A connection that is not mTLS to this proxy (plaintext, or TLS for the application). */
  checkPlain(what: string): Verdict {
    if (this.allowsUnauthenticated) return ALLOW
    return {allow: false, reason: 'unauthenticated', detail: `${what} is not allowed by the inbound policy ${describePolicy(this.policy)}`}
  }

  /** A TLS connection this proxy terminated. */
  checkTls(client: ClientCert): Verdict {
    if (client.presented && !client.id) {
      return {allow: false, reason: 'untrusted_certificate', detail: `the client certificate was not accepted: ${client.problem ?? 'it does not verify'}`}
    }
    if (!client.id) {
      if (this.allowsUnauthenticated) return ALLOW
      return {allow: false, reason: 'no_client_certificate', detail: `a client without a certificate is not allowed by the inbound policy ${describePolicy(this.policy)}`}
    }
    if (this.policy.kind === 'identities' && !this.policy.identities.has(client.id)) {
      return {allow: false, reason: 'identity_not_allowed', detail: `the client identity ${client.id} is not allowed by the inbound policy`}
    }
    return ALLOW
  }

  count(reason: RefusalReason): void {
    this.refused[reason]++
    this.observer?.inboundRefused?.(reason)
  }
}
