// The library behind `mesh stat` and `mesh edges`: ask the tap server (or a Prometheus) and
// return the report the command renders.
import {TapApi} from '../control/tap/api.js'
import {formatResource, parseResource} from '../control/tap/resource.js'
import {getJson} from '../tapclient/client.js'
import type {ControlPlaneTarget} from '../tapclient/target.js'
import {parseDuration} from './duration.js'
import type {EdgesReport, StatReport} from './types.js'

export interface StatParams {
  resource: string
  namespace: string
  allNamespaces?: boolean
  window: string
  to?: string
  toNamespace?: string
  from?: string
  fromNamespace?: string
}

/** Checks the user's input before any network call (bad input is a usage error, exit 2). */
export function checkStatParams(p: StatParams): void {
  parseResource(p.resource, 'resource')
  if (p.to) parseResource(p.to, '--to')
  if (p.from) parseResource(p.from, '--from')
  parseDuration(p.window, '--window')
}

export async function fetchStat(target: ControlPlaneTarget, p: StatParams): Promise<StatReport> {
  checkStatParams(p)
  return getJson<StatReport>(target, TapApi.stat, {
    resource: formatResource(parseResource(p.resource)),
    namespace: p.namespace,
    allNamespaces: p.allNamespaces ? 'true' : undefined,
    window: p.window,
    to: p.to,
    toNamespace: p.toNamespace,
    from: p.from,
    fromNamespace: p.fromNamespace,
  })
}

export async function fetchEdges(target: ControlPlaneTarget, p: {resource: string; namespace: string; allNamespaces?: boolean}): Promise<EdgesReport> {
  return getJson<EdgesReport>(target, TapApi.edges, {
    resource: formatResource(parseResource(p.resource)),
    namespace: p.namespace,
    allNamespaces: p.allNamespaces ? 'true' : undefined,
  })
}
