// HTTPRoutes and GRPCRoutes from the API server (gateway.networking.k8s.io/v1), when their CRDs
// are installed: the Gateway API CRDs belong to the cluster, so the controller starts and
// serves without them, says so in its log, and looks again every `pollMs` (30 s): routes are
// picked up when the CRDs appear and dropped when they go. Each route is validated into the
// RouteState (src/control/routes/state.ts), and its status.parents entries for Service parents
// are written (only ours: entries of other controllers are kept as they are) whenever what
// they should say changes: after a route event, or a change of Services in its namespace.
import type * as k8s from '@kubernetes/client-node'
import {startInformer, repeatAfter, syncedWithin, type Informer} from '../informer.js'
import type {Logger} from '../logger.js'
import type {Registry} from '../destination/registry.js'
import {CONTROLLER_NAME, GATEWAY_API_INSTALL, GATEWAY_GROUP, GATEWAY_VERSION, validateRoute, type RouteKind} from '../../routes/validate.js'
import {registryPorts, routeKey, type ParentStatus, type RouteState} from './state.js'

export const ROUTE_KINDS: ReadonlyArray<{kind: RouteKind; plural: string}> = [
  {kind: 'HTTPRoute', plural: 'httproutes'},
  {kind: 'GRPCRoute', plural: 'grpcroutes'},
]


export interface KubernetesRoutesOptions {
  lib: typeof k8s
  kc: k8s.KubeConfig
  registry: Registry
  state: RouteState
  log: Logger
  /** How often to look for the CRDs (default 30 s). */
  pollMs?: number
  /** How long start() waits for the first lists of the kinds present (default 60 s). */
  syncTimeoutMs?: number
}

type RouteObject = k8s.KubernetesObject & {spec?: unknown; status?: {parents?: Array<Record<string, unknown>>}}

interface KindWatch {
  kind: RouteKind
  plural: string
  informer?: Informer<RouteObject>
  /** What the last look found: present, absent, or not known yet. */
  seen?: 'present' | 'absent' | 'forbidden'
}

function now(): string {
  return new Date().toISOString().replace(/\.\d+Z$/, 'Z')
}

function statusCode(err: unknown): number | undefined {
  const e = err as {code?: unknown; statusCode?: unknown; response?: {statusCode?: unknown}}
  const c = e?.code ?? e?.statusCode ?? e?.response?.statusCode
  return typeof c === 'number' ? c : undefined
}

export class KubernetesRoutes {
  private readonly kinds: KindWatch[] = ROUTE_KINDS.map((k) => ({...k}))
  private custom: k8s.CustomObjectsApi | undefined
  private poller: {stop(): void} | undefined
  private stopped = false
  private readonly pending = new Set<string>()
  private flush: NodeJS.Immediate | undefined
  private readonly writing = new Map<string, boolean>()
  private readonly offs: Array<() => void> = []
  /** Status writes done and failed (tests, logs). */
  readonly writes = {ok: 0, failed: 0}

  constructor(private readonly o: KubernetesRoutesOptions) {}

  async start(): Promise<void> {
    this.custom = this.o.kc.makeApiClient(this.o.lib.CustomObjectsApi)
    this.offs.push(this.o.state.onChange((ns) => this.schedule(ns)), this.o.registry.onChange((ns) => this.schedule(ns)))
    await this.look()
    const synced = this.kinds.flatMap((k) => (k.informer ? [k.informer.synced] : []))
    const timeoutMs = this.o.syncTimeoutMs ?? 60_000
    if (!(await syncedWithin(Promise.all(synced), timeoutMs))) this.o.log.warn('routes: the first list of HTTPRoutes/GRPCRoutes did not complete; serving without them until it does', {timeoutMs})
    this.poller = repeatAfter(() => this.look(), this.o.pollMs ?? 30_000)
  }

  async stop(): Promise<void> {
    this.stopped = true
    this.poller?.stop()
    if (this.flush) clearImmediate(this.flush)
    for (const off of this.offs) off()
    await Promise.all(this.kinds.map((k) => k.informer?.stop()))
  }

  /** Which kinds are watched now (tests, logs). */
  watching(): RouteKind[] {
    return this.kinds.filter((k) => k.informer).map((k) => k.kind)
  }

  /** Is each CRD served at v1? Starts or stops its informer accordingly. */
  private async look(): Promise<void> {
    for (const k of this.kinds) {
      if (this.stopped) return
      let found: KindWatch['seen']
      try {
        await this.custom!.listClusterCustomObject({group: GATEWAY_GROUP, version: GATEWAY_VERSION, plural: k.plural, limit: 1})
        found = 'present'
      } catch (err) {
        const code = statusCode(err)
        if (code === 404) found = 'absent'
        else if (code === 403) found = 'forbidden'
        else {
          this.o.log.debug('routes: could not tell whether the CRD is installed; looking again later', {kind: k.kind, error: (err as Error).message?.split('\n')[0]})
          continue
        }
      }
      const before = k.seen
      k.seen = found
      if (found === 'present' && !k.informer) {
        this.o.log.info(`routes: ${k.plural}.${GATEWAY_GROUP}/${GATEWAY_VERSION} is served: watching ${k.kind}s`, {kind: k.kind})
        this.watch(k)
      } else if (found !== 'present' && k.informer) {
        this.o.log.warn(`routes: ${k.plural}.${GATEWAY_GROUP}/${GATEWAY_VERSION} is no longer served: its routes no longer apply`, {kind: k.kind})
        const inf = k.informer
        k.informer = undefined
        await inf.stop()
        this.o.state.clearKind(k.kind)
      } else if (found !== before && found === 'absent') {
        this.o.log.info(`routes: ${k.plural}.${GATEWAY_GROUP}/${GATEWAY_VERSION} is not installed: no ${k.kind}s apply; looking again every ${(this.o.pollMs ?? 30_000) >= 1000 ? `${Math.round((this.o.pollMs ?? 30_000) / 1000)} s` : `${this.o.pollMs} ms`}. The Gateway API CRDs belong to the cluster; install them with: ${GATEWAY_API_INSTALL}`, {kind: k.kind})
      } else if (found !== before && found === 'forbidden') {
        this.o.log.warn(`routes: not allowed to list ${k.plural}.${GATEWAY_GROUP}: no ${k.kind}s apply (the controller's ClusterRole needs get/list/watch on them)`, {kind: k.kind})
      }
    }
  }

  private watch(k: KindWatch): void {
    const {lib, kc, log} = this.o
    const custom = this.custom!
    k.informer = startInformer<RouteObject>({
      lib, kc, log, name: k.plural,
      path: `/apis/${GATEWAY_GROUP}/${GATEWAY_VERSION}/${k.plural}`,
      list: () => custom.listClusterCustomObject({group: GATEWAY_GROUP, version: GATEWAY_VERSION, plural: k.plural}) as Promise<k8s.KubernetesListObject<RouteObject>>,
      onEvent: (obj, verb) => {
        const ns = obj.metadata?.namespace
        const name = obj.metadata?.name
        if (!ns || !name) return
        const key = routeKey({kind: k.kind, namespace: ns, name})
        this.o.state.set(key, ns, verb === 'delete' ? undefined : validateRoute({...obj, kind: k.kind}))
        // Every event gets a status pass (the state only signals changes of what applies): a
        // route that lost its last Service parent may still carry entries of ours, and status
        // written by someone else is put right.
        this.schedule(ns)
      },
    })
  }

  private schedule(ns: string): void {
    if (this.stopped) return
    this.pending.add(ns)
    this.flush ??= setImmediate(() => {
      this.flush = undefined
      const list = [...this.pending]
      this.pending.clear()
      for (const n of list) this.pass(n)
    })
  }

  /** Writes the status of every route in `ns` whose entries of ours should change. */
  private pass(ns: string): void {
    const ports = registryPorts(this.o.registry)
    for (const k of this.kinds) {
      for (const obj of k.informer?.list(ns) ?? []) {
        const key = routeKey({kind: k.kind, namespace: ns, name: obj.metadata!.name!})
        const desired = this.o.state.status(key, ports)
        const existing = (obj.status?.parents ?? []).filter((p) => p.controllerName === CONTROLLER_NAME)
        if (sameStatus(existing, desired, obj.metadata?.generation)) continue
        void this.write(k, obj, key, desired)
      }
    }
  }

  private async write(k: KindWatch, obj: RouteObject, key: string, desired: ParentStatus[]): Promise<void> {
    if (this.writing.has(key)) {
      this.writing.set(key, true)
      return
    }
    this.writing.set(key, false)
    const ns = obj.metadata!.namespace!
    const generation = obj.metadata?.generation
    const others = (obj.status?.parents ?? []).filter((p) => p.controllerName !== CONTROLLER_NAME)
    const previous = (obj.status?.parents ?? []).filter((p) => p.controllerName === CONTROLLER_NAME)
    const ours = desired.map((d) => {
      const before = previous.find((p) => canonical(p.parentRef) === canonical(d.parentRef)) as {conditions?: Array<Record<string, unknown>>} | undefined
      return {
        parentRef: d.parentRef,
        controllerName: d.controllerName,
        conditions: d.conditions.map((c) => {
          const old = before?.conditions?.find((x) => x.type === c.type)
          const since = old && old.status === c.status && typeof old.lastTransitionTime === 'string' ? old.lastTransitionTime : now()
          return {...c, observedGeneration: generation, lastTransitionTime: since}
        }),
      }
    })
    const body = {...obj, apiVersion: `${GATEWAY_GROUP}/${GATEWAY_VERSION}`, kind: k.kind, status: {...(obj.status ?? {}), parents: [...others, ...ours].slice(0, 32)}}
    try {
      await this.custom!.replaceNamespacedCustomObjectStatus({group: GATEWAY_GROUP, version: GATEWAY_VERSION, namespace: ns, plural: k.plural, name: obj.metadata!.name!, body})
      this.writes.ok++
      this.o.log.debug('routes: status written', {route: key, accepted: ours.map((p) => p.conditions[0]?.status)})
    } catch (err) {
      const code = statusCode(err)
      // 409: the informer has (or will have) a newer object, and its event brings another pass.
      // 404: deleted meanwhile.
      if (code !== 409 && code !== 404) {
        this.writes.failed++
        this.o.log.warn('routes: could not write the route status; trying again', {route: key, code, error: (err as Error).message?.split('\n')[0]})
        setTimeout(() => this.schedule(ns), 5000).unref()
      }
    } finally {
      const again = this.writing.get(key)
      this.writing.delete(key)
      if (again) this.schedule(ns)
    }
  }
}

/** Whether our entries already say what `desired` says (times aside) for this generation. */
function sameStatus(existing: Array<Record<string, unknown>>, desired: ParentStatus[], generation: number | undefined): boolean {
  if (existing.length !== desired.length) return false
  const strip = (p: {parentRef?: unknown; conditions?: unknown}): string =>
    JSON.stringify({
      parentRef: canonical(p.parentRef),
      conditions: ((p.conditions as Array<Record<string, unknown>>) ?? []).map((c) => [c.type, c.status, c.reason, c.message]),
    })
  return desired.every((d, i) => {
    const e = existing[i] as {parentRef?: unknown; conditions?: Array<Record<string, unknown>>}
    return strip(e) === strip(d) && (e.conditions ?? []).every((c) => c.observedGeneration === generation)
  })
}

/** JSON with sorted keys (the API server's order may differ from ours). */
function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => (x && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : x))
}
