// One line per tap event, Linkerd-style, with the mTLS identities on every line:
//   req id=web-0:3 proxy=out src=127.0.0.1:5000 dst=127.0.0.1:4143 tls=true client=web.shop server=books.shop :method=GET :authority=books:80 :path=/x
//   (then rt_route="GET /api/" when the request matched an outbound route rule; with a
//   control-plane route, rt_route=books-api rt_kind=HTTPRoute rt_backend=shop/books-v2:8080)
//   rsp id=web-0:3 proxy=out ... :status=200 latency=1234µs
//   end id=web-0:3 proxy=out ... duration=1500µs response-length=2B
// client= and server= are the identities in short (<serviceaccount>.<namespace> of
// `<sa>.<ns>.serviceaccount.identity.mesh-system.<td>`); without mTLS, tls= says why
// (not_provided_by_remote, no_identity, ...) and there are none. -o wide shows the identities
// in full (client_id=, server_id=) and adds the source and destination labels (src_pod=...,
// dst_deployment=...).
import type {TapEvent} from '../protocol/tap.js'
import {shortId} from '../stat/render.js'

function tls(ev: TapEvent, wide: boolean): string[] {
  const t = ev.tls
  if (!t.tls) return [`tls=${t.noTlsReason ?? 'no_identity'}`]
  const id = (key: string, v: string | undefined): string => `${key}${wide ? '_id' : ''}=${v ? (wide ? v : shortId(v)) : '-'}`
  return ['tls=true', id('client', t.clientId), id('server', t.serverId)]
}

function labels(prefix: string, l: Record<string, string> | undefined): string[] {
  return Object.entries(l ?? {})
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${prefix}_${k}=${v}`)
}

export function eventLine(pod: string, ev: TapEvent, wide = false): string {
  const podName = pod.split('/').pop() ?? pod
  const head = [`id=${podName}:${ev.id}`, `proxy=${ev.direction === 'inbound' ? 'in' : 'out'}`, `src=${ev.source.address}`, `dst=${ev.destination.address}`, ...tls(ev, wide)]
  let kind: string
  let tail: string[]
  switch (ev.type) {
    case 'requestInit':
      kind = 'req'
      tail = [`:method=${ev.method}`, `:authority=${ev.authority}`, `:path=${ev.path}`]
      // quoted when it holds a space (`GET /api/`), so that the line still splits on spaces
      if (ev.route !== undefined) tail.push(`rt_route=${/[\s"]/.test(ev.route) ? JSON.stringify(ev.route) : ev.route}`)
      if (ev.routeKind !== undefined) tail.push(`rt_kind=${ev.routeKind}`)
      if (ev.backend !== undefined) tail.push(`rt_backend=${ev.backend}`)
      break
    case 'responseInit':
      kind = 'rsp'
      tail = [`:status=${ev.status}`, `latency=${ev.sinceRequestInit}µs`]
      break
    case 'responseEnd': {
      kind = 'end'
      tail = []
      if (ev.grpcStatus !== undefined) tail.push(`grpc-status=${ev.grpcStatus}`)
      if (ev.resetError !== undefined) tail.push(`reset-error=${ev.resetError}`)
      tail.push(`duration=${ev.sinceRequestInit}µs`, `response-length=${ev.responseBytes}B`)
      break
    }
  }
  const extra = wide ? [...labels('src', ev.source.labels), ...labels('dst', ev.destination.labels)] : []
  return [kind, ...head, ...tail, ...extra].join(' ')
}
