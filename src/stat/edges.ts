// `mesh edges`: who talks to whom, from the proxies' own counters. Outbound series name the
// destination (dst_* labels) and the TLS parameters; inbound series reveal callers the scope
// does not cover (by their client identity), so traffic from outside meshed pods shows too.
// Sides are named as the user asked: by workload (deploy/web), or by pod for `edges po`
// (po/web-0). An app's hop into its own proxy (the outbound listener, on loopback: tls
// no_tls_reason=loopback) is not an edge between workloads and is left out.
import {sumBy} from '../metrics/query.js'
import type {PodInfo} from '../control/tap/types.js'
import {shortKind} from '../control/tap/resource.js'
import type {EdgeRow} from './types.js'
import type {Scrape} from './window.js'

const OUT_BY = ['dst_namespace', 'dst_deployment', 'dst_statefulset', 'dst_daemonset', 'dst_pod', 'authority', 'tls', 'client_id', 'server_id', 'no_tls_reason'] as const
const IN_BY = ['tls', 'client_id', 'server_id', 'no_tls_reason'] as const

export interface ScrapedPod {
  pod: PodInfo
  scrape: Scrape
}

export interface EdgesOptions {
  /** Name both sides by pod (`edges po`), not by workload. */
  byPod?: boolean
}

function ownerName(p: PodInfo): string {
  return `${shortKind(p.owner.kind)}/${p.owner.name}`
}

function dstName(l: Record<string, string>, byPod: boolean): string {
  if (byPod && l.dst_pod) return `po/${l.dst_pod}`
  if (l.dst_deployment) return `deploy/${l.dst_deployment}`
  if (l.dst_statefulset) return `sts/${l.dst_statefulset}`
  if (l.dst_daemonset) return `ds/${l.dst_daemonset}`
  if (l.dst_pod) return `po/${l.dst_pod}`
  return l.authority || 'unknown'
}

/** `<sa>.<ns>.serviceaccount.identity...` -> {sa, ns} */
export function parseIdentity(id: string): {serviceAccount: string; namespace: string} | undefined {
  const m = /^([^.]+)\.([^.]+)\.serviceaccount\.identity\./.exec(id)
  return m ? {serviceAccount: m[1], namespace: m[2]} : undefined
}

/** What an outbound series is when it is the app's own connection into its proxy. */
const ownHop = (l: Record<string, string>): boolean => l.tls !== 'true' && l.no_tls_reason === 'loopback'

export function computeEdges(pods: readonly ScrapedPod[], opts: EdgesOptions = {}): EdgeRow[] {
  const byPod = opts.byPod === true
  const name = (p: PodInfo): string => (byPod ? `po/${p.name}` : ownerName(p))
  const edges = new Map<string, EdgeRow>()
  const add = (e: Omit<EdgeRow, 'requests' | 'connections'>, requests: number, connections: number): void => {
    const key = [e.src, e.srcNamespace, e.dst, e.dstNamespace, e.secured, e.clientId, e.serverId, e.noTlsReason].join('\u0000')
    const cur = edges.get(key)
    if (cur) {
      cur.requests += requests
      cur.connections += connections
    } else edges.set(key, {...e, requests, connections})
  }
  for (const {pod, scrape} of pods) {
    for (const [family, isConn] of [['request_total', false], ['tcp_open_total', true]] as const) {
      for (const g of sumBy(scrape.families.get(family), OUT_BY, (l) => l.direction === 'outbound')) {
        if (g.value <= 0 || ownHop(g.labels)) continue
        const l = g.labels
        const secured = l.tls === 'true'
        add(
          {
            src: name(pod),
            srcNamespace: pod.namespace,
            dst: dstName(l, byPod),
            dstNamespace: l.dst_namespace ?? '',
            secured,
            clientId: secured ? (l.client_id ?? pod.identity ?? '') : '',
            serverId: secured ? (l.server_id ?? '') : '',
            noTlsReason: secured ? '' : (l.no_tls_reason ?? ''),
          },
          isConn ? 0 : g.value,
          isConn ? g.value : 0,
        )
      }
    }
  }
  // Inbound: callers whose outbound side is not in scope, named by their identity.
  const covered = new Set([...edges.values()].map((e) => `${e.clientId}->${e.dstNamespace}/${e.dst}`))
  for (const {pod, scrape} of pods) {
    for (const [family, isConn] of [['request_total', false], ['tcp_open_total', true]] as const) {
      for (const g of sumBy(scrape.families.get(family), IN_BY, (l) => l.direction === 'inbound')) {
        if (g.value <= 0) continue
        const l = g.labels
        const secured = l.tls === 'true'
        const clientId = l.client_id ?? ''
        if (secured && covered.has(`${clientId}->${pod.namespace}/${name(pod)}`)) continue
        if (!secured && l.no_tls_reason === 'loopback') continue
        const who = secured ? parseIdentity(clientId) : undefined
        add(
          {
            src: who ? `sa/${who.serviceAccount}` : 'unknown',
            srcNamespace: who?.namespace ?? '',
            dst: name(pod),
            dstNamespace: pod.namespace,
            secured,
            clientId: secured ? clientId : '',
            serverId: secured ? (l.server_id ?? pod.identity ?? '') : '',
            noTlsReason: secured ? '' : (l.no_tls_reason ?? ''),
          },
          isConn ? 0 : g.value,
          isConn ? g.value : 0,
        )
      }
    }
  }
  return [...edges.values()].sort((a, b) => (a.src + a.dst).localeCompare(b.src + b.dst))
}
