// Polls until a probe gives a value (anything but undefined), for tests that wait on
// something outside their control (an informer, a watch, a re-resolution). A probe that throws
// is tried again; on timeout the error names what was awaited and the probe's last error.
// Both argument orders are accepted, `(what, probe)` and `(probe, what)`, as the suites that
// grew their own copies used them.

export type Probe<T> = () => Promise<T | undefined> | T | undefined

export interface Patience {
  /** How long to wait in all (default 30 s). */
  timeoutMs?: number
  /** The pause between probes (default 200 ms). */
  intervalMs?: number
  /** More to say on timeout (e.g. the state of the harness). */
  context?: () => string
}

export interface Eventually {
  <T>(what: string, probe: Probe<T>, patience?: number | Patience): Promise<T>
  <T>(probe: Probe<T>, what: string, patience?: number | Patience): Promise<T>
}

const DEFAULTS = {timeoutMs: 30_000, intervalMs: 200}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

async function poll<T>(what: string, probe: Probe<T>, p: Required<Omit<Patience, 'context'>> & Patience): Promise<T> {
  const deadline = Date.now() + p.timeoutMs
  let last: unknown
  let failed = false
  for (;;) {
    try {
      const v = await probe()
      if (v !== undefined) return v
    } catch (err) {
      last = err
      failed = true
    }
    const left = deadline - Date.now()
    if (left <= 0) break
    await new Promise((r) => setTimeout(r, Math.min(p.intervalMs, left)))
  }
  const why = failed ? `: ${message(last)}` : ''
  const more = p.context ? `\n${p.context()}` : ''
  throw new Error(`timed out after ${p.timeoutMs} ms waiting for ${what}${why}${more}`)
}

/** An eventually() whose unspecified patience is `defaults`. */
export function eventuallyWith(defaults: Patience): Eventually {
  return (<T>(a: string | Probe<T>, b: string | Probe<T>, patience?: number | Patience): Promise<T> => {
    const [what, probe] = typeof a === 'string' ? [a, b as Probe<T>] : [b as string, a]
    const given = typeof patience === 'number' ? {timeoutMs: patience} : (patience ?? {})
    return poll(what, probe, {...DEFAULTS, ...defaults, ...given})
  }) as Eventually
}

/** Waits up to 30 s, probing every 200 ms. */
export const eventually: Eventually = eventuallyWith({})
