// The destination streams between a proxy and the destination service, JSON text messages
// over WebSocket. A stream follows one authority: its first message is the full state (`add`
// with every endpoint, `noEndpoints` or `noSuchService`); later messages are changes. A client
// that subscribes again replaces what it held with that first message.
// Two ways to carry streams:
// - DESTINATIONS_PATH (what the proxy uses): one connection, many streams. The client sends
//   `watch` (an id of its choosing and an authority) and `unwatch`; every message of a stream
//   carries its id. After `noSuchService` or `error` the server forgets that stream (as if its
//   connection had closed). One TLS connection per proxy, however many services it talks to.
// - DESTINATION_PATH: one connection per stream, the authority in the query; the server closes
//   it after `noSuchService` or `error`. Kept for proxies of earlier versions (in an upgrade the
//   control plane is new before the proxies are).
// Route policy (src/protocol/routes.ts), a pod's authorization policy (src/protocol/authz.ts) and
// the trust bundle (src/protocol/trust.ts) ride DESTINATIONS_PATH as streams of their own kinds
// (`watchRoutes`, `watchAuthz`, `watchTrust`), so a proxy that never asks for them never sees them.

import type {RoutesMessage, WatchRoutesRequest} from './routes.js'
import type {AuthzMessage, WatchAuthzRequest} from './authz.js'
import type {TrustMessage, WatchTrustRequest} from './trust.js'

/** `25,3306,8000-8010`: ports and ranges separated by commas (a JavaScript and RE2 regular expression). */
export const PORT_LIST_PATTERN = '^[0-9]{1,5}(-[0-9]{1,5})?(,[0-9]{1,5}(-[0-9]{1,5})?)*$'

export const DESTINATION_PORT = 8086
/** `GET DESTINATION_PATH?authority=web.shop.svc.cluster.local:80&ns=<caller namespace>` + Upgrade. */
export const DESTINATION_PATH = '/v1/destination'
/** `GET DESTINATIONS_PATH?ns=<caller namespace>` + Upgrade, then watch / unwatch messages. */
export const DESTINATIONS_PATH = '/v1/destinations'
/** Largest authority accepted (bytes). */
export const DESTINATION_MAX_AUTHORITY = 512
/** Streams open at once on one DESTINATIONS_PATH connection (the proxy's router holds at most 10,000 targets). */
export const DESTINATION_MAX_WATCHES = 10_000

/** The dst_* metric labels of an endpoint (present when known). */
export interface EndpointLabels {
  dst_namespace?: string
  dst_service?: string
  dst_pod?: string
  dst_deployment?: string
  dst_serviceaccount?: string
  [label: string]: string | undefined
}

export interface WireEndpoint {
  /** IP (or hostname in local mode). */
  address: string
  /** The port to connect to (the Service's targetPort as the EndpointSlice states it). */
  port: number
  /** Identity the endpoint's proxy presents; absent when the pod is not meshed (plaintext). */
  identity?: string
  labels: EndpointLabels
  /** Carry as opaque TCP (the port is in config.mesh.dev/opaque-ports). */
  opaque?: boolean
}

/** Endpoints added (or changed: same `address:port` replaces the old one). */
export interface AddMessage {
  type: 'add'
  endpoints: WireEndpoint[]
}

/** Endpoints gone, as `address:port` keys. */
export interface RemoveMessage {
  type: 'remove'
  addresses: string[]
}

/** The endpoint set is empty. `exists: false` means the Service was deleted while watched. */
export interface NoEndpointsMessage {
  type: 'noEndpoints'
  exists: boolean
}

/**
 * The authority names no service. `external: true` when the name is not a cluster name
 * (e.g. `example.com:443`, an ExternalName Service): the proxy falls back to DNS / the original
 * destination. Otherwise the proxy answers 503 at once. The server closes the stream after it.
 */
export interface NoSuchServiceMessage {
  type: 'noSuchService'
  authority: string
  external: boolean
}

export type DestinationErrorCode = 'BAD_REQUEST' | 'UNAVAILABLE' | 'FORBIDDEN' | 'INTERNAL'

/** The stream cannot continue; the server closes it after this. The client reconnects with backoff. */
export interface ErrorMessage {
  type: 'error'
  code: DestinationErrorCode
  message: string
}

export type DestinationMessage = AddMessage | RemoveMessage | NoEndpointsMessage | NoSuchServiceMessage | ErrorMessage

/** Client to server on DESTINATIONS_PATH: follow `authority` as stream `id` (a positive integer not in use). */
export interface WatchRequest {
  type: 'watch'
  id: number
  authority: string
}

/** Client to server on DESTINATIONS_PATH: stop stream `id`. */
export interface UnwatchRequest {
  type: 'unwatch'
  id: number
}

/**
 * watchRoutes (src/protocol/routes.ts), watchAuthz (src/protocol/authz.ts) and watchTrust
 * (src/protocol/trust.ts: the trust bundle, no authority) are stream kinds of their own, answered
 * by servers that know them.
 */
export type DestinationRequest = WatchRequest | UnwatchRequest | WatchRoutesRequest | WatchAuthzRequest | WatchTrustRequest

/** Server to client on DESTINATIONS_PATH: a message of stream `id` (a routes stream gets `routes` messages, an authz stream `authz`, a trust stream `trust`). */
export type StreamMessage = (DestinationMessage | RoutesMessage | AuthzMessage | TrustMessage) & {id: number}

/** The key of an endpoint in add/remove messages. */
export function endpointKey(e: {address: string; port: number}): string {
  return e.address.includes(':') ? `[${e.address}]:${e.port}` : `${e.address}:${e.port}`
}
