// One `mesh tap` / `mesh top` stream: connects to the proxy of every pod the target resolves
// to, merges their events into one sink, names the peers, and re-resolves every few seconds so
// pods that appear join. A pod whose connection ends (deleted, proxy gone) reports podEnd and
// the others go on; when none is left and none appears, the stream ends.
import type {Identity} from '../../proxy/contracts.js'
import type {TapEvent, TapFilter} from '../../protocol/tap.js'
import type {TapStreamMessage} from './api.js'
import {destinationIs, enrichEvent, type PodLookup} from './enrich.js'
import {openProxyTap} from './proxy-tap.js'
import type {ResourceRef} from './resource.js'
import type {PodInfo, ResolvedGroup, ResolveScope, TargetResolver} from './types.js'

const RETRY_MS = 30_000

export interface TapSessionOptions {
  resolver: TargetResolver
  resource: ResourceRef
  scope: ResolveScope
  filter: TapFilter
  to?: {resource: ResourceRef; scope: ResolveScope}
  identity?: Identity
  lookup?: PodLookup
  send(msg: TapStreamMessage): void
  /** Re-resolve the target this often (default 5 s). */
  refreshMs?: number
  /** Pods tapped at once (default 500). */
  maxPods?: number
}

export class TapSession {
  private readonly conns = new Map<string, {close(): void}>()
  private readonly seen = new Set<string>()
  /** Pods whose part ended: tapped again only with a new address, or after RETRY_MS. */
  private readonly ended = new Map<string, {address: string; at: number}>()
  private timer: NodeJS.Timeout | undefined
  private closed = false
  private toMatch: ((ev: TapEvent) => boolean) | undefined
  private emptyRounds = 0

  constructor(private readonly opts: TapSessionOptions) {}

  /** Resolves the target and the --to resource (throws TargetNotFoundError), then connects. */
  async start(): Promise<void> {
    const groups = await this.opts.resolver.resolve(this.opts.resource, this.opts.scope)
    if (this.opts.to) {
      const toGroups = await this.opts.resolver.resolve(this.opts.to.resource, this.opts.to.scope)
      const pods = new Set(toGroups.flatMap((g) => g.pods.map((p) => `${p.namespace}/${p.name}`)))
      const ref = this.opts.to.resource
      const namespace = ref.kind === 'namespace' && ref.name ? ref.name : this.opts.to.scope.namespace
      this.toMatch = (ev) => destinationIs(ev, {kind: ref.kind, name: ref.name, namespace, pods})
    }
    this.connect(groups, true)
    this.timer = setInterval(() => void this.refresh(), this.opts.refreshMs ?? 5_000)
    this.timer.unref()
  }

  close(): void {
    this.closed = true
    if (this.timer) clearInterval(this.timer)
    for (const c of this.conns.values()) c.close()
    this.conns.clear()
  }

  private async refresh(): Promise<void> {
    if (this.closed) return
    try {
      this.connect(await this.opts.resolver.resolve(this.opts.resource, this.opts.scope), false)
    } catch {
      this.connect([], false)
    }
  }

  private connect(groups: ResolvedGroup[], first: boolean): void {
    if (this.closed) return
    const pods = groups.flatMap((g) => g.pods)
    const max = this.opts.maxPods ?? 500
    for (const pod of pods) {
      const key = `${pod.namespace}/${pod.name}`
      if (this.conns.has(key) || this.seen.has(key)) continue
      const gone = this.ended.get(key)
      if (gone && gone.address === pod.tapAddress && Date.now() - gone.at < RETRY_MS) continue
      if (!pod.meshed) {
        if (first) this.opts.send({type: 'warning', message: `pod ${key} has no mesh proxy: its traffic is not tapped`})
        this.seen.add(key)
        continue
      }
      if (!pod.running || !pod.tapAddress) {
        if (first) this.opts.send({type: 'warning', message: `pod ${key} is not running yet: it is tapped once it runs`})
        continue
      }
      if (this.conns.size >= max) {
        this.opts.send({type: 'warning', message: `more than ${max} pods: only the first ${max} are tapped`})
        break
      }
      this.seen.add(key)
      this.open(key, pod)
    }
    if (this.conns.size === 0) {
      // Nothing to tap now: end after a second empty look, so a rollout in progress can catch up.
      if (first && pods.length === 0) this.opts.send({type: 'warning', message: 'the target has no pods (yet)'})
      if (++this.emptyRounds >= 2 || (first && pods.every((p) => !p.meshed))) this.finish('no meshed pod to tap')
    } else this.emptyRounds = 0
  }

  private open(key: string, pod: PodInfo): void {
    const {send} = this.opts
    // Events of one pod stay in order even though naming their peers may be asynchronous.
    let chain: Promise<void> = Promise.resolve()
    const conn = openProxyTap(
      pod,
      this.opts.filter,
      {
        onOpen: () => send({type: 'podStart', pod: key}),
        onEvent: (ev) => {
          chain = chain.then(async () => {
            const named = await enrichEvent(ev, pod, this.opts.lookup).catch(() => ev)
            if (this.closed || (this.toMatch && !this.toMatch(named))) return
            send({type: 'event', pod: key, event: named})
          })
        },
        onEnd: (reason) => {
          void chain.then(() => {
            if (this.closed || !this.conns.has(key)) return
            this.conns.delete(key)
            // A pod that comes back (same name, new address) is tapped again on the next refresh.
            this.seen.delete(key)
            this.ended.set(key, {address: pod.tapAddress ?? '', at: Date.now()})
            send({type: 'podEnd', pod: key, reason})
            if (this.conns.size === 0) void this.refresh()
          })
        },
      },
      {identity: this.opts.identity},
    )
    this.conns.set(key, conn)
  }

  private finish(reason: string): void {
    if (this.closed) return
    this.opts.send({type: 'end', reason})
    this.close()
  }
}
