// Authorities the proxy asks about, to (namespace, service, port) or "external":
//   web.shop.svc.cluster.local:80   fully qualified (the cluster domain is configurable)
//   web.shop.svc:80, web.shop:80    the service in namespace shop
//   web:80                          the service in the caller's namespace
// Anything else (IP literals, other domains) is external: the proxy uses DNS / the original
// destination. `name.ns` whose namespace does not exist is also external (`example.com`).
import {isIP} from 'node:net'

export type ParsedAuthority =
  | {kind: 'service'; namespace: string; service: string; port: number; qualified: boolean}
  | {kind: 'external'; host: string; port: number}

const LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/

export class AuthorityError extends Error {}

export function parseAuthority(authority: string, callerNamespace: string | undefined, clusterDomain = 'cluster.local'): ParsedAuthority {
  const raw = authority.trim().toLowerCase()
  if (raw.length === 0 || raw.length > 512) throw new AuthorityError('the authority must be host:port, at most 512 characters')
  let host = raw
  let port = 80
  const m = /^(.*):(\d{1,5})$/.exec(raw)
  if (m && !m[1]!.endsWith(']') && m[1]!.includes(':')) {
    // bare IPv6 without brackets and no port
  } else if (m) {
    host = m[1]!
    port = Number(m[2])
  }
  if (port < 1 || port > 65535) throw new AuthorityError(`port ${port} is out of range`)
  host = host.replace(/^\[(.*)\]$/, '$1').replace(/\.$/, '')
  if (isIP(host)) return {kind: 'external', host, port}
  const labels = host.split('.')
  if (!labels.every((l) => l.length > 0 && l.length <= 63 && /^[a-z0-9_-]+$/.test(l))) throw new AuthorityError(`"${host}" is not a valid host name`)
  const domain = clusterDomain.toLowerCase().split('.')
  const svcFqdn = labels.length === 3 + domain.length && labels[2] === 'svc' && labels.slice(3).join('.') === domain.join('.')
  if (svcFqdn || (labels.length === 3 && labels[2] === 'svc')) {
    if (!LABEL.test(labels[0]!) || !LABEL.test(labels[1]!)) return {kind: 'external', host, port}
    return {kind: 'service', namespace: labels[1]!, service: labels[0]!, port, qualified: true}
  }
  if (labels.length === 2 && LABEL.test(labels[0]!) && LABEL.test(labels[1]!)) {
    return {kind: 'service', namespace: labels[1]!, service: labels[0]!, port, qualified: false}
  }
  if (labels.length === 1 && LABEL.test(labels[0]!) && callerNamespace) {
    return {kind: 'service', namespace: callerNamespace, service: labels[0]!, port, qualified: false}
  }
  return {kind: 'external', host, port}
}

/** The canonical form used in logs and as the stream key: `web.shop.svc.cluster.local:80`. */
export function canonicalAuthority(a: ParsedAuthority, clusterDomain = 'cluster.local'): string {
  return a.kind === 'service' ? `${a.service}.${a.namespace}.svc.${clusterDomain}:${a.port}` : `${a.host}:${a.port}`
}
