// Loop detection by address, not by string: a destination is this proxy when its address reaches
// this host (127.0.0.0/8, ::1, 0.0.0.0, ::, their IPv4-mapped forms, or any address of the
// host's interfaces) and its port is one of this proxy's listener ports. Authorities arrive
// normalised (authority.ts: `127.1`, `2130706433` and `0x7f.1` are 127.0.0.1 by then); names are
// checked once resolved, at connect time (lookup()), so a name that resolves, or later
// re-resolves, to this host is caught too.
import dns from 'node:dns'
import net from 'node:net'
import os from 'node:os'
import {ProxyError} from '../core/errors.js'

/** How long the host's interface addresses are kept before they are read again. */
const INTERFACES_TTL_MS = 10_000

export class LoopGuard {
  private local: net.BlockList | undefined
  private readAt = 0

  /**
   * `ports`: this proxy's listener ports (filled in as they start listening). `onLoop`: called
   * for each loop refused (the refusal counter).
   */
  constructor(private readonly ports: readonly number[], private readonly onLoop: () => void = () => {}) {}

  /** Whether `ip` (any form net.isIP accepts) reaches this host. */
  isLocal(ip: string): boolean {
    const family = net.isIP(ip)
    if (family === 0) return false
    return this.addresses().check(ip, family === 4 ? 'ipv4' : 'ipv6')
  }

  /** Whether connecting to `host:port` would reach this proxy's own listener (a name: only `localhost`). */
  isSelf(host: string, port: number): boolean {
    if (!this.ports.includes(port)) return false
    if (net.isIP(host) !== 0) return this.isLocal(host)
    return host === 'localhost' || host.endsWith('.localhost') || host === 'localhost.' || host.endsWith('.localhost.')
  }

  /** The error a loop is answered with (508), counted. */
  refuse(host: string, port: number): ProxyError {
    this.onLoop()
    return new ProxyError('LOOP', `${host.includes(':') ? `[${host}]` : host}:${port} is this proxy: the request would loop`)
  }

  /**
   * Whether the name `host` resolves to this host while `port` is one of this proxy's (only then
   * is it looked up). A lookup that fails or takes longer than `timeoutMs` says no: the connect
   * then fails on its own, or its lookup (lookupFor) finds the loop.
   */
  async resolvesToSelf(host: string, port: number, timeoutMs: number): Promise<boolean> {
    if (!this.ports.includes(port)) return false
    if (this.isSelf(host, port)) return true
    let timer: NodeJS.Timeout | undefined
    const late = new Promise<[]>((resolve) => { timer = setTimeout(() => resolve([]), timeoutMs) })
    try {
      const addrs = await Promise.race([dns.promises.lookup(host, {all: true}).catch(() => []), late])
      return addrs.some((a) => this.isLocal(a.address))
    } finally {
      clearTimeout(timer)
    }
  }

  /**
   * A `lookup` for net.connect to `port`: resolves as dns.lookup does, and fails with LOOP when an
   * address the name resolves to is this proxy.
   */
  lookupFor(port: number): net.LookupFunction {
    return (hostname, options, callback) => {
      dns.lookup(hostname, options, (err, address, family) => {
        if (err) return callback(err, address as never, family)
        const list = Array.isArray(address) ? address : [{address, family: family ?? 4}]
        if (this.ports.includes(port) && list.some((a) => this.isLocal(a.address))) {
          return callback(this.refuse(hostname, port) as unknown as NodeJS.ErrnoException, '', 4)
        }
        callback(null, address as never, family)
      })
    }
  }

  private addresses(): net.BlockList {
    const now = performance.now()
    if (this.local && now - this.readAt < INTERFACES_TTL_MS) return this.local
    const list = new net.BlockList()
    list.addSubnet('127.0.0.0', 8, 'ipv4')
    list.addAddress('0.0.0.0', 'ipv4')
    list.addAddress('::1', 'ipv6')
    list.addAddress('::', 'ipv6')
    for (const addrs of Object.values(os.networkInterfaces())) {
      for (const a of addrs ?? []) {
        // Link-local IPv6 addresses carry a scope; the address alone is enough here.
        const ip = a.address.split('%')[0]
        if (net.isIP(ip) !== 0) list.addAddress(ip, a.family === 'IPv4' ? 'ipv4' : 'ipv6')
      }
    }
    this.local = list
    this.readAt = now
    return list
  }
}
