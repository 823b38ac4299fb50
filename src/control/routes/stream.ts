// A routes stream: the route policy of one authority (a Service port), sent whole as the first
// message and again whenever it changes (a new revision). The authority is read as for endpoint
// streams (a name, or a Service's cluster IP); anything that is not a Service port gets
// noSuchService, with the same meaning. Policies are compiled once per Service port and change,
// and serialised once: a hundred proxies watching one Service cost one compilation per change.
import {isIP} from 'node:net'
import type {DestinationMessage} from '../../protocol/destination.js'
import type {RoutePolicy} from '../../protocol/routes.js'
import {compilePolicy} from '../../routes/policy.js'
import {AuthorityError, canonicalAuthority, parseAuthority} from '../destination/authority.js'
import type {Registry} from '../destination/registry.js'
import {registryPorts, type RouteState} from './state.js'

/** Compiled policies per Service port, dropped for a namespace whenever it changes. */
export class PolicyCache {
  private readonly byNs = new Map<string, Map<string, {policy: RoutePolicy; text: string}>>()
  private readonly unsubscribe: Array<() => void>

  constructor(private readonly registry: Registry, private readonly routes: RouteState, private readonly clusterDomain: string) {
    // Registered before any stream's listener, so streams never see a stale entry.
    const drop = (ns: string): void => void this.byNs.delete(ns)
    this.unsubscribe = [registry.onChange(drop), routes.onChange(drop)]
  }

  /** The policy of ns/name:port and its JSON text (a `routes` message without the id). */
  get(namespace: string, name: string, port: number): {policy: RoutePolicy; text: string} {
    let ns = this.byNs.get(namespace)
    if (!ns) this.byNs.set(namespace, (ns = new Map()))
    const key = `${name}:${port}`
    let hit = ns.get(key)
    if (!hit) {
      const servicePorts = registryPorts(this.registry)
      const policy = compilePolicy({service: {namespace, name, port}, clusterDomain: this.clusterDomain, routes: this.routes.inForce(namespace, name, port, servicePorts), servicePorts})
      hit = {policy, text: JSON.stringify({type: 'routes', ...policy})}
      ns.set(key, hit)
    }
    return hit
  }

  /** Route changes (streams also listen to the registry). */
  onRoutesChange(listener: (namespace: string) => void): () => void {
    return this.routes.onChange(listener)
  }

  close(): void {
    for (const u of this.unsubscribe) u()
    this.byNs.clear()
  }
}

export interface RouteStreamOptions {
  authority: string
  callerNamespace: string | undefined
  clusterDomain: string
  registry: Registry
  cache: PolicyCache
  /** A `routes` message as JSON text (without the id: the caller adds it). */
  sendText(text: string): void
  send(msg: DestinationMessage): void
  end(): void
}

export interface RouteStream {
  canonical: string
  close(): void
}

export function openRouteStream(o: RouteStreamOptions): RouteStream | undefined {
  let parsed
  try {
    parsed = parseAuthority(o.authority, o.callerNamespace, o.clusterDomain)
  } catch (err) {
    o.send({type: 'error', code: 'BAD_REQUEST', message: `authority "${o.authority.slice(0, 100)}": ${(err as AuthorityError).message}`})
    o.end()
    return undefined
  }
  const canonical = canonicalAuthority(parsed, o.clusterDomain)
  const gone = (external: boolean): undefined => {
    o.send({type: 'noSuchService', authority: canonical, external})
    o.end()
    return undefined
  }
  let target: () => {namespace: string; service: string; port: number} | undefined
  if (parsed.kind === 'external') {
    // A Service's cluster IP is that Service; any other address (a pod's, an outside one) has no routes.
    const ip = isIP(parsed.host) ? parsed.host : undefined
    const port = parsed.port
    if (!ip) return gone(true)
    target = () => {
      const ref = o.registry.serviceAt(ip)
      return ref ? {namespace: ref.namespace, service: ref.service, port} : undefined
    }
    if (!target()) return gone(true)
  } else {
    const {namespace, service, port, qualified} = parsed
    const first = o.registry.resolve(namespace, service, port)
    if (first.kind === 'external') return gone(true)
    if (first.kind !== 'endpoints') return gone(!(qualified || (o.registry.hasNamespace(namespace) && o.authority.includes('.'))))
    target = () => ({namespace, service, port})
  }
  let last = ''
  const push = (): void => {
    const t = target()
    // A cluster IP whose Service went away: no routes until it designates a Service again.
    const {policy, text} = t ? o.cache.get(t.namespace, t.service, t.port) : {policy: undefined, text: EMPTY(canonical)}
    const revision = policy?.revision ?? 'none'
    if (revision === last) return
    last = revision
    o.sendText(text)
  }
  push()
  let watched = target()?.namespace
  const listener = (ns: string): void => {
    const now = target()?.namespace
    if (ns !== watched && now === watched) return
    watched = now
    push()
  }
  const offRegistry = o.registry.onChange(listener)
  const offRoutes = o.cache.onRoutesChange(listener)
  return {
    canonical,
    close: () => {
      offRegistry()
      offRoutes()
    },
  }
}

function EMPTY(authority: string): string {
  return JSON.stringify({type: 'routes', version: 1, authority, revision: 'none', routes: [], rules: [], http: [], grpc: []})
}
