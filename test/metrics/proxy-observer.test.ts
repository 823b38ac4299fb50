import {constants as osConstants} from 'node:os'
import fc from 'fast-check'
import {describe, expect, it} from 'vitest'
import {errnoLabel} from '../../src/metrics/errno.js'
import {ProxyMetricsObserver, Registry, classify, createProxyMetrics, histogramBuckets, histogramQuantile, parseMetrics, sumBy} from '../../src/metrics/index.js'
import {localLabelsFromEnv} from '../../src/metrics/proxy-metrics.js'
import type {RequestSeries, StatusSeries} from '../../src/metrics/request-series.js'
import {EMP_LABELS, MTLS_IN, PLAIN, conn, request} from './fixtures.js'

function setup(localLabels?: Record<string, string>) {
  let now = 0
  const registry = new Registry()
  const observer = new ProxyMetricsObserver(registry, {localLabels, now: () => now})
  const advanceMs = (ms: number) => (now += ms)
  return {registry, observer, advanceMs, nowMs: () => now, scrape: () => parseMetrics(registry.metrics())}
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
  it('a request carries the series its events found: requestSeries from requestInit, statusSeries from responseInit, both cleared at responseEnd (typed, not one slot told apart at run time)', () => {
    const {observer} = setup()
    const req = request()
    expect(Object.keys(req)).toEqual(expect.arrayContaining(['requestSeries', 'statusSeries']))
    observer.requestInit(req)
    const r: RequestSeries | undefined = req.requestSeries
    expect(r?.values).toContain('emoji.emojivoto.svc.cluster.local:8080')
    expect(req.statusSeries).toBeUndefined()
    observer.responseInit(req, 503)
    const s: StatusSeries | undefined = req.statusSeries
    expect(s?.status).toBe(503)
    expect(s?.owner).toBe(r)
    // The request series stays: a response that ends with another status is counted under it.
    expect(req.requestSeries).toBe(r)
    observer.responseEnd(req, {status: 200, responseBytes: 0})
    expect(r?.byStatus.get(200)?.owner).toBe(r)
    expect(req.requestSeries).toBeUndefined()
    expect(req.statusSeries).toBeUndefined()
    if (s !== undefined && r !== undefined) {
      // @ts-expect-error a status series is not a request series
      req.requestSeries = s
      // @ts-expect-error nor the other way round
      req.statusSeries = r
    }
  })

  it('counts requests and responses with Linkerd labels, and records latency to response headers', () => {
    const {observer, advanceMs, scrape} = setup({namespace: 'emojivoto', pod: 'web-0', deployment: 'web'})
    for (let i = 0; i < 3; i++) {
      const req = request({startMs: 0})
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
    let t = 0
    const registry = new Registry()
    const o = new ProxyMetricsObserver(registry, {now: () => t})
    for (const ms of [0.5, 3, 7, 25, 25, 25, 250, 1500, 60000]) {
      const req = request({startMs: 0})
      t = ms
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

  it('bounds the number of authorities', () => {
    const registry = new Registry()
    const o = new ProxyMetricsObserver(registry, {maxSeries: 5})
    for (let i = 0; i < 50; i++) o.requestInit(request({authority: `host-${i}:80`}))
    const fams = parseMetrics(registry.metrics())
    expect(fams.get('request_total')!.samples.length).toBe(5)
  })

  it('errno is a system error\'s name as Linkerd prints it, empty for other errors, UNKNOWN_ERRNO for a system error without a name', () => {
    const {observer, scrape} = setup()
    const close = (error: string | undefined): void => {
      const c = conn()
      observer.tcpOpen(c)
      observer.tcpClose(c, {readBytes: 0, writeBytes: 0, error})
    }
    for (const e of ['ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTSUP', 'EWOULDBLOCK', 'Unknown system error -135', 'EREMOTEIO', 'ERR_SSL_WRONG_VERSION_NUMBER',
      'ERR_STREAM_PREMATURE_CLOSE', 'idle timeout', 'socket hang up "weird"', '', undefined]) close(e)
    const byErrno = sumBy(scrape().get('tcp_close_total'), ['errno'])
    expect(byErrno).toEqual([
      {labels: {errno: 'ECONNRESET'}, value: 1},
      {labels: {errno: 'EPIPE'}, value: 1},
      {labels: {errno: 'ETIMEDOUT'}, value: 1},
      {labels: {errno: 'EOPNOTSUPP'}, value: 1},
      {labels: {errno: 'EAGAIN'}, value: 1},
      {labels: {errno: 'UNKNOWN_ERRNO'}, value: 2},
      {labels: {}, value: 6},
    ])
  })

  it('errno takes values from a fixed set whatever the data path passes (generated strings)', () => {
    const allowed = new Set(['', 'UNKNOWN_ERRNO', ...Object.keys(osConstants.errno).map((n) => errnoLabel(n))])
    fc.assert(fc.property(fc.oneof(fc.string(), fc.stringMatching(/^E[A-Z0-9_]{0,40}$/), fc.constantFrom(...Object.keys(osConstants.errno))), (code) => {
      const label = errnoLabel(code)
      expect(allowed.has(label), `${JSON.stringify(code)} -> ${label}`).toBe(true)
    }), {numRuns: 2_000})
    expect(allowed.size).toBeLessThanOrEqual(Object.keys(osConstants.errno).length + 2)
  })

  it('tcp_connection_duration_ms: each connection\'s life from open to close, by errno, in the latency buckets', () => {
    const {observer, advanceMs, scrape} = setup()
    const a = conn()
    const b = conn()
    observer.tcpOpen(a)
    advanceMs(250)
    observer.tcpOpen(b)
    observer.tcpClose(a, {readBytes: 1, writeBytes: 1})
    advanceMs(4500)
    observer.tcpClose(b, {readBytes: 1, writeBytes: 1, error: 'ECONNRESET'})
    // A close without an open seen counts in tcp_close_total, not in the durations.
    observer.tcpClose(conn(), {readBytes: 0, writeBytes: 0})
    const fam = scrape().get('tcp_connection_duration_ms')!
    expect(fam.type).toBe('histogram')
    const byErrno = Object.fromEntries(histogramBuckets(fam, ['errno']).map((g) => [g.labels.errno ?? '', g.value]))
    const at = (errno: string, le: number) => byErrno[errno]!.find((x) => x.le === le)!.count
    expect([at('', 200), at('', 300), at('', Infinity)]).toEqual([0, 1, 1])
    expect([at('ECONNRESET', 4000), at('ECONNRESET', 5000)]).toEqual([0, 1])
    expect(byErrno[''].length).toBe(26)
    expect(sumBy(scrape().get('tcp_close_total'))[0].value).toBe(3)
    expect(fam.samples.filter((x) => x.name === 'tcp_connection_duration_ms_sum').map((x) => x.value)).toEqual([250, 4500])
  })

  it('route_* families: requests the control plane\'s route policy routed, by dst and rt_route (empty for the default route)', () => {
    const {observer, advanceMs, nowMs, scrape} = setup({namespace: 'shop', pod: 'web-0', deployment: 'web'})
    const send = (over: Partial<Parameters<typeof request>[0]>, status: number, ms: number): void => {
      const req = request({startMs: nowMs(), authority: 'books.shop.svc.cluster.local:8080', ...over})
      observer.requestInit(req)
      advanceMs(ms)
      observer.responseInit(req, status)
      observer.responseEnd(req, {status, responseBytes: 1})
    }
    const routed = {route: 'books-api', routeKind: 'HTTPRoute'}
    // Two backends of the same rule: one route series.
    send({...routed, backend: 'shop/books:8080'}, 200, 3)
    send({...routed, backend: 'shop/books-v2:8080', dstLabels: {dst_pod: 'books-v2-0'}}, 500, 0)
    send({...routed, backend: 'shop/books:8080', tls: MTLS_IN}, 200, 0)
    send({route: 'default', routeKind: 'default'}, 404, 0)
    // MESH_PROXY_ROUTES only (no control-plane policy): no route series.
    send({route: 'GET /list'}, 200, 0)
    const fams = scrape()
    const base = {namespace: 'shop', pod: 'web-0', deployment: 'web', direction: 'outbound', dst: 'books.shop.svc.cluster.local:8080'}
    expect(fams.get('route_request_total')!.samples.map((x) => [x.labels, x.value])).toEqual([
      [{...base, rt_route: 'books-api', tls: 'no_identity'}, 2],
      [{...base, rt_route: 'books-api', tls: 'true'}, 1],
      [{...base, tls: 'no_identity'}, 1],
    ])
    expect(sumBy(fams.get('route_response_total'), ['rt_route', 'status_code', 'classification'])).toEqual([
      {labels: {rt_route: 'books-api', status_code: '200', classification: 'success'}, value: 2},
      {labels: {rt_route: 'books-api', status_code: '500', classification: 'failure'}, value: 1},
      {labels: {status_code: '404', classification: 'success'}, value: 1},
    ])
    const latency = histogramBuckets(fams.get('route_response_latency_ms')!, ['rt_route', 'status_code'])
    expect(latency.map((g) => [g.labels, g.value.at(-1)!.count])).toEqual([
      [{rt_route: 'books-api', status_code: '200'}, 2],
      [{rt_route: 'books-api', status_code: '500'}, 1],
      [{status_code: '404'}, 1],
    ])
    // The 200s took 3 ms and 0 ms: cumulative buckets 1 at le=2, 2 at le=3.
    expect(latency[0].value.find((x) => x.le === 2)!.count).toBe(1)
    expect(latency[0].value.find((x) => x.le === 3)!.count).toBe(2)
    // The request families still count all five.
    expect(sumBy(fams.get('request_total'))[0].value).toBe(5)
  })

  it('refuses local labels that collide with traffic labels', () => {
    expect(() => new ProxyMetricsObserver(new Registry(), {localLabels: {direction: 'x'}})).toThrow(/collides/)
    expect(() => new ProxyMetricsObserver(new Registry(), {localLabels: {rt_route: 'x'}})).toThrow(/collides/)
    expect(() => new ProxyMetricsObserver(new Registry(), {localLabels: {'bad-name': 'x'}})).toThrow(/invalid label name/)
  })

  it('createProxyMetrics exposes the families, process metrics and build info', () => {
    const {registry, observer} = createProxyMetrics({version: '9.9.9', localLabels: {namespace: 'n'}})
    observer.requestInit(request())
    const fams = parseMetrics(registry.metrics())
    for (const f of ['request_total', 'response_total', 'response_latency_ms', 'tcp_open_total', 'tcp_open_connections', 'tcp_read_bytes_total',
      'tcp_write_bytes_total', 'tcp_close_total', 'tcp_connection_duration_ms', 'route_request_total', 'route_response_total', 'route_response_latency_ms', 'process_cpu_seconds_total', 'process_resident_memory_bytes', 'process_start_time_seconds',
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
