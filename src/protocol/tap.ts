// Tap events: what a proxy streams on its tap port (WebSocket, one JSON object per message)
// and what the tap server merges and forwards to `mesh tap` / `mesh top`.

export type Direction = 'inbound' | 'outbound'

export interface TapPeer {
  /** ip:port */
  address: string
  /** Metric-style labels: namespace, deployment, pod, serviceaccount, ... */
  labels?: Record<string, string>
}

export interface TapTls {
  /** true when the connection was mTLS between proxies. */
  tls: boolean
  clientId?: string
  serverId?: string
  /** When tls is false: loopback, no_identity, not_provided_by_remote, ... */
  noTlsReason?: string
}

interface TapBase {
  id: string
  direction: Direction
  source: TapPeer
  destination: TapPeer
  tls: TapTls
  /** ms since the epoch when the event was produced. */
  timestamp: number
}

export interface TapRequestInit extends TapBase {
  type: 'requestInit'
  method: string
  scheme: string
  authority: string
  path: string
  /**
   * The outbound route this request took: with a control-plane route policy the HTTPRoute or
   * GRPCRoute name (`default` for the default route, or the MESH_PROXY_ROUTES rule that matched);
   * else the MESH_PROXY_ROUTES rule (`GET /api/`, `/api/`); absent when none did.
   */
  route?: string
  /** With a control-plane route policy: `HTTPRoute`, `GRPCRoute` or `default` (the metrics' `route_kind`). */
  routeKind?: string
  /** With a control-plane route: the backend chosen, `namespace/name:port` or `invalid:<problem>` (the metrics' `backend`). */
  backend?: string
  headers: Record<string, string>
}

export interface TapResponseInit extends TapBase {
  type: 'responseInit'
  status: number
  /** microseconds since the request began */
  sinceRequestInit: number
}

export interface TapResponseEnd extends TapBase {
  type: 'responseEnd'
  status?: number
  grpcStatus?: number
  resetError?: string
  /** microseconds since the request began */
  sinceRequestInit: number
  responseBytes: number
}

export type TapEvent = TapRequestInit | TapResponseInit | TapResponseEnd

/** Filters applied inside the proxy (sent as the query string of the tap WebSocket URL). */
export interface TapFilter {
  method?: string
  authority?: string
  /** path prefix */
  path?: string
  /** only responses with this status (requestInit events of other requests are dropped too) */
  status?: number
  /** events per second for this subscriber (default 100) */
  maxRps?: number
  direction?: Direction
}
