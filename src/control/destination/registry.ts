// What the destination service asks of a backend: the endpoints behind a Service port, now,
// and a signal when a namespace's services or endpoints may have changed. Two backends:
// Kubernetes informers (k8s-registry.ts) and a file for `mesh demo` (local-registry.ts).
import type {WireEndpoint} from '../../protocol/destination.js'

export type PortResolution =
  /** The Service and port exist; `endpoints` may be empty. */
  | {kind: 'endpoints'; endpoints: WireEndpoint[]}
  /** An ExternalName Service: the proxy falls back to DNS. */
  | {kind: 'external'}
  | {kind: 'noService'}
  /** The Service exists but has no such port. */
  | {kind: 'noPort'; ports: number[]}

export interface ServiceRef {
  namespace: string
  service: string
}

export interface Registry {
  /** Resolves once the first full view is loaded (informers synced, file read). */
  start(): Promise<void>
  stop(): Promise<void>
  resolve(namespace: string, service: string, port: number): PortResolution
  /** The Service whose cluster IP is `ip` (spec.clusterIPs), for lookups by original destination. */
  serviceAt(ip: string): ServiceRef | undefined
  /**
   * The one endpoint behind a pod's own IP (`status.podIPs` of a running pod), for lookups of
   * `<pod IP>:<port>`; absent in backends that do not know pods (the local file).
   */
  podAt?(ip: string, port: number): WireEndpoint | undefined
  /** Whether the namespace exists (decides between "no such service" and "external name"). */
  hasNamespace(namespace: string): boolean
  /** Called after any change touching `namespace` (coarse on purpose: streams re-diff). */
  onChange(listener: (namespace: string) => void): () => void
}

/** Canonical text of an IP literal for index keys (IPv6 lower case, IPv4-mapped unwrapped). */
export function ipKey(ip: string): string {
  const v = ip.trim().toLowerCase().replace(/^\[(.*)\]$/, '$1')
  return v.startsWith('::ffff:') && v.includes('.') ? v.slice(7) : v
}

/** Listener bookkeeping for registries. */
export class ChangeFanout {
  private readonly listeners = new Set<(ns: string) => void>()

  add(listener: (ns: string) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  emit(namespace: string): void {
    for (const l of this.listeners) l(namespace)
  }
}

/** `config.mesh.dev/opaque-ports` values: `3306,5432,8000-8010`. */
export function parsePortList(value: string | undefined): (port: number) => boolean {
  if (!value) return () => false
  const ranges: Array<[number, number]> = []
  for (const part of value.split(',')) {
    const m = /^\s*(\d+)(?:\s*-\s*(\d+))?\s*$/.exec(part)
    if (!m) continue
    const lo = Number(m[1])
    ranges.push([lo, m[2] ? Number(m[2]) : lo])
  }
  return (port) => ranges.some(([lo, hi]) => port >= lo && port <= hi)
}
