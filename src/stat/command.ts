// `mesh stat` end to end, so the command stays a shell: check the input, find the control
// plane (or a Prometheus), fetch one report per resource kind, render.
import {MAX_WINDOW_MS} from '../control/tap/query.js'
import {UsageError} from '../lib/errors.js'
import type {Output} from '../lib/output.js'
import {resolveControlPlane, type ControlPlaneFlags} from '../tapclient/target.js'
import {parseDuration} from './duration.js'
import {routeStatTable, statTable} from './render.js'
import {checkStatParams, fetchRouteStat, fetchStat, type StatParams} from './run.js'
import type {RouteStatReport, StatReport} from './types.js'

export interface StatFlags extends ControlPlaneFlags {
  window: string
  to?: string
  'to-namespace'?: string
  from?: string
  'from-namespace'?: string
  'all-namespaces': boolean
  'prometheus-url'?: string
  /** Per route (HTTPRoute/GRPCRoute, and the default route). */
  routes?: boolean
  output: 'table' | 'json' | 'wide'
}

export async function runStatCommand(out: Output, resources: string, flags: StatFlags): Promise<void> {
  const list = resources.split(',').map((r) => r.trim()).filter((r) => r !== '')
  const base = (namespace: string): Omit<StatParams, 'resource'> => ({
    namespace,
    allNamespaces: flags['all-namespaces'],
    window: flags.window,
    to: flags.to,
    toNamespace: flags['to-namespace'],
    from: flags.from,
    fromNamespace: flags['from-namespace'],
  })
  for (const resource of list) checkStatParams({resource, ...base('default'), routes: flags.routes})
  if (flags.routes && flags['prometheus-url']) {
    throw new UsageError('--routes does not work with --prometheus-url yet: the numbers per route come from the proxies through the tap server', {
      suggestions: ['Drop --prometheus-url (and keep --window within 1h).'],
    })
  }
  // The proxies' metrics are kept for an hour: a longer window is a usage error here, not the
  // tap server's refusal after a round trip (a Prometheus keeps more).
  if (!flags['prometheus-url']) {
    const ms = parseDuration(flags.window, '--window')
    if (ms < 1000 || ms > MAX_WINDOW_MS) {
      throw new UsageError(`--window ${flags.window} is out of range: between 1s and 1h without a Prometheus`, {
        suggestions: ['Pass e.g. --window 10m, or --prometheus-url <url> for longer windows.'],
      })
    }
  }
  if (flags.routes) {
    const target = await resolveControlPlane(flags)
    const reports = await Promise.all(list.map((resource) => fetchRouteStat(target, {resource, ...base(target.namespace)})))
    const served = reports.some((r) => r.served) ? {served: reports.flatMap((r) => r.served ?? [])} : {}
    return renderRoutes(out, list, {window: reports[0]?.window ?? '', rows: reports.flatMap((r) => r.rows), errors: reports.flatMap((r) => r.errors), ...served}, flags)
  }
  let report: StatReport
  if (flags['prometheus-url']) {
    const {statFromPrometheus} = await import('./prometheus.js')
    const namespace = flags.namespace ?? 'default'
    const reports = await Promise.all(list.map((resource) => statFromPrometheus(flags['prometheus-url']!, {resource, ...base(namespace)})))
    report = merge(reports)
  } else {
    const target = await resolveControlPlane(flags)
    const reports = await Promise.all(list.map((resource) => fetchStat(target, {resource, ...base(target.namespace)})))
    report = merge(reports)
  }
  if (flags.output === 'json') {
    out.json(report)
    return
  }
  for (const e of report.errors) out.warn(`pod ${e.pod}: metrics unavailable: ${e.error}`)
  if (report.rows.length === 0) {
    out.info(`No resources found matching ${list.join(', ')}.`)
    return
  }
  const {head, rows} = statTable(report, {wide: flags.output === 'wide', allNamespaces: flags['all-namespaces']})
  out.stdout.write(await out.table(head, rows))
}

async function renderRoutes(out: Output, list: string[], report: RouteStatReport, flags: StatFlags): Promise<void> {
  if (flags.output === 'json') {
    out.json(report)
    return
  }
  for (const e of report.errors) out.warn(`pod ${e.pod}: metrics unavailable: ${e.error}`)
  if (report.rows.length === 0) {
    out.info(`No route traffic seen for ${list.join(', ')} in the last ${flags.window}.`)
    // Routes are counted by the callers' proxies: point at the Services it serves.
    for (const s of report.served ?? []) out.info(`It serves svc/${s.name}: its callers' requests per route: mesh stat svc/${s.name} --routes -n ${s.namespace}`)
    return
  }
  const {head, rows} = routeStatTable(report, {wide: flags.output === 'wide', allNamespaces: flags['all-namespaces']})
  out.stdout.write(await out.table(head, rows))
}

function merge(reports: StatReport[]): StatReport {
  return {window: reports[0]?.window ?? '', rows: reports.flatMap((r) => r.rows), errors: reports.flatMap((r) => r.errors)}
}
