// IP-literal authorities (`10.96.0.10:80`, `[fd00::1]:80`): which of them the destination
// service can know (a Service's cluster IP, a pod's IP), and which it never can.
import {BlockList, isIP} from 'node:net'

/** The host part of `host:port` (IPv6 brackets removed). */
export function hostOf(authority: string): string {
  return authority.replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1')
}

/** Loopback and unspecified addresses, in every form (`::ffff:7f00:1` is 127.0.0.1). */
const NEVER = new BlockList()
NEVER.addSubnet('127.0.0.0', 8, 'ipv4')
NEVER.addAddress('0.0.0.0', 'ipv4')
NEVER.addAddress('::1', 'ipv6')
NEVER.addAddress('::', 'ipv6')

/** Loopback and unspecified addresses are never cluster or pod IPs: no need to ask. */
export function askable(ip: string): boolean {
  const family = isIP(ip)
  return family !== 0 && !NEVER.check(ip, family === 4 ? 'ipv4' : 'ipv6')
}

/**
 * `ip:port` (`[ip6]:port`) as {host, port} when the IP is one the destination service may learn
 * later (a new Service or pod); undefined for names, loopback and unspecified addresses.
 */
export function askableIpAuthority(authority: string): {host: string; port: number} | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|(\d{1,3}(?:\.\d{1,3}){3})):(\d{1,5})$/.exec(authority)
  if (!m) return undefined
  const host = m[1] ?? m[2]!
  const port = Number(m[3])
  return isIP(host) !== 0 && askable(host) && port > 0 && port < 65_536 ? {host, port} : undefined
}
