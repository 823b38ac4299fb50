// Linkerd's proxy metric families, names, help and buckets (../shared/DESIGN.md), so existing
// dashboards and queries carry over.
import type {Counter} from './counter.js'
import type {Gauge} from './gauge.js'
import type {Histogram} from './histogram.js'
import type {Registry} from './registry.js'

export const LATENCY_BUCKETS_MS = [
  1, 2, 3, 4, 5, 10, 20, 30, 40, 50, 100, 200, 300, 400, 500, 1000, 2000, 3000, 4000, 5000, 10000, 20000, 30000, 40000,
  50000,
] as const

export const DST_LABELS = ['dst_namespace', 'dst_deployment', 'dst_pod', 'dst_serviceaccount'] as const

/**
 * Labels every HTTP and TCP series carries, after the local pod's labels. `route_kind` and
 * `backend` are set only when the control plane's route policy chose (docs/architecture/routes.md);
 * an empty label is left out of the exposition.
 */
export const TRAFFIC_LABELS = ['direction', 'authority', 'route', 'route_kind', 'backend', 'tls', 'client_id', 'server_id', 'no_tls_reason', ...DST_LABELS] as const

export interface LinkerdFamilies {
  requestTotal: Counter
  responseTotal: Counter
  responseLatencyMs: Histogram
  tcpOpenTotal: Counter
  tcpOpenConnections: Gauge
  tcpReadBytesTotal: Counter
  tcpWriteBytesTotal: Counter
  tcpCloseTotal: Counter
  tcpConnectionDurationMs: Histogram
  routeRequestTotal: Counter
  routeResponseTotal: Counter
  routeResponseLatencyMs: Histogram
}

/**
 * Labels of the per-route families (route_request_total, route_response_total,
 * route_response_latency_ms), after the local pod's labels. Linkerd's: `dst` is the authority the
 * route policy belongs to, `rt_route` the route's name (empty for the default route: no rule
 * matched, or the policy has no routes); `tls` as on the other families, which Linkerd's route
 * dashboard selects on.
 */
export const ROUTE_LABELS = ['direction', 'dst', 'rt_route', 'tls'] as const

export function registerLinkerdFamilies(registry: Registry, localLabelNames: readonly string[], maxSeries?: number): LinkerdFamilies {
  const base = [...localLabelNames, ...TRAFFIC_LABELS]
  const requests = registerRequestFamilies(registry, '', [...localLabelNames, ...TRAFFIC_LABELS], maxSeries)
  const routes = registerRequestFamilies(registry, 'route_', [...localLabelNames, ...ROUTE_LABELS], maxSeries)
  return {
    requestTotal: requests.request,
    responseTotal: requests.response,
    responseLatencyMs: requests.latency,
    tcpOpenTotal: registry.counter({name: 'tcp_open_total', help: 'Total count of opened connections.', labelNames: base, maxSeries}),
    tcpOpenConnections: registry.gauge({name: 'tcp_open_connections', help: 'Number of currently-open connections.', labelNames: base, maxSeries}),
    tcpReadBytesTotal: registry.counter({name: 'tcp_read_bytes_total', help: 'Total count of bytes read from peers.', labelNames: base, maxSeries}),
    tcpWriteBytesTotal: registry.counter({name: 'tcp_write_bytes_total', help: 'Total count of bytes written to peers.', labelNames: base, maxSeries}),
    tcpCloseTotal: registry.counter({
      name: 'tcp_close_total',
      help: 'Total count of closed connections.',
      labelNames: [...base, 'errno'],
      maxSeries,
    }),
    tcpConnectionDurationMs: registry.histogram({
      name: 'tcp_connection_duration_ms',
      help: 'Connection lifetimes, from open to close, in milliseconds.',
      labelNames: [...base, 'errno'],
      buckets: LATENCY_BUCKETS_MS,
      maxSeries,
    }),
    routeRequestTotal: routes.request,
    routeResponseTotal: routes.response,
    routeResponseLatencyMs: routes.latency,
  }
}

/** `<prefix>request_total`, `<prefix>response_total`, `<prefix>response_latency_ms` (Linkerd's, with or without `route_`). */
function registerRequestFamilies(registry: Registry, prefix: '' | 'route_', labelNames: readonly string[], maxSeries?: number): {request: Counter; response: Counter; latency: Histogram} {
  const byRoute = prefix === '' ? '' : ', by route'
  return {
    request: registry.counter({name: `${prefix}request_total`, help: `Total count of HTTP requests${byRoute}.`, labelNames, maxSeries}),
    response: registry.counter({
      name: `${prefix}response_total`,
      help: `Total count of HTTP responses${byRoute}.`,
      labelNames: [...labelNames, 'status_code', 'classification'],
      maxSeries,
    }),
    latency: registry.histogram({
      name: `${prefix}response_latency_ms`,
      help: `Elapsed times between a request's headers being received and its response headers being sent${byRoute}, in milliseconds.`,
      labelNames: [...labelNames, 'status_code'],
      buckets: LATENCY_BUCKETS_MS,
      maxSeries,
    }),
  }
}
