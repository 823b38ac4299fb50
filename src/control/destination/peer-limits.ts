// Per-client bounds of the destination service. A client is a peer: its identity and address
// when it presented a certificate, its address alone when not (proxies without identity may read
// endpoints). Each peer may hold a few connections and a bounded number of watches across them:
// one client opening connections of 10,000 watches each took the controller from 72 to 248 MB at
// 50,000 watches. Refusals are counted by reason (and on a metrics registry when given) and
// logged at most once a minute per reason. Clients on loopback (local mode, where every proxy
// connects from 127.0.0.1, and tests) are each connection its own peer: there, only the
// per-connection bound applies.
import type {Counter} from '../../metrics/index.js'
import type {Registry} from '../../metrics/registry.js'
import type {Logger} from '../logger.js'

function isLoopback(ip: string): boolean {
  const v4 = ip.startsWith('::ffff:') ? ip.slice(7) : ip
  return v4.startsWith('127.') || ip === '::1'
}

export const DESTINATION_REFUSALS = {
  peer_connections: 'a connection from a client that already holds its maximum of connections (429)',
  peer_watches: 'a watch from a client that already holds its maximum of watches (UNAVAILABLE)',
  connection_watches: 'a watch on a connection that holds its maximum of watches (UNAVAILABLE)',
  total_streams: 'a watch or connection past the service-wide maximum of streams (503 or UNAVAILABLE)',
} as const

export type DestinationRefusal = keyof typeof DESTINATION_REFUSALS

export const DESTINATION_REFUSED_FAMILY = 'mesh_destination_refused_total'

export interface PeerLimitOptions {
  /** Connections one peer may hold at once (default 4). */
  maxConnectionsPerPeer?: number
  /** Watches one peer may hold at once, over all its connections (default 2,000). */
  maxWatchesPerPeer?: number
  /** Each loopback connection is its own peer (default true: local mode; tests set false). */
  loopbackPerConnection?: boolean
  log: Logger
  registry?: Registry
}

interface PeerUse {
  connections: number
  watches: number
}

const LOG_EVERY_MS = 60_000

export class PeerLimits {
  readonly maxConnections: number
  readonly maxWatches: number
  /** Refusals by reason since start. */
  readonly refused: Record<DestinationRefusal, number>
  private readonly peers = new Map<string, PeerUse>()
  private readonly counter?: Counter
  private readonly loggedAt = new Map<DestinationRefusal, number>()

  constructor(private readonly o: PeerLimitOptions) {
    this.maxConnections = o.maxConnectionsPerPeer ?? 4
    this.maxWatches = o.maxWatchesPerPeer ?? 2000
    this.refused = Object.fromEntries(Object.keys(DESTINATION_REFUSALS).map((r) => [r, 0])) as Record<DestinationRefusal, number>
    this.counter = o.registry?.counter({
      name: DESTINATION_REFUSED_FAMILY,
      help: `Destination service requests refused by a bound, by reason (${Object.entries(DESTINATION_REFUSALS).map(([r, d]) => `${r}: ${d}`).join('; ')}).`,
      labelNames: ['reason'],
    })
    for (const r of Object.keys(DESTINATION_REFUSALS)) this.counter?.labels(r)
  }

  /** The peer's key: `identity@address`, or `address` for a client without a certificate (loopback: per connection). */
  key(identity: string | undefined, address: string | undefined, port?: number): string {
    const perConnection = (this.o.loopbackPerConnection ?? true) && address !== undefined && isLoopback(address)
    const where = perConnection ? `${address}:${port ?? '?'}` : (address ?? '?')
    return identity ? `${identity}@${where}` : where
  }

  /** A new connection; false (counted) when the peer holds its maximum. */
  connect(peer: string): boolean {
    const use = this.use(peer)
    if (use.connections >= this.maxConnections) {
      this.refuse('peer_connections', peer)
      this.forgetIdle(peer, use)
      return false
    }
    use.connections++
    return true
  }

  disconnect(peer: string): void {
    const use = this.peers.get(peer)
    if (!use) return
    use.connections--
    this.forgetIdle(peer, use)
  }

  /** A new watch; false (counted) when the peer holds its maximum. */
  watch(peer: string): boolean {
    const use = this.use(peer)
    if (use.watches >= this.maxWatches) {
      this.refuse('peer_watches', peer)
      return false
    }
    use.watches++
    return true
  }

  unwatch(peer: string, n = 1): void {
    const use = this.peers.get(peer)
    if (!use) return
    use.watches -= n
    this.forgetIdle(peer, use)
  }

  /** Counts (and now and then logs) a refusal. */
  refuse(reason: DestinationRefusal, peer: string): void {
    this.refused[reason]++
    this.counter?.labels(reason).inc()
    const now = performance.now()
    if (now - (this.loggedAt.get(reason) ?? -Infinity) < LOG_EVERY_MS) return
    this.loggedAt.set(reason, now)
    this.o.log.warn('destination client over its limits: refused', {reason, client: peer, maxConnectionsPerPeer: this.maxConnections, maxWatchesPerPeer: this.maxWatches, refusedSoFar: this.refused[reason]})
  }

  /** What a peer holds now (tests). */
  usage(peer: string): PeerUse {
    return {...(this.peers.get(peer) ?? {connections: 0, watches: 0})}
  }

  private use(peer: string): PeerUse {
    let use = this.peers.get(peer)
    if (!use) {
      use = {connections: 0, watches: 0}
      this.peers.set(peer, use)
    }
    return use
  }

  private forgetIdle(peer: string, use: PeerUse): void {
    if (use.connections <= 0 && use.watches <= 0) this.peers.delete(peer)
  }
}
