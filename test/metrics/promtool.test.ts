// The real checker: `promtool check metrics` (Debian package prometheus) on real exposition
// output. Fails loudly when promtool is not installed.
import {spawnSync} from 'node:child_process'
import {describe, expect, it} from 'vitest'
import {createProxyMetrics} from '../../src/metrics/index.js'
import {conn, request} from './fixtures.js'

function promtool(input: string): {status: number | null; problems: string[]} {
  const r = spawnSync('promtool', ['check', 'metrics'], {input, encoding: 'utf8', timeout: 20_000})
  if (r.error) throw new Error(`promtool is required for this test (apt-get install -y prometheus): ${r.error.message}`)
  const problems = `${r.stdout}${r.stderr}`.split('\n').filter((l) => l.trim() !== '')
  return {status: r.status, problems}
}

function exposition(): string {
  const {registry, observer} = createProxyMetrics({localLabels: {namespace: 'emojivoto', pod: 'web-0', deployment: 'web'}})
  const odd = request({authority: 'we"ird\\host\n:80', route: 'GET /a'})
  for (const r of [request(), request({tls: {tls: true, serverId: 'x.y.serviceaccount.identity.mesh-system.cluster.local'}}), odd]) {
    observer.requestInit(r)
    observer.responseInit(r, 200)
    observer.responseEnd(r, {responseBytes: 10, grpcStatus: 14})
  }
  const routed = request({authority: 'books.shop.svc.cluster.local:8080', route: 'books-api', routeKind: 'HTTPRoute', backend: 'shop/books:8080'})
  observer.requestInit(routed)
  observer.responseInit(routed, 503)
  observer.responseEnd(routed, {status: 503, responseBytes: 0})
  const c = conn()
  observer.tcpOpen(c)
  observer.tcpClose(c, {readBytes: 10, writeBytes: 20, error: 'ECONNRESET'})
  observer.tcpOpen(conn({direction: 'outbound'}))
  return registry.metrics()
}

describe('promtool check metrics', () => {
  it('accepts the proxy exposition; its only remarks are on Linkerd\'s own family names (..._ms)', () => {
    const text = exposition()
    expect(text).toContain('authority="we\\"ird\\\\host\\n:80"')
    expect(text).toContain('route_request_total{')
    expect(text).toContain('tcp_connection_duration_ms_bucket{')
    const r = promtool(text)
    // Exit 3 is "lint problems", 1 would be a parse error. Linkerd names these families with
    // `_ms`; dashboards depend on the names, so the abbreviated-unit remarks stay.
    expect(r.problems.sort()).toEqual(['response_latency_ms', 'route_response_latency_ms', 'tcp_connection_duration_ms'].map((f) => `${f} metric names should not contain abbreviated units`))
    expect(r.status).toBe(3)
  })

  it('finds no problem at all once those families are left out', () => {
    const text = exposition()
    const without = text
      .split('\n')
      .filter((l) => !l.includes('response_latency_ms') && !l.includes('tcp_connection_duration_ms'))
      .join('\n')
    expect(promtool(without)).toEqual({status: 0, problems: []})
  })

  it('does report a broken exposition (the check can fail)', () => {
    const r = promtool('# TYPE x counter\nx{a="1} 2\n')
    expect(r.status).toBe(1)
    expect(r.problems.join('\n')).toMatch(/parsing error/)
  })
})
