// The library behind `mesh stat` and `mesh edges`: ask the tap server (or a Prometheus) and
// return the report the command renders.
import {TapApi} from '../control/tap/api.js'
import {formatResource, parseResource} from '../control/tap/resource.js'
import {getJson} from '../tapclient/client.js'
import type {ControlPlaneTarget} from '../tapclient/target.js'
import {UsageError} from '../lib/errors.js'
import {parseDuration} from './duration.js'
import type {EdgesReport, RouteStatReport, StatReport} from './types.js'

export interface StatParams {
  resource: string
  namespace: string
  allNamespaces?: boolean
  window: string
  to?: string
  toNamespace?: string
  from?: string
  fromNamespace?: string
  /** Per route (`--routes`): the report is a RouteStatReport. */
  routes?: boolean
}

/** Checks the user's input before any network call (bad input is a usage error, exit 2). */
export function checkStatParams(p: StatParams): void {
  parseResource(p.resource, 'resource')
  if (p.to) parseResource(p.to, '--to')
  if (p.from) parseResource(p.from, '--from')
  parseDuration(p.window, '--window')
  if (p.routes) {
    const ref = parseResource(p.resource, 'resource')
    if (p.to) {
      const to = parseResource(p.to, '--to')
      if (to.kind !== 'service' || !to.name) throw new UsageError(`--to ${p.to} with --routes: routes attach to Services, so --to must name one`, {suggestions: ['Pass --to svc/<name>, e.g. mesh stat deploy/web --routes --to svc/books.']})
    }
    if (p.from && ref.kind !== 'service') throw new UsageError(`--from with --routes needs a Service as the resource (it names the callers of that Service), not ${p.resource}`, {suggestions: [`Ask about the Service: mesh stat svc/<name> --routes --from ${p.from}`]})
  }
}

export async function fetchStat(target: ControlPlaneTarget, p: StatParams): Promise<StatReport> {
  checkStatParams(p)
  return getJson<StatReport>(target, TapApi.stat, statQueryOf(p))
}

/** `mesh stat --routes`: the numbers per route (RouteStatReport). */
export async function fetchRouteStat(target: ControlPlaneTarget, p: StatParams): Promise<RouteStatReport> {
  checkStatParams({...p, routes: true})
  return getJson<RouteStatReport>(target, TapApi.stat, statQueryOf({...p, routes: true}))
}

function statQueryOf(p: StatParams): Record<string, string | undefined> {
  return {
    resource: formatResource(parseResource(p.resource)),
    namespace: p.namespace,
    allNamespaces: p.allNamespaces ? 'true' : undefined,
    window: p.window,
    to: p.to,
    toNamespace: p.toNamespace,
    from: p.from,
    fromNamespace: p.fromNamespace,
    routes: p.routes ? 'true' : undefined,
  }
}

export async function fetchEdges(target: ControlPlaneTarget, p: {resource: string; namespace: string; allNamespaces?: boolean}): Promise<EdgesReport> {
  return getJson<EdgesReport>(target, TapApi.edges, {
    resource: formatResource(parseResource(p.resource)),
    namespace: p.namespace,
    allNamespaces: p.allNamespaces ? 'true' : undefined,
  })
}
