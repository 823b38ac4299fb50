// AuthorizationPolicies from the API server (policy.mesh.dev/v1alpha1). mesh installs their CRD,
// so it is normally there; when it is not (installed without it, or removed), the controller
// serves the defaults, says so in its log and looks again every `pollMs` (30 s). Read only:
// list and watch, no status (docs/architecture/authz.md says why).
import type * as k8s from '@kubernetes/client-node'
import {AUTHZ_GROUP, AUTHZ_PLURAL, AUTHZ_VERSION} from '../../protocol/authz.js'
import {validatePolicy, type ValidateOptions} from '../../authz/validate.js'
import {startInformer, repeatAfter, syncedWithin, type Informer} from '../informer.js'
import {apiStatus} from '../../k8s/client.js'
import type {Logger} from '../logger.js'
import type {AuthzState} from './state.js'

export interface KubernetesAuthzOptions extends ValidateOptions {
  lib: typeof k8s
  kc: k8s.KubeConfig
  state: AuthzState
  log: Logger
  /** How often to look for the CRD while it is missing (default 30 s). */
  pollMs?: number
  /** How long start() waits for the first list (default 60 s). */
  syncTimeoutMs?: number
}

type PolicyObject = k8s.KubernetesObject & {spec?: unknown}

export class KubernetesAuthz {
  private custom: k8s.CustomObjectsApi | undefined
  private informer: Informer<PolicyObject> | undefined
  private poller: {stop(): void} | undefined
  private stopped = false
  private seen: 'present' | 'absent' | 'forbidden' | undefined

  /**
   * Resolves once the policies are known: the first list done, or the CRD found missing (no
   * policy applies). Until then the controller streams no authorization policy at all, rather
   * than the defaults without the policies that narrow them.
   */
  readonly synced: Promise<void>
  private markSynced!: () => void

  constructor(private readonly o: KubernetesAuthzOptions) {
    this.synced = new Promise((r) => (this.markSynced = r))
  }

  async start(): Promise<void> {
    this.custom = this.o.kc.makeApiClient(this.o.lib.CustomObjectsApi)
    await this.look()
    const timeoutMs = this.o.syncTimeoutMs ?? 60_000
    if (this.informer && !(await syncedWithin(this.informer.synced, timeoutMs))) {
      this.o.log.warn('authz: the first list of AuthorizationPolicies did not complete; no authorization policy is streamed until it does', {timeoutMs})
    }
    this.poller = repeatAfter(() => this.look(), this.o.pollMs ?? 30_000)
  }

  async stop(): Promise<void> {
    this.stopped = true
    this.poller?.stop()
    await this.informer?.stop()
  }

  /** Whether the informer runs (tests, logs). */
  watching(): boolean {
    return this.informer !== undefined
  }

  private async look(): Promise<void> {
    if (this.stopped) return
    let found: typeof this.seen
    try {
      await this.custom!.listClusterCustomObject({group: AUTHZ_GROUP, version: AUTHZ_VERSION, plural: AUTHZ_PLURAL, limit: 1})
      found = 'present'
    } catch (err) {
      const code = apiStatus(err)
      if (code === 404) found = 'absent'
      else if (code === 403) found = 'forbidden'
      else {
        this.o.log.debug('authz: could not tell whether the AuthorizationPolicy CRD is installed; looking again later', {error: (err as Error).message?.split('\n')[0]})
        return
      }
    }
    const before = this.seen
    this.seen = found
    const crd = `${AUTHZ_PLURAL}.${AUTHZ_GROUP}/${AUTHZ_VERSION}`
    if (found === 'present' && !this.informer) {
      if (before) this.o.log.info(`authz: ${crd} is served: watching AuthorizationPolicies`)
      this.watch()
      void this.informer!.synced.then(() => this.markSynced())
    } else if (found !== 'present' && this.informer) {
      this.o.log.warn(`authz: ${crd} is no longer served: AuthorizationPolicies no longer apply (the defaults do)`)
      const inf = this.informer
      this.informer = undefined
      await inf.stop()
      this.o.state.clear()
    } else if (found !== 'present') {
      this.markSynced()
    }
    if (found !== before && found === 'absent') {
      this.o.log.warn(`authz: ${crd} is not installed: no AuthorizationPolicy applies, only the default inbound policies. Install it with: mesh install --crds | kubectl apply -f -`)
    } else if (found !== before && found === 'forbidden') {
      this.o.log.warn(`authz: not allowed to list ${AUTHZ_PLURAL}.${AUTHZ_GROUP}: no AuthorizationPolicy applies (the controller's ClusterRole needs list/watch on them)`)
    }
  }

  private watch(): void {
    const {lib, kc, log} = this.o
    const custom = this.custom!
    this.informer = startInformer<PolicyObject>({
      lib, kc, log, name: AUTHZ_PLURAL,
      path: `/apis/${AUTHZ_GROUP}/${AUTHZ_VERSION}/${AUTHZ_PLURAL}`,
      list: () => custom.listClusterCustomObject({group: AUTHZ_GROUP, version: AUTHZ_VERSION, plural: AUTHZ_PLURAL}) as Promise<k8s.KubernetesListObject<PolicyObject>>,
      onEvent: (obj, verb) => {
        const ns = obj.metadata?.namespace
        const name = obj.metadata?.name
        if (!ns || !name) return
        this.o.state.set(ns, name, verb === 'delete' ? undefined : validatePolicy(obj, this.o))
      },
    })
  }
}
