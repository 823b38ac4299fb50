// The raw codec's connections at rest, on one shared unref'd ticker running only while raw
// connections exist:
// - graceful drain: once a side is draining, connections at rest (no request in progress, none
//   buffered) that have served a request, or are older than FRESH_MS (../fresh.ts, the node
//   codec's too), are closed, the way closeIdleHttp1 does it for the node codec (a raw
//   connection is never a tunnel: Upgrade and CONNECT are handed to Node's server, and
//   closeIdleHttp1 spares tunnels);
// - the idle timeout (httpIdleTimeoutMs): a connection with no request in progress (none being
//   forwarded, none waiting for its route policy) and no byte read or written for that long is
//   closed. A socket timeout did this before, but Node re-arms
//   a socket's timer on every read and every write (a timer-list insert each, twice per request);
//   here a read or write stores performance.now(), and the tick compares (closed within TICK_MS
//   of the timeout).
import type {Duplex} from 'node:stream'
import type {Side} from '../../../route/side.js'
import {FRESH_MS} from '../fresh.js'

/** What drain reads of a raw connection (conn.ts RawConn). */
export interface Drainable {
  readonly side: Side
  readonly socket: Duplex
  /** No request in progress and nothing buffered. */
  readonly idle: boolean
  /** Requests served so far. */
  readonly served: number
  /** performance.now() when the connection was accepted. */
  readonly since: number
  /** A request is in progress: being forwarded, or waiting for its route policy (the idle timeout waits for it). */
  readonly busy: boolean
  /** performance.now() at the last byte read or written. */
  readonly lastActive: number
}

const TICK_MS = 50
const live = new Set<Drainable>()
let ticker: NodeJS.Timeout | undefined

export function watchDrain(c: Drainable): void {
  live.add(c)
  c.socket.once('close', () => {
    live.delete(c)
    if (live.size === 0 && ticker) {
      clearInterval(ticker)
      ticker = undefined
    }
  })
  ticker ??= setInterval(tick, TICK_MS).unref()
}

/** No longer the raw codec's (handed to Node's server, which has its own timeouts and drain). */
export function unwatchDrain(c: Drainable): void {
  live.delete(c)
}

function tick(): void {
  const now = performance.now()
  for (const c of live) {
    if (c.side.draining && c.idle && (c.served > 0 || now - c.since > FRESH_MS)) c.socket.destroy()
    else if (!c.busy && now - c.lastActive >= c.side.config.limits.httpIdleTimeoutMs) c.socket.destroy()
  }
}
