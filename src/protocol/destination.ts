// The destination stream between a proxy and the destination service: one WebSocket per
// authority, JSON text messages. The first message of every connection is the full state
// (`add` with every endpoint, `noEndpoints` or `noSuchService`); later messages are changes.
// A client that reconnects replaces what it held with that first message.

export const DESTINATION_PORT = 8086
/** `GET DESTINATION_PATH?authority=web.shop.svc.cluster.local:80&ns=<caller namespace>` + Upgrade. */
export const DESTINATION_PATH = '/v1/destination'
/** Largest authority accepted (bytes). */
export const DESTINATION_MAX_AUTHORITY = 512

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

/** The key of an endpoint in add/remove messages. */
export function endpointKey(e: {address: string; port: number}): string {
  return e.address.includes(':') ? `[${e.address}]:${e.port}` : `${e.address}:${e.port}`
}
