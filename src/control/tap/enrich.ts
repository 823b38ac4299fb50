// Names the peers of a tap event: the tapped pod is the source of its outbound requests and the
// destination of its inbound ones; the other side is named by the proxy's dst_* labels, by a
// lookup of its address, or by its mTLS identity. Labels use plain keys: namespace, pod,
// deployment, serviceaccount, ...
import type {TapEvent, TapPeer} from '../../protocol/tap.js'
import {parseIdentity} from '../../stat/edges.js'
import type {PodInfo} from './types.js'

export type PodLookup = (address: string) => Promise<PodInfo | undefined>

export function podLabels(p: PodInfo): Record<string, string> {
  const l: Record<string, string> = {namespace: p.namespace, pod: p.name}
  if (p.owner.kind !== 'pod') l[p.owner.kind] = p.owner.name
  if (p.serviceAccount) l.serviceaccount = p.serviceAccount
  return l
}

function plain(labels: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(labels ?? {})) if (v !== '') out[k.startsWith('dst_') ? k.slice(4) : k] = v
  return out
}

function withLabels(peer: TapPeer, labels: Record<string, string>): TapPeer {
  return Object.keys(labels).length > 0 ? {address: peer.address, labels} : {address: peer.address}
}

export async function enrichEvent(ev: TapEvent, tapped: PodInfo, lookup?: PodLookup): Promise<TapEvent> {
  const self = podLabels(tapped)
  if (ev.direction === 'outbound') {
    let dst = plain(ev.destination.labels)
    if (!dst.pod && lookup) {
      const p = await lookup(ev.destination.address)
      if (p) dst = {...podLabels(p), ...dst}
    }
    return {...ev, source: withLabels(ev.source, {...plain(ev.source.labels), ...self}), destination: withLabels(ev.destination, dst)}
  }
  let src = plain(ev.source.labels)
  if (!src.pod && lookup) {
    const p = await lookup(ev.source.address)
    if (p) src = {...podLabels(p), ...src}
  }
  if (!src.serviceaccount && ev.tls.tls && ev.tls.clientId) {
    const who = parseIdentity(ev.tls.clientId)
    if (who) src = {namespace: who.namespace, serviceaccount: who.serviceAccount, ...src}
  }
  return {...ev, source: withLabels(ev.source, src), destination: withLabels(ev.destination, {...plain(ev.destination.labels), ...self})}
}

/** Does the event go to this resource (the --to filter)? Compares the destination's plain labels. */
export function destinationIs(ev: TapEvent, to: {kind: string; name?: string; namespace: string; pods: Set<string>}): boolean {
  if (ev.direction !== 'outbound') return false
  const l = ev.destination.labels ?? {}
  if (l.pod && l.namespace && to.pods.has(`${l.namespace}/${l.pod}`)) return true
  if (l.namespace !== to.namespace) return false
  if (to.kind === 'namespace') return true
  return to.name === undefined ? l[to.kind] !== undefined : l[to.kind] === to.name
}
