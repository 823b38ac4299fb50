// Reliability on real sockets: retries (idempotent or marked retryable, connect failures),
// the retry budget, request timeouts, failure-accrual ejection, graceful shutdown under load.
import {spawn} from 'node:child_process'
import {once} from 'node:events'
import http from 'node:http'
import net from 'node:net'
import {afterEach, describe, expect, it} from 'vitest'
import type {ProxyConfig} from '../../src/proxy/config/config.js'
import type {RequestMeta} from '../../src/proxy/core/observe.js'
import {parseRoutes} from '../../src/proxy/config/route-policy.js'
import {startProxy, type RunningProxy} from '../../src/proxy/server.js'
import {eventually} from '../helpers/eventually.js'
import {closeServer, listenOn, quietLog, request, requestRecorder, startEchoApp, startPair, testConfig, type EchoApp} from './helpers.js'

let proxy: RunningProxy | undefined
const apps: EchoApp[] = []

async function app(handler?: Parameters<typeof startEchoApp>[0]): Promise<EchoApp> {
  const a = await startEchoApp(handler)
  apps.push(a)
  return a
}

async function outbound(routes: string, tweak: (c: ProxyConfig) => void = () => {}, seen?: RequestMeta[]): Promise<RunningProxy> {
  const cfg = testConfig({}, routes)
  tweak(cfg)
  proxy = await startProxy(cfg, {log: quietLog(), originalDst: null, observers: seen ? [requestRecorder(seen)] : []})
  return proxy
}

async function deadPort(): Promise<number> {
  const s = net.createServer()
  const port = await listenOn(s)
  await closeServer(s)
  return port
}

afterEach(async () => {
  await proxy?.close(100)
  proxy = undefined
  for (const a of apps.splice(0)) await closeServer(a.server)
})

describe('retries', () => {
  it('retries an idempotent request that got a 503, and succeeds', async () => {
    let n = 0
    const a = await app((_req, res) => { if (n++ === 0) { res.writeHead(503).end('busy'); return true } return false })
    const p = await outbound(`web.local:80=127.0.0.1:${a.port}`)
    const r = await request(p.ports.outbound, {path: '/r', headers: {host: 'web.local'}})
    expect(r.status).toBe(200)
    expect(a.requests).toBe(2)
    expect(p.stats.retries).toBe(1)
  })

  it('does not retry a POST on a 503 unless it is marked mesh-retryable', async () => {
    const a = await app((_req, res) => { if (a.requests === 1) { res.writeHead(503).end('busy'); return true } return false })
    const p = await outbound(`web.local:80=127.0.0.1:${a.port}`)
    const r = await request(p.ports.outbound, {method: 'POST', path: '/p', headers: {host: 'web.local', 'content-length': 4}, body: 'data'})
    expect(r.status).toBe(503)
    expect(a.requests).toBe(1)
    const r2 = await request(p.ports.outbound, {method: 'POST', path: '/p', headers: {host: 'web.local', 'mesh-retryable': 'true', 'content-length': 4}, body: 'data'})
    expect(r2.status).toBe(200)
    expect(JSON.parse(r2.body)).toMatchObject({body: 'data'})
    expect(JSON.parse(r2.body).headers['mesh-retryable']).toBeUndefined()
  })

  it('retries connect failures on another endpoint, for any method (the request never left)', async () => {
    const a = await app()
    const dead = await deadPort()
    const p = await outbound(`web.local:80=127.0.0.1:${dead},127.0.0.1:${a.port}`, (c) => { c.failureAccrual.consecutiveFailures = 1000 })
    for (let i = 0; i < 20; i++) {
      const r = await request(p.ports.outbound, {method: 'POST', path: `/c${i}`, headers: {host: 'web.local', 'content-length': 2}, body: 'hi'})
      expect(r.status).toBe(200)
    }
    expect(a.requests).toBe(20)
  })

  it('keeps retries within the budget (20 % of requests when the floor is 0)', async () => {
    const a = await app((_req, res) => { res.writeHead(503).end(); return true })
    const p = await outbound(`web.local:80=127.0.0.1:${a.port}`, (c) => {
      c.retry.budgetMinPerSecond = 0
      c.failureAccrual.consecutiveFailures = 1_000_000
    })
    const agent = new http.Agent({keepAlive: true, maxSockets: 4})
    await Promise.all(Array.from({length: 100}, () => request(p.ports.outbound, {path: '/b', headers: {host: 'web.local'}, agent})))
    agent.destroy()
    // Without a budget, 2 retries each would make 300 upstream requests.
    expect(a.requests).toBeGreaterThanOrEqual(100)
    expect(a.requests).toBeLessThanOrEqual(121)
    expect(p.stats.retriesDenied).toBeGreaterThan(0)
  })
  it('takes the retry of a stale pooled connection from the budget too', async () => {
    // Each upstream connection answers one request, then drops the next one it is sent, unread:
    // every request after the first meets a pooled connection the upstream has given up.
    let served = 0
    const upstream = net.createServer((s) => {
      let requests = 0
      s.on('data', () => {
        if (requests++ === 0) {
          served++
          s.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok')
        } else s.destroy()
      })
    })
    const port = await listenOn(upstream)
    try {
      const p = await outbound(`web.local:80=127.0.0.1:${port}`, (c) => {
        c.retry.budgetMinPerSecond = 0
        c.failureAccrual.consecutiveFailures = 1_000_000
      })
      const statuses: number[] = []
      for (let i = 0; i < 40; i++) statuses.push((await request(p.ports.outbound, {path: `/s${i}`, headers: {host: 'web.local'}})).status)
      // Without the budget every stale connection would be retried: 40 answers, 39 retries.
      expect(p.stats.retries).toBeLessThanOrEqual(9)
      expect(p.stats.retriesDenied).toBeGreaterThan(0)
      // A denied retry is the client's 502; every 200 is an upstream answer.
      expect(statuses.filter((s) => s === 502).length).toBe(p.stats.retriesDenied)
      expect(statuses.filter((s) => s === 200).length).toBe(served)
    } finally {
      await closeServer(upstream)
    }
  })
})

describe('retries happen on the outbound side only', () => {
  it('the inbound side answers a 503 as it is, even for a GET with retries configured', async () => {
    const a = await app((_req, res) => { res.writeHead(503).end('busy'); return true })
    const cfg = testConfig({inboundForward: {host: '127.0.0.1', port: a.port}})
    cfg.retry.limit = 3
    proxy = await startProxy(cfg, {log: quietLog(), originalDst: null})
    const r = await request(proxy.ports.inbound, {path: '/in', headers: {host: 'web.local'}})
    expect(r.status).toBe(503)
    expect(a.requests).toBe(1)
    expect(proxy.stats.retries).toBe(0)
  })

  it('through a pair, the client proxy retries and the server proxy does not', async () => {
    let n = 0
    const a = await app((_req, res) => { if (n++ === 0) { res.writeHead(503).end('busy'); return true } return false })
    const pair = await startPair('web.local:80', a.port)
    try {
      const r = await request(pair.client.ports.outbound, {path: '/pair', headers: {host: 'web.local'}})
      expect(r.status).toBe(200)
      expect(a.requests).toBe(2)
      expect(pair.client.stats.retries).toBe(1)
      expect(pair.server.stats.retries).toBe(0)
    } finally {
      await pair.close()
    }
  })
})

describe('timeouts', () => {
  it('answers 504 with mesh-proxy-error when the app is slower than the request timeout', async () => {
    const a = await app((_req, res) => { setTimeout(() => res.end('late'), 1500); return true })
    const p = await outbound(`web.local:80=127.0.0.1:${a.port}`, (c) => { c.requestTimeoutMs = 200; c.retry.limit = 0 })
    const t0 = performance.now()
    const r = await request(p.ports.outbound, {path: '/slow', headers: {host: 'web.local'}})
    expect(r.status).toBe(504)
    // The header names the timeout that answered (not the app's 1.5 s): no upper bound on the
    // machine's speed, only that it cannot answer before its timeout.
    expect(r.headers['mesh-proxy-error']).toMatch(/within 200ms/)
    expect(performance.now() - t0).toBeGreaterThanOrEqual(195)
  })

  it('answers 504 on time to requests still waiting for a connection (the pool connects at most 4 at once)', async () => {
    // An upstream that does not accept: its accept queue fills and further connects hang (SYNs
    // dropped). Requests under /hold (no timeout) take the connect slots; the next ones wait in
    // the pool for a connection, and their 300 ms timeout must answer them there.
    const stuck = spawn(process.execPath, ['-e', `
      const s = require('net').createServer().listen({port: 0, host: '127.0.0.1', backlog: 1}, () => {
        setTimeout(() => {
          console.log(s.address().port) // a synchronous write to a pipe: sent before it blocks
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20000)
        }, 50)
      })`], {stdio: ['ignore', 'pipe', 'inherit']})
    const holders: http.ClientRequest[] = []
    const seen: RequestMeta[] = []
    try {
      const [line] = await once(stuck.stdout!, 'data') as [Buffer]
      const p = await outbound(`web.local:80=127.0.0.1:${Number(line.toString())}`, (c) => {
        c.requestTimeoutMs = 300
        c.routes = parseRoutes('web.local /hold=timeout:0', 'test routes')
        c.limits.connectTimeoutMs = 8000
        c.retry.limit = 0
        c.failureAccrual.consecutiveFailures = 1000
      }, seen)
      for (let i = 0; i < 8; i++) {
        const h = http.get({port: p.ports.outbound, host: '127.0.0.1', path: `/hold${i}`, headers: {host: 'web.local'}})
        h.on('error', () => {})
        holders.push(h)
      }
      // The holders are in the proxy (and so hold the connect slots) before the others come.
      await eventually('the 8 holding requests in the proxy', () => (seen.length >= 8 ? true : undefined))
      const rs = await Promise.all(Array.from({length: 6}, (_, i) => request(p.ports.outbound, {path: `/w${i}`, headers: {host: 'web.local'}})))
      expect(rs.map((r) => r.status)).toEqual(Array(6).fill(504))
      // Answered by their own 300 ms timeout while waiting in the pool, not by the held
      // connects' 8 s connect timeout (which would say so): no bound on the machine's speed.
      for (const r of rs) expect(r.headers['mesh-proxy-error']).toMatch(/within 300ms/)
    } finally {
      for (const h of holders) h.destroy()
      stuck.kill('SIGKILL')
    }
  })
})

describe('failure accrual', () => {
  it('ejects an endpoint after consecutive failures and sends traffic to the healthy one', async () => {
    const bad = await app((_req, res) => { res.writeHead(500).end('broken'); return true })
    const good = await app()
    const p = await outbound(`web.local:80=127.0.0.1:${bad.port},127.0.0.1:${good.port}`, (c) => {
      c.retry.limit = 0
      c.failureAccrual = {consecutiveFailures: 3, backoffMinMs: 30_000, backoffMaxMs: 60_000}
    })
    const statuses: number[] = []
    for (let i = 0; i < 60; i++) statuses.push((await request(p.ports.outbound, {path: '/e', headers: {host: 'web.local'}})).status)
    expect(bad.requests).toBeLessThanOrEqual(3)
    expect(statuses.filter((s) => s === 500).length).toBe(bad.requests)
    expect(statuses.slice(-40).every((s) => s === 200)).toBe(true)
  })

  it('fails fast with 503 when every endpoint is ejected', async () => {
    const dead = await deadPort()
    const p = await outbound(`web.local:80=127.0.0.1:${dead}`, (c) => {
      c.retry.limit = 0
      c.failureAccrual = {consecutiveFailures: 2, backoffMinMs: 30_000, backoffMaxMs: 60_000}
    })
    const first = await request(p.ports.outbound, {path: '/', headers: {host: 'web.local'}})
    expect(first.status).toBe(502)
    await request(p.ports.outbound, {path: '/', headers: {host: 'web.local'}})
    const r = await request(p.ports.outbound, {path: '/', headers: {host: 'web.local'}})
    expect(r.status).toBe(503)
    expect(r.headers['mesh-proxy-error']).toMatch(/ejected/)
  })
})

describe('graceful shutdown', () => {
  it('lets in-flight requests finish, refuses new connections, and resolves', async () => {
    const a = await app((_req, res) => { setTimeout(() => res.end('done'), 500); return true })
    const p = await outbound(`web.local:80=127.0.0.1:${a.port}`)
    const agent = new http.Agent({keepAlive: true})
    const inflight = Array.from({length: 20}, (_, i) => request(p.ports.outbound, {path: `/g${i}`, headers: {host: 'web.local'}, agent}))
    // In flight = reached the app (connections still in the kernel's accept queue are reset
    // when the listener closes, as with any server).
    await eventually('20 requests at the app', () => (a.requests >= 20 ? true : undefined))
    expect(a.requests).toBe(20)
    const closed = p.close(5000)
    const results = await Promise.all(inflight)
    expect(results.every((r) => r.status === 200 && r.body === 'done')).toBe(true)
    expect(results.every((r) => r.headers.connection === 'close')).toBe(true)
    const refused = await request(p.ports.outbound, {path: '/late', headers: {host: 'web.local'}}).then(() => 'served', (e: NodeJS.ErrnoException) => e.code)
    expect(refused).toBe('ECONNREFUSED')
    expect(await closed).toEqual({forced: 0})
    agent.destroy()
    proxy = undefined
  })

  it('closes its idle upstream connections when it stops (none left to keep the process up)', async () => {
    const a = await app()
    const open = new Set<net.Socket>()
    a.server.on('connection', (s: net.Socket) => {
      open.add(s)
      s.once('close', () => open.delete(s))
    })
    const p = await outbound(`web.local:80=127.0.0.1:${a.port}`)
    for (let i = 0; i < 3; i++) expect((await request(p.ports.outbound, {path: `/k${i}`, headers: {host: 'web.local'}})).status).toBe(200)
    // The proxy keeps one connection to the app alive for the next request.
    expect(a.connections).toBe(1)
    expect(open.size).toBe(1)
    expect(await p.close(1000)).toEqual({forced: 0})
    proxy = undefined
    await eventually('the app to see its last connection close', () => (open.size === 0 ? true : undefined))
  })

  it('cuts what is still running when the grace period ends', async () => {
    const a = await app((_req, res) => { setTimeout(() => res.end('too late'), 3000); return true })
    const p = await outbound(`web.local:80=127.0.0.1:${a.port}`)
    const pending = request(p.ports.outbound, {path: '/long', headers: {host: 'web.local'}}).then(() => 'served', () => 'cut')
    await eventually('the request at the app', () => (a.requests >= 1 ? true : undefined))
    // Cut at the end of the grace period, not served when the app answers (3 s): forced and cut
    // say so, with no bound on the machine's speed.
    expect(await p.close(300)).toEqual({forced: 1})
    expect(await pending).toBe('cut')
    proxy = undefined
  })
})
