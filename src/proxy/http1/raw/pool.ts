// Raw upstream connections per endpoint (plaintext or the endpoint's mTLS, from
// EndpointClient.connect): a lifo free list, idle sockets closed after POOL_IDLE_MS by one sweep
// per pool, or sooner when the upstream said so (`Keep-Alive: timeout=N`: not reused N - 1 s
// after its release, as Node's Agent and the node codec's pool do; never when N <= 1). A free
// socket that the peer closes (or half-closes) or that sends anything leaves the list. Each
// socket's listeners are bound once: its events go to the attempt that owns it, else drop it.
import type {Duplex} from 'node:stream'
import type {EndpointClient} from '../../endpoint.js'
import {POOL_IDLE_MS} from '../pool.js'

const MAX_FREE = 256

/** Where an upstream connection's events go while it carries a request. */
export interface UpstreamOwner {
  upData(chunk: Buffer): void
  upError(err: Error): void
  /** The upstream sent FIN or closed. */
  upClose(): void
}

export interface Upstream {
  socket: Duplex
  /** Has carried a request before (a failure before any response byte may be a stale socket). */
  reused: boolean
  freedAt: number
  /** Idle time after which it is not reused: POOL_IDLE_MS, or less from the upstream's hint. */
  idleMs: number
  /**
   * The attempt the socket's events go to (its listeners are bound once, when it connects);
   * without one, an event (close, FIN, error, bytes) drops the socket from the pool.
   */
  owner: UpstreamOwner | undefined
}

export class RawPool {
  private readonly free: Upstream[] = []
  private sweeper: NodeJS.Timeout | undefined
  /** The endpoint is gone (closeRawPool): connections released from now on are closed. */
  private closed = false

  constructor(private readonly ep: EndpointClient) {}

  /** A free connection (most recently used first), or a new one. */
  acquire(): Upstream {
    for (let u = this.free.pop(); u; u = this.free.pop()) {
      // (the clock is read only for a socket with a hint shorter than the sweep's)
      const fresh = u.idleMs >= POOL_IDLE_MS || performance.now() - u.freedAt < u.idleMs
      if (fresh && !u.socket.destroyed && u.socket.writable && !u.socket.readableEnded) {
        u.reused = true
        return u
      }
      u.socket.destroy()
    }
    return this.connect()
  }

  private connect(): Upstream {
    const u: Upstream = {socket: this.ep.connect(['http/1.1']), reused: false, freedAt: 0, idleMs: POOL_IDLE_MS, owner: undefined}
    const s = u.socket
    s.on('data', (chunk: Buffer) => {
      if (u.owner) u.owner.upData(chunk)
      else this.drop(u)
    })
    s.on('error', (err: Error) => {
      if (u.owner) u.owner.upError(err)
      else this.drop(u)
    })
    const closed = (): void => {
      if (u.owner) u.owner.upClose()
      else this.drop(u)
    }
    s.on('close', closed)
    // (half-open sockets: the upstream's FIN comes as 'end', and 'close' only after ours)
    s.on('end', closed)
    return u
  }

  /** A connection no one owns closed, half-closed, failed or talked: out of the pool. */
  private drop(u: Upstream): void {
    const i = this.free.indexOf(u)
    if (i >= 0) this.free.splice(i, 1)
    u.socket.destroy()
  }

  /** Returns a connection whose last response ended cleanly. */
  release(u: Upstream): void {
    if (this.closed || u.socket.destroyed || u.idleMs <= 0 || this.free.length >= MAX_FREE) {
      u.socket.destroy()
      return
    }
    u.freedAt = performance.now()
    u.owner = undefined
    this.free.push(u)
    this.sweeper ??= setInterval(() => this.sweep(), POOL_IDLE_MS / 4).unref()
  }

  /** Closes every free connection, and each busy one when it is released. */
  close(): void {
    this.closed = true
    const free = this.free.splice(0)
    for (const u of free) u.socket.destroy()
    clearInterval(this.sweeper)
    this.sweeper = undefined
  }

  private sweep(): void {
    const now = performance.now()
    let kept = 0
    for (const u of this.free) {
      if (now - u.freedAt >= u.idleMs) u.socket.destroy()
      else this.free[kept++] = u
    }
    this.free.length = kept
    if (kept === 0) {
      clearInterval(this.sweeper)
      this.sweeper = undefined
    }
  }
}

/** The idle time a `Keep-Alive` response field allows: `timeout=N` seconds minus 1 s, at most POOL_IDLE_MS. */
export function keepAliveIdleMs(hint: string): number {
  const n = /(?:^|[\s,])timeout\s*=\s*(\d{1,9})/i.exec(hint)?.[1]
  return n === undefined ? POOL_IDLE_MS : Math.min(POOL_IDLE_MS, Number(n) * 1000 - 1000)
}

const pools = new WeakMap<EndpointClient, RawPool>()

/** The raw pool of an endpoint (kept beside the endpoint, dropped with it). */
export function rawPool(ep: EndpointClient): RawPool {
  let p = pools.get(ep)
  if (!p) {
    p = new RawPool(ep)
    pools.set(ep, p)
  }
  return p
}

/** The endpoint is closed: its raw pool's connections go (free ones now, busy ones when released). */
export function closeRawPool(ep: EndpointClient): void {
  // (kept in the map, closed: a busy connection released later is closed, not pooled again)
  pools.get(ep)?.close()
}
