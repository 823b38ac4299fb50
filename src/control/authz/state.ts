// The AuthorizationPolicies the control plane knows, from either backend (the Kubernetes
// informer or the local registry file), each validated. A refused policy applies nothing: the
// controller writes no status (it has read rights only), so it says why in its log and `mesh
// authz` shows the same verdict (the validator is shared).
import type {ValidatedPolicy} from '../../authz/validate.js'
import {ChangeFanout} from '../destination/registry.js'
import type {Logger} from '../logger.js'

export function policyKey(p: {namespace: string; name: string}): string {
  return `${p.namespace}/${p.name}`
}

export class AuthzState {
  private readonly byNs = new Map<string, Map<string, ValidatedPolicy>>()
  private readonly fanout = new ChangeFanout()

  constructor(private readonly log?: Logger) {}

  /** A policy was added or changed, or deleted (undefined). Emits a change for its namespace when what it says changed. */
  set(namespace: string, name: string, validated: ValidatedPolicy | undefined): void {
    let ns = this.byNs.get(namespace)
    if (!validated) {
      if (ns?.delete(name)) {
        if (ns.size === 0) this.byNs.delete(namespace)
        this.fanout.emit(namespace)
      }
      return
    }
    const before = ns?.get(name)
    if (before && JSON.stringify(before) === JSON.stringify(validated)) return
    if (!validated.verdict.ok && (!before || before.verdict.ok || before.verdict.message !== validated.verdict.message)) {
      this.log?.warn('authz: an AuthorizationPolicy is refused and applies nothing', {policy: `${namespace}/${name}`, generation: validated.generation, problem: validated.verdict.message})
    }
    if (!ns) this.byNs.set(namespace, (ns = new Map()))
    ns.set(name, validated)
    this.fanout.emit(namespace)
  }

  /** Every policy goes (the CRD was removed). */
  clear(): void {
    const namespaces = [...this.byNs.keys()]
    this.byNs.clear()
    for (const ns of namespaces) this.fanout.emit(ns)
  }

  /** The policies of a namespace, refused ones included (compile skips them). */
  inNamespace(namespace: string): ValidatedPolicy[] {
    return [...(this.byNs.get(namespace)?.values() ?? [])]
  }

  size(): number {
    let n = 0
    for (const ns of this.byNs.values()) n += ns.size
    return n
  }

  onChange(listener: (namespace: string) => void): () => void {
    return this.fanout.add(listener)
  }
}
