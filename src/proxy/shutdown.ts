// Graceful drain: stop accepting, tell HTTP/1 clients to close (Connection: close, idle
// keep-alive connections closed) and HTTP/2 clients to go away (GOAWAY), let in-flight work
// finish within the grace period, then cut whatever is left.
import type {Side$} from './accept/accept.js'
import {closeIdleHttp1} from './http/http1/server.js'

export async function drain(sides: Side$[], graceMs: number): Promise<{forced: number}> {
  for (const s of sides) {
    s.side.draining = true
    s.listener.server.close()
    s.listener.dropHeld()
  }
  const nudge = (): void => {
    for (const s of sides) {
      closeIdleHttp1(s.servers.h1)
      for (const session of s.servers.h2.sessions()) if (!session.closed) session.close()
    }
  }
  nudge()
  const ticker = setInterval(nudge, 50)
  let timer: NodeJS.Timeout | undefined
  const expired = new Promise<'expired'>((resolve) => { timer = setTimeout(() => resolve('expired'), graceMs) })
  const result = await Promise.race([Promise.all(sides.map((s) => s.listener.tracker.idle())), expired])
  clearInterval(ticker)
  clearTimeout(timer)
  let forced = 0
  if (result === 'expired') {
    for (const s of sides) {
      forced += s.listener.tracker.size
      s.listener.tracker.destroyAll()
    }
  }
  for (const s of sides) s.close()
  return {forced}
}
