// The Observer that keeps Linkerd's request/response/tcp families. Every event looks up its
// series in a Map keyed by one joined string (direction, authority, route, TLS, dst labels);
// the TLS and dst parts are cached per object (the data path reuses them per connection and
// per endpoint), so a request costs one string join, one Map lookup and a few increments.
import type {TapTls} from '../protocol/tap.js'
import type {ConnEndMeta, ConnMeta, Observer, RequestMeta, ResponseEndMeta} from '../proxy/observe.js'
import {classify} from './classify.js'
import type {CounterChild} from './counter.js'
import {DEFAULT_MAX_SERIES} from './family.js'
import {assertLabelName} from './format.js'
import type {GaugeChild} from './gauge.js'
import type {HistogramChild} from './histogram.js'
import {DST_LABELS, type LinkerdFamilies, TRAFFIC_LABELS, registerLinkerdFamilies} from './linkerd-families.js'
import type {Registry} from './registry.js'

export interface ProxyMetricsOptions {
  /** The local pod's labels on every series, e.g. {namespace, pod, deployment}. */
  localLabels?: Record<string, string>
  /** Cap on distinct label sets per family (default 10,000). */
  maxSeries?: number
  now?: () => bigint
}

interface StatusSeries {
  status: number
  latency: HistogramChild
  success?: CounterChild
  failure?: CounterChild
}

interface RequestSeries {
  values: string[]
  request: CounterChild
  byStatus: Map<number, StatusSeries>
}

interface TcpSeries {
  values: string[]
  open: CounterChild
  openConns: GaugeChild
  read: CounterChild
  write: CounterChild
  closeByErrno: Map<string, CounterChild>
}

const ERRNO = /^[A-Z][A-Z0-9_]{1,31}$/
const SEP = '\u0000'

export class ProxyMetricsObserver implements Observer {
  readonly families: LinkerdFamilies
  private readonly localValues: string[]
  private readonly maxSeries: number
  private readonly now: () => bigint
  private readonly requests = new Map<string, RequestSeries>()
  private readonly tcp = new Map<string, TcpSeries>()
  private readonly tlsKeys = new WeakMap<TapTls, string[]>()
  private readonly dstKeys = new WeakMap<Record<string, string>, string[]>()
  private readonly inFlight = new WeakMap<RequestMeta, StatusSeries>()

  constructor(registry: Registry, options: ProxyMetricsOptions = {}) {
    const local = options.localLabels ?? {}
    for (const name of Object.keys(local)) {
      assertLabelName(name)
      if ((TRAFFIC_LABELS as readonly string[]).includes(name)) throw new Error(`local label ${name} collides with a traffic label`)
    }
    this.localValues = Object.values(local)
    this.maxSeries = options.maxSeries ?? DEFAULT_MAX_SERIES
    this.now = options.now ?? process.hrtime.bigint
    this.families = registerLinkerdFamilies(registry, Object.keys(local), this.maxSeries)
  }

  requestInit(req: RequestMeta): void {
    this.requestSeries(req).request.inc()
  }

  responseInit(req: RequestMeta, status: number): void {
    const s = this.statusSeries(this.requestSeries(req), status)
    s.latency.observe(Number(this.now() - req.startNs) / 1e6)
    this.inFlight.set(req, s)
  }

  responseEnd(req: RequestMeta, end: ResponseEndMeta): void {
    let s = this.inFlight.get(req)
    if (s === undefined || (end.status !== undefined && end.status !== s.status)) {
      s = this.statusSeries(this.requestSeries(req), end.status ?? 0)
    }
    this.inFlight.delete(req)
    const status = end.status ?? (s.status === 0 ? undefined : s.status)
    if (classify(status, end.grpcStatus, end.resetError) === 'success') {
      ;(s.success ??= this.families.responseTotal.child([...this.requestSeriesValues(req), statusLabel(s.status), 'success'])).inc()
    } else {
      ;(s.failure ??= this.families.responseTotal.child([...this.requestSeriesValues(req), statusLabel(s.status), 'failure'])).inc()
    }
  }

  tcpOpen(conn: ConnMeta): void {
    const t = this.tcpSeries(conn)
    t.open.inc()
    t.openConns.inc()
  }

  tcpClose(conn: ConnMeta, end: ConnEndMeta): void {
    const t = this.tcpSeries(conn)
    t.openConns.dec()
    t.read.inc(end.readBytes)
    t.write.inc(end.writeBytes)
    const errno = end.error === undefined || end.error === '' ? '' : ERRNO.test(end.error) ? end.error : 'UNKNOWN'
    let close = t.closeByErrno.get(errno)
    if (close === undefined) {
      close = this.families.tcpCloseTotal.child([...t.values, errno])
      t.closeByErrno.set(errno, close)
    }
    close.inc()
  }

  private requestSeriesValues(req: RequestMeta): string[] {
    return this.requestSeries(req).values
  }

  private requestSeries(req: RequestMeta): RequestSeries {
    const tls = this.tlsValues(req.tls)
    const dst = this.dstValues(req.dstLabels)
    const key = req.direction + SEP + req.authority + SEP + req.route + SEP + tls.join(SEP) + SEP + dst.join(SEP)
    let s = this.requests.get(key)
    if (s === undefined) {
      const values = [...this.localValues, req.direction, req.authority, req.route, ...tls, ...dst]
      s = {values, request: this.families.requestTotal.child(values), byStatus: new Map()}
      if (this.requests.size < this.maxSeries) this.requests.set(key, s)
    }
    return s
  }

  private statusSeries(r: RequestSeries, status: number): StatusSeries {
    let s = r.byStatus.get(status)
    if (s === undefined) {
      s = {status, latency: this.families.responseLatencyMs.child([...r.values, statusLabel(status)])}
      r.byStatus.set(status, s)
    }
    return s
  }

  private tcpSeries(conn: ConnMeta): TcpSeries {
    const tls = this.tlsValues(conn.tls)
    const dst = this.dstValues(conn.dstLabels)
    const key = conn.direction + SEP + conn.authority + SEP + tls.join(SEP) + SEP + dst.join(SEP)
    let t = this.tcp.get(key)
    if (t === undefined) {
      const values = [...this.localValues, conn.direction, conn.authority, '', ...tls, ...dst]
      const f = this.families
      t = {
        values,
        open: f.tcpOpenTotal.child(values),
        openConns: f.tcpOpenConnections.child(values),
        read: f.tcpReadBytesTotal.child(values),
        write: f.tcpWriteBytesTotal.child(values),
        closeByErrno: new Map(),
      }
      if (this.tcp.size < this.maxSeries) this.tcp.set(key, t)
    }
    return t
  }

  /** tls, client_id, server_id, no_tls_reason */
  private tlsValues(tls: TapTls): string[] {
    let v = this.tlsKeys.get(tls)
    if (v === undefined) {
      v = tls.tls
        ? ['true', tls.clientId ?? '', tls.serverId ?? '', '']
        : ['no_identity', '', '', tls.noTlsReason ?? 'no_identity']
      this.tlsKeys.set(tls, v)
    }
    return v
  }

  /** dst_namespace, dst_deployment, dst_pod, dst_serviceaccount; keys given with or without the dst_ prefix. */
  private dstValues(labels: Record<string, string>): string[] {
    let v = this.dstKeys.get(labels)
    if (v === undefined) {
      v = DST_LABELS.map((name) => labels[name] ?? labels[name.slice(4)] ?? '')
      this.dstKeys.set(labels, v)
    }
    return v
  }
}

function statusLabel(status: number): string {
  return status === 0 ? '' : String(status)
}
