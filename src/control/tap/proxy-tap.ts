// One connection to one pod's proxy tap port: the filter goes in the query string; in a cluster
// over mTLS with the controller's identity, checking the pod's identity; locally plain ws on
// loopback. Bounded: message size, connect time; events that are not JSON are dropped.
import type {PeerCertificate} from 'node:tls'
import WebSocket from 'ws'
import type {Identity} from '../../proxy/core/contracts.js'
import type {TapEvent, TapFilter} from '../../protocol/tap.js'
import type {PodInfo} from './types.js'

export interface ProxyTapHandlers {
  onOpen(): void
  onEvent(event: TapEvent): void
  /** Called once, when the connection ends for any reason. */
  onEnd(reason: string): void
}

export interface ProxyTapOptions {
  identity?: Identity
  connectTimeoutMs?: number
}

export const MAX_EVENT_BYTES = 64 * 1024
const EVENT_TYPES = new Set(['requestInit', 'responseInit', 'responseEnd'])

export function filterQuery(filter: TapFilter): string {
  const q = new URLSearchParams()
  if (filter.method) q.set('method', filter.method)
  if (filter.authority) q.set('authority', filter.authority)
  if (filter.path) q.set('path', filter.path)
  if (filter.status !== undefined) q.set('status', String(filter.status))
  if (filter.maxRps !== undefined) q.set('maxRps', String(filter.maxRps))
  if (filter.direction) q.set('direction', filter.direction)
  return q.toString()
}

export function openProxyTap(pod: PodInfo, filter: TapFilter, handlers: ProxyTapHandlers, opts: ProxyTapOptions = {}): {close(): void} {
  const secure = opts.identity?.localName !== undefined
  const url = `${secure ? 'wss' : 'ws'}://${pod.tapAddress}/?${filterQuery(filter)}`
  let ended = false
  const end = (reason: string): void => {
    if (ended) return
    ended = true
    handlers.onEnd(reason)
  }
  const identity = opts.identity
  // ws hands these to tls.connect: the chain must reach our trust anchors, and the peer must
  // present the pod's identity (ws's own typing of checkServerIdentity is narrower than Node's).
  const tlsOptions =
    secure && identity
      ? {
          secureContext: identity.clientContext(),
          rejectUnauthorized: true,
          checkServerIdentity: (_host: string, cert: PeerCertificate) => (pod.identity ? identity.verifyPeer(cert, pod.identity) : undefined),
        }
      : {}
  const ws = new WebSocket(url, {
    maxPayload: MAX_EVENT_BYTES,
    handshakeTimeout: opts.connectTimeoutMs ?? 5_000,
    perMessageDeflate: false,
    ...(tlsOptions as object),
  } as WebSocket.ClientOptions)
  ws.on('open', () => handlers.onOpen())
  ws.on('message', (data) => {
    let ev: TapEvent
    try {
      ev = JSON.parse(String(data)) as TapEvent
    } catch {
      return
    }
    if (ev && typeof ev === 'object' && EVENT_TYPES.has(ev.type)) handlers.onEvent(ev)
  })
  ws.on('unexpected-response', (_req, res) => {
    let body = ''
    res.setEncoding('utf8')
    res.on('data', (c: string) => {
      if (body.length < 512) body += c
    })
    res.on('end', () => end(`the proxy refused the tap: HTTP ${res.statusCode} ${body.trim().slice(0, 200)}`))
    res.on('error', () => end(`the proxy refused the tap: HTTP ${res.statusCode}`))
  })
  ws.on('error', (err) => {
    end(err.message)
    ws.terminate()
  })
  ws.on('close', (code, reason) => end(reason.length > 0 ? reason.toString() : code === 1000 ? 'closed' : `connection closed (${code})`))
  return {
    close: () => {
      ended = true
      ws.terminate()
    },
  }
}
