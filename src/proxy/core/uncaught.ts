// The last line of containment (contain.ts is the first): an exception or a rejected promise that
// no entry point caught. The proxy logs it with its stack, counts it
// (mesh_proxy_uncaught_exceptions_total) and keeps serving; it does not exit. Why: every codec
// entry point already contains its own errors, so what arrives here is a bug outside a
// connection's code (a timer, a pool sweep), and exiting would cut every connection of the pod,
// mark it unready and, if a peer can trigger it, let that peer keep the pod in CrashLoopBackOff.
// The alternative (exit and let the kubelet restart, as Envoy does on a failed assertion) is
// what Node's documentation recommends after an uncaught exception; it is the right call for a
// process whose state may be corrupt, and the wrong one for a sidecar whose state is
// per-connection and whose exit is an outage. Log lines are rate-limited (one per second, the
// others counted), so a tight loop of exceptions cannot flood stderr.
import type {Logger} from './log.js'

export interface UncaughtPolicy {
  /** Removes the handlers. */
  uninstall(): void
}

/** Installs the process-wide handlers; `count` is called once per exception. */
export function containUncaught(log: Logger, count: () => void): UncaughtPolicy {
  let lastLog = -Infinity
  let suppressed = 0
  const report = (kind: string, err: unknown): void => {
    try {
      count()
      const now = performance.now()
      if (now - lastLog < 1000) {
        suppressed++
        return
      }
      lastLog = now
      const e = err as Error | undefined
      log.error(`${kind}, contained; the proxy keeps serving`, {
        error: e?.message ?? String(err), suppressed: suppressed > 0 ? suppressed : undefined,
        stack: e?.stack?.split('\n').slice(1, 8).map((l) => l.trim()).join(' | '),
      })
      suppressed = 0
    } catch {
      // (nothing left to do: never throw from here)
    }
  }
  const onException = (err: unknown): void => report('uncaught exception', err)
  const onRejection = (err: unknown): void => report('unhandled promise rejection', err)
  process.on('uncaughtException', onException)
  process.on('unhandledRejection', onRejection)
  return {
    uninstall: () => {
      process.off('uncaughtException', onException)
      process.off('unhandledRejection', onRejection)
    },
  }
}
