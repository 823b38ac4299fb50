// The tap server's view of Services and their routes (ServiceView, src/control/tap/types.ts):
// which Service port an authority label names (as the destination service reads the authority
// a proxy asks about: a name in any form for the caller's namespace, or a cluster IP), and the
// routes in force on each port of a Service (as the routes streams compile them). Built on the
// controller's own registry and route state, so `mesh stat --routes` and the proxies agree.
import {isIP} from 'node:net'
import type {Registry} from '../destination/registry.js'
import {parseLabelAuthority as parse} from '../tap/service-view.js'
import type {ServicePort, ServiceView} from '../tap/types.js'
import {compilePolicy} from '../../routes/policy.js'
import type {RouteReport, RoutesReport} from '../../routes/command.js'
import {registryPorts, routeKey, type RouteState} from './state.js'

export function registryServiceView(registry: Registry, routes: RouteState, clusterDomain = 'cluster.local'): ServiceView {
  const servicePorts = registryPorts(registry)
  return {
    clusterDomain,
    serviceOf(authority, callerNamespace): ServicePort | undefined {
      const a = parse(authority, callerNamespace, clusterDomain)
      if (!a) return undefined
      if (a.kind === 'external') {
        const ref = isIP(a.host) ? registry.serviceAt(a.host) : undefined
        return ref ? {namespace: ref.namespace, name: ref.service, port: a.port} : undefined
      }
      const r = registry.resolve(a.namespace, a.service, a.port)
      return r.kind === 'endpoints' ? {namespace: a.namespace, name: a.service, port: a.port} : undefined
    },
    routesOf(namespace, name) {
      const ports = servicePorts(namespace, name)
      if (!ports) return undefined
      return ports.map((port) => ({port, routes: routes.inForce(namespace, name, port, servicePorts).map((r) => ({kind: r.kind, name: r.name}))}))
    },
    routesReport: (namespace, name) => routesReportOf(routes, servicePorts, clusterDomain, namespace, name),
  }
}

/**
 * `mesh routes svc/<name>` from the controller's own state (local mode, where there is no API
 * server to read): the routes attached to the Service with the status the controller computes
 * for them, and per port the policy the routes streams send. Undefined: no such Service.
 */
export function routesReportOf(state: RouteState, servicePorts: (ns: string, name: string) => number[] | undefined, clusterDomain: string, namespace: string, name: string): RoutesReport | undefined {
  const ports = servicePorts(namespace, name)
  if (!ports) return undefined
  const reports: RouteReport[] = []
  for (const route of state.routes(namespace)) {
    const i = route.parents.findIndex((p) => p.namespace === namespace && p.name === name)
    if (i < 0) continue
    const parent = route.parents[i]!
    const problem = parent.problem?.message ?? (route.verdict.ok ? undefined : route.verdict.message)
    const conditions = state.status(routeKey(route), servicePorts)[i]?.conditions ?? []
    reports.push({kind: route.kind, name: route.name, generation: route.generation, conditions: conditions.map((c) => ({...c, observedGeneration: route.generation})), compiled: !problem, ...(problem ? {problem} : {})})
  }
  reports.sort((a, b) => `${a.kind}/${a.name}`.localeCompare(`${b.kind}/${b.name}`))
  const policies = ports.map((port) => compilePolicy({service: {namespace, name, port}, clusterDomain, routes: state.inForce(namespace, name, port, servicePorts), servicePorts}))
  return {service: {namespace, name, ports}, missingCrds: [], routes: reports, policies}
}
