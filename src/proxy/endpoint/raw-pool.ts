// Raw upstream connections per endpoint (plaintext or the endpoint's mTLS, from
// EndpointClient.connect): a lifo free list, idle sockets closed after POOL_IDLE_MS by one
// sweep per pool (MESHED_POOL_IDLE_MS for mTLS to a peer proxy: a handshake saved, and the
// peer's inbound side keeps connections for 60 s), or sooner when the upstream said so
// (`Keep-Alive: timeout=N`: not reused N - 1 s after its release, as Node's Agent and the node
// codec's pool do; never when N <= 1). A free socket that the peer closes (or half-closes) or
// that sends anything leaves the list. Each socket's listeners are bound once: its events go to
// the attempt that owns it, else drop it.
// With no free connection, an attempt waits for the first connection that is released or
// connects, whichever comes first, and at most MAX_CONNECTING connects (for mTLS, handshakes of
// several ms of CPU each) run at once per endpoint: a burst that finds the pool empty no longer
// opens one connection per request, which under load fed on itself (handshakes slowed the
// answers, so more requests found no free connection, so more handshakes).
import type net from 'node:net'
import type {Duplex} from 'node:stream'
import type {EndpointClient} from './endpoint.js'
import {onEstablished} from '../net/established.js'
import {ReadBuffer, readIntoOwnBuffer} from '../net/read-buffer.js'
import {MAX_CONNECTING, MESHED_POOL_IDLE_MS, POOL_IDLE_MS} from './http1-pool.js'

const MAX_FREE = 256

/** Where an upstream connection's events go while it carries a request. */
export interface UpstreamOwner {
  /**
   * Bytes read. Returns whether the owner may still hold `chunk`'s memory after the call (a
   * write of it queued, part of a head kept): a connection that reads into its own buffer
   * (OwnReads) then reads into a new one.
   */
  upData(chunk: Buffer): boolean
  upError(err: Error): void
  /** The upstream sent FIN or closed. */
  upClose(): void
  /** One of the calls above threw (contain.ts): the attempt is cut, client and upstream. */
  crashed(err: unknown): void
}

/** An attempt waiting for a connection (acquire() found none free). */
export interface UpstreamWaiter {
  /** The connection is this attempt's now (owner not yet set). */
  gotUpstream(u: Upstream): void
  /** A connect failed while this attempt waited (every waiter then gets it). */
  connectFailed(err: Error): void
  /** One of the calls above threw (contain.ts). */
  crashed(err: unknown): void
}

export interface Upstream {
  socket: Duplex
  /** Has carried a request before (a failure before any response byte may be a stale socket). */
  reused: boolean
  freedAt: number
  /** Idle time after which it is not reused: the pool's, or less from the upstream's hint. */
  idleMs: number
  /**
   * The attempt the socket's events go to (its listeners are bound once, when it connects);
   * without one, an event (close, FIN, error, bytes) drops the socket from the pool.
   */
  owner: UpstreamOwner | undefined
}

export class RawPool {
  private readonly free: Upstream[] = []
  private readonly waiting: UpstreamWaiter[] = []
  private connecting = 0
  private sweeper: NodeJS.Timeout | undefined
  /** The endpoint is gone (closeRawPool): connections released from now on are closed. */
  private closed = false
  /** How long a free connection is kept: POOL_IDLE_MS, MESHED_POOL_IDLE_MS for mTLS. */
  readonly idleMs: number

  constructor(private readonly ep: EndpointClient) {
    this.idleMs = ep.tls.tls ? MESHED_POOL_IDLE_MS : POOL_IDLE_MS
  }

  /**
   * A free connection (most recently used first); else undefined, and `w` gets the first
   * connection released or connected from now on (or a connect's failure), unless cancelled.
   */
  acquire(w: UpstreamWaiter): Upstream | undefined {
    for (let u = this.free.pop(); u; u = this.free.pop()) {
      // (the clock is read only for a socket with a hint shorter than the sweep's)
      const fresh = u.idleMs >= this.idleMs || performance.now() - u.freedAt < u.idleMs
      if (fresh && usable(u)) {
        u.reused = true
        return u
      }
      u.socket.destroy()
    }
    this.waiting.push(w)
    this.grow()
    return undefined
  }

  /** `w` no longer waits (its client went, its timeout fired). */
  cancel(w: UpstreamWaiter): void {
    const i = this.waiting.indexOf(w)
    if (i >= 0) this.waiting.splice(i, 1)
  }

  /** Attempts waiting now (tests). */
  get waiters(): number {
    return this.waiting.length
  }

  /** More connects while attempts wait that the ones in progress would not serve (up to MAX_CONNECTING). */
  private grow(): void {
    while (!this.closed && this.connecting < MAX_CONNECTING && this.waiting.length > this.connecting) this.connect()
  }

  private connect(): void {
    this.connecting++
    let socket: Duplex
    // (every connection reads into its own buffer, see OwnReads: a plaintext one from the start
    // (net.connect's onread), a TLS one once its handshake is done)
    const reads = new OwnReads(this)
    try {
      socket = this.ep.connect(['http/1.1'], reads)
    } catch (err) {
      // (net.connect throws for an address it cannot use, e.g. a bad port): a connect failure
      this.connecting--
      const waiting = this.waiting.splice(0)
      queueMicrotask(() => { for (const w of waiting) deliver(w, () => w.connectFailed(err as Error)) })
      return
    }
    const u: Upstream = {socket, reused: false, freedAt: 0, idleMs: this.idleMs, owner: undefined}
    reads.up = u
    if ((socket as {encrypted?: boolean}).encrypted !== true) upstreamReadCounts.attached.plain++
    const s = u.socket
    let state: 'connecting' | 'up' | 'failed' = 'connecting'
    // A connect that failed: every waiting attempt gets the error (each decides: retry elsewhere or answer).
    const failed = (err: Error): void => {
      if (state !== 'connecting') return
      state = 'failed'
      this.connecting--
      s.destroy()
      for (const w of this.waiting.splice(0)) deliver(w, () => w.connectFailed(err))
    }
    // (an mTLS socket is usable once its handshake is done and the peer verified)
    onEstablished(s, () => {
      if (state !== 'connecting') return
      state = 'up'
      this.connecting--
      if ((s as {encrypted?: boolean}).encrypted === true) reads.attachTls(s as net.Socket)
      this.hand(u)
      this.grow()
    })
    // (reads before OwnReads takes a TLS connection's, or of a runtime where it cannot: the
    // others go to OwnReads, with no 'data' event)
    s.on('data', (chunk: Buffer) => {
      const o = u.owner
      if (o) deliver(o, () => o.upData(chunk))
      else this.drop(u)
    })
    s.on('error', (err: Error) => {
      if (state === 'connecting') return failed(err)
      const o = u.owner
      if (o) deliver(o, () => o.upError(err))
      else this.drop(u)
    })
    const closed = (): void => {
      if (state === 'connecting') return failed(new Error('the connection closed before it was established'))
      const o = u.owner
      if (o) deliver(o, () => o.upClose())
      else this.drop(u)
    }
    s.on('close', closed)
    // (half-open sockets: the upstream's FIN comes as 'end', and 'close' only after ours)
    s.on('end', closed)
  }

  /** A usable connection: to the longest waiting attempt, else to the free list. */
  private hand(u: Upstream): void {
    const w = this.waiting.shift()
    if (w) deliver(w, () => w.gotUpstream(u))
    else this.keep(u)
  }

  /** A connection no one owns closed, half-closed, failed or talked: out of the pool. */
  drop(u: Upstream): void {
    const i = this.free.indexOf(u)
    if (i >= 0) this.free.splice(i, 1)
    u.socket.destroy()
  }

  /** Returns a connection whose last response ended cleanly. */
  release(u: Upstream): void {
    u.owner = undefined
    if (this.closed || !usable(u) || u.idleMs <= 0) {
      u.socket.destroy()
      return
    }
    u.reused = true
    this.hand(u)
  }

  private keep(u: Upstream): void {
    if (this.closed || this.free.length >= MAX_FREE) {
      u.socket.destroy()
      return
    }
    u.freedAt = performance.now()
    this.free.push(u)
    this.sweeper ??= setInterval(() => this.sweep(), this.idleMs / 4).unref()
  }

  /** Closes every free connection, and each busy one when it is released; waiting attempts fail. */
  close(): void {
    this.closed = true
    const free = this.free.splice(0)
    for (const u of free) u.socket.destroy()
    for (const w of this.waiting.splice(0)) deliver(w, () => w.connectFailed(new Error('the endpoint was removed')))
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

/** Bytes a plaintext connection's buffer takes per read; after a read that fills it, BIG_READ. */
const SMALL_READ = 8 * 1024
const BIG_READ = 64 * 1024
/** Bytes a TLS connection's buffer takes per read: a TLS record's plaintext at most. */
const TLS_READ = 16 * 1024

/** Process-wide counts of upstream connections whose reads come through OwnReads, and of those reads, by transport (tests, the bench). */
export const upstreamReadCounts = {attached: {plain: 0, tls: 0}, reads: {plain: 0, tls: 0}}

/**
 * The reads of an upstream connection, into a buffer of its own (the rule in read-buffer.ts):
 * read into again only when the owner says it holds none of it (UpstreamOwner.upData: its bytes
 * were written through and nothing of them is kept). A plaintext connection reads so from the
 * start (net.connect's `onread`); a TLS one from the end of its handshake (attachTls).
 */
export class OwnReads extends ReadBuffer {
  /** The connection these reads are of (set as soon as it exists). */
  up: Upstream | undefined
  private tls = false

  constructor(private readonly pool: RawPool) {
    super(SMALL_READ, BIG_READ)
  }

  /**
   * A TLS connection's decrypted bytes come here from now on (tls.connect takes no `onread`).
   * Called when the handshake is done, before the connection carries a request: anything the
   * stream read ahead goes to 'data' first (which drops a connection that talks unasked).
   */
  attachTls(s: net.Socket): void {
    while (s.readableLength > 0 && s.read() !== null);
    if (s.destroyed) return
    // (TLSWrap hands over at most a TLS record's plaintext, 16 KB, per read: with 8 KB then
    // 64 KB the size would flip on every record of a big body, and each read take a new buffer)
    this.fixSize(TLS_READ)
    if (!readIntoOwnBuffer(s, this)) return
    this.tls = true
    upstreamReadCounts.attached.tls++
  }

  protected deliver(chunk: Buffer): boolean {
    if (this.tls) upstreamReadCounts.reads.tls++
    else upstreamReadCounts.reads.plain++
    const u = this.up!
    const o = u.owner
    if (o === undefined) {
      this.pool.drop(u)
      return true
    }
    // (as deliver(), without a closure per read; a throw leaves the buffer to the attempt)
    try {
      return o.upData(chunk)
    } catch (err) {
      o.crashed(err)
      return true
    }
  }

  protected reentered(): void {
    const u = this.up!
    const o = u.owner
    const err = new Error('a read arrived while the one before it was handled; the connection is cut')
    if (o) deliver(o, () => o.crashed(err))
    else this.pool.drop(u)
  }
}

/** Calls into an attempt, contained: a throw cuts that attempt only (its crashed()), never the pool or the process. */
function deliver(to: UpstreamOwner | UpstreamWaiter, call: () => void): void {
  try {
    call()
  } catch (err) {
    to.crashed(err)
  }
}

function usable(u: Upstream): boolean {
  return !u.socket.destroyed && u.socket.writable && !u.socket.readableEnded
}

/** The idle time a `Keep-Alive` response field allows: `timeout=N` seconds minus 1 s, at most POOL_IDLE_MS. */
export function keepAliveIdleMs(hint: string): number {
  // (an upstream sends the same value on every response: the last one's answer is kept)
  if (hint === lastHint.hint) return lastHint.ms
  const n = /(?:^|[\s,])timeout\s*=\s*(\d{1,9})/i.exec(hint)?.[1]
  const ms = n === undefined ? POOL_IDLE_MS : Math.min(POOL_IDLE_MS, Number(n) * 1000 - 1000)
  if (hint.length <= 64) lastHint = {hint, ms}
  return ms
}

let lastHint = {hint: '', ms: POOL_IDLE_MS}

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
