// `mesh edges` end to end: check the resource, find the control plane, fetch, render.
import {parseResource} from '../control/tap/resource.js'
import type {Output} from '../lib/output.js'
import {resolveControlPlane, type ControlPlaneFlags} from '../tapclient/target.js'
import {edgesTable} from './render.js'
import {fetchEdges} from './run.js'

export async function runEdgesCommand(out: Output, resource: string, flags: ControlPlaneFlags & {'all-namespaces': boolean; output: 'table' | 'json' | 'wide'}): Promise<void> {
  parseResource(resource)
  const target = await resolveControlPlane(flags)
  const report = await fetchEdges(target, {resource, namespace: target.namespace, allNamespaces: flags['all-namespaces']})
  if (flags.output === 'json') {
    out.json(report)
    return
  }
  for (const e of report.errors) out.warn(`pod ${e.pod}: metrics unavailable: ${e.error}`)
  if (report.edges.length === 0) {
    out.info('No edges seen yet: the proxies of these pods have not carried traffic.')
    return
  }
  const {head, rows} = edgesTable(report.edges, {wide: flags.output === 'wide'})
  out.stdout.write(await out.table(head, rows))
}
