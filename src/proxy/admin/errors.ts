// The last failures of this proxy, for GET /errors (src/protocol/proxy-admin.ts): an observer
// that keeps the most recent ERRORS_RING_SIZE failure events in a fixed ring (recording is O(1);
// a flood overwrites, never grows), each field cut to its bound. What goes in is what the data
// path logs for a failure (core/failures.ts): never a header value, a body byte or a query.
import {ERRORS_RING_SIZE, type ProxyErrorEntry, type ProxyErrorsReport} from '../../protocol/proxy-admin.js'
import type {FailureEvent} from '../core/failures.js'
import type {Observer} from '../core/observe.js'

/** The longest each field is kept (characters); longer values are cut, never refused. */
export const ERROR_FIELD_MAX = {peer: 512, authority: 512, kind: 64, message: 1024} as const

const cut = (s: string, max: number): string => (s.length <= max ? s : s.slice(0, max))

const noop = (): void => {}

export class ErrorRing implements Observer {
  private readonly ring: Array<ProxyErrorEntry | undefined>
  private next = 0
  /** Failures recorded since start (the ring holds the last `size`). */
  recorded = 0

  constructor(readonly size = ERRORS_RING_SIZE, private readonly now: () => number = Date.now) {
    this.ring = new Array<ProxyErrorEntry | undefined>(size)
  }

  requestInit = noop
  responseInit = noop
  responseEnd = noop
  tcpOpen = noop
  tcpClose = noop

  failed(f: FailureEvent): void {
    const e: ProxyErrorEntry = {
      time: new Date(this.now()).toISOString(),
      direction: f.direction,
      peer: cut(f.peer, ERROR_FIELD_MAX.peer),
      kind: cut(f.kind, ERROR_FIELD_MAX.kind),
      message: cut(f.message, ERROR_FIELD_MAX.message),
    }
    if (f.authority !== undefined) e.authority = cut(f.authority, ERROR_FIELD_MAX.authority)
    this.ring[this.next] = e
    this.next = (this.next + 1) % this.size
    this.recorded++
  }

  /**
   * Newest first; with `peer`, only the entries of that peer: its identity exactly, or an ip
   * (the entry's peer is `ip:port` or `[ip]:port`).
   */
  report(peer?: string): ProxyErrorsReport {
    const errors: ProxyErrorEntry[] = []
    for (let i = 1; i <= this.size; i++) {
      const e = this.ring[(this.next - i + this.size) % this.size]
      if (e === undefined) break
      if (peer === undefined || matches(e.peer, peer)) errors.push(e)
    }
    return {version: 1, errors}
  }
}

function matches(entry: string, peer: string): boolean {
  if (entry === peer) return true
  const i = entry.lastIndexOf(':')
  if (i < 0) return false
  const host = entry.slice(0, i)
  return host === peer || host === `[${peer}]`
}
