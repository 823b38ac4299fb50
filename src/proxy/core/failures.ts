// Failures the proxy answered or closed itself, told to the observers (GET /errors keeps the last
// ones, admin/errors.ts): every ProxyError answered for a request, every inbound policy refusal,
// every detection timeout, every TLS verification failure. One shape for all of them, so the
// data path calls one function where it already logs the failure.
import type {Direction} from '../../protocol/tap.js'
import {withoutUserinfo} from '../config/authority.js'
import type {ConnCtx} from './conn.js'
import type {ProxyError} from './errors.js'
import type {Addr, Observer, RequestMeta} from './observe.js'

export interface FailureEvent {
  direction: Direction
  /** The peer: its identity when known (the verified client, the server discovery named), else ip:port. */
  peer: string
  /** Outbound: the target; inbound: the Host / original destination (userinfo never kept). */
  authority?: string
  /** A ProxyErrorCode, an inbound policy reason, or a refusal reason (detect_timeout, untrusted_certificate, ...). */
  kind: string
  /** The text the log line has (never a header value, a body byte or a secret). */
  message: string
}

const hostPort = (a: Addr): string => (a.ip.includes(':') ? `[${a.ip}]:${a.port}` : `${a.ip}:${a.port}`)

/**
 * A certificate the other side presented did not verify: OpenSSL's verification codes, and the
 * errors of the identity's own check (`verifyPeer`, which the endpoint's checkServerIdentity
 * returns: they carry `untrustedPeer`).
 */
export function isTlsVerifyError(err: unknown): boolean {
  const e = err as {code?: unknown, untrustedPeer?: unknown} | undefined
  if (!e || typeof e !== 'object') return false
  if (e.untrustedPeer === true) return true
  return typeof e.code === 'string' && /^(UNABLE_TO_|CERT_|DEPTH_ZERO_SELF_SIGNED|SELF_SIGNED_CERT|INVALID_CA|PATH_LENGTH_EXCEEDED|INVALID_PURPOSE|HOSTNAME_MISMATCH|ERR_TLS_CERT_ALTNAME)/.test(e.code)
}

/** The kind a ProxyError is recorded under: untrusted_certificate when its cause is a certificate that did not verify. */
export function failureKind(err: ProxyError): string {
  return isTlsVerifyError(err.cause) ? 'untrusted_certificate' : err.code
}

/** A request the proxy answered with an error of its own. */
export function requestFailed(observer: Observer | undefined, meta: RequestMeta, err: ProxyError): void {
  if (!observer?.failed) return
  const peer = meta.direction === 'inbound'
    ? (meta.tls.clientId ?? hostPort(meta.source))
    : (meta.tls.serverId ?? hostPort(meta.destination))
  observer.failed({direction: meta.direction, peer, authority: withoutUserinfo(meta.authority), kind: failureKind(err), message: err.message})
}

/** A connection the proxy closed (or refused) itself; `peer` when another is known than the connection's (outbound: the endpoint). */
export function connectionFailed(observer: Observer | undefined, conn: ConnCtx, kind: string, message: string, peer?: string): void {
  if (!observer?.failed) return
  const who = peer ?? (conn.direction === 'inbound' ? (conn.tls.clientId ?? hostPort(conn.source)) : hostPort(conn.destination))
  observer.failed({direction: conn.direction, peer: who, authority: conn.authority, kind, message})
}
