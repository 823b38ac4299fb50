// The tap server's stat and edges queries: resolve the resources, scrape the proxies (each
// bounded in time), compute the rows. A pod whose /metrics cannot be read is reported in
// `errors`, never fails the whole answer.
import {computeStats, podKey, type Windows} from '../../stat/compute.js'
import {computeEdges, type ScrapedPod} from '../../stat/edges.js'
import {computeRouteStats} from '../../stat/routes.js'
import type {EdgesReport, RouteStatReport, StatReport} from '../../stat/types.js'
import {windowFor} from '../../stat/window.js'
import {formatDuration} from '../../stat/duration.js'
import type {MetricsStore} from './metrics-store.js'
import type {ResourceRef} from './resource.js'
import type {PodInfo, ResolvedGroup, ResolveScope, ServiceView, TargetResolver} from './types.js'

export interface StatRequest {
  resource: ResourceRef
  scope: ResolveScope
  windowMs: number
  to?: {resource: ResourceRef; scope: ResolveScope}
  from?: {resource: ResourceRef; scope: ResolveScope}
}

export async function statQuery(resolver: TargetResolver, store: MetricsStore, req: StatRequest): Promise<StatReport> {
  const rows = await resolver.resolve(req.resource, req.scope)
  const to = req.to ? await resolver.resolve(req.to.resource, req.to.scope) : undefined
  const from = req.from ? await resolver.resolve(req.from.resource, req.from.scope) : undefined
  const scraped = from ? from.flatMap((g) => g.pods) : rows.flatMap((g) => g.pods)
  const {windows, errors} = await scrapeAll(store, scraped, req.windowMs)
  return {window: formatDuration(req.windowMs), rows: computeStats({rows, to, from}, windows), errors}
}

/**
 * `mesh stat --routes`: a Service's callers' requests to it per route (the callers: the --from
 * resource's pods, else every pod in scope), or a workload's requests per destination and route
 * (--to: one Service only). Routes are an outbound concern: only callers' proxies label them.
 */
export async function routeStatQuery(resolver: TargetResolver, store: MetricsStore, view: ServiceView, req: StatRequest): Promise<RouteStatReport> {
  const groups = await resolver.resolve(req.resource, req.scope)
  const service = req.resource.kind === 'service'
  let callers: PodInfo[] | undefined
  if (service) {
    const from = req.from ?? {resource: {kind: 'namespace' as const}, scope: req.scope}
    callers = (await resolver.resolve(from.resource, from.scope)).flatMap((g) => g.pods)
  }
  const to = req.to ? {namespace: req.to.scope.namespace, name: req.to.resource.name ?? ''} : undefined
  const served = !service && req.resource.kind !== 'namespace' && req.resource.name && !req.to ? await servedBy(resolver, groups) : undefined
  const {windows, errors} = await scrapeAll(store, callers ?? groups.flatMap((g) => g.pods), req.windowMs)
  return {window: formatDuration(req.windowMs), rows: computeRouteStats({groups, mode: service ? 'service' : 'client', callers, to, view}, windows), errors, ...(served ? {served} : {})}
}

/** A RouteStatReport names at most this many Services a workload serves. */
export const MAX_SERVED_SERVICES = 50

/**
 * The Services a workload's pods back (the resolver's own Service selection, as `mesh stat
 * svc/<name>` resolves a Service: the Kubernetes selector, or the demo registry's endpoints).
 */
async function servedBy(resolver: TargetResolver, groups: ResolvedGroup[]): Promise<Array<{namespace: string; name: string}>> {
  const mine = new Set(groups.flatMap((g) => g.pods).map(podKey))
  const namespace = groups[0]?.resource.namespace
  if (mine.size === 0 || namespace === undefined) return []
  const services = await resolver.resolve({kind: 'service'}, {namespace})
  return services
    .filter((g) => g.pods.some((p) => mine.has(podKey(p))))
    .map((g) => ({namespace: g.resource.namespace, name: g.resource.name}))
    .sort((a, b) => a.name.localeCompare(b.name))
    .slice(0, MAX_SERVED_SERVICES)
}

async function scrapeAll(store: MetricsStore, pods: PodInfo[], windowMs: number): Promise<{windows: Windows; errors: StatReport['errors']}> {
  const windows: Windows = new Map()
  const errors: StatReport['errors'] = []
  const unique = new Map(pods.filter((p) => p.meshed && p.running && p.adminAddress).map((p) => [podKey(p), p]))
  await Promise.all(
    [...unique.values()].map(async (p) => {
      try {
        const {current, history} = await store.current(p)
        windows.set(podKey(p), windowFor(history, current, windowMs))
      } catch (err) {
        errors.push({pod: podKey(p), error: (err as Error).message})
      }
    }),
  )
  errors.sort((a, b) => a.pod.localeCompare(b.pod))
  return {windows, errors}
}

export async function edgesQuery(resolver: TargetResolver, store: MetricsStore, resource: ResourceRef, scope: ResolveScope): Promise<EdgesReport> {
  const groups: ResolvedGroup[] = await resolver.resolve(resource, scope)
  const pods = groups.flatMap((g) => g.pods).filter((p) => p.meshed && p.running && p.adminAddress)
  const scrapedPods: ScrapedPod[] = []
  const errors: EdgesReport['errors'] = []
  await Promise.all(
    pods.map(async (pod) => {
      try {
        scrapedPods.push({pod, scrape: (await store.current(pod)).current})
      } catch (err) {
        errors.push({pod: podKey(pod), error: (err as Error).message})
      }
    }),
  )
  return {edges: computeEdges(scrapedPods, {byPod: resource.kind === 'pod'}), errors}
}
