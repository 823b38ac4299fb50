import {describe, expect, it} from 'vitest'
import {ProxyMetricsObserver, Registry, classify, createProxyMetrics, histogramBuckets, histogramQuantile, parseMetrics, sumBy} from '../../src/metrics/index.js'
import {localLabelsFromEnv} from '../../src/metrics/proxy-metrics.js'
import {EMP_LABELS, MTLS_IN, PLAIN, conn, request} from './fixtures.js'

function setup(localLabels?: Record<string, string>) {
  let now = 0n
  const registry = new Registry()
  const observer = new ProxyMetricsObserver(registry, {localLabels, now: () => now})
  const advanceMs = (ms: number) => (now += BigInt(ms * 1e6))
  return {registry, observer, advanceMs, scrape: () => parseMetrics(registry.metrics())}
}

describe('classification', () => {
  it.each([
    [200, undefined, undefined, 'success'],
    [404, undefined, undefined, 'success'],
    [500, undefined, undefined, 'failure'],
    [503, undefined, undefined, 'failure'],
    [200, 0, undefined, 'success'],
    [200, 5, undefined, 'success'], // NotFound is the application's answer
    [200, 2, undefined, 'failure'],
    [200, 4, undefined, 'failure'],
    [200, 7, undefined, 'failure'],
    [200, 13, undefined, 'failure'],
    [200, 14, undefined, 'failure'],
    [200, 15, undefined, 'failure'],
    [200, undefined, 'ECONNRESET', 'failure'],
    [undefined, undefined, undefined, 'failure'],
  ] as const)('status %s grpc %s reset %s is %s', (status, grpc, reset, expected) => {
    expect(classify(status, grpc, reset)).toBe(expected)
  })
})

describe('ProxyMetricsObserver', () => {
  it('counts requests and responses with Linkerd labels, and records latency to response headers', () => {
    const {observer, advanceMs, scrape} = setup({namespace: 'emojivoto', pod: 'web-0', deployment: 'web'})
    for (let i = 0; i < 3; i++) {
      const req = request({startNs: 0n})
      observer.requestInit(req)
      advanceMs(0)
      observer.responseInit(req, i === 2 ? 503 : 200)
      observer.responseEnd(req, {responseBytes: 10})
    }
    const fams = scrape()
    const labels = {
      namespace: 'emojivoto', pod: 'web-0', deployment: 'web',
      direction: 'outbound', authority: 'emoji.emojivoto.svc.cluster.local:8080', tls: 'no_identity', no_tls_reason: 'loopback', ...EMP_LABELS,
    }
    expect(fams.get('request_total')!.samples).toEqual([{name: 'request_total', labels, value: 3}])
    expect(fams.get('response_total')!.samples).toEqual([
      {name: 'response_total', labels: {...labels, status_code: '200', classification: 'success'}, value: 2},
      {name: 'response_total', labels: {...labels, status_code: '503', classification: 'failure'}, value: 1},
    ])
    expect(fams.get('response_latency_ms')!.type).toBe('histogram')
    expect(sumBy(fams.get('response_latency_ms'), ['status_code'], undefined, 'response_latency_ms_count')).toEqual([
      {labels: {status_code: '200'}, value: 2},
      {labels: {status_code: '503'}, value: 1},
    ])
  })

  it('puts latencies into the right buckets', () => {
    let t = 0n
    const registry = new Registry()
    const o = new ProxyMetricsObserver(registry, {now: () => t})
    for (const ms of [0.5, 3, 7, 25, 25, 25, 250, 1500, 60000]) {
      const req = request({startNs: 0n})
      t = BigInt(Math.round(ms * 1e6))
      o.requestInit(req)
      o.responseInit(req, 200)
      o.responseEnd(req, {status: 200, responseBytes: 0})
    }
    const fam = parseMetrics(registry.metrics()).get('response_latency_ms')!
    const b = histogramBuckets(fam)[0].value
    const at = (le: number) => b.find((x) => x.le === le)!.count
    expect([at(1), at(3), at(5), at(10), at(30), at(300), at(2000), at(50000), at(Infinity)]).toEqual([1, 2, 2, 3, 6, 7, 8, 8, 9])
    expect(b.length).toBe(26)
    expect(histogramQuantile(0.5, b)).toBeGreaterThan(20)
    expect(histogramQuantile(0.5, b)).toBeLessThanOrEqual(30)
    expect(fam.samples.find((s) => s.name === 'response_latency_ms_sum')!.value).toBeCloseTo(61835.5)
  })

  it('classifies gRPC statuses from the response end, and resets with no response as failures', () => {
    const {observer, scrape} = setup()
    const grpc = (code: number) => {
      const req = request({authority: 'grpc:9090'})
      observer.requestInit(req)
      observer.responseInit(req, 200)
      observer.responseEnd(req, {status: 200, grpcStatus: code, responseBytes: 5})
    }
    grpc(0)
    grpc(5)
    grpc(14)
    grpc(4)
    const reset = request({authority: 'grpc:9090'})
    observer.requestInit(reset)
    observer.responseEnd(reset, {resetError: 'ECONNRESET', responseBytes: 0})
    const fams = scrape()
    const byClass = sumBy(fams.get('response_total'), ['classification', 'status_code'])
    expect(byClass).toEqual([
      {labels: {classification: 'success', status_code: '200'}, value: 2},
      {labels: {classification: 'failure', status_code: '200'}, value: 2},
      {labels: {classification: 'failure'}, value: 1},
    ])
    expect(sumBy(fams.get('request_total'))[0].value).toBe(5)
  })

  it('labels mTLS traffic with tls="true" and the peer identity, and separates series by direction and authority', () => {
    const {observer, scrape} = setup()
    const a = request({direction: 'inbound', tls: MTLS_IN, authority: 'web:80', dstLabels: {}})
    const b = request({direction: 'outbound', tls: {tls: true, serverId: 'emoji.emojivoto.serviceaccount.identity.mesh-system.cluster.local'}, route: 'GET /list'})
    for (const r of [a, b]) observer.requestInit(r)
    const samples = scrape().get('request_total')!.samples
    expect(samples.map((s) => s.labels)).toEqual([
      {direction: 'inbound', authority: 'web:80', tls: 'true', client_id: MTLS_IN.clientId},
      {
        direction: 'outbound', authority: 'emoji.emojivoto.svc.cluster.local:8080', route: 'GET /list', tls: 'true',
        server_id: 'emoji.emojivoto.serviceaccount.identity.mesh-system.cluster.local', ...EMP_LABELS,
      },
    ])
  })

  it('accepts dst labels with or without the dst_ prefix', () => {
    const {observer, scrape} = setup()
    observer.requestInit(request({dstLabels: {namespace: 'ns', pod: 'p-1', serviceaccount: 'sa', deployment: 'd', extra: 'ignored'}}))
    expect(scrape().get('request_total')!.samples[0].labels).toMatchObject({dst_namespace: 'ns', dst_pod: 'p-1', dst_serviceaccount: 'sa', dst_deployment: 'd'})
    expect(scrape().get('request_total')!.samples[0].labels.extra).toBeUndefined()
  })

  it('keeps tcp families: opens, open connections, bytes and closes with errno', () => {
    const {observer, scrape} = setup()
    const c1 = conn()
    const c2 = conn()
    const c3 = conn({direction: 'outbound', authority: 'db:5432', tls: PLAIN})
    for (const c of [c1, c2, c3]) observer.tcpOpen(c)
    observer.tcpClose(c1, {readBytes: 100, writeBytes: 2000})
    observer.tcpClose(c3, {readBytes: 7, writeBytes: 9, error: 'ECONNRESET'})
    const fams = scrape()
    const inbound = (l: Record<string, string>) => l.direction === 'inbound'
    expect(sumBy(fams.get('tcp_open_total'), ['direction'])).toEqual([{labels: {direction: 'inbound'}, value: 2}, {labels: {direction: 'outbound'}, value: 1}])
    expect(sumBy(fams.get('tcp_open_connections'), [], inbound)[0].value).toBe(1)
    expect(sumBy(fams.get('tcp_open_connections'), [], (l) => !inbound(l))[0].value).toBe(0)
    expect(sumBy(fams.get('tcp_read_bytes_total'), [], inbound)[0].value).toBe(100)
    expect(sumBy(fams.get('tcp_write_bytes_total'), [], inbound)[0].value).toBe(2000)
    expect(fams.get('tcp_close_total')!.samples.map((s) => [s.labels.direction, s.labels.errno, s.value])).toEqual([
      ['inbound', undefined, 1],
      ['outbound', 'ECONNRESET', 1],
    ])
    expect(fams.get('tcp_open_total')!.samples[0].labels).toEqual({direction: 'inbound', authority: '127.0.0.1:8080', tls: 'true', client_id: MTLS_IN.clientId})
  })

  it('bounds errno values and the number of authorities', () => {
    const registry = new Registry()
    const o = new ProxyMetricsObserver(registry, {maxSeries: 5})
    for (let i = 0; i < 50; i++) o.requestInit(request({authority: `host-${i}:80`}))
    const c = conn()
    o.tcpOpen(c)
    o.tcpClose(c, {readBytes: 0, writeBytes: 0, error: 'socket hang up "weird"'})
    const fams = parseMetrics(registry.metrics())
    expect(fams.get('request_total')!.samples.length).toBe(5)
    expect(fams.get('tcp_close_total')!.samples[0].labels.errno).toBe('UNKNOWN')
  })

  it('refuses local labels that collide with traffic labels', () => {
    expect(() => new ProxyMetricsObserver(new Registry(), {localLabels: {direction: 'x'}})).toThrow(/collides/)
    expect(() => new ProxyMetricsObserver(new Registry(), {localLabels: {'bad-name': 'x'}})).toThrow(/invalid label name/)
  })

  it('createProxyMetrics exposes the families, process metrics and build info', () => {
    const {registry, observer} = createProxyMetrics({version: '9.9.9', localLabels: {namespace: 'n'}})
    observer.requestInit(request())
    const fams = parseMetrics(registry.metrics())
    for (const f of ['request_total', 'response_total', 'response_latency_ms', 'tcp_open_total', 'tcp_open_connections', 'tcp_read_bytes_total',
      'tcp_write_bytes_total', 'tcp_close_total', 'process_cpu_seconds_total', 'process_resident_memory_bytes', 'process_start_time_seconds',
      'process_open_fds', 'process_max_fds', 'process_virtual_memory_bytes', 'mesh_proxy_build_info']) {
      expect(fams.has(f), f).toBe(true)
    }
    expect(fams.get('mesh_proxy_build_info')!.samples[0].labels).toEqual({version: '9.9.9', node_version: process.version})
  })

  it('reads the local labels from the proxy env', () => {
    expect(localLabelsFromEnv({MESH_PROXY_POD_NAMESPACE: 'ns', MESH_PROXY_POD_NAME: 'web-1', MESH_PROXY_WORKLOAD_KIND: 'Deployment', MESH_PROXY_WORKLOAD_NAME: 'web'}))
      .toEqual({namespace: 'ns', pod: 'web-1', deployment: 'web'})
    expect(localLabelsFromEnv({MESH_PROXY_WORKLOAD_KIND: 'route', MESH_PROXY_WORKLOAD_NAME: 'x'})).toEqual({})
  })
})
