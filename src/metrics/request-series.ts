// The series the metrics observer (proxy-observer.ts) counts a request in. A request carries
// the ones its first events found (RequestMeta.requestSeries, RequestMeta.statusSeries, created
// undefined with the request), so its later events look nothing up. A leaf: it names only the
// metric children, so the data path's RequestMeta can name these types without depending on
// the observer.
import type {CounterChild} from './counter.js'
import type {HistogramChild} from './histogram.js'

export interface ResponseSeries {
  latency: HistogramChild
  success?: CounterChild
  failure?: CounterChild
}

/** The response series of one status under a request series. */
export interface StatusSeries extends ResponseSeries {
  status: number
  /** The request series it belongs to (its label values), so a response needs no lookup. */
  owner: RequestSeries
  /** The same response in the route families, when the request has a route series. */
  route?: ResponseSeries
}

/** route_* series of one (direction, dst, rt_route, tls). */
export interface RouteSeries {
  values: string[]
  request: CounterChild
  byStatus: Map<number, ResponseSeries>
}

/** The request series of one label set (direction, authority, route, tls, dst labels). */
export interface RequestSeries {
  values: string[]
  request: CounterChild
  byStatus: Map<number, StatusSeries>
  /** Set when the control plane's route policy routed the request (RequestMeta.routeKind). */
  route?: RouteSeries
}
