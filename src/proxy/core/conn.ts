// What the data path knows about one accepted connection, shared by every request on it (so
// building a request's metadata allocates no per-request copies), and the set of live
// connections a listener drains on shutdown.
import type {Socket} from 'node:net'
import type {Duplex} from 'node:stream'
import type {Direction, TapTls} from '../../protocol/tap.js'
import type {Addr, ConnMeta} from './observe.js'

export interface ConnCtx extends ConnMeta {
  /** Original destination (SO_ORIGINAL_DST), else the local address. */
  origDst: Addr
  /** True when the original destination came from SO_ORIGINAL_DST (a redirected connection). */
  redirected: boolean
}

export const kConn = Symbol('mesh.conn')

export interface WithConn {
  [kConn]?: ConnCtx
}

export function connOf(socket: Duplex | null | undefined): ConnCtx | undefined {
  return (socket as (Duplex & WithConn) | null | undefined)?.[kConn]
}

export function newConnCtx(direction: Direction, socket: Socket, origDst: Addr | undefined, tls: TapTls, dstLabels: Record<string, string>): ConnCtx {
  const source = {ip: stripV4Mapped(socket.remoteAddress ?? ''), port: socket.remotePort ?? 0}
  const local = {ip: stripV4Mapped(socket.localAddress ?? ''), port: socket.localPort ?? 0}
  const dst = origDst ?? local
  return {
    direction,
    source,
    destination: dst,
    origDst: dst,
    redirected: origDst !== undefined,
    tls,
    authority: dst.ip.includes(':') ? `[${dst.ip}]:${dst.port}` : `${dst.ip}:${dst.port}`,
    dstLabels,
  }
}

export function stripV4Mapped(ip: string): string {
  return ip.startsWith('::ffff:') ? ip.slice(7) : ip
}

export function isLoopback(ip: string): boolean {
  return ip.startsWith('127.') || ip === '::1' || ip === 'localhost'
}

/**
 * Live connections of one listener, so shutdown can wait for them and then cut them, and those
 * still in protocol detection (oldest first), which the listener closes first when at its cap.
 */
export class ConnTracker {
  readonly sockets = new Set<Duplex>()
  /** Accepted and not yet past detection, in accept order. */
  private readonly detecting = new Set<Duplex>()
  private waiters: (() => void)[] = []

  add(socket: Duplex): void {
    this.sockets.add(socket)
    this.detecting.add(socket)
    socket.once('close', () => this.forget(socket))
  }

  /** The connection's protocol is known (or it is carried without detection): no longer evictable. */
  detected(socket: Duplex): void {
    this.detecting.delete(socket)
  }

  /** Closes the oldest connection still in detection; false when there is none. */
  evictOldest(): boolean {
    for (const socket of this.detecting) {
      this.forget(socket)
      socket.destroy()
      return true
    }
    return false
  }

  private forget(socket: Duplex): void {
    this.detecting.delete(socket)
    if (!this.sockets.delete(socket)) return
    if (this.sockets.size === 0) for (const w of this.waiters.splice(0)) w()
  }

  get size(): number {
    return this.sockets.size
  }

  /** Resolves when every tracked connection has closed. */
  idle(): Promise<void> {
    if (this.sockets.size === 0) return Promise.resolve()
    return new Promise((resolve) => this.waiters.push(resolve))
  }

  destroyAll(): void {
    for (const s of this.sockets) s.destroy()
  }
}
