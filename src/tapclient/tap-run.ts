// `mesh tap` end to end: open the merged stream of the tap server, print each event (a line,
// or a JSON object per line), stop at --max-events, --duration or Ctrl-C. Diagnostics (a pod
// leaving, a pod without proxy) go to stderr.
import {TapApi, type TapStreamMessage} from '../control/tap/api.js'
import {formatResource, parseResource} from '../control/tap/resource.js'
import {MeshError, UsageError} from '../lib/errors.js'
import type {Output} from '../lib/output.js'
import type {TapEvent} from '../protocol/tap.js'
import {parseDuration} from '../stat/duration.js'
import {openTapStream} from './client.js'
import {eventLine} from './format.js'
import {resolveControlPlane, type ControlPlaneFlags, type ControlPlaneTarget} from './target.js'

export interface TapFlags extends ControlPlaneFlags {
  to?: string
  'to-namespace'?: string
  method?: string
  authority?: string
  path?: string
  status?: number
  'max-rps': number
  'max-events'?: number
  duration?: string
  output: 'text' | 'wide' | 'json'
}

export interface TapQueryInput {
  resource: string
  namespace: string
  flags: Omit<TapFlags, 'output'>
}

/** The query string of /v1/tap; bad input is a usage error before anything is sent. */
export function tapQuery({resource, namespace, flags}: TapQueryInput): Record<string, string | undefined> {
  const ref = parseResource(resource)
  if (flags.to) parseResource(flags.to, '--to')
  if (flags.path !== undefined && !flags.path.startsWith('/')) {
    throw new UsageError(`invalid --path ${JSON.stringify(flags.path.slice(0, 40))}: a path prefix starts with /`, {suggestions: ['Pass e.g. --path /api.']})
  }
  if (flags.status !== undefined && (flags.status < 100 || flags.status > 599)) {
    throw new UsageError(`invalid --status ${flags.status}: expected an HTTP status between 100 and 599`, {suggestions: ['Pass e.g. --status 500.']})
  }
  if (!(flags['max-rps'] > 0 && flags['max-rps'] <= 10_000)) {
    throw new UsageError(`invalid --max-rps ${flags['max-rps']}: expected a number in (0, 10000]`, {suggestions: ['Pass e.g. --max-rps 100.']})
  }
  return {
    resource: formatResource(ref),
    namespace,
    to: flags.to,
    toNamespace: flags['to-namespace'],
    method: flags.method?.toUpperCase(),
    authority: flags.authority,
    path: flags.path,
    status: flags.status === undefined ? undefined : String(flags.status),
    maxRps: String(flags['max-rps']),
  }
}

export interface StreamHooks {
  /** Called for every message (tests wait for podStart). */
  onMessage?(m: TapStreamMessage): void
  /** Stops the stream like Ctrl-C. */
  signal?: AbortSignal
}

/**
 * Runs a tap stream until the server ends it, `maxEvents` events were handled, `durationMs`
 * elapsed, SIGINT/SIGTERM, the signal aborts, or stdout's reader goes away. Returns how it ended.
 */
export async function streamEvents(
  target: ControlPlaneTarget,
  query: Record<string, string | undefined>,
  onEvent: (pod: string, ev: TapEvent) => void,
  out: Output,
  opts: {maxEvents?: number; durationMs?: number} & StreamHooks = {},
): Promise<{events: number; endReason?: string}> {
  let events = 0
  let endReason: string | undefined
  const stream = openTapStream(target, TapApi.tap, query, (m) => {
    opts.onMessage?.(m)
    switch (m.type) {
      case 'event':
        if (opts.maxEvents !== undefined && events >= opts.maxEvents) return
        events++
        onEvent(m.pod, m.event)
        if (opts.maxEvents !== undefined && events >= opts.maxEvents) stream.close()
        return
      case 'podEnd':
        out.warn(`pod ${m.pod} left the stream: ${m.reason}`)
        return
      case 'warning':
        out.warn(m.message)
        return
      case 'end':
        endReason = m.reason
        return
      case 'podStart':
        return
    }
  })
  const stop = (): void => stream.close()
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
  opts.signal?.addEventListener('abort', stop, {once: true})
  // The reader of stdout went away (`mesh tap ... | head -1`): nothing more to show, stop now.
  out.closed.addEventListener('abort', stop, {once: true})
  if (out.closed.aborted) stop()
  const timer = opts.durationMs !== undefined ? setTimeout(stop, opts.durationMs) : undefined
  try {
    await stream.done
  } finally {
    if (timer) clearTimeout(timer)
    process.off('SIGINT', stop)
    process.off('SIGTERM', stop)
    opts.signal?.removeEventListener('abort', stop)
    out.closed.removeEventListener('abort', stop)
  }
  return {events, endReason}
}

export async function runTapCommand(out: Output, resource: string, flags: TapFlags, hooks: StreamHooks = {}): Promise<void> {
  const durationMs = flags.duration ? parseDuration(flags.duration, '--duration') : undefined
  tapQuery({resource, namespace: 'default', flags})
  const target = await resolveControlPlane(flags)
  const query = tapQuery({resource, namespace: target.namespace, flags})
  const wide = flags.output === 'wide'
  const json = flags.output === 'json'
  const result = await streamEvents(
    target,
    query,
    (pod, ev) => out.data(json ? JSON.stringify({pod, ...ev}) : eventLine(pod, ev, wide)),
    out,
    {maxEvents: flags['max-events'], durationMs, ...hooks},
  )
  if (result.endReason && result.events === 0) {
    throw new MeshError(`nothing to tap in ${resource}: ${result.endReason}`, {
      code: 'MESH_TAP_NOTHING',
      suggestions: ['Check that the pods run a mesh proxy: `mesh stat ' + resource + '` shows MESHED.'],
    })
  }
  if (result.endReason) out.info(`tap ended: ${result.endReason}`)
}
