// The HTTP/1 keep-alive pool of one endpoint for the node codec (and the requests the raw codec
// hands to Node): Node's Agent (lifo, so the warmest connection is reused and the rest can age
// out), with the idle timeout done by one sweep per pool instead of a socket timeout. A socket
// timeout stays armed while a request runs, so every read and write refreshes a timer and every
// request adds and removes a 'timeout' listener; the sweep costs nothing per request.
// Connects are bounded as in the raw codec's pool (raw-pool.ts): at most MAX_CONNECTING at once.
// A request that finds no free connection while that many are in progress waits (FIFO) for a
// connection freed or a connect slot (a connect is its request's, as Node's Agent binds them). A
// failed connect fails every waiting request; one its request gave up on only frees its slot.
// Node's Agent alone opens a connection per request that finds none free, which with mTLS (a
// handshake of several ms of CPU on both proxies) fed on itself under load: 941 errors in 4 s
// at 1,000 rps in bench/proxy.
import net from 'node:net'
import * as http from '../core/node-http.js'
import type {Duplex} from 'node:stream'
import {onEstablished} from '../net/established.js'

/** Idle keep-alive connections close after this (under Node's 5 s server default, so we close first). */
export const POOL_IDLE_MS = 4000
/**
 * Idle time of mTLS connections to a peer proxy: reconnecting costs a handshake (4-10 ms of CPU
 * on both sides), and the peer's inbound side keeps idle connections for 60 s (httpIdleTimeoutMs).
 */
export const MESHED_POOL_IDLE_MS = 30_000
/** Connects in progress per endpoint at most (requests that find no free connection share them). */
export const MAX_CONNECTING = 4
const SWEEP_MS = 1000

const kFreedAt = Symbol('mesh.freedAt')

interface PooledSocket extends Duplex {
  [kFreedAt]?: number
  _httpMessage?: {res?: http.IncomingMessage, destroyed?: boolean} | null
}

/** Node's way for an agent to hand a request its socket, or (socket null) an error: 'error' then 'close'. */
type AgentRequest = http.ClientRequest & {onSocket(socket: Duplex | null, err?: Error): void}

const agentAddRequest = (http.Agent.prototype as unknown as {addRequest(req: http.ClientRequest, options: http.RequestOptions): void}).addRequest

interface Waiting {
  req: AgentRequest
  options: http.RequestOptions
}

export class Http1Pool extends http.Agent {
  private sweeper: NodeJS.Timeout | undefined
  /** The server's `Keep-Alive: timeout=N` hint, parsed once per distinct value. */
  private hint = ''
  private idleMs: number
  private connecting = 0
  private readonly waiting: Waiting[] = []

  constructor(connect: () => Duplex, private readonly maxIdleMs = POOL_IDLE_MS) {
    super({keepAlive: true, maxSockets: Infinity, maxFreeSockets: 256, scheduling: 'lifo'})
    this.createConnection = (() => this.connect(connect)) as unknown as typeof this.createConnection
    this.idleMs = maxIdleMs
    // (after the Agent's own 'free' listener: the socket is in freeSockets now, or destroyed)
    this.on('free', () => this.serve())
  }

  /** Called by http.request: a free connection or a new one (Node's), else the request waits. */
  // (not in @types/node; http.request calls it, and proxy agents override it the same way)
  addRequest(req: http.ClientRequest, options: http.RequestOptions): void {
    if (this.connecting >= MAX_CONNECTING && !this.hasFree(options)) this.waiting.push({req: req as AgentRequest, options})
    else agentAddRequest.call(this, req, options)
  }

  /**
   * A request that no longer wants a connection (its timeout fired, its client left): if it is
   * waiting, it leaves the queue and gets `err` (else Node's 'socket hang up') as the agent
   * delivers errors, an 'error' then 'close'; else nothing (its socket carries the destroy).
   */
  withdraw(req: http.ClientRequest, err?: Error): void {
    const i = this.waiting.findIndex((w) => w.req === req)
    if (i < 0) return
    this.waiting.splice(i, 1)
    ;(req as AgentRequest).onSocket(null, err)
  }

  /** Requests waiting now (tests). */
  get waiters(): number {
    return this.waiting.length
  }

  private connect(connect: () => Duplex): Duplex {
    let s: Duplex
    try {
      s = connect()
    } catch (err) {
      // (net.connect throws for an address it cannot use, e.g. a bad port): a failed connect, as the raw pool has it
      s = new net.Socket()
      process.nextTick(() => s.destroy(err as Error))
    }
    this.connecting++
    let state: 'connecting' | 'up' | 'failed' = 'connecting'
    let error: Error | undefined
    onEstablished(s, () => {
      if (state !== 'connecting') return
      state = 'up'
      this.connecting--
      this.serve()
    })
    s.once('error', (err: Error) => { error ??= err })
    s.once('close', () => {
      if (state !== 'connecting') return
      state = 'failed'
      this.connecting--
      // Its request gave up on it (timeout, client gone): the slot is free, nothing failed.
      if ((s as PooledSocket)._httpMessage?.destroyed) return this.serve()
      // A failed connect fails every waiting request (each then retries elsewhere or answers).
      const err = error ?? new Error('the connection closed before it was established')
      for (const w of this.waiting.splice(0)) w.req.onSocket(null, err)
    })
    return s
  }

  private hasFree(options: http.RequestOptions): boolean {
    const list = this.freeSockets[this.getName(options)]
    return list !== undefined && list.some((s) => !s.destroyed)
  }

  /** Waiting requests take free connections, then new connects up to MAX_CONNECTING. */
  private serve(): void {
    while (this.waiting.length > 0) {
      const w = this.waiting[0]!
      if (w.req.destroyed) {
        this.waiting.shift()
        w.req.onSocket(null)
        continue
      }
      if (this.connecting >= MAX_CONNECTING && !this.hasFree(w.options)) return
      this.waiting.shift()
      this.addRequest(w.req, w.options)
    }
  }

  override keepSocketAlive(socket: PooledSocket): boolean {
    // Node's: keep-alive probe, unref, and refuse when the server's hint is 1 s or less.
    // (typed void in @types/node; Node returns whether the socket may be kept)
    if (!(super.keepSocketAlive(socket as never) as unknown as boolean)) return false
    const hint = socket._httpMessage?.res?.headers['keep-alive']
    if (typeof hint === 'string' && hint !== this.hint) {
      this.hint = hint
      const s = /^timeout=(\d+)/.exec(hint)?.[1]
      this.idleMs = s ? Math.min(this.maxIdleMs, Number(s) * 1000 - 1000) : this.maxIdleMs
    }
    socket[kFreedAt] = performance.now()
    this.sweeper ??= setInterval(() => this.sweep(), Math.min(SWEEP_MS, this.idleMs / 2)).unref()
    return true
  }

  /** Closes free sockets idle too long; stops when the pool has none left. */
  private sweep(): void {
    const oldest = performance.now() - this.idleMs
    let free = 0
    for (const list of Object.values(this.freeSockets)) {
      for (const s of (list ?? []) as PooledSocket[]) {
        free++
        if ((s[kFreedAt] ?? 0) <= oldest) s.destroy()
      }
    }
    if (free === 0) {
      clearInterval(this.sweeper)
      this.sweeper = undefined
    }
  }

  override destroy(): void {
    const err = new Error('the endpoint was removed')
    for (const w of this.waiting.splice(0)) w.req.onSocket(null, err)
    clearInterval(this.sweeper)
    this.sweeper = undefined
    super.destroy()
  }
}
