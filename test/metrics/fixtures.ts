// RequestMeta / ConnMeta builders for observer tests.
import type {TapTls} from '../../src/protocol/tap.js'
import type {ConnMeta, RequestMeta} from '../../src/proxy/core/observe.js'

let next = 0

export const MTLS_IN: TapTls = {tls: true, clientId: 'web.default.serviceaccount.identity.mesh-system.cluster.local'}
export const PLAIN: TapTls = {tls: false, noTlsReason: 'loopback'}
export const EMP_LABELS = {dst_namespace: 'emojivoto', dst_deployment: 'emoji', dst_pod: 'emoji-0', dst_serviceaccount: 'emoji'}

export function request(over: Partial<RequestMeta> = {}): RequestMeta {
  return {
    id: String(++next),
    direction: 'outbound',
    method: 'GET',
    scheme: 'http',
    authority: 'emoji.emojivoto.svc.cluster.local:8080',
    path: '/list',
    route: '',
    headers: {},
    source: {ip: '127.0.0.1', port: 40000},
    destination: {ip: '127.0.0.1', port: 8080},
    tls: PLAIN,
    dstLabels: EMP_LABELS,
    startMs: performance.now(),
    requestSeries: undefined,
    statusSeries: undefined,
    ...over,
  }
}

export function conn(over: Partial<ConnMeta> = {}): ConnMeta {
  return {
    direction: 'inbound',
    source: {ip: '127.0.0.1', port: 40001},
    destination: {ip: '127.0.0.1', port: 8080},
    tls: MTLS_IN,
    authority: '127.0.0.1:8080',
    dstLabels: {},
    ...over,
  }
}
