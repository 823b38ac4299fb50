// Containment: an exception in the data path ends the connection it happened on, never the
// process. Every codec entry point (a connection's bytes, a request, a stream, an upstream
// event) runs its work through contain(): a throw is logged with its stack, counted on the side
// as `internal_error` (mesh_proxy_refused_total), and the caller's `cut` closes what belongs to
// that connection. What still escapes reaches the process-level handler (main.ts,
// containUncaught), which logs, counts and keeps serving: see docs/architecture/proxy.md.
import {refuseInput, type Side} from '../route/side.js'

/** Logs and counts an exception contained on `side`; `where` names the entry point. */
export function containedError(side: Side, where: string, err: unknown): void {
  refuseInput(side, 'internal_error')
  const e = err as Error | undefined
  side.log.error('internal error, connection closed', {where, error: e?.message ?? String(err), stack: e?.stack?.split('\n').slice(1, 6).map((l) => l.trim()).join(' | ')})
}

/**
 * Runs `work`; a throw is contained: logged and counted, then `cut` (which must not throw; its
 * own throw is swallowed) closes the connection's sockets.
 */
export function contain(side: Side, where: string, work: () => void, cut: () => void): void {
  try {
    work()
  } catch (err) {
    containedError(side, where, err)
    try {
      cut()
    } catch {
      // (the sockets are being torn down anyway)
    }
  }
}

/** `f` with its throws contained as contain() does, for event listeners and callbacks. */
export function contained<A extends unknown[]>(side: Side, where: string, f: (...args: A) => void, cut: () => void): (...args: A) => void {
  return (...args: A) => {
    try {
      f(...args)
    } catch (err) {
      containedError(side, where, err)
      try {
        cut()
      } catch {
        // (as above)
      }
    }
  }
}
