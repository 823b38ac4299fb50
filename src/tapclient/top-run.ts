// `mesh top` end to end. On a TTY: the table redrawn in place (alternate screen) every
// --interval, `q` quits, `s` cycles the sort. Off a TTY: one table per --interval (CI logs);
// with -o json one snapshot object per line. Ends on q, Ctrl-C, --duration or the stream's end.
import {UsageError} from '../lib/errors.js'
import type {Output} from '../lib/output.js'
import type {TapStreamMessage} from '../control/tap/api.js'
import {parseDuration} from '../stat/duration.js'
import {SORT_KEYS, TopAggregator, type SortKey} from './top-aggregate.js'
import {layout, topCells, topHead, topScreen, type TopView} from './top-render.js'
import {streamEvents, tapQuery, type StreamHooks, type TapFlags} from './tap-run.js'
import {resolveControlPlane} from './target.js'

export interface TopFlags extends Omit<TapFlags, 'output' | 'max-events'> {
  paths: boolean
  /** One row per control-plane route and backend (outbound requests). */
  routes?: boolean
  interval: string
  output: 'table' | 'json'
}

export interface TopIO {
  stdin?: NodeJS.ReadStream
  columns?: () => number
  rows?: () => number
}

const ALT_ON = '\x1b[?1049h\x1b[?25l'
const ALT_OFF = '\x1b[?25h\x1b[?1049l'
const HOME_CLEAR = '\x1b[H\x1b[2J'

export async function runTopCommand(out: Output, resource: string, flags: TopFlags, hooks: StreamHooks & TopIO = {}): Promise<void> {
  const intervalMs = parseDuration(flags.interval, '--interval')
  if (intervalMs < 100 || intervalMs > 3_600_000) {
    throw new UsageError(`invalid --interval ${flags.interval}: between 100ms and 1h`, {suggestions: ['Pass e.g. --interval 2s.']})
  }
  const durationMs = flags.duration ? parseDuration(flags.duration, '--duration') : undefined
  if (flags.routes && flags.paths) throw new UsageError('--routes and --paths are two views of the table: pass one', {suggestions: ['Drop --paths (rows per path) or --routes (rows per HTTPRoute/GRPCRoute).']})
  tapQuery({resource, namespace: 'default', flags})
  const target = await resolveControlPlane(flags)
  // Routes are the callers' proxies' (outbound): the proxies send only those events.
  const query = {...tapQuery({resource, namespace: target.namespace, flags}), ...(flags.routes ? {direction: 'outbound'} : {})}
  const view: TopView = flags.routes ? 'routes' : flags.paths ? 'paths' : 'default'
  const agg = new TopAggregator({paths: flags.paths, routes: flags.routes})
  const live = out.stdoutIsTTY && flags.output !== 'json'
  const stdin = hooks.stdin ?? process.stdin
  let sort: SortKey = 'count'
  const abort = new AbortController()
  hooks.signal?.addEventListener('abort', () => abort.abort(), {once: true})
  const columns = hooks.columns ?? (() => (process.stdout as NodeJS.WriteStream).columns ?? 120)
  const rows = hooks.rows ?? (() => (process.stdout as NodeJS.WriteStream).rows ?? 40)

  // The second line of the live screen: how many pods' proxies are streaming.
  const pods = new Set<string>()
  const note = (): string => (pods.size === 0 ? 'connecting to the proxies...' : `tapping ${pods.size} pod${pods.size === 1 ? '' : 's'}`)
  const onMessage = (m: TapStreamMessage): void => {
    hooks.onMessage?.(m)
    if (m.type === 'podStart' || m.type === 'podEnd') {
      if (m.type === 'podStart') pods.add(m.pod)
      else pods.delete(m.pod)
      if (live) draw()
    }
  }

  const draw = (): void => {
    const snap = agg.snapshot(sort)
    if (flags.output === 'json') out.stdout.write(JSON.stringify(snap) + '\n')
    else if (live) out.stdout.write(HOME_CLEAR + topScreen(snap, {resource, view, columns: columns(), rows: rows(), note: note()}) + '\n')
    else {
      // Off a terminal too, say whether the proxies are streaming yet (no pod started: still connecting).
      const body = snap.rows.length === 0 ? [pods.size === 0 ? '(connecting to the proxies...)' : '(no requests yet)'] : layout(topHead(view), snap.rows.map((r) => topCells(r, view)))
      out.stdout.write(`${snap.time}\n${body.join('\n')}\n\n`)
    }
  }

  const onKey = (data: Buffer): void => {
    const k = data.toString('utf8')
    if (k === 'q' || k === 'Q' || k === '\u0003') abort.abort()
    else if (k === 's' || k === 'S') {
      sort = SORT_KEYS[(SORT_KEYS.indexOf(sort) + 1) % SORT_KEYS.length]
      draw()
    }
  }
  const keys = live && stdin.isTTY
  if (live) out.stdout.write(ALT_ON)
  if (keys) {
    stdin.setRawMode(true)
    stdin.resume()
    stdin.on('data', onKey)
  }
  const timer = setInterval(draw, intervalMs)
  if (live) draw()
  try {
    await streamEvents(target, query, (pod, ev) => agg.add(pod, ev), out, {...hooks, onMessage, signal: abort.signal, durationMs})
  } finally {
    clearInterval(timer)
    if (keys) {
      stdin.off('data', onKey)
      stdin.setRawMode(false)
      stdin.pause()
    }
    if (live) out.stdout.write(ALT_OFF)
  }
  // The last state stays visible after the live screen is gone (and ends every log).
  if (live) out.stdout.write(topScreen(agg.snapshot(sort), {resource, view, columns: columns(), rows: rows()}).split('\n').filter((l, i) => i !== 1).join('\n') + '\n')
  else draw()
}
