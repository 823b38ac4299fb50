// What the tap server knows about pods and how it learns it. A TargetResolver maps a resource
// to its pods: the Kubernetes one reads the API server, the local one the demo's registry.
import type {ResourceKind, ResourceRef} from './resource.js'
import type {RoutesReport} from '../../routes/command.js'

export interface WorkloadRef {
  kind: ResourceKind
  name: string
  namespace: string
}

export interface PodInfo {
  namespace: string
  name: string
  /** The pod's IP; 127.0.0.1 in local mode. */
  ip: string
  /** The workload owning the pod (deployment, statefulset, ...); the pod itself when none. */
  owner: WorkloadRef
  /** True when the pod runs a mesh proxy. */
  meshed: boolean
  /** host:port of the proxy's tap server (ip:4190 in a cluster). */
  tapAddress?: string
  /** host:port of the proxy's admin server (ip:4191 in a cluster). */
  adminAddress?: string
  /** The proxy's identity name, when it has one (the tap port presents it over mTLS). */
  identity?: string
  serviceAccount?: string
  labels: Record<string, string>
  /** Pods not Running (or deleted) are not tapped but count as not meshed-ready. */
  running: boolean
}

/** The pods a resource selects, grouped by the workload each row of `mesh stat` shows. */
export interface ResolvedGroup {
  resource: WorkloadRef
  pods: PodInfo[]
}

export interface ResolveScope {
  /** The namespace of the request; ignored when allNamespaces. */
  namespace: string
  allNamespaces?: boolean
}

export interface TargetResolver {
  /**
   * One group per matching resource: `deploy/web` gives one group, a bare `deploy` one per
   * deployment in scope, `ns/shop` one for the namespace. Throws TargetNotFoundError when a
   * named resource does not exist.
   */
  resolve(ref: ResourceRef, scope: ResolveScope): Promise<ResolvedGroup[]>
  /** Best-effort lookup of a pod by IP (to name the peers of tap events); undefined if unknown. */
  podByIp?(ip: string): Promise<PodInfo | undefined>
  /** Every pod the resolver knows (used to name peers in local mode by address). */
  close?(): void
}

export class TargetNotFoundError extends Error {
  readonly code = 'MESH_TAP_NOT_FOUND'
  constructor(readonly ref: ResourceRef, readonly namespace: string) {
    super(`${ref.kind} ${ref.name ?? ''} not found in namespace ${namespace}`.replace('  ', ' '))
  }
}

/** A Service port (the parent of routes). */
export interface ServicePort {
  namespace: string
  name: string
  port: number
}

/**
 * What the tap server knows of Services and their routes, for `mesh stat --routes` (and `mesh
 * routes` in local mode): the controller's registry and route state (src/control/routes/view.ts),
 * or names alone (authorityOnlyView) where none is at hand.
 */
export interface ServiceView {
  /** The cluster's DNS domain (canonical names: `books.shop.svc.<domain>:8080`). */
  readonly clusterDomain: string
  /** The Service port an authority names for a caller in `callerNamespace` (a name in any form, or a cluster IP); undefined: not a Service. */
  serviceOf(authority: string, callerNamespace: string): ServicePort | undefined
  /** The ports of Service namespace/name and the routes in force on each; undefined: unknown. */
  routesOf?(namespace: string, name: string): Array<{port: number; routes: Array<{kind: string; name: string}>}> | undefined
  /** `mesh routes svc/<name>` where the CLI has no API server (local mode); undefined: no such Service. */
  routesReport?(namespace: string, name: string): RoutesReport | undefined
}
