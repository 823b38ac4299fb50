// Per-route policy on HTTP/1 through a real proxy pair (client proxy outbound -> server proxy
// inbound -> app): a route's timeout, a route that turns retries off, a route's retry-on
// statuses and a route marked retryable for POST; other routes keep the defaults.
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {parseRoutes} from '../../src/proxy/config/route-policy.js'
import {closeServer, request, startEchoApp, startPair, type EchoApp, type Pair} from './helpers.js'

describe('HTTP/1 per-route policy through a proxy pair', () => {
  let app: EchoApp
  let pair: Pair
  const seen = new Map<string, number>()
  beforeAll(async () => {
    app = await startEchoApp((req, res) => {
      const path = req.url ?? '/'
      const n = (seen.get(path) ?? 0) + 1
      seen.set(path, n)
      if (path.startsWith('/slow')) { setTimeout(() => { if (!res.destroyed) res.end('late') }, 1500); return true }
      // Every path fails its first request: 503, or 500 under /five/.
      if (n === 1) { res.writeHead(path.startsWith('/five/') ? 500 : 503).end('first'); return true }
      return false
    })
    pair = await startPair('web.local:80', app.port, (c) => {
      c.routes = parseRoutes('web.local GET /slow=timeout:200ms;web.local /once/=retries:0;web.local /five/=retry-on:500;web.local POST /pay=retryable:true', 'test')
    })
  })
  afterAll(async () => {
    await pair.close()
    await closeServer(app.server)
  })

  const get = (path: string, method = 'GET', body?: string) => request(pair.client.ports.outbound, {method, path, headers: {host: 'web.local', ...(body ? {'content-length': Buffer.byteLength(body)} : {})}, body})

  it('times out the route that says so with 504 and mesh-proxy-error', async () => {
    const t0 = performance.now()
    const r = await get('/slow/1')
    expect(r.status).toBe(504)
    expect(r.headers['mesh-proxy-error']).toMatch(/within 200ms/)
    // The route's own timeout answered (the header says which), not the app: no bound on the
    // machine's speed, only that it cannot answer before the timeout.
    expect(performance.now() - t0).toBeGreaterThanOrEqual(195)
  })

  it('does not retry on a route with retries:0, and does on the default route', async () => {
    expect((await get('/once/a')).status).toBe(503)
    expect(seen.get('/once/a')).toBe(1)
    expect((await get('/other')).status).toBe(200)
    expect(seen.get('/other')).toBe(2)
  })

  it('retries the statuses a route names (500), which the default does not', async () => {
    expect((await get('/five/x')).status).toBe(200)
    expect(seen.get('/five/x')).toBe(2)
  })

  it('retries a POST on a route marked retryable, replaying its body; a POST elsewhere is not retried', async () => {
    const r = await get('/pay/1', 'POST', 'amount=5')
    expect(r.status).toBe(200)
    expect(JSON.parse(r.body)).toMatchObject({method: 'POST', body: 'amount=5'})
    expect(seen.get('/pay/1')).toBe(2)
    expect((await get('/order/1', 'POST', 'x')).status).toBe(503)
    expect(seen.get('/order/1')).toBe(1)
    expect(pair.server.stats.retries).toBe(0)
  })
})
