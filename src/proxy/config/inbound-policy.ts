// Inbound authorization: which clients the inbound side serves, from MESH_PROXY_INBOUND_POLICY.
//   all-unauthenticated (default)  plaintext and TLS without a client certificate are served,
//                                  like Linkerd's default; meshed clients carry their identity
//   all-authenticated              only clients with a verified mesh identity (mTLS)
//   identities:<id>,<id>           only these client identities
// Under every policy a client certificate that does not verify (another trust root, expired,
// not exactly one DNS SAN) is refused: a client claiming an identity must prove it.
// The policies as written; inbound/authz.ts applies them.
import {InputError} from '../../lib/errors.js'
import type {AuthzProbe} from '../../protocol/authz.js'
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

/** Probes one pod may declare to its proxy (kubelet: three per container). */
const MAX_PROBES = 64
const MAX_PROBES_BYTES = 16 * 1024

/**
 * Parses MESH_PROXY_INBOUND_PROBES (JSON, see ProxyEnv.INBOUND_PROBES): the kubelet probes the
 * inbound side lets through in plaintext whatever the policy says. Empty or unset: none.
 */
export function parseInboundProbes(value: string | undefined, name: string = ProxyEnv.INBOUND_PROBES): AuthzProbe[] {
  const v = value?.trim() ?? ''
  if (v === '') return []
  const fix = {suggestions: [`Set ${name} to a JSON list such as [{"port":8080,"method":"GET","path":"/healthz"}] (method GET or POST, path starting with /), or leave it unset.`]}
  if (v.length > MAX_PROBES_BYTES) throw new InputError(`${name} is ${v.length} characters long; at most ${MAX_PROBES_BYTES}`, fix)
  let list: unknown
  try {
    list = JSON.parse(v)
  } catch {
    throw new InputError(`${name}="${v.slice(0, 100)}" is not JSON`, fix)
  }
  if (!Array.isArray(list)) throw new InputError(`${name} is not a JSON list`, fix)
  if (list.length > MAX_PROBES) throw new InputError(`${name} lists ${list.length} probes; at most ${MAX_PROBES}`, fix)
  return list.map((p: unknown, i) => {
    const o = (typeof p === 'object' && p !== null ? p : {}) as Record<string, unknown>
    const port = o.port
    if (!Number.isInteger(port) || (port as number) < 1 || (port as number) > 65535) throw new InputError(`${name}[${i}]: port ${JSON.stringify(port)?.slice(0, 40)} is not a port number (1-65535)`, fix)
    if (o.method !== 'GET' && o.method !== 'POST') throw new InputError(`${name}[${i}]: method ${JSON.stringify(o.method)?.slice(0, 40)} is neither GET nor POST`, fix)
    if (typeof o.path !== 'string' || !o.path.startsWith('/') || o.path.length > 1024 || /[\s?#]/.test(o.path)) throw new InputError(`${name}[${i}]: path ${JSON.stringify(o.path)?.slice(0, 100)} is not a path (starting with /, without spaces, ? or #)`, fix)
    return {port: port as number, method: o.method, path: o.path}
  })
}
