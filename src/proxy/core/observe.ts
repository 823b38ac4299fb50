// The seam between the data path and whoever watches it (metrics, tap). The data path calls an
// Observer at the points of a request's and a connection's life; observers must be cheap and
// must not throw. Tap's observer returns immediately when nobody is tapping.
import type {Direction, TapTls} from '../../protocol/tap.js'
import type {RequestSeries, StatusSeries} from '../../metrics/request-series.js'
import type {IgnoredReason} from './ignored.js'
import type {RefusalReason} from './refusals.js'
import type {FailureEvent} from './failures.js'

export interface Addr {
  ip: string
  port: number
}

export interface RequestMeta {
  /** Unique within this proxy, e.g. a counter. */
  id: string
  direction: Direction
  method: string
  scheme: string
  authority: string
  path: string
  /** Route name when a route matched (else ''). */
  route: string
  /** `route_kind` and `backend` when the control plane's route policy applied (route/routes.ts). */
  routeKind?: string
  backend?: string
  headers: Record<string, string | string[] | undefined>
  source: Addr
  destination: Addr
  tls: TapTls
  /** dst_* labels from discovery (outbound), or the local pod's labels (inbound). */
  dstLabels: Record<string, string>
  /** performance.now() at request start (ms) */
  startMs: number
  /**
   * The metrics observer's own (src/metrics/proxy-observer.ts), so the later events of a request
   * look nothing up: the series requestInit counted the request in, and the one responseInit
   * counted its response in; both cleared at responseEnd. Created undefined with the rest of
   * the request (one shape for every request); no one else reads them.
   */
  requestSeries: RequestSeries | undefined
  statusSeries: StatusSeries | undefined
}

export interface ResponseEndMeta {
  status?: number
  grpcStatus?: number
  resetError?: string
  responseBytes: number
}

export interface ConnMeta {
  direction: Direction
  source: Addr
  destination: Addr
  tls: TapTls
  /** authority or host:port of the peer, for the tcp_* families */
  authority: string
  dstLabels: Record<string, string>
}

export interface ConnEndMeta {
  readBytes: number
  writeBytes: number
  error?: string
}

export interface Observer {
  requestInit(req: RequestMeta): void
  responseInit(req: RequestMeta, status: number): void
  responseEnd(req: RequestMeta, end: ResponseEndMeta): void
  tcpOpen(conn: ConnMeta): void
  tcpClose(conn: ConnMeta, end: ConnEndMeta): void
  /** An inbound connection the inbound policy refused; `reason` as in config/inbound-policy.ts (optional). */
  inboundRefused?(reason: string): void
  /** Input a bound or a parser refused (src/proxy/core/refusals.ts), on one side. */
  refused?(direction: Direction, reason: RefusalReason): void
  /** `bytes` a peer sent that the data path ignored (src/proxy/core/ignored.ts), on one side. */
  ignored?(direction: Direction, reason: IgnoredReason, bytes: number): void
  /** A retry the side wanted: made (`retried`) or denied by the retry budget (`budget_exhausted`). */
  retried?(direction: Direction, outcome: RetryOutcome): void
  /** Failure accrual ejected an endpoint (`ip:port`) of a target (the authority) of this side. */
  ejected?(direction: Direction, authority: string, endpoint: string): void
  /** An ejected endpoint answered again, or (`removed`) left its target. */
  ejectionOver?(direction: Direction, authority: string, endpoint: string, removed: boolean): void
  /** A connection closed for sending nothing recognisable within the detect timeout, on `port` (inbound: the original destination's; outbound: the authority's). */
  detectTimedOut?(direction: Direction, port: number): void
  /** A request or connection failed and the proxy answered or closed it (core/failures.ts). */
  failed?(f: FailureEvent): void
  /** A first request's wait for an authority's route policy ended (outbound; route/router.ts). */
  routePolicyWait?(outcome: RoutesWaitOutcome): void
  /**
   * Inbound, under the control plane's authorization policy: a request or connection allowed or
   * denied by `policy`, or an audit-mode `policy` that would have denied it; `clientId` is the
   * verified identity ('' without one).
   */
  authz?(outcome: AuthzOutcome, policy: string, clientId: string): void
  /** An authorization policy message the proxy could not use (the last good one stayed). */
  authzStreamError?(): void
}

export type RetryOutcome = 'retried' | 'budget_exhausted'
export type AuthzOutcome = 'allowed' | 'denied' | 'audit'

/** How a wait for a route policy ended: the control plane answered, or the deadline passed (the default route). */
export type RoutesWaitOutcome = 'arrived' | 'timeout'

/** Fans one call out to several observers. */
export function combineObservers(observers: Observer[]): Observer {
  if (observers.length === 1) return observers[0]
  return {
    requestInit: (r) => { for (const o of observers) o.requestInit(r) },
    responseInit: (r, s) => { for (const o of observers) o.responseInit(r, s) },
    responseEnd: (r, e) => { for (const o of observers) o.responseEnd(r, e) },
    tcpOpen: (c) => { for (const o of observers) o.tcpOpen(c) },
    tcpClose: (c, e) => { for (const o of observers) o.tcpClose(c, e) },
    inboundRefused: (r) => { for (const o of observers) o.inboundRefused?.(r) },
    refused: (d, r) => { for (const o of observers) o.refused?.(d, r) },
    ignored: (d, r, b) => { for (const o of observers) o.ignored?.(d, r, b) },
    retried: (d, r) => { for (const o of observers) o.retried?.(d, r) },
    ejected: (d, a, e) => { for (const o of observers) o.ejected?.(d, a, e) },
    ejectionOver: (d, a, e, r) => { for (const o of observers) o.ejectionOver?.(d, a, e, r) },
    detectTimedOut: (d, p) => { for (const o of observers) o.detectTimedOut?.(d, p) },
    failed: (f) => { for (const o of observers) o.failed?.(f) },
    routePolicyWait: (w) => { for (const o of observers) o.routePolicyWait?.(w) },
    authz: (x, p, c) => { for (const o of observers) o.authz?.(x, p, c) },
    authzStreamError: () => { for (const o of observers) o.authzStreamError?.() },
  }
}
