// The Observer that keeps Linkerd's request/response/tcp families, and the per-route families for
// requests the control plane's route policy routed. The hot path allocates nothing once a series
// exists: the TLS object (one per connection) and the dst labels object (one per endpoint) are
// looked up by identity in WeakMaps (falling back to their content when the data path builds
// fresh ones), then the series by authority (and route) in a Map; a request series holds its
// route series, so a routed request costs one more increment per event, not a lookup.
import type {Direction, TapTls} from '../protocol/tap.js'
import type {IgnoredReason} from '../proxy/core/ignored.js'
import type {RefusalReason} from '../proxy/core/refusals.js'
import type {AuthzOutcome, ConnEndMeta, ConnMeta, Observer, RequestMeta, ResponseEndMeta, RetryOutcome, RoutesWaitOutcome} from '../proxy/core/observe.js'
import {AuthzFamilies} from './authz-families.js'
import {classify} from './classify.js'
import type {Counter, CounterChild} from './counter.js'
import {DEFAULT_MAX_SERIES} from './family.js'
import {assertLabelName} from './format.js'
import type {GaugeChild} from './gauge.js'
import type {HistogramChild} from './histogram.js'
import {errnoLabel} from './errno.js'
import {DST_LABELS, type LinkerdFamilies, ROUTE_LABELS, TRAFFIC_LABELS, registerLinkerdFamilies} from './linkerd-families.js'
import {registerIgnoredFamily, registerPolicyFamilies, registerRefusalFamily, type IgnoredBytes, type InboundRefusals, type Refusals} from './policy-families.js'
import {registerReliabilityFamilies, type ReliabilityFamilies} from './reliability-families.js'
import {DetectTimeouts} from './detect-families.js'
import type {Registry} from './registry.js'
import type {RequestSeries, ResponseSeries, RouteSeries, StatusSeries} from './request-series.js'

export interface ProxyMetricsOptions {
  /** The local pod's labels on every series, e.g. {namespace, pod, deployment}. */
  localLabels?: Record<string, string>
  /** Cap on distinct label sets per family (default 10,000). */
  maxSeries?: number
  /** The clock, ms (performance.now by default). */
  now?: () => number
}

interface CloseSeries {
  close: CounterChild
  duration: HistogramChild
}

interface TcpSeries {
  values: string[]
  open: CounterChild
  openConns: GaugeChild
  read: CounterChild
  write: CounterChild
  closeByErrno: Map<string, CloseSeries>
}

/** Series under one (TLS, dst labels) pair, by direction then authority(+route). */
interface LabelNode {
  values: string[]
  requests: {inbound: Map<string, RequestSeries>; outbound: Map<string, RequestSeries>}
  tcp: {inbound: Map<string, TcpSeries>; outbound: Map<string, TcpSeries>}
}

interface TlsNode {
  values: string[]
  byDst: WeakMap<Record<string, string>, LabelNode>
  byDstContent: Map<string, LabelNode>
}

const SEP = '\u0000'

export class ProxyMetricsObserver implements Observer {
  readonly families: LinkerdFamilies
  private readonly refusals: InboundRefusals
  private readonly bounds: Refusals
  private readonly ignoredBytes: IgnoredBytes
  private readonly reliability: ReliabilityFamilies
  private readonly detectTimeouts: DetectTimeouts
  private readonly authzFamilies: AuthzFamilies
  private readonly localValues: string[]
  private readonly maxSeries: number
  private readonly now: () => number
  private readonly tlsNodes = new WeakMap<TapTls, TlsNode>()
  private readonly tlsNodesByContent = new Map<string, TlsNode>()
  /** When each open connection opened (for tcp_connection_duration_ms). */
  private readonly opened = new WeakMap<ConnMeta, number>()
  /** Series held in the lookup tree (bounded by maxSeries like the families). */
  private cached = 0

  constructor(registry: Registry, options: ProxyMetricsOptions = {}) {
    const local = options.localLabels ?? {}
    for (const name of Object.keys(local)) {
      assertLabelName(name)
      if ((TRAFFIC_LABELS as readonly string[]).includes(name) || (ROUTE_LABELS as readonly string[]).includes(name)) {
        throw new Error(`local label ${name} collides with a traffic label`)
      }
    }
    this.localValues = Object.values(local)
    this.maxSeries = options.maxSeries ?? DEFAULT_MAX_SERIES
    this.now = options.now ?? (() => performance.now())
    this.families = registerLinkerdFamilies(registry, Object.keys(local), this.maxSeries)
    this.refusals = registerPolicyFamilies(registry)
    this.bounds = registerRefusalFamily(registry)
    this.ignoredBytes = registerIgnoredFamily(registry)
    this.reliability = registerReliabilityFamilies(registry, this.maxSeries)
    this.detectTimeouts = new DetectTimeouts(registry, this.maxSeries)
    this.authzFamilies = new AuthzFamilies(registry, this.maxSeries)
  }

  authz(outcome: AuthzOutcome, policy: string, clientId: string): void {
    this.authzFamilies.count(outcome, policy, clientId)
  }

  authzStreamError(): void {
    this.authzFamilies.streamError()
  }

  inboundRefused(reason: string): void {
    this.refusals.get(reason)?.inc()
  }

  refused(direction: Direction, reason: RefusalReason): void {
    this.bounds[direction][reason].inc()
  }

  ignored(direction: Direction, reason: IgnoredReason, bytes: number): void {
    this.ignoredBytes[direction][reason].inc(bytes)
  }

  retried(direction: Direction, outcome: RetryOutcome): void {
    this.reliability.retries[direction][outcome].inc()
  }

  routePolicyWait(outcome: RoutesWaitOutcome): void {
    this.reliability.routePolicyWaits[outcome].inc()
  }

  ejected(direction: Direction, authority: string, endpoint: string): void {
    this.reliability.ejections.labels(direction, authority).inc()
    this.reliability.ejected.labels(direction, authority, endpoint).set(1)
  }

  ejectionOver(direction: Direction, authority: string, endpoint: string, removed: boolean): void {
    const values = [direction, authority, endpoint]
    if (removed) this.reliability.ejected.remove(values)
    else if (this.reliability.ejected.has(values)) this.reliability.ejected.child(values).set(0)
  }

  detectTimedOut(direction: Direction, port: number): void {
    this.detectTimeouts.count(direction, port)
  }

  requestInit(req: RequestMeta): void {
    const r = this.requestSeries(req)
    r.request.inc()
    r.route?.request.inc()
    req.requestSeries = r
  }

  responseInit(req: RequestMeta, status: number): void {
    const s = this.statusSeries(req.requestSeries ?? this.requestSeries(req), status)
    const ms = this.now() - req.startMs
    s.latency.observe(ms)
    s.route?.latency.observe(ms)
    req.statusSeries = s
  }

  responseEnd(req: RequestMeta, end: ResponseEndMeta): void {
    let s = req.statusSeries
    if (s === undefined || (end.status !== undefined && end.status !== s.status)) {
      s = this.statusSeries(req.requestSeries ?? s?.owner ?? this.requestSeries(req), end.status ?? 0)
    }
    req.requestSeries = undefined
    req.statusSeries = undefined
    const status = end.status ?? (s.status === 0 ? undefined : s.status)
    const classification = classify(status, end.grpcStatus, end.resetError)
    const owner = s.owner
    responseCounter(s, classification, this.families.responseTotal, owner.values, s.status).inc()
    if (s.route !== undefined && owner.route !== undefined) {
      responseCounter(s.route, classification, this.families.routeResponseTotal, owner.route.values, s.status).inc()
    }
  }

  tcpOpen(conn: ConnMeta): void {
    const t = this.tcpSeries(conn)
    t.open.inc()
    t.openConns.inc()
    this.opened.set(conn, this.now())
  }

  tcpClose(conn: ConnMeta, end: ConnEndMeta): void {
    const t = this.tcpSeries(conn)
    t.openConns.dec()
    t.read.inc(end.readBytes)
    t.write.inc(end.writeBytes)
    const errno = errnoLabel(end.error)
    let close = t.closeByErrno.get(errno)
    if (close === undefined) {
      const values = [...t.values, errno]
      close = {close: this.families.tcpCloseTotal.child(values), duration: this.families.tcpConnectionDurationMs.child(values)}
      t.closeByErrno.set(errno, close)
    }
    close.close.inc()
    const openedAt = this.opened.get(conn)
    if (openedAt !== undefined) {
      this.opened.delete(conn)
      close.duration.observe(this.now() - openedAt)
    }
  }

  private requestSeries(req: RequestMeta): RequestSeries {
    const node = this.labelNode(req.tls, req.dstLabels)
    const map = node.requests[req.direction]
    const key = req.routeKind === undefined
      ? (req.route === '' ? req.authority : req.authority + SEP + req.route)
      : req.authority + SEP + req.route + SEP + req.routeKind + SEP + (req.backend ?? '')
    let s = map.get(key)
    if (s === undefined) {
      const values = [...this.localValues, req.direction, req.authority, req.route, req.routeKind ?? '', req.backend ?? '', ...node.values]
      s = {values, request: this.families.requestTotal.child(values), byStatus: new Map()}
      if (req.routeKind !== undefined) s.route = this.routeSeries(req, node.values[0]!)
      if (this.cached < this.maxSeries) {
        map.set(key, s)
        this.cached++
      }
    }
    return s
  }

  /**
   * The route_* series of a request the control plane's route policy routed: `rt_route` is the
   * route's name, empty for the default route (no rule matched, or the policy has no routes),
   * as Linkerd's default route carries no route labels. Shared by every request series with the
   * same (direction, authority, route, tls): the family's children are keyed by their values.
   */
  private routeSeries(req: RequestMeta, tls: string): RouteSeries {
    const rtRoute = req.routeKind === 'default' ? '' : req.route
    const values = [...this.localValues, req.direction, req.authority, rtRoute, tls]
    return {values, request: this.families.routeRequestTotal.child(values), byStatus: new Map()}
  }

  private statusSeries(r: RequestSeries, status: number): StatusSeries {
    let s = r.byStatus.get(status)
    if (s === undefined) {
      s = {status, owner: r, latency: this.families.responseLatencyMs.child([...r.values, statusLabel(status)])}
      if (r.route !== undefined) {
        const route = r.route
        let rs = route.byStatus.get(status)
        if (rs === undefined) {
          rs = {latency: this.families.routeResponseLatencyMs.child([...route.values, statusLabel(status)])}
          route.byStatus.set(status, rs)
        }
        s.route = rs
      }
      r.byStatus.set(status, s)
    }
    return s
  }

  private tcpSeries(conn: ConnMeta): TcpSeries {
    const node = this.labelNode(conn.tls, conn.dstLabels)
    const map = node.tcp[conn.direction]
    let t = map.get(conn.authority)
    if (t === undefined) {
      const values = [...this.localValues, conn.direction, conn.authority, '', '', '', ...node.values]
      const f = this.families
      t = {
        values,
        open: f.tcpOpenTotal.child(values),
        openConns: f.tcpOpenConnections.child(values),
        read: f.tcpReadBytesTotal.child(values),
        write: f.tcpWriteBytesTotal.child(values),
        closeByErrno: new Map(),
      }
      if (this.cached < this.maxSeries) {
        map.set(conn.authority, t)
        this.cached++
      }
    }
    return t
  }

  /** tls, client_id, server_id, no_tls_reason, then dst_namespace, dst_deployment, dst_pod, dst_serviceaccount. */
  private labelNode(tls: TapTls, labels: Record<string, string>): LabelNode {
    let t = this.tlsNodes.get(tls)
    if (t === undefined) {
      const values = tls.tls ? ['true', tls.clientId ?? '', tls.serverId ?? '', ''] : ['no_identity', '', '', tls.noTlsReason ?? 'no_identity']
      const content = values.join(SEP)
      t = this.tlsNodesByContent.get(content)
      if (t === undefined) {
        t = {values, byDst: new WeakMap(), byDstContent: new Map()}
        if (this.tlsNodesByContent.size < this.maxSeries) this.tlsNodesByContent.set(content, t)
      }
      this.tlsNodes.set(tls, t)
    }
    let d = t.byDst.get(labels)
    if (d === undefined) {
      // Keys given with or without the dst_ prefix.
      const dst = DST_LABELS.map((name) => labels[name] ?? labels[name.slice(4)] ?? '')
      const content = dst.join(SEP)
      d = t.byDstContent.get(content)
      if (d === undefined) {
        d = {
          values: [...t.values, ...dst],
          requests: {inbound: new Map(), outbound: new Map()},
          tcp: {inbound: new Map(), outbound: new Map()},
        }
        if (t.byDstContent.size < this.maxSeries) t.byDstContent.set(content, d)
      }
      t.byDst.set(labels, d)
    }
    return d
  }
}

/** The response counter of `s` for `classification`, made (in `family`, `values` then the status and classification) on first use. */
function responseCounter(s: ResponseSeries, classification: 'success' | 'failure', family: Counter, values: readonly string[], status: number): CounterChild {
  if (classification === 'success') return s.success ??= family.child([...values, statusLabel(status), classification])
  return s.failure ??= family.child([...values, statusLabel(status), classification])
}

function statusLabel(status: number): string {
  return status === 0 ? '' : String(status)
}
