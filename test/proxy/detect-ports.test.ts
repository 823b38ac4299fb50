// Detection timeouts by port (item 6 of docs/architecture/diagnostics.md, "What a proxy must
// do"): connections that wait for the server to speak first, on several original destination
// ports (given as the redirect would give them, SO_ORIGINAL_DST injected as in
// orig-dst-loop.test.ts), counted under their port; a flood over more ports than the series bound
// stops at the bound and counts the rest under port="other". The data path, its metrics observer
// and /metrics are real.
import net from 'node:net'
import {afterAll, describe, expect, it} from 'vitest'
import {createProxyMetrics, parseMetrics} from '../../src/metrics/index.js'
import {startProxy, type RunningProxy} from '../../src/proxy/server.js'
import {quietLog, testConfig} from './helpers.js'

const proxies: RunningProxy[] = []
afterAll(async () => {
  for (const p of proxies) await p.close(100)
})

/** A proxy (detect timeout 200 ms) whose inbound connections were "redirected" to the port `portOf` gives their source port. */
async function proxyWith(maxSeries: number, portOf: (sourcePort: number) => number) {
  const metrics = createProxyMetrics({maxSeries})
  const cfg = testConfig()
  cfg.limits.detectTimeoutMs = 200
  const p = await startProxy(cfg, {log: quietLog(), observers: [metrics.observer], originalDst: (s) => ({ip: '10.244.0.9', port: portOf(s.remotePort ?? 0)})})
  proxies.push(p)
  return {p, series: () => (parseMetrics(metrics.registry.metrics()).get('mesh_proxy_detect_timeouts_total')?.samples ?? []).map((s) => [s.labels.direction, s.labels.port, s.value] as const)}
}

/** A client that sends nothing (it waits for the server to speak first); resolves when the proxy closes it. */
function silent(port: number): Promise<number> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1')
    let local = 0
    s.on('connect', () => (local = s.localPort ?? 0))
    s.on('error', () => {})
    s.on('close', () => resolve(local))
  })
}

describe('mesh_proxy_detect_timeouts_total{direction, port}', () => {
  it('counts each timeout under the original destination\'s port', async () => {
    const ports = new Map<number, number>()
    let next = 0
    const {p, series} = await proxyWith(1000, (src) => {
      if (!ports.has(src)) ports.set(src, next++ % 3 === 2 ? 9090 : 8080)
      return ports.get(src)!
    })
    for (let i = 0; i < 3; i++) await silent(p.ports.inbound)
    expect(series()).toEqual([['inbound', 'other', 0], ['outbound', 'other', 0], ['inbound', '8080', 2], ['inbound', '9090', 1]])
    expect(p.stats.refused.detect_timeout).toBe(3)
    // A default opaque port (MySQL's) is carried as TCP without detection: no timeout to count.
    const {p: q, series: s2} = await proxyWith(1000, () => 3306)
    await silent(q.ports.inbound)
    expect(s2()).toEqual([['inbound', 'other', 0], ['outbound', 'other', 0]])
    expect(q.stats.refused.detect_timeout).toBe(0)
  })

  it('a flood over many ports stops at the series bound and counts the rest as other', async () => {
    let port = 20000
    const {p, series} = await proxyWith(6, () => port++)
    for (let i = 0; i < 10; i++) await silent(p.ports.inbound)
    const s = series()
    // 6 series in all: the two "other" and the first four ports; the six ports after them counted as other.
    expect(s.length).toBe(6)
    expect(s).toContainEqual(['inbound', 'other', 6])
    expect(s.filter(([, port]) => port !== 'other').map(([, port, n]) => [port, n])).toEqual([['20000', 1], ['20001', 1], ['20002', 1], ['20003', 1]])
  })
})
