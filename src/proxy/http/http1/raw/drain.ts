// Graceful drain for raw-codec connections: once a side is draining, connections at rest (no
// request in progress, none buffered) that have served a request, or are older than FRESH_MS,
// are closed, the way closeIdleHttp1 does it for the node codec. One shared unref'd ticker,
// running only while raw connections exist.
import type {Duplex} from 'node:stream'
import type {Side} from '../../../route/side.js'

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
}

const FRESH_MS = 2000
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

function tick(): void {
  const now = performance.now()
  for (const c of live) {
    if (c.side.draining && c.idle && (c.served > 0 || now - c.since > FRESH_MS)) c.socket.destroy()
  }
}
