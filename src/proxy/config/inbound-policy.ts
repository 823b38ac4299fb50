// Inbound authorization: which clients the inbound side serves, from MESH_PROXY_INBOUND_POLICY.
//   all-unauthenticated (default)  plaintext and TLS without a client certificate are served,
//                                  like Linkerd's default; meshed clients carry their identity
//   all-authenticated              only clients with a verified mesh identity (mTLS)
//   identities:<id>,<id>           only these client identities
// Under every policy a client certificate that does not verify (another trust root, expired,
// not exactly one DNS SAN) is refused: a client claiming an identity must prove it.
// The policies as written; inbound/authz.ts applies them.
import {InputError} from '../../lib/errors.js'
import {ProxyEnv} from '../../protocol/proxy-env.js'

export type InboundPolicy =
  | {kind: 'all-unauthenticated'}
  | {kind: 'all-authenticated'}
  | {kind: 'identities'; identities: ReadonlySet<string>}

/**
 * Why a connection was refused (also the `reason` in logs, counters and the metrics family):
 * untrusted_certificate: a client certificate was presented and did not verify against the
 * trust anchors; unauthenticated: plaintext (or an application's own TLS, passed through) under
 * an authenticated policy; no_client_certificate: TLS to this proxy without a client
 * certificate, under an authenticated policy; identity_not_allowed: a verified identity that
 * the `identities:` policy does not list.
 */
export const REFUSAL_REASONS = ['untrusted_certificate', 'unauthenticated', 'no_client_certificate', 'identity_not_allowed'] as const
export type RefusalReason = (typeof REFUSAL_REASONS)[number]

const MAX_IDENTITIES = 1000
const IDENTITY = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/

export const DEFAULT_INBOUND_POLICY: InboundPolicy = {kind: 'all-unauthenticated'}

/** Parses a policy value (`name` is the variable or flag it came from, for errors). */
export function parseInboundPolicy(value: string | undefined, name: string = ProxyEnv.INBOUND_POLICY): InboundPolicy {
  const v = value?.trim() ?? ''
  if (v === '' || v === 'all-unauthenticated') return DEFAULT_INBOUND_POLICY
  if (v === 'all-authenticated') return {kind: 'all-authenticated'}
  const fix = {suggestions: [`Set ${name} to all-unauthenticated, all-authenticated, or identities:<identity>,<identity> (e.g. identities:web.shop.serviceaccount.identity.mesh-system.cluster.local).`]}
  if (!v.startsWith('identities:')) throw new InputError(`${name}="${v.slice(0, 100)}" is not an inbound policy`, fix)
  const list = v.slice('identities:'.length).split(',').map((s) => s.trim().toLowerCase()).filter((s) => s.length > 0)
  if (list.length === 0) throw new InputError(`${name}="${v.slice(0, 100)}" lists no identities`, fix)
  if (list.length > MAX_IDENTITIES) throw new InputError(`${name} lists ${list.length} identities; at most ${MAX_IDENTITIES}`, fix)
  const bad = list.find((id) => !IDENTITY.test(id))
  if (bad !== undefined) throw new InputError(`${name}: "${bad.slice(0, 100)}" is not an identity name`, fix)
  return {kind: 'identities', identities: new Set(list)}
}

export function describePolicy(p: InboundPolicy): string {
  return p.kind === 'identities' ? `identities:${[...p.identities].join(',')}` : p.kind
}
