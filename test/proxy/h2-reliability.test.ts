// HTTP/2 reliability on real sockets: retries of streams that failed before any response
// (REFUSED_STREAM, GOAWAY, connect failure) for any method, of 503s for idempotent or
// retryable requests, bodies replayed up to 64 KiB and not beyond, per-route timeouts (504
// and RST_STREAM CANCEL upstream), and the inbound side never retrying.
import http2 from 'node:http2'
import net from 'node:net'
import {afterEach, describe, expect, it} from 'vitest'
import type {ProxyConfig} from '../../src/proxy/config/config.js'
import {startProxy, type RunningProxy} from '../../src/proxy/server.js'
import {replayHeld, setReplayCap} from '../../src/proxy/http/http2/replay-body.js'
import {parseRoutes} from '../../src/proxy/config/route-policy.js'
import {eventually} from '../helpers/eventually.js'
import {closeServer, listenOn, quietLog, testConfig} from './helpers.js'

const {NGHTTP2_REFUSED_STREAM} = http2.constants

interface H2App {
  server: http2.Http2Server
  port: number
  /** Streams seen, and the body each carried. */
  streams: {method: string, path: string, body: string}[]
  /** Upstream cancellations seen (RST_STREAM from the proxy). */
  resets: number[]
}

type Behaviour = (stream: http2.ServerHttp2Stream, n: number, body: string) => void

const apps: H2App[] = []
let proxies: RunningProxy[] = []

/** An h2c server; `fail(n)` decides what the n-th stream (from 0) gets, else a 200 echo. */
async function h2App(behave: Behaviour = ok, onHeaders?: (stream: http2.ServerHttp2Stream, n: number) => boolean): Promise<H2App> {
  const app: H2App = {server: http2.createServer(), port: 0, streams: [], resets: []}
  app.server.on('stream', (stream, headers) => {
    const n = app.streams.length
    const seen = {method: String(headers[':method']), path: String(headers[':path']), body: ''}
    app.streams.push(seen)
    stream.on('close', () => { if (stream.rstCode) app.resets.push(stream.rstCode) })
    stream.on('error', () => {})
    if (onHeaders?.(stream, n)) return
    stream.on('data', (c: Buffer) => (seen.body += c.toString('latin1')))
    stream.on('end', () => behave(stream, n, seen.body))
  })
  app.port = await listenOn(app.server)
  apps.push(app)
  return app
}

function ok(stream: http2.ServerHttp2Stream, _n: number, body: string): void {
  if (stream.destroyed) return
  stream.respond({':status': 200})
  stream.end(`ok:${body.length}`)
}

async function outbound(routes: string, tweak: (c: ProxyConfig) => void = () => {}): Promise<RunningProxy> {
  const cfg = testConfig({}, routes)
  tweak(cfg)
  const p = await startProxy(cfg, {log: quietLog(), originalDst: null})
  proxies.push(p)
  return p
}

interface H2Result { status: number, headers: http2.IncomingHttpHeaders, body: string }

function h2(port: number, headers: http2.OutgoingHttpHeaders, body?: string | Buffer): Promise<H2Result> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${port}`)
    session.on('error', reject)
    const req = session.request({':authority': 'h2.local', ...headers}, {endStream: body === undefined})
    let out = ''
    let res: http2.IncomingHttpHeaders = {}
    req.on('response', (h) => (res = h))
    req.setEncoding('latin1')
    req.on('data', (c: string) => (out += c))
    req.on('end', () => { session.close(); resolve({status: Number(res[':status']), headers: res, body: out}) })
    req.on('error', (e) => { session.destroy(); reject(e) })
    if (body !== undefined) req.end(body)
  })
}

afterEach(async () => {
  await Promise.all(proxies.map((p) => p.close(100)))
  proxies = []
  for (const a of apps.splice(0)) await closeServer(a.server)
  // Every body copy kept for replay was given back, whatever the request's fate.
  expect(replayHeld()).toBe(0)
})

describe('HTTP/2 retries (outbound)', () => {
  it('retries streams refused with REFUSED_STREAM for any method, replaying the body', async () => {
    const app = await h2App(ok, (stream, n) => { if (n < 2) { stream.close(NGHTTP2_REFUSED_STREAM); return true } return false })
    const p = await outbound(`h2.local:80=127.0.0.1:${app.port}`)
    const r = await h2(p.ports.outbound, {':method': 'POST', ':path': '/pay'}, 'x'.repeat(1000))
    expect(r.status).toBe(200)
    expect(r.body).toBe('ok:1000')
    expect(app.streams).toHaveLength(3)
    expect(app.streams[2]).toEqual({method: 'POST', path: '/pay', body: 'x'.repeat(1000)})
    expect(p.stats.retries).toBe(2)
  })

  it('retries a stream the server refused with a GOAWAY (last stream 0), on a new session', async () => {
    let sessions = 0
    const app = await h2App()
    app.server.on('session', (session: http2.ServerHttp2Session) => {
      if (sessions++ === 0) session.goaway(http2.constants.NGHTTP2_NO_ERROR, 0)
    })
    const p = await outbound(`h2.local:80=127.0.0.1:${app.port}`)
    const r = await h2(p.ports.outbound, {':method': 'POST', ':path': '/g'}, 'body')
    expect(r.status).toBe(200)
    expect(r.body).toBe('ok:4')
    expect(app.streams).toEqual([{method: 'POST', path: '/g', body: 'body'}])
    expect(sessions).toBe(2)
    expect(p.stats.retries).toBe(1)
  })

  it('retries a connect failure on another endpoint, for a POST', async () => {
    const app = await h2App()
    const dead = net.createServer()
    const deadPort = await listenOn(dead)
    await closeServer(dead)
    const p = await outbound(`h2.local:80=127.0.0.1:${deadPort},127.0.0.1:${app.port}`, (c) => { c.failureAccrual.consecutiveFailures = 1000 })
    for (let i = 0; i < 10; i++) {
      const r = await h2(p.ports.outbound, {':method': 'POST', ':path': `/c${i}`}, 'hi')
      expect(r.status).toBe(200)
    }
    expect(app.streams).toHaveLength(10)
  })

  it('retries a 503 for GET and for a POST marked mesh-retryable, never for a plain POST', async () => {
    const paths = new Set<string>()
    const app = await h2App((stream, n, body) => {
      const path = app.streams[n].path
      if (!paths.has(path)) { paths.add(path); stream.respond({':status': 503}); stream.end('busy'); return }
      ok(stream, n, body)
    })
    const p = await outbound(`h2.local:80=127.0.0.1:${app.port}`)
    expect((await h2(p.ports.outbound, {':method': 'GET', ':path': '/a'})).status).toBe(200)
    expect(app.streams).toHaveLength(2)
    expect((await h2(p.ports.outbound, {':method': 'POST', ':path': '/b'}, 'data')).status).toBe(503)
    expect(app.streams).toHaveLength(3)
    const marked = await h2(p.ports.outbound, {':method': 'POST', ':path': '/c', 'mesh-retryable': 'true'}, 'data')
    expect(marked.status).toBe(200)
    expect(marked.body).toBe('ok:4')
    expect(app.streams).toHaveLength(5)
    expect(p.stats.retries).toBe(2)
  })

  it('does not retry a body larger than 64 KiB (it was not kept)', async () => {
    const app = await h2App((stream, n, body) => {
      if (n === 0) { stream.respond({':status': 503}); stream.end(); return }
      ok(stream, n, body)
    })
    const p = await outbound(`h2.local:80=127.0.0.1:${app.port}`)
    const big = await h2(p.ports.outbound, {':method': 'PUT', ':path': '/big'}, Buffer.alloc(70 * 1024, 1))
    expect(big.status).toBe(503)
    expect(app.streams).toHaveLength(1)
    expect(app.streams[0].body.length).toBe(70 * 1024)
    const small = await h2(p.ports.outbound, {':method': 'PUT', ':path': '/small'}, Buffer.alloc(60 * 1024, 1))
    expect(small.status).toBe(200)
    expect(small.body).toBe(`ok:${60 * 1024}`)
  })

  it('keeps no more than the process-wide cap for replay, and gives it all back', async () => {
    const paths = new Set<string>()
    const app = await h2App((stream, n, body) => {
      const path = app.streams[n].path
      if (!paths.has(path)) { paths.add(path); stream.respond({':status': 503}); stream.end(); return }
      ok(stream, n, body)
    })
    const p = await outbound(`h2.local:80=127.0.0.1:${app.port}`)
    const before = setReplayCap(50 * 1024)
    try {
      expect((await h2(p.ports.outbound, {':method': 'PUT', ':path': '/over-cap'}, Buffer.alloc(60 * 1024, 1))).status).toBe(503)
      expect((await h2(p.ports.outbound, {':method': 'PUT', ':path': '/under-cap'}, Buffer.alloc(40 * 1024, 1))).status).toBe(200)
    } finally {
      setReplayCap(before)
    }
    expect(app.streams.map((s) => s.path)).toEqual(['/over-cap', '/under-cap', '/under-cap'])
    expect(replayHeld()).toBe(0)
  })

  it('takes every retry from the budget (20 % of requests when the floor is 0)', async () => {
    const app = await h2App((stream) => { stream.respond({':status': 503}); stream.end() })
    const p = await outbound(`h2.local:80=127.0.0.1:${app.port}`, (c) => {
      c.retry.budgetMinPerSecond = 0
      c.failureAccrual.consecutiveFailures = 1_000_000
    })
    const statuses = await Promise.all(Array.from({length: 50}, (_, i) => h2(p.ports.outbound, {':path': `/b${i}`}).then((r) => r.status)))
    expect(statuses.every((s) => s === 503)).toBe(true)
    // Without a budget, 2 retries each would make 150 streams.
    expect(app.streams.length).toBeGreaterThanOrEqual(50)
    expect(app.streams.length).toBeLessThanOrEqual(61)
    expect(p.stats.retriesDenied).toBeGreaterThan(0)
  })

  it('follows the route: retries:0 turns them off, retry-on picks the statuses', async () => {
    const app = await h2App((stream, n, body) => {
      if (n === 0 || n === 1) { stream.respond({':status': 500}); stream.end(); return }
      ok(stream, n, body)
    })
    const r = await outbound(`h2.local:80=127.0.0.1:${app.port}`, (c) => { c.routes = parseRoutes('h2.local /none/=retries:0;h2.local=retry-on:500', 'test') })
    expect((await h2(r.ports.outbound, {':path': '/none/1'})).status).toBe(500)
    expect(app.streams).toHaveLength(1)
    expect((await h2(r.ports.outbound, {':path': '/x'})).status).toBe(200)
    expect(app.streams).toHaveLength(3)
  })
})

describe('HTTP/2 timeouts', () => {
  it('answers 504 at the route timeout and cancels the upstream stream', async () => {
    const app = await h2App(() => {})
    const p = await outbound(`h2.local:80=127.0.0.1:${app.port}`, (c) => { c.routes = parseRoutes('h2.local GET /slow=timeout:200ms', 'test') })
    const t0 = performance.now()
    const r = await h2(p.ports.outbound, {':path': '/slow/1'})
    expect(r.status).toBe(504)
    // The header says the route's timeout answered (the app never does): no upper bound.
    expect(r.headers['mesh-proxy-error']).toMatch(/within 200ms/)
    expect(performance.now() - t0).toBeGreaterThanOrEqual(195)
    await eventually('the upstream stream to be reset', () => (app.resets.length > 0 ? true : undefined))
    expect(app.resets).toEqual([http2.constants.NGHTTP2_CANCEL])
    expect(app.streams).toHaveLength(1)
  })
})

describe('HTTP/2 client cancel', () => {
  it('cancels the attempt in flight when the client resets before any response', async () => {
    const app = await h2App(() => {})
    const p = await outbound(`h2.local:80=127.0.0.1:${app.port}`)
    const session = http2.connect(`http://127.0.0.1:${p.ports.outbound}`)
    const req = session.request({':path': '/wait', ':authority': 'h2.local'})
    req.on('error', () => {})
    await eventually('the stream at the app', () => (app.streams.length > 0 ? true : undefined), {intervalMs: 20})
    expect(app.streams).toHaveLength(1)
    req.close(http2.constants.NGHTTP2_CANCEL)
    await eventually('the upstream stream to be reset', () => (app.resets.length > 0 ? true : undefined), {intervalMs: 20})
    session.close()
    expect(app.resets).toEqual([http2.constants.NGHTTP2_CANCEL])
    expect(app.streams).toHaveLength(1)
    expect(p.stats.retries).toBe(0)
  })
})

describe('the inbound side', () => {
  it('never retries, whatever the routes say (retries are the client proxy\'s)', async () => {
    const app = await h2App((stream) => { stream.respond({':status': 503}); stream.end() })
    const cfg = testConfig({inboundForward: {host: '127.0.0.1', port: app.port}})
    cfg.routes = parseRoutes('*=retries:3', 'test')
    const p = await startProxy(cfg, {log: quietLog(), originalDst: null})
    proxies.push(p)
    const r = await h2(p.ports.inbound, {':path': '/in'})
    expect(r.status).toBe(503)
    expect(app.streams).toHaveLength(1)
    expect(p.stats.retries).toBe(0)
  })
})
