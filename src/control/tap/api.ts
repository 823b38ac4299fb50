// The tap server's API, as the CLI sees it (directly in local mode, through the API server's
// service proxy in a cluster). Stream messages are JSON, one per WebSocket message.
import type {TapEvent} from '../../protocol/tap.js'

export const TapApi = {
  tap: '/v1/tap',
  stat: '/v1/stat',
  edges: '/v1/edges',
  /** `mesh authz`: the policies of a workload's pods and who called it (src/authz/report.ts). */
  authz: '/v1/authz',
  /** `mesh routes svc/<name>` in local mode (RoutesReport, src/routes/command.ts). */
  routes: '/v1/routes',
  ready: '/ready',
} as const

/**
 * The query string again, as a header: the API server's service proxy drops the query of an
 * upgraded (WebSocket) request (kubernetes/kubernetes#77142). When present it is the query the
 * tap server acts on (and the one a client certificate proof signs).
 */
export const QUERY_HEADER = 'x-mesh-query'

/** Carries the caller's bearer token through the API server's service proxy, which strips Authorization. */
export const CALLER_TOKEN_HEADER = 'x-mesh-caller-token'

/** Query parameters of /v1/tap besides the proxy filters (method, authority, path, status, maxRps, direction). */
export interface TapQuery {
  resource: string
  namespace: string
  /** --to / --to-namespace: keep only requests to this resource. */
  to?: string
  toNamespace?: string
}

export type TapStreamMessage =
  /** One event of one pod's proxy; source and destination labels enriched with pod names. */
  | {type: 'event'; pod: string; event: TapEvent}
  | {type: 'podStart'; pod: string}
  /** A pod's part of the stream ended (the pod went away or its proxy closed); the rest goes on. */
  | {type: 'podEnd'; pod: string; reason: string}
  /** Something the user should know (a pod without proxy, a refused connection). */
  | {type: 'warning'; message: string}
  /** The stream is over (no pod left to tap). */
  | {type: 'end'; reason: string}

export interface ApiErrorBody {
  error: {code: string; message: string; suggestions?: string[]}
}
