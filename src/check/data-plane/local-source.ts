// The data plane of `mesh demo`: proxies on 127.0.0.1 whose admin and inbound addresses the
// demo knows. Everything is read from the running proxies themselves.
import {httpAdminGet, probeAdmin} from './admin-probe.js'
import {readPeerCertificate, type PeerAddress} from './peer-cert.js'
import type {DataPlaneSource, Expected, ProxyInfo} from './source.js'

export interface LocalProxy {
  name: string
  namespace?: string
  /** e.g. http://127.0.0.1:41913 */
  adminUrl: string
  /** The inbound (TLS) listener, to read the certificate the proxy presents. */
  inbound?: PeerAddress
}

export interface LocalSourceOptions {
  proxies: LocalProxy[] | (() => LocalProxy[] | Promise<LocalProxy[]>)
  expected: Expected | (() => Promise<Expected>)
  timeoutMs?: number
}

export function localSource(options: LocalSourceOptions): DataPlaneSource {
  const timeoutMs = options.timeoutMs ?? 3000
  return {
    description: 'local demo',
    expected: async () => (typeof options.expected === 'function' ? options.expected() : options.expected),
    async proxies(namespace) {
      const all = typeof options.proxies === 'function' ? await options.proxies() : options.proxies
      const chosen = all.filter((p) => namespace === undefined || (p.namespace ?? 'default') === namespace)
      return Promise.all(chosen.map((p) => probeLocal(p, timeoutMs)))
    },
  }
}

async function probeLocal(p: LocalProxy, timeoutMs: number): Promise<ProxyInfo> {
  const info: ProxyInfo = {namespace: p.namespace ?? 'default', name: p.name, ready: false}
  try {
    const state = await probeAdmin(httpAdminGet(p.adminUrl, timeoutMs))
    Object.assign(info, state)
  } catch (error) {
    info.notReadyReason = `admin endpoint ${p.adminUrl} unreachable: ${(error as Error).message}`
  }
  if (p.inbound) {
    try {
      info.certificatePem = await readPeerCertificate(p.inbound, timeoutMs)
    } catch {
      // Reported by the certificate check as "cannot read".
    }
  }
  return info
}
