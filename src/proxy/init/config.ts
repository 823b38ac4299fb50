// proxy-init's settings, checked: ports, port ranges, subnets, the proxy's uid.
import {isIPv4} from 'node:net'
import {PROXY_PORTS, PROXY_UID} from '../../protocol/proxy-env.js'

export type IptablesMode = 'legacy' | 'nft'

export interface FirewallConfig {
  inboundPort: number
  outboundPort: number
  proxyUid: number
  /** Ports or `lo:hi` ranges (iptables multiport syntax). */
  inboundPortsToIgnore: string[]
  outboundPortsToIgnore: string[]
  /** Source subnets whose inbound connections are not redirected (Linkerd's --subnets-to-ignore). */
  subnetsToIgnore: string[]
  mode: IptablesMode
}

export class FirewallConfigError extends Error {
  readonly code = 'MESH_PROXY_INIT_CONFIG'
  constructor(
    readonly input: string,
    message: string,
  ) {
    super(message)
  }
}

export function parsePort(value: string | number, input: string): number {
  const n = typeof value === 'number' ? value : /^\d{1,5}$/.test(value.trim()) ? Number(value) : NaN
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new FirewallConfigError(input, `invalid ${input} ${JSON.stringify(String(value))}: expected a port 1-65535`)
  return n
}

/** `4190,4191,8000-8100` -> ['4190', '4191', '8000:8100'] (deduplicated, in order). */
export function parsePortList(value: string | undefined, input: string): string[] {
  if (value === undefined || value.trim() === '') return []
  const out: string[] = []
  for (const raw of value.split(',')) {
    const item = raw.trim()
    if (item === '') continue
    const range = /^(\d{1,5})-(\d{1,5})$/.exec(item)
    let entry: string
    if (range) {
      const lo = parsePort(range[1], input)
      const hi = parsePort(range[2], input)
      if (lo > hi) throw new FirewallConfigError(input, `invalid ${input} range ${JSON.stringify(item)}: the first port must not exceed the second`)
      entry = lo === hi ? String(lo) : `${lo}:${hi}`
    } else {
      if (!/^\d+$/.test(item)) throw new FirewallConfigError(input, `invalid ${input} entry ${JSON.stringify(item)}: expected a port or a range like 8000-8100`)
      entry = String(parsePort(item, input))
    }
    if (!out.includes(entry)) out.push(entry)
  }
  return out
}

/** `10.0.0.0/8,192.168.1.5` -> ['10.0.0.0/8', '192.168.1.5/32'] */
export function parseSubnets(value: string | undefined, input: string): string[] {
  if (value === undefined || value.trim() === '') return []
  return value.split(',').map((raw) => {
    const item = raw.trim()
    const m = /^([\d.]+)(?:\/(\d{1,2}))?$/.exec(item)
    if (!m || !isIPv4(m[1]) || (m[2] !== undefined && Number(m[2]) > 32)) {
      throw new FirewallConfigError(input, `invalid ${input} entry ${JSON.stringify(item)}: expected an IPv4 CIDR like 10.0.0.0/8`)
    }
    return `${m[1]}/${m[2] ?? '32'}`
  })
}

export interface FirewallFlags {
  incomingProxyPort?: string | number
  outgoingProxyPort?: string | number
  proxyUid?: string | number
  inboundPortsToIgnore?: string
  outboundPortsToIgnore?: string
  subnetsToIgnore?: string
  iptablesMode?: string
}

/** Builds the config from flag values; the proxy's admin and tap ports are always skipped inbound. */
export function firewallConfig(flags: FirewallFlags = {}): FirewallConfig {
  const uid = flags.proxyUid === undefined ? PROXY_UID : Number(flags.proxyUid)
  if (!Number.isInteger(uid) || uid < 0 || uid > 2 ** 32 - 2 || !/^\d+$/.test(String(flags.proxyUid ?? uid))) {
    throw new FirewallConfigError('--proxy-uid', `invalid --proxy-uid ${JSON.stringify(String(flags.proxyUid))}: expected a numeric uid`)
  }
  const mode = flags.iptablesMode ?? 'nft'
  if (mode !== 'legacy' && mode !== 'nft') throw new FirewallConfigError('--iptables-mode', `invalid --iptables-mode ${JSON.stringify(mode)}: expected legacy or nft`)
  const inboundIgnore = parsePortList(`${PROXY_PORTS.tap},${PROXY_PORTS.admin},${flags.inboundPortsToIgnore ?? ''}`, '--inbound-ports-to-ignore')
  return {
    inboundPort: parsePort(flags.incomingProxyPort ?? PROXY_PORTS.inbound, '--incoming-proxy-port'),
    outboundPort: parsePort(flags.outgoingProxyPort ?? PROXY_PORTS.outbound, '--outgoing-proxy-port'),
    proxyUid: uid,
    inboundPortsToIgnore: inboundIgnore,
    outboundPortsToIgnore: parsePortList(flags.outboundPortsToIgnore, '--outbound-ports-to-ignore'),
    subnetsToIgnore: parseSubnets(flags.subnetsToIgnore, '--subnets-to-ignore'),
    mode,
  }
}
