// What the destination service tells a proxy about one authority, asked exactly as a proxy asks:
// a WebSocket to /v1/destinations with a `watch` stream (endpoints: addresses, identities, the
// opaque protocol hint, labels) and a `watchRoutes` stream (the route policy: rules and their
// backends' weights), first messages only. Reached through the API server's service proxy
// (`services/https:mesh-dst:8086/proxy`, so RBAC on services/proxy decides who may look), which
// presents no client certificate: the destination service serves endpoints to clients without
// identity, as it does to proxies running without one. Used by `mesh diagnostics endpoints` and
// `mesh explain`.
import WebSocket from 'ws'
import type {RequestOptions} from 'node:https'
import {clusterError, type Kube} from '../k8s/client.js'
import {ClusterError} from '../lib/errors.js'
import {ControlPlane, ControlPlanePorts} from '../protocol/control-plane.js'
import {DESTINATIONS_PATH, endpointKey, type StreamMessage, type WireEndpoint} from '../protocol/destination.js'
import {ROUTE_POLICY_VERSION, type RoutePolicy} from '../protocol/routes.js'

export interface DestinationView {
  /** The authority sent (a bare name is qualified with the namespace first). */
  authority: string
  result: 'endpoints' | 'noEndpoints' | 'noSuchService' | 'error'
  /** noEndpoints: whether the Service exists (false: deleted while watched). */
  exists?: boolean
  /** noSuchService: not a cluster name (the proxy uses DNS / the original destination). */
  external?: boolean
  error?: {code: string; message: string}
  /** Sorted by address and port. */
  endpoints: WireEndpoint[]
  /** The route policy for the authority (absent: the server sent none, or an error). */
  routes?: RoutePolicy
  routesError?: string
}

/** `books:8080` in namespace shop -> `books.shop.svc.cluster.local:8080`; anything with a dot or an IP stays. */
export function qualify(authority: string, namespace: string, clusterDomain = 'cluster.local'): string {
  const m = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)(:\d{1,5})?$/.exec(authority.trim().toLowerCase())
  if (!m) return authority.trim()
  return `${m[1]}.${namespace}.svc.${clusterDomain}${m[3] ?? ':80'}`
}

export function destinationProxyPath(cpNs: string): string {
  return `/api/v1/namespaces/${cpNs}/services/https:${ControlPlane.destinationService}:${ControlPlanePorts.destination}/proxy${DESTINATIONS_PATH}`
}

/** Opens the destination stream through the API server and returns the first answers. */
export async function queryDestination(kube: Kube, o: {authority: string; namespace: string; controlPlaneNamespace: string; clusterDomain?: string; timeoutMs?: number}): Promise<DestinationView> {
  const authority = qualify(o.authority, o.namespace, o.clusterDomain)
  const opts: RequestOptions & {headers: Record<string, string>} = {headers: {}}
  await kube.kc.applyToHTTPSOptions(opts)
  const url = kube.server.replace(/^http/, 'ws').replace(/\/+$/, '') + destinationProxyPath(o.controlPlaneNamespace) + `?ns=${encodeURIComponent(o.namespace)}`
  const timeoutMs = o.timeoutMs ?? (kube.requestTimeoutMs || 10_000)
  const view: DestinationView = {authority, result: 'error', endpoints: []}
  await new Promise<void>((resolve, reject) => {
    const ws = new WebSocket(url, {...(opts as WebSocket.ClientOptions), maxPayload: 8 * 1024 * 1024, perMessageDeflate: false, handshakeTimeout: timeoutMs})
    let endpointsDone = false
    let routesDone = false
    const finish = (err?: Error): void => {
      clearTimeout(timer)
      ws.removeAllListeners('close')
      if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) ws.terminate()
      if (err) reject(err)
      else resolve()
    }
    const timer = setTimeout(() => finish(new ClusterError(`the destination service did not answer about ${authority} within ${timeoutMs / 1000} s`, {code: 'MESH_DESTINATION_TIMEOUT', suggestions: ['Check the controller: `mesh check`.']})), timeoutMs)
    const maybeDone = (): void => {
      if (endpointsDone && routesDone) finish()
    }
    ws.on('unexpected-response', (_req, res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => (body += c.slice(0, 2000)))
      res.on('end', () => {
        const hint = res.statusCode === 403
          ? `You need \`get services/proxy\` on ${ControlPlane.destinationService} in ${o.controlPlaneNamespace} (the resourceName https:${ControlPlane.destinationService}:${ControlPlanePorts.destination}).`
          : res.statusCode === 503 || res.statusCode === 502 ? 'Is the controller running? `mesh check`' : 'Check that mesh is installed: `mesh check`.'
        finish(new ClusterError(`the API server's proxy to the destination service answered HTTP ${res.statusCode}: ${body.replace(/\s+/g, ' ').trim().slice(0, 300)}`, {code: 'MESH_DESTINATION_UNREACHABLE', suggestions: [hint]}))
      })
    })
    ws.on('error', (err) => finish(clusterError('cannot open a destination stream through the API server', err, kube.server)))
    ws.on('close', (code, reason) => finish(new ClusterError(`the destination stream closed before answering (${code} ${String(reason)})`, {code: 'MESH_DESTINATION_CLOSED'})))
    ws.on('open', () => {
      ws.send(JSON.stringify({type: 'watch', id: 1, authority}))
      ws.send(JSON.stringify({type: 'watchRoutes', id: 2, authority, version: ROUTE_POLICY_VERSION}))
    })
    ws.on('message', (data) => {
      let msg: StreamMessage
      try {
        msg = JSON.parse(String(data)) as StreamMessage
      } catch {
        return finish(new ClusterError('the destination service sent a message that is not JSON', {code: 'MESH_DESTINATION_PROTOCOL'}))
      }
      if (msg.id === 1 && !endpointsDone) {
        endpointsDone = true
        if (msg.type === 'add') Object.assign(view, {result: 'endpoints', endpoints: [...msg.endpoints].sort((a, b) => endpointKey(a).localeCompare(endpointKey(b), 'en', {numeric: true}))})
        else if (msg.type === 'noEndpoints') Object.assign(view, {result: 'noEndpoints', exists: msg.exists})
        else if (msg.type === 'noSuchService') Object.assign(view, {result: 'noSuchService', external: msg.external})
        else if (msg.type === 'error') Object.assign(view, {result: 'error', error: {code: msg.code, message: msg.message}})
      } else if (msg.id === 2 && !routesDone) {
        routesDone = true
        if (msg.type === 'routes') view.routes = msg
        else if (msg.type === 'error') view.routesError = `${msg.code}: ${msg.message}`
      }
      maybeDone()
    })
  })
  return view
}

/** "detect" unless discovery marks the port opaque (config.mesh.dev/opaque-ports). */
export const protocolHint = (e: WireEndpoint): string => (e.opaque ? 'opaque' : 'detect')
