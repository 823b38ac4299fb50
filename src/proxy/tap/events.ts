// TapEvents from the data path's RequestMeta. Credentials never leave the proxy (redact.ts):
// credential headers' values and every query value are replaced.
import type {TapPeer, TapRequestInit, TapResponseEnd, TapResponseInit} from '../../protocol/tap.js'
import type {Addr, RequestMeta, ResponseEndMeta} from '../core/observe.js'
import {tapHeaders, tapPath} from './redact.js'

export {REDACTED_VALUE, tapHeaders} from './redact.js'

function peer(a: Addr, labels: Record<string, string> | undefined): TapPeer {
  const address = a.ip.includes(':') ? `[${a.ip}]:${a.port}` : `${a.ip}:${a.port}`
  return labels && Object.keys(labels).length > 0 ? {address, labels} : {address}
}

export class TapEventBuilder {
  /** The local pod's labels: the source of outbound requests, the destination of inbound ones. */
  constructor(
    private readonly localLabels: Record<string, string> = {},
    /** The clock, ms. */
    private readonly now: () => number = () => performance.now(),
  ) {}

  private base(req: RequestMeta) {
    const outbound = req.direction === 'outbound'
    return {
      id: req.id,
      direction: req.direction,
      source: peer(req.source, outbound ? this.localLabels : undefined),
      destination: peer(req.destination, outbound ? req.dstLabels : this.localLabels),
      tls: req.tls,
      timestamp: Date.now(),
    }
  }

  private sinceUs(req: RequestMeta): number {
    return Math.max(0, Math.round((this.now() - req.startMs) * 1000))
  }

  requestInit(req: RequestMeta): TapRequestInit {
    return {
      type: 'requestInit',
      ...this.base(req),
      method: req.method,
      scheme: req.scheme,
      authority: req.authority,
      path: tapPath(req.path),
      ...(req.route === '' ? {} : {route: req.route}),
      ...(req.routeKind === undefined ? {} : {routeKind: req.routeKind}),
      ...(req.backend === undefined || req.backend === '' ? {} : {backend: req.backend}),
      headers: tapHeaders(req.headers),
    }
  }

  responseInit(req: RequestMeta, status: number): TapResponseInit {
    return {type: 'responseInit', ...this.base(req), status, sinceRequestInit: this.sinceUs(req)}
  }

  responseEnd(req: RequestMeta, end: ResponseEndMeta): TapResponseEnd {
    const ev: TapResponseEnd = {type: 'responseEnd', ...this.base(req), sinceRequestInit: this.sinceUs(req), responseBytes: end.responseBytes}
    if (end.status !== undefined) ev.status = end.status
    if (end.grpcStatus !== undefined) ev.grpcStatus = end.grpcStatus
    if (end.resetError !== undefined) ev.resetError = end.resetError
    return ev
  }
}
