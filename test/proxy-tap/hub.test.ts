import {describe, expect, it} from 'vitest'
import {parseMetrics, Registry} from '../../src/metrics/index.js'
import type {RequestMeta} from '../../src/proxy/core/observe.js'
import {parseTapFilter, REDACTED_VALUE, TapFilterError, TapHub} from '../../src/proxy/tap/index.js'
import {RecordingSocket, request} from './fixtures.js'

const q = (s: string) => parseTapFilter(new URLSearchParams(s))

function life(hub: TapHub, req: RequestMeta, status = 200) {
  hub.requestInit(req)
  hub.responseInit(req, status)
  hub.responseEnd(req, {status, responseBytes: 42})
}

describe('TapHub', () => {
  it('touches nothing of the request when no one is subscribed', () => {
    const hub = new TapHub()
    let reads = 0
    const spy = new Proxy(request(), {get: (t, p) => (reads++, Reflect.get(t, p))})
    life(hub, spy)
    hub.tcpOpen({} as never)
    expect(reads).toBe(0)
  })

  it('streams requestInit, responseInit and responseEnd with ids, peers, tls and timing', () => {
    const hub = new TapHub({localLabels: {namespace: 'default', pod: 'web-0'}})
    const s = new RecordingSocket()
    hub.subscribe(s, q(''))
    const req = request({startMs: performance.now() - 2})
    life(hub, req, 201)
    expect(s.types()).toEqual([`requestInit:${req.id}`, `responseInit:${req.id}`, `responseEnd:${req.id}`])
    const [init, rInit, end] = s.sent
    expect(init).toMatchObject({
      direction: 'inbound', method: 'GET', scheme: 'http', authority: 'web.default:8080', path: '/api/items',
      source: {address: '10.244.0.7:51000'}, destination: {address: '10.244.0.9:8080', labels: {namespace: 'default', pod: 'web-0'}},
      tls: req.tls,
      headers: {'user-agent': 'curl/8', authorization: REDACTED_VALUE, accept: 'a, b'},
    })
    expect(init.source).toEqual({address: '10.244.0.7:51000'})
    expect(init).not.toHaveProperty('route') // no route rule matched
    expect(rInit).toMatchObject({status: 201})
    expect(rInit.sinceRequestInit).toBeGreaterThanOrEqual(2000)
    expect(end).toMatchObject({status: 201, responseBytes: 42})
    expect(typeof end.timestamp).toBe('number')
    expect(JSON.stringify(s.sent)).not.toContain('secret-token')
  })

  it('labels outbound sources with the local pod and destinations with the dst labels', () => {
    const hub = new TapHub({localLabels: {pod: 'web-0'}})
    const s = new RecordingSocket()
    hub.subscribe(s, q(''))
    hub.requestInit(request({direction: 'outbound', destination: {ip: '::1', port: 80}, route: 'GET /api/'}))
    expect(s.sent[0]).toMatchObject({source: {labels: {pod: 'web-0'}}, destination: {address: '[::1]:80', labels: {dst_namespace: 'default', dst_pod: 'web-0'}}, route: 'GET /api/'})
  })

  it('applies method, authority, path prefix and direction filters per subscriber', () => {
    const hub = new TapHub()
    const all = new RecordingSocket()
    const posts = new RecordingSocket()
    const api = new RecordingSocket()
    const outbound = new RecordingSocket()
    const other = new RecordingSocket()
    hub.subscribe(all, q(''))
    hub.subscribe(posts, q('method=post'))
    hub.subscribe(api, q('path=/api&authority=WEB.default:8080'))
    hub.subscribe(outbound, q('direction=outbound'))
    hub.subscribe(other, q('authority=db:5432'))
    const a = request({method: 'POST', path: '/api/x'})
    const b = request({path: '/health'})
    const c = request({direction: 'outbound', path: '/api'})
    for (const r of [a, b, c]) life(hub, r)
    const ids = (s: RecordingSocket) => [...new Set(s.sent.map((e) => e.id))]
    expect(ids(all)).toEqual([a.id, b.id, c.id])
    expect(ids(posts)).toEqual([a.id])
    expect(ids(api)).toEqual([a.id, c.id])
    expect(ids(outbound)).toEqual([c.id])
    expect(other.sent).toEqual([])
  })

  it('holds the requestInit of status-filtered subscribers and sends it with a matching response only', () => {
    const hub = new TapHub()
    const s = new RecordingSocket()
    hub.subscribe(s, q('status=500'))
    const ok = request()
    const bad = request()
    hub.requestInit(ok)
    hub.requestInit(bad)
    expect(s.sent).toEqual([])
    hub.responseInit(bad, 500)
    hub.responseInit(ok, 200)
    hub.responseEnd(ok, {status: 200, responseBytes: 1})
    hub.responseEnd(bad, {status: 500, responseBytes: 1})
    expect(s.types()).toEqual([`requestInit:${bad.id}`, `responseInit:${bad.id}`, `responseEnd:${bad.id}`])
    // A request reset before any response: decided on the end's status (none: dropped).
    const reset = request()
    hub.requestInit(reset)
    hub.responseEnd(reset, {resetError: 'ECONNRESET', responseBytes: 0})
    expect(s.sent.length).toBe(3)
  })

  it('rate-limits per subscriber by requests, keeping each admitted request whole, and refills with time', () => {
    let now = 0
    const registry = new Registry()
    const hub = new TapHub({now: () => now, registry})
    const slow = new RecordingSocket()
    const fast = new RecordingSocket()
    const sub = hub.subscribe(slow, q('maxRps=2'))
    hub.subscribe(fast, q(''))
    for (let i = 0; i < 5; i++) life(hub, request())
    expect(slow.sent.length).toBe(6) // 2 requests x 3 events
    expect(fast.sent.length).toBe(15)
    expect(sub.stats.droppedRateLimit).toBe(3)
    now += 1000
    life(hub, request())
    expect(slow.sent.length).toBe(9)
    hub.unsubscribe(sub)
    const dropped = parseMetrics(registry.metrics()).get('mesh_proxy_tap_dropped_total')!.samples.find((s) => s.labels.reason === 'rate_limit')
    expect(dropped!.value).toBe(3)
  })

  it('drops and counts events while a subscriber\'s socket buffer is full', () => {
    const hub = new TapHub({limits: {maxBufferedBytes: 1000}})
    const s = new RecordingSocket()
    const sub = hub.subscribe(s, q(''))
    s.bufferedAmount = 5000
    life(hub, request())
    expect(s.sent).toEqual([])
    expect(sub.stats.droppedBuffer).toBe(1) // the requestInit; the rest of that request is not admitted
    s.bufferedAmount = 0
    life(hub, request())
    expect(s.sent.length).toBe(3)
  })

  it('forgets the oldest tracked requests past the bound', () => {
    const hub = new TapHub({limits: {maxTracked: 3}})
    const s = new RecordingSocket()
    const sub = hub.subscribe(s, q('status=200'))
    for (let i = 0; i < 10; i++) hub.requestInit(request())
    expect(sub.tracked).toBe(3)
    expect(sub.stats.droppedOverflow).toBe(7)
  })

  it('stops calling sockets once unsubscribed and becomes inert again', () => {
    const hub = new TapHub()
    const s = new RecordingSocket()
    const sub = hub.subscribe(s, q(''))
    hub.unsubscribe(sub)
    life(hub, request())
    expect(s.sent).toEqual([])
    expect(hub.subscriberCount).toBe(0)
  })
})

describe('tap filters', () => {
  it('parses every field', () => {
    expect(q('method=get&authority=Web:80&path=/a&status=503&maxRps=2.5&direction=inbound')).toEqual({
      method: 'GET', authority: 'web:80', path: '/a', status: 503, maxRps: 2.5, direction: 'inbound',
    })
    expect(q('')).toEqual({maxRps: 100})
  })

  it.each([
    ['bogus=1', /unknown tap filter "bogus"/],
    ['method=GE T', /invalid method filter/],
    ['path=api', /expected a prefix starting with \//],
    ['status=99', /invalid status filter "99"/],
    ['status=abc', /invalid status filter/],
    ['maxRps=0', /invalid maxRps "0"/],
    ['maxRps=1e9', /invalid maxRps/],
    ['maxRps=20000', /invalid maxRps/],
    ['direction=sideways', /expected inbound or outbound/],
    ['authority=', /invalid authority filter/],
  ])('rejects %s', (s, message) => {
    expect(() => q(s)).toThrow(TapFilterError)
    expect(() => q(s)).toThrow(message)
  })
})
