// One watch: an authority resolved against the registry, sent as the full state first and
// then as differences (add / remove / noEndpoints) whenever the registry says the namespace
// changed. Each stream keeps the set it last sent and diffs against it.
import {endpointKey, type DestinationMessage, type WireEndpoint} from '../../protocol/destination.js'
import {AuthorityError, canonicalAuthority, parseAuthority} from './authority.js'
import type {Registry} from './registry.js'

export interface StreamOptions {
  authority: string
  callerNamespace: string | undefined
  clusterDomain: string
  registry: Registry
  send(msg: DestinationMessage): void
  /** The stream ended on our side (noSuchService or error sent): close the socket. */
  end(): void
}

export interface Stream {
  canonical: string
  close(): void
}

export function openStream(o: StreamOptions): Stream | undefined {
  let parsed
  try {
    parsed = parseAuthority(o.authority, o.callerNamespace, o.clusterDomain)
  } catch (err) {
    o.send({type: 'error', code: 'BAD_REQUEST', message: `authority "${o.authority.slice(0, 100)}": ${(err as AuthorityError).message}`})
    o.end()
    return undefined
  }
  const canonical = canonicalAuthority(parsed, o.clusterDomain)
  if (parsed.kind === 'external') {
    o.send({type: 'noSuchService', authority: canonical, external: true})
    o.end()
    return undefined
  }
  const {namespace, service, port, qualified} = parsed
  const first = o.registry.resolve(namespace, service, port)
  if (first.kind === 'external') {
    o.send({type: 'noSuchService', authority: canonical, external: true})
    o.end()
    return undefined
  }
  if (first.kind !== 'endpoints') {
    // A short name in an unknown namespace, or a bare name that is not a service, may be an
    // outside host name: DNS decides. A fully qualified cluster name fails fast.
    const external = !qualified && (!o.registry.hasNamespace(namespace) || !o.authority.includes('.'))
    o.send({type: 'noSuchService', authority: canonical, external})
    o.end()
    return undefined
  }
  let sent = new Map<string, string>()
  let exists = true
  const update = (endpoints: WireEndpoint[], serviceExists: boolean): void => {
    const next = new Map(endpoints.map((e) => [endpointKey(e), JSON.stringify(e)]))
    const removed = [...sent.keys()].filter((k) => !next.has(k))
    const added = endpoints.filter((e) => sent.get(endpointKey(e)) !== JSON.stringify(e))
    if (removed.length > 0) o.send({type: 'remove', addresses: removed})
    if (added.length > 0) o.send({type: 'add', endpoints: added})
    if (next.size === 0 && (sent.size > 0 || exists !== serviceExists)) o.send({type: 'noEndpoints', exists: serviceExists})
    sent = next
    exists = serviceExists
  }
  if (first.endpoints.length === 0) o.send({type: 'noEndpoints', exists: true})
  else o.send({type: 'add', endpoints: first.endpoints})
  sent = new Map(first.endpoints.map((e) => [endpointKey(e), JSON.stringify(e)]))
  const unsubscribe = o.registry.onChange((ns) => {
    if (ns !== namespace) return
    const r = o.registry.resolve(namespace, service, port)
    if (r.kind === 'endpoints') update(r.endpoints, true)
    else update([], false)
  })
  return {canonical, close: unsubscribe}
}
