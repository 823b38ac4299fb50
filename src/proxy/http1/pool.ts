// The HTTP/1 keep-alive pool of one endpoint: Node's Agent (lifo, so the warmest connection is
// reused and the rest can age out), with the idle timeout done by one sweep per pool instead of
// a socket timeout. A socket timeout stays armed while a request runs, so every read and write
// refreshes a timer and every request adds and removes a 'timeout' listener; the sweep costs
// nothing per request.
import http from 'node:http'
import type {Duplex} from 'node:stream'

/** Idle keep-alive connections close after this (under Node's 5 s server default, so we close first). */
export const POOL_IDLE_MS = 4000
const SWEEP_MS = 1000

const kFreedAt = Symbol('mesh.freedAt')

interface PooledSocket extends Duplex {
  [kFreedAt]?: number
  _httpMessage?: {res?: http.IncomingMessage} | null
}

export class Http1Pool extends http.Agent {
  private sweeper: NodeJS.Timeout | undefined
  /** The server's `Keep-Alive: timeout=N` hint, parsed once per distinct value. */
  private hint = ''
  private idleMs: number

  constructor(connect: () => Duplex, private readonly maxIdleMs = POOL_IDLE_MS) {
    super({keepAlive: true, maxSockets: Infinity, maxFreeSockets: 256, scheduling: 'lifo'})
    this.createConnection = connect as unknown as typeof this.createConnection
    this.idleMs = maxIdleMs
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
    clearInterval(this.sweeper)
    this.sweeper = undefined
    super.destroy()
  }
}
