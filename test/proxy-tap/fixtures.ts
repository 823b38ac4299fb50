import type {RequestMeta} from '../../src/proxy/core/observe.js'
import type {TapSocket} from '../../src/proxy/tap/index.js'

let next = 0

export function request(over: Partial<RequestMeta> = {}): RequestMeta {
  return {
    id: `r${++next}`,
    direction: 'inbound',
    method: 'GET',
    scheme: 'http',
    authority: 'web.default:8080',
    path: '/api/items',
    route: '',
    headers: {'user-agent': 'curl/8', authorization: 'Bearer secret-token', accept: ['a', 'b']},
    source: {ip: '10.244.0.7', port: 51000},
    destination: {ip: '10.244.0.9', port: 8080},
    tls: {tls: true, clientId: 'client.default.serviceaccount.identity.mesh-system.cluster.local'},
    dstLabels: {dst_namespace: 'default', dst_pod: 'web-0'},
    startMs: performance.now(),
    requestSeries: undefined,
    statusSeries: undefined,
    ...over,
  }
}

/** A TapSocket that records what it is sent. */
export class RecordingSocket implements TapSocket {
  readonly sent: Record<string, unknown>[] = []
  bufferedAmount = 0
  readyState = 1
  send(data: string): void {
    this.sent.push(JSON.parse(data) as Record<string, unknown>)
  }
  types(): string[] {
    return this.sent.map((e) => `${e.type as string}:${e.id as string}`)
  }
}
