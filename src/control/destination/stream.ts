// One watch: an authority resolved against the registry, sent as the full state first and
// then as differences (add / remove / noEndpoints) whenever the registry says the namespace
// changed. Each stream keeps the set it last sent and diffs against it. An authority that is a
// Service's cluster IP (`10.96.0.10:80`) is that Service, exactly like a lookup by name; one
// that is a pod's IP (`10.244.1.5:9000`) is that pod alone.
import {isIP} from 'node:net'
import {endpointKey, type DestinationMessage, type WireEndpoint} from '../../protocol/destination.js'
import {AuthorityError, canonicalAuthority, parseAuthority} from './authority.js'
import type {PortResolution, Registry, ServiceRef} from './registry.js'

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
    // An IP literal may be a Service's cluster IP (the original destination of a redirected
    // connection): then it is that Service, followed as it changes. Else it may be a pod's own
    // IP: then it is that one endpoint, followed as the pod changes. Any other address is
    // external: the proxy goes to it directly. Cluster IPs take precedence.
    const ip = isIP(parsed.host) ? parsed.host : undefined
    if (!ip) return endWith(o, {type: 'noSuchService', authority: canonical, external: true})
    const port = parsed.port
    const target = (): Target => {
      const ref = o.registry.serviceAt(ip)
      if (ref) return serviceTarget(o, ref, port)
      const ep = o.registry.podAt?.(ip, port)
      if (!ep) return NOTHING
      return {id: `pod ${JSON.stringify(ep)}`, namespace: ep.labels.dst_namespace, resolve: () => ({kind: 'endpoints', endpoints: [ep]})}
    }
    const first = target()
    if (first === NOTHING) return endWith(o, {type: 'noSuchService', authority: canonical, external: true})
    return follow(o, canonical, target, true)
  }
  const {namespace, service, port, qualified} = parsed
  const ref = {namespace, service}
  return follow(o, canonical, () => serviceTarget(o, ref, port), qualified || (o.registry.hasNamespace(namespace) && o.authority.includes('.')))
}

/** What an authority designates now: `id` changes when it designates something else. */
interface Target {
  id: string
  namespace: string | undefined
  resolve(): PortResolution
}

const NOTHING: Target = {id: 'none', namespace: undefined, resolve: () => ({kind: 'noService'})}

function serviceTarget(o: StreamOptions, ref: ServiceRef, port: number): Target {
  return {id: `svc ${ref.namespace}/${ref.service}`, namespace: ref.namespace, resolve: () => o.registry.resolve(ref.namespace, ref.service, port)}
}

function endWith(o: StreamOptions, msg: DestinationMessage): undefined {
  o.send(msg)
  o.end()
  return undefined
}

/**
 * Sends the first state, then re-resolves on every change that may touch it and sends the
 * difference. `failFast`: whether a missing service or port is "no such service" (503) rather
 * than external.
 */
function follow(o: StreamOptions, canonical: string, target: () => Target, failFast: boolean): Stream | undefined {
  let current = target()
  const first = current.resolve()
  if (first.kind === 'external') return endWith(o, {type: 'noSuchService', authority: canonical, external: true})
  // A short name in an unknown namespace, or a bare name that is not a service, may be an
  // outside host name: DNS decides. A fully qualified cluster name (or a cluster IP) fails fast.
  if (first.kind !== 'endpoints') return endWith(o, {type: 'noSuchService', authority: canonical, external: !failFast})
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
    // Only changes in the target's namespace matter, unless the authority now designates
    // something else (a cluster IP or pod IP that went away or was given to a new owner, or a
    // pod that changed: its id is its endpoint).
    const now = target()
    if (ns !== current.namespace && now.id === current.id) return
    current = now
    const r = current.resolve()
    if (r.kind === 'endpoints') update(r.endpoints, true)
    else update([], false)
  })
  return {canonical, close: unsubscribe}
}
