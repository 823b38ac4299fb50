// watchAuthz streams: the authorization policy of one pod, sent whole as the first message and
// again whenever it changes (a new revision), to that pod's own proxy only. The client must
// present a mesh certificate whose identity is the pod's (its ServiceAccount's); anything else
// gets `error` FORBIDDEN and the stream ends. A pod the controller does not know yet gets no
// message until it does. Policies are compiled once per pod and change: every proxy of a
// Deployment watching its own pod costs one compilation per change in the namespace.
import type {DestinationMessage} from '../../protocol/destination.js'
import type {AuthzPolicy, DefaultInboundPolicy} from '../../protocol/authz.js'
import {compileAuthz} from '../../authz/compile.js'
import type {PodFacts} from '../../authz/pod.js'
import {DNS_LABEL, DNS_SUBDOMAIN} from '../../authz/identity.js'
import type {RouteState} from '../routes/state.js'
import {registryPorts} from '../routes/state.js'
import type {Registry} from '../destination/registry.js'
import type {AuthzState} from './state.js'
import type {WorkloadSource} from './workloads.js'
import type {AuthzView} from '../tap/authz-service.js'

export interface AuthzSettings {
  clusterDefault: DefaultInboundPolicy
  /** Canonical CIDRs. */
  clusterNetworks: string[]
  clusterDomain: string
}

export type PodPolicy = {kind: 'policy'; facts: PodFacts; policy: AuthzPolicy; text: string} | {kind: 'unknown'}

/** Compiled policies per pod, dropped for a namespace whenever anything in it changes. */
export class AuthzCompiler {
  private readonly byNs = new Map<string, Map<string, PodPolicy & {kind: 'policy'}>>()
  private readonly offs: Array<() => void>
  private readonly waiting = new Set<() => void>()
  /**
   * False until the policy sources have their first view (Kubernetes: the AuthorizationPolicy
   * and route informers), so that no proxy is sent a policy without the policies that apply to
   * it: streams stay silent until then.
   */
  private isReady: boolean

  constructor(
    readonly workloads: WorkloadSource,
    readonly state: AuthzState,
    private readonly routes: RouteState | undefined,
    private readonly registry: Registry,
    readonly settings: AuthzSettings,
    ready = true,
  ) {
    this.isReady = ready
    // Registered before any stream's listener, so streams never see a stale entry.
    const drop = (ns: string): void => void this.byNs.delete(ns)
    this.offs = [workloads.onChange(drop), state.onChange(drop), ...(routes ? [routes.onChange(drop)] : [])]
  }

  get ready(): boolean {
    return this.isReady
  }

  /** The sources have their first view: waiting streams send their first message. */
  setReady(): void {
    if (this.isReady) return
    this.isReady = true
    for (const go of [...this.waiting]) go()
    this.waiting.clear()
  }

  /** Runs `go` once ready (at once when ready already); returns a cancel. */
  whenReady(go: () => void): () => void {
    if (this.isReady) {
      go()
      return () => {}
    }
    this.waiting.add(go)
    return () => void this.waiting.delete(go)
  }

  /** The policy of pod ns/name (compiled once per change of its namespace). */
  get(namespace: string, name: string): PodPolicy {
    const cached = this.byNs.get(namespace)?.get(name)
    if (cached) return cached
    const facts = this.workloads.pod(namespace, name)
    if (!facts) return {kind: 'unknown'}
    const servicePorts = registryPorts(this.registry)
    const policy = compileAuthz({
      pod: facts,
      policies: this.state.inNamespace(namespace),
      services: this.workloads.servicesOn(facts),
      routesFor: this.routes ? (svc, port) => this.routes!.inForce(namespace, svc, port, servicePorts) : undefined,
      clusterDefault: this.settings.clusterDefault,
      namespaceAnnotations: this.workloads.namespaceAnnotations(namespace),
      clusterNetworks: this.settings.clusterNetworks,
      clusterDomain: this.settings.clusterDomain,
    })
    const hit = {kind: 'policy' as const, facts, policy, text: JSON.stringify({type: 'authz', ...policy})}
    let ns = this.byNs.get(namespace)
    if (!ns) this.byNs.set(namespace, (ns = new Map()))
    ns.set(name, hit)
    return hit
  }

  /** What `mesh authz` asks (through the tap server). */
  view(): AuthzView {
    return {
      policyOf: (namespace, pod) => {
        if (!this.isReady) return undefined
        const p = this.get(namespace, pod)
        return p.kind === 'policy' && p.facts.meshed ? p.policy : undefined
      },
      refused: (namespace) =>
        this.state.inNamespace(namespace).flatMap((p) => (p.verdict.ok ? [] : [{name: p.name, generation: p.generation, message: p.verdict.message}])).sort((a, b) => a.name.localeCompare(b.name)),
    }
  }

  /** Changes that may change a pod's policy (after the cache has dropped its entries). */
  onChange(listener: (namespace: string) => void): () => void {
    const offs = [this.workloads.onChange(listener), this.state.onChange(listener), ...(this.routes ? [this.routes.onChange(listener)] : [])]
    return () => offs.forEach((off) => off())
  }

  close(): void {
    for (const off of this.offs) off()
    this.byNs.clear()
  }
}

export interface AuthzStreamOptions {
  namespace: unknown
  pod: unknown
  /** The client certificate's verified identity (its one DNS SAN); undefined without one. */
  client: string | undefined
  compiler: AuthzCompiler
  /** An `authz` message as JSON text (without the id: the caller adds it). */
  sendText(text: string): void
  send(msg: DestinationMessage): void
  end(): void
}

export interface AuthzStream {
  canonical: string
  close(): void
}

export function openAuthzStream(o: AuthzStreamOptions): AuthzStream | undefined {
  const stop = (code: 'BAD_REQUEST' | 'FORBIDDEN', message: string): undefined => {
    o.send({type: 'error', code, message})
    o.end()
    return undefined
  }
  const ns = typeof o.namespace === 'string' ? o.namespace : ''
  const pod = typeof o.pod === 'string' ? o.pod : ''
  if (ns.length > 63 || !DNS_LABEL.test(ns)) return stop('BAD_REQUEST', 'a watchAuthz request needs the pod\'s namespace (a DNS label)')
  if (pod.length > 253 || !DNS_SUBDOMAIN.test(pod)) return stop('BAD_REQUEST', 'a watchAuthz request needs the pod\'s name (MESH_PROXY_POD_NAME)')
  // Asked before anything about the pod is looked up: without a certificate nothing is said.
  if (!o.client) return stop('FORBIDDEN', 'the authorization policy of a pod is served to that pod\'s proxy only: present its mesh certificate')
  const canonical = `${ns}/${pod}`
  let last = ''
  let done = false
  const push = (): void => {
    if (done || !o.compiler.ready) return
    const p = o.compiler.get(ns, pod)
    if (p.kind === 'unknown') return
    if (!p.facts.meshed || p.facts.identity !== o.client) {
      done = true
      close()
      stop('FORBIDDEN', `${o.client} may not watch the authorization policy of pod ${canonical}: only that pod's own proxy (the identity of its ServiceAccount) may`)
      return
    }
    if (p.policy.revision === last) return
    last = p.policy.revision
    o.sendText(p.text)
  }
  let off = (): void => {}
  let cancel = (): void => {}
  const close = (): void => {
    off()
    cancel()
  }
  off = o.compiler.onChange((changed) => {
    if (changed === ns) push()
  })
  cancel = o.compiler.whenReady(push)
  if (done) {
    close()
    return undefined
  }
  return {canonical, close}
}
