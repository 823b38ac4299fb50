// One `mesh tap` / `mesh top` stream: connects to the proxy of every pod the target resolves
// to, merges their events into one sink, names the peers, and re-resolves every few seconds so
// pods that appear join. A pod whose connection ends (deleted, proxy gone) reports podEnd and
// the others go on; when none is left and none appears, the stream ends. A target whose
// proxies only ever carried opaque TCP gets a warning saying why no event will come.
import {sumBy} from '../../metrics/query.js'
import type {Identity} from '../../proxy/core/contracts.js'
import type {TapEvent, TapFilter} from '../../protocol/tap.js'
import type {Scrape} from '../../stat/window.js'
import type {TapStreamMessage} from './api.js'
import {destinationIs, enrichEvent, type PodLookup} from './enrich.js'
import {openProxyTap} from './proxy-tap.js'
import {shortKind, type ResourceRef} from './resource.js'
import type {PodInfo, ResolvedGroup, ResolveScope, TargetResolver} from './types.js'

const RETRY_MS = 30_000

/** Not the app's own hop into its proxy's outbound listener (tls no_tls_reason=loopback). */
const tcpToPeers = (l: Record<string, string>): boolean => l.no_tls_reason !== 'loopback'

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
  /**
   * The pods' metrics (the tap server's MetricsStore), to tell a user who taps a TCP-only
   * workload why no event comes: tap sees HTTP and gRPC requests, not opaque connections.
   */
  metrics?: {current(pod: PodInfo): Promise<{current: Scrape}>}
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
  private events = 0
  private protocolHint: 'pending' | 'checking' | 'done' = 'pending'

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
    void this.hintProtocol(groups)
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
      const groups = await this.opts.resolver.resolve(this.opts.resource, this.opts.scope)
      this.connect(groups, false)
      void this.hintProtocol(groups)
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
            this.events++
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

  /**
   * Until the first event: when the tapped pods' proxies have carried TCP connections and never
   * an HTTP or gRPC request (a database, a line protocol), says so once, instead of leaving the
   * user in front of a silent stream. Checked again at every refresh until it can tell.
   */
  private async hintProtocol(groups: ResolvedGroup[]): Promise<void> {
    const metrics = this.opts.metrics
    if (!metrics || this.protocolHint !== 'pending' || this.events > 0) return
    const pods = groups.flatMap((g) => g.pods).filter((p) => p.meshed && p.running && p.adminAddress)
    if (pods.length === 0) return
    this.protocolHint = 'checking'
    let requests = 0
    let connections = 0
    await Promise.all(pods.map(async (p) => {
      const {current} = await metrics.current(p).catch(() => ({current: undefined}))
      if (!current) return
      const total = (family: string): number => sumBy(current.families.get(family), [], tcpToPeers).reduce((a, g) => a + g.value, 0)
      requests += total('request_total')
      connections += total('tcp_open_total')
    }))
    if (requests > 0 || this.closed || this.events > 0) {
      this.protocolHint = requests > 0 ? 'done' : 'pending'
      return
    }
    if (connections === 0) {
      this.protocolHint = 'pending'
      return
    }
    this.protocolHint = 'done'
    const r = this.opts.resource
    const what = r.name === undefined ? shortKind(r.kind) : `${shortKind(r.kind)}/${r.name}`
    this.opts.send({
      type: 'warning',
      message: `${what}: its proxies have carried ${connections} TCP connection${connections === 1 ? '' : 's'} and no HTTP or gRPC request. ` +
        'tap shows HTTP and gRPC requests only; see its connections with `mesh stat ' + what + ' -o wide` (connection rate, bytes/s) and `mesh edges`.',
    })
  }

  private finish(reason: string): void {
    if (this.closed) return
    this.opts.send({type: 'end', reason})
    this.close()
  }
}
