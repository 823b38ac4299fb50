// Small pure pieces of the data path: protocol classification, settings parsing, the P2C
// balancer's preferences, and the retry budget's arithmetic.
import {describe, expect, it} from 'vitest'
import {classify} from '../../src/proxy/detect/detect.js'
import {loadProxyConfig, normalizeAuthority, parsePorts, parseStaticRoutes} from '../../src/proxy/config/config.js'
import {EndpointStats} from '../../src/proxy/endpoint/stats.js'
import {pickP2C} from '../../src/proxy/balance/balancer.js'
import {RetryBudget} from '../../src/proxy/route/retry-budget.js'
import {mayRetryFailure, mayRetryStatus, type AttemptFailure, type RetryState} from '../../src/proxy/http/retry-decision.js'
import type {Side} from '../../src/proxy/route/side.js'
import {DEFAULT_FAILURE_ACCRUAL} from '../../src/proxy/config/config.js'

const b = (s: string | number[]): Buffer => (typeof s === 'string' ? Buffer.from(s, 'latin1') : Buffer.from(s))

describe('classify', () => {
  it.each([
    ['GET / HTTP/1.1\r\n', 'http1'],
    ['POST /x?y HTTP/1.0\r\n', 'http1'],
    ['GET / HTTP/9.9\r\n', 'http1'],
    ['PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'h2'],
    ['GET key\r\n', 'opaque'],
    ['SSH-2.0-OpenSSH\r\n', 'opaque'],
    ['EHLO mail\r\n', 'opaque'],
    ['*1\r\n$4\r\nPING\r\n', 'opaque'],
    // HTTP-shaped, so the HTTP parser answers it (400 or served), never opaque bytes.
    ['get / HTTP/1.1\r\n', 'http1'],
    ['FOO / HTTP/1.1\r\n', 'http1'],
    ['PROPFIND /dav HTTP/1.1\r\n', 'http1'],
    ['M-SEARCH * HTTP/1.1\r\n', 'http1'],
    ['GET /\r\n', 'http1'],
    ['GET / HTTP/1.1 extra\r\n', 'http1'],
    ['GET /a b c\r\n', 'http1'],
    // Not HTTP: Memcached and Redis text commands, a method token too long.
    ['get key\r\n', 'opaque'],
    ['set k 0 0 5\r\n', 'opaque'],
    ['GET key value\r\n', 'opaque'],
    ['get /key\r\n', 'opaque'],
    ['A'.repeat(40) + ' / HTTP/1.1\r\n', 'opaque'],
    ['G\u00e9T / HTTP/1.1\r\n', 'opaque'],
  ])('%j -> %s', (input, want) => {
    expect(classify(b(input))).toBe(want)
  })

  it('recognises a TLS ClientHello from two bytes', () => {
    expect(classify(b([0x16]))).toBeUndefined()
    expect(classify(b([0x16, 0x03]))).toBe('tls')
    expect(classify(b([0x16, 0x99]))).toBe('opaque')
  })

  it('waits for more bytes on a prefix', () => {
    expect(classify(b('GE'))).toBeUndefined()
    expect(classify(b('GET /very/long'))).toBeUndefined()
    expect(classify(b('PRI * HTTP/2'))).toBeUndefined()
  })

  it('hands an endless request line to the HTTP parser (which answers 414/431)', () => {
    expect(classify(b('GET /' + 'a'.repeat(20_000)))).toBe('http1')
  })
})

describe('settings', () => {
  it('parses static routes, normalising authorities', () => {
    const r = parseStaticRoutes('Web.Local=127.0.0.1:4143,10.0.0.2:4143; api:8080=[::1]:9000;empty:80=')
    expect([...r.keys()]).toEqual(['web.local:80', 'api:8080', 'empty:80'])
    expect(r.get('web.local:80')).toEqual([{host: '127.0.0.1', port: 4143}, {host: '10.0.0.2', port: 4143}])
    expect(r.get('api:8080')).toEqual([{host: '::1', port: 9000}])
    expect(r.get('empty:80')).toEqual([])
  })

  it('parses port lists and ranges', () => {
    expect([...parsePorts('25, 3306,8000-8002', 'x')]).toEqual([25, 3306, 8000, 8001, 8002])
    expect(() => parsePorts('9-1', 'MESH_PROXY_OPAQUE_PORTS')).toThrow(/MESH_PROXY_OPAQUE_PORTS: "9-1" is not a port or port range/)
  })

  it('reads the environment, and flags win', () => {
    const c = loadProxyConfig({MESH_PROXY_OUTBOUND_LISTEN_ADDR: '127.0.0.1:5000', MESH_PROXY_LOG_LEVEL: 'debug', MESH_PROXY_SHUTDOWN_GRACE_PERIOD: '5s'}, {logLevel: 'warn'})
    expect(c.outbound).toEqual({host: '127.0.0.1', port: 5000})
    expect(c.inbound).toEqual({host: '0.0.0.0', port: 4143})
    expect(c.logLevel).toBe('warn')
    expect(c.shutdownGraceMs).toBe(5000)
  })

  it('reads the bounds from the environment: durations, counts, and Linkerd\'s default opaque ports', () => {
    const d = loadProxyConfig({})
    expect(d.limits).toMatchObject({headerReadTimeoutMs: 20_000, detectTimeoutMs: 10_000, maxConnections: 10_000, h2MaxConcurrentStreams: 100, h2KeepAliveIntervalMs: 10_000, h2KeepAliveTimeoutMs: 5_000})
    expect([...d.opaquePorts].sort((x, y) => x - y)).toEqual([25, 587, 3306, 4444, 5432, 6379, 9300, 11211])
    const c = loadProxyConfig({
      MESH_PROXY_HEADER_READ_TIMEOUT: '500ms', MESH_PROXY_DETECT_TIMEOUT: '2', MESH_PROXY_MAX_CONNECTIONS: '250',
      MESH_PROXY_H2_MAX_CONCURRENT_STREAMS: '64', MESH_PROXY_H2_KEEPALIVE_INTERVAL: '0', MESH_PROXY_H2_KEEPALIVE_TIMEOUT: '1m', MESH_PROXY_OPAQUE_PORTS: '9000',
    })
    expect(c.limits).toMatchObject({headerReadTimeoutMs: 500, detectTimeoutMs: 2000, maxConnections: 250, h2MaxConcurrentStreams: 64, h2KeepAliveIntervalMs: 0, h2KeepAliveTimeoutMs: 60_000})
    expect([...c.opaquePorts]).toEqual([9000])
  })

  it('names the variable in errors', () => {
    expect(() => loadProxyConfig({MESH_PROXY_LOG_FORMAT: 'xml'})).toThrow(/MESH_PROXY_LOG_FORMAT="xml"/)
    expect(() => loadProxyConfig({MESH_PROXY_HEADER_READ_TIMEOUT: 'soon'})).toThrow(/MESH_PROXY_HEADER_READ_TIMEOUT="soon" is not a duration above 0/)
    expect(() => loadProxyConfig({MESH_PROXY_DETECT_TIMEOUT: '0'})).toThrow(/MESH_PROXY_DETECT_TIMEOUT="0" is not a duration above 0/)
    expect(() => loadProxyConfig({MESH_PROXY_MAX_CONNECTIONS: '-5'})).toThrow(/MESH_PROXY_MAX_CONNECTIONS="-5" is not a whole number from 1 to 1000000/)
    expect(() => loadProxyConfig({MESH_PROXY_H2_MAX_CONCURRENT_STREAMS: '1e3'})).toThrow(/MESH_PROXY_H2_MAX_CONCURRENT_STREAMS="1e3"/)
    expect(() => parseStaticRoutes('web:abc=127.0.0.1:80')).toThrow(/route "web:abc=127.0.0.1:80" has authority "web:abc": port "abc" is not 1-65535/)
    expect(() => loadProxyConfig({}, {inbound: '1.2.3.4'})).toThrow(/--inbound-listen-addr="1.2.3.4" is not a host:port/)
  })

  it('normalises authorities', () => {
    expect(normalizeAuthority('Web', 80)).toBe('web:80')
    expect(normalizeAuthority('web:8080', 80)).toBe('web:8080')
    expect(normalizeAuthority('[::1]', 443)).toBe('[::1]:443')
    expect(normalizeAuthority('127.1:4140', 80)).toBe('127.0.0.1:4140')
  })
})

describe('P2C over peak-EWMA', () => {
  /** A clock the test moves by hand. */
  const manual = (): {now: number; read: () => number} => {
    const c = {now: 1_000_000, read: () => c.now}
    return c
  }
  /** An endpoint whose one answer took `rtt` ms on `clock`, with `inflight` requests open. */
  const ep = (rtt: number | undefined, inflight = 0, clock = manual()): {stats: EndpointStats} => {
    const stats = new EndpointStats(DEFAULT_FAILURE_ACCRUAL, undefined, clock.read)
    if (rtt !== undefined) {
      const t = stats.start()
      clock.now += rtt
      stats.end(t, true)
    }
    stats.inflight = inflight
    return {stats}
  }

  it('prefers the cheaper of two endpoints, counting in-flight requests', () => {
    const clock = manual()
    const fast = ep(1, 0, clock)
    const slow = ep(50, 0, clock)
    for (let i = 0; i < 50; i++) expect(pickP2C([fast, slow])).toBe(fast)
    const busy = ep(1, 100, clock)
    for (let i = 0; i < 50; i++) expect(pickP2C([busy, slow])).toBe(slow)
  })

  it('gives an endpoint that has never answered its share against a fast one (no starvation of a new replica)', () => {
    // The e2e journey once sent 4,000 sequential requests to one of two replicas: the other had
    // never answered and lost every comparison on the 30 ms default.
    const clock = manual()
    const known = ep(0.5, 0, clock)
    const fresh = ep(undefined, 0, clock)
    const picks = new Map<unknown, number>()
    for (let i = 0; i < 400; i++) {
      const p = pickP2C([known, fresh])
      picks.set(p, (picks.get(p) ?? 0) + 1)
    }
    // A fair coin: each side gets between 120 and 280 of 400 except with probability < 1e-15.
    expect(picks.get(fresh)).toBeGreaterThan(120)
    expect(picks.get(known)).toBeGreaterThan(120)
    // Two endpoints that have never answered are a coin toss too; in-flight requests still count.
    expect(pickP2C([ep(undefined, 3, clock), fresh])).toBe(fresh)
    // Against a failing (priced at 1 s) or slow endpoint, the new one is assumed at 30 ms and wins.
    const failing = ep(undefined, 0, clock)
    failing.stats.end(failing.stats.start(), false)
    for (let i = 0; i < 50; i++) expect(pickP2C([failing, fresh])).toBe(fresh)
    for (let i = 0; i < 50; i++) expect(pickP2C([ep(200, 0, clock), fresh])).toBe(fresh)
  })

  it('fades an idle estimate toward zero, so an endpoint once slow is tried again', () => {
    const clock = manual()
    const once = ep(200, 0, clock)
    const steady = ep(2, 0, clock)
    for (let i = 0; i < 50; i++) expect(pickP2C([once, steady])).toBe(steady)
    // `steady` keeps answering in 2 ms; `once` is idle. 200 x e^(-t/10 s) < 2 after t > 46 s.
    for (let t = 0; t < 60; t++) {
      clock.now += 1000
      const s = steady.stats.start()
      clock.now += 2
      steady.stats.end(s, true)
    }
    expect(once.stats.estimate()!).toBeLessThan(steady.stats.estimate()!)
    expect(pickP2C([once, steady])).toBe(once)
    // Its next answer sets the estimate again: a slow answer counts in full (the peak).
    const s = once.stats.start()
    clock.now += 300
    once.stats.end(s, true)
    expect(once.stats.estimate()).toBe(300)
  })

  it('skips ejected endpoints and reports none when all are', () => {
    const clock = manual()
    const a = ep(1, 0, clock)
    const bb = ep(1, 0, clock)
    a.stats.ejectedUntil = clock.now + 60_000
    for (let i = 0; i < 20; i++) expect(pickP2C([a, bb])).toBe(bb)
    bb.stats.ejectedUntil = clock.now + 60_000
    expect(pickP2C([a, bb])).toBeUndefined()
  })

  it('ejects after the configured consecutive failures', () => {
    const s = new EndpointStats({consecutiveFailures: 3, backoffMinMs: 1000, backoffMaxMs: 2000})
    for (let i = 0; i < 2; i++) s.end(s.start(), false)
    expect(s.available(performance.now())).toBe(true)
    s.end(s.start(), false)
    expect(s.available(performance.now())).toBe(false)
    expect(s.available(performance.now() + 2001)).toBe(true)
  })
})

describe('retry budget', () => {
  it('allows ratio x requests plus the per-second floor over the window', () => {
    const budget = new RetryBudget(0.2, 0)
    for (let i = 0; i < 100; i++) budget.deposit()
    let granted = 0
    while (budget.withdraw()) granted++
    expect(granted).toBe(20)
    const floor = new RetryBudget(0.2, 10)
    let free = 0
    while (floor.withdraw()) free++
    expect(free).toBe(100)
  })
})

describe('the retry decision (HTTP/1, both codecs, and HTTP/2)', () => {
  /** A side whose budget has only its per-second floor (0: no retry at all), counting as the proxy does. */
  const sideWith = (floorPerSecond: number): Side => {
    const budget = new RetryBudget(0, floorPerSecond)
    return {budget, stats: {retries: 0, retriesDenied: 0}} as unknown as Side
  }
  const state = (over: Partial<RetryState> = {}): RetryState => ({replayable: true, retryable: true, attempt: 0, limit: 2, statuses: [502, 503], ...over})
  const unprocessed: AttemptFailure = {unprocessed: true, staleReuse: false}
  const written: AttemptFailure = {unprocessed: false, staleReuse: false}
  const stale: AttemptFailure = {unprocessed: false, staleReuse: true}

  it('retries a retry-on status of a replayable, retryable request within the limit, from the budget', () => {
    const side = sideWith(10)
    expect(mayRetryStatus(side, state(), 503)).toBe(true)
    expect(mayRetryStatus(side, state(), 500)).toBe(false)
    expect(mayRetryStatus(side, state({retryable: false}), 503)).toBe(false)
    expect(mayRetryStatus(side, state({replayable: false}), 503)).toBe(false)
    expect(mayRetryStatus(side, state({attempt: 2}), 503)).toBe(false)
    expect(mayRetryStatus(side, state({limit: 0}), 503)).toBe(false)
    expect((side.stats as {retries: number}).retries).toBe(1)
    expect(mayRetryStatus(sideWith(0), state(), 503)).toBe(false)
  })

  it('retries any method that provably never reached the server; after a write, only retryable ones', () => {
    const side = sideWith(10)
    expect(mayRetryFailure(side, state({retryable: false}), unprocessed)).toBe(true)
    expect(mayRetryFailure(side, state({retryable: false}), written)).toBe(false)
    // A POST on a reused connection that failed: it may have been processed.
    expect(mayRetryFailure(side, state({retryable: false}), stale)).toBe(false)
    expect(mayRetryFailure(side, state(), written)).toBe(true)
    expect(mayRetryFailure(side, state({replayable: false}), unprocessed)).toBe(false)
    expect(mayRetryFailure(side, state({attempt: 2}), unprocessed)).toBe(false)
  })

  it('tries a stale pooled connection once more even with retries off (inbound too) for retryable requests only, from the budget', () => {
    expect(mayRetryFailure(sideWith(10), state({limit: 0}), stale)).toBe(true)
    expect(mayRetryFailure(sideWith(10), state({limit: 0, retryable: false}), stale)).toBe(false)
    expect(mayRetryFailure(sideWith(10), state({limit: 0, attempt: 1}), stale)).toBe(false)
    expect(mayRetryFailure(sideWith(10), state({limit: 0, replayable: false}), stale)).toBe(false)
    const empty = sideWith(0)
    expect(mayRetryFailure(empty, state({limit: 0}), stale)).toBe(false)
    expect((empty.stats as {retriesDenied: number}).retriesDenied).toBe(1)
  })
})

describe('log', () => {
  it('writes one JSON object per line with MESH_PROXY_LOG_FORMAT=json, filtered by a settable level', async () => {
    const {Logger} = await import('../../src/proxy/core/log.js')
    const lines: string[] = []
    const log = new Logger('info', 'json', (l) => lines.push(l))
    log.debug('hidden')
    log.info('shown', {authority: 'web:80', n: 1})
    log.setLevel('debug')
    log.debug('now shown')
    expect(lines.map((l) => JSON.parse(l))).toMatchObject([{level: 'info', msg: 'shown', authority: 'web:80', n: 1}, {level: 'debug', msg: 'now shown'}])
    expect(lines.every((l) => l.endsWith('\n') && l.indexOf('\n') === l.length - 1)).toBe(true)
  })

  it('plain lines quote values with spaces', async () => {
    const {Logger} = await import('../../src/proxy/core/log.js')
    const lines: string[] = []
    new Logger('info', 'plain', (l) => lines.push(l)).warn('drop', {error: 'a b', code: 'X'})
    expect(lines[0]).toMatch(/^\S+Z WARN {2}drop error="a b" code=X\n$/)
  })
})

describe('grpc-timeout', () => {
  it('reads every unit, rounding up to whole milliseconds, and ignores malformed values', async () => {
    const {parseGrpcTimeout, formatGrpcTimeout} = await import('../../src/proxy/http/http2/grpc.js')
    expect(['1H', '2M', '3S', '250m', '1500u', '1n'].map(parseGrpcTimeout)).toEqual([3_600_000, 120_000, 3000, 250, 2, 1])
    expect(['', '10', '1s', '123456789m', '-1m', ' 1m'].map(parseGrpcTimeout)).toEqual([undefined, undefined, undefined, undefined, undefined, undefined])
    expect(parseGrpcTimeout(undefined)).toBeUndefined()
    expect([formatGrpcTimeout(249.2), formatGrpcTimeout(0), formatGrpcTimeout(200_000_000)]).toEqual(['250m', '1m', '200000S'])
  })
})
