// Retry safety (issue 19): a request that may have reached the application is retried only when
// it is idempotent or marked retryable. The app here processes a request (reads it whole) and
// then drops the connection without answering, the shape that made the proxy replay POSTs on a
// reused connection. A POST is never sent twice; a GET, or a POST marked `mesh-retryable: true`,
// is. HTTP/1 on both codecs (MESH_PROXY_HTTP1_CODEC), fresh and reused connections, the outbound
// side and the pair (the inbound side's stale-connection retry); HTTP/2 the same way. The other
// half of the rule (any method when the request provably never left: a connect failure,
// REFUSED_STREAM, GOAWAY) is in reliability.test.ts and h2-reliability.test.ts.
import http from 'node:http'
import http2 from 'node:http2'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {startProxy, type RunningProxy} from '../../src/proxy/server.js'
import {closeServer, listenOn, quietLog, request, startPair, testConfig, type Pair} from './helpers.js'

/** Counts requests by path; `/drop/*` is read whole, then its connection dropped unanswered (the first time only for `/drop-once/*`). */
async function droppingApp(): Promise<{server: http.Server, port: number, count: Map<string, number>}> {
  const count = new Map<string, number>()
  const server = http.createServer((req, res) => {
    const path = req.url ?? ''
    const n = (count.get(path) ?? 0) + 1
    count.set(path, n)
    req.resume()
    req.on('end', () => {
      if (path.startsWith('/drop/') || (path.startsWith('/drop-once/') && n === 1)) {
        req.socket.destroy()
        return
      }
      res.writeHead(200, {'content-type': 'text/plain'})
      res.end(`ok ${path}`)
    })
  })
  return {server, port: await listenOn(server), count}
}

describe('HTTP/1: a request that may have been processed is not replayed unless it is safe to', () => {
  let app: Awaited<ReturnType<typeof droppingApp>>
  let outbound: RunningProxy
  let pair: Pair
  const agent = new http.Agent({keepAlive: true, maxSockets: 1})
  beforeAll(async () => {
    app = await droppingApp()
    outbound = await startProxy(testConfig({}, `web.local:80=127.0.0.1:${app.port}`), {log: quietLog(), originalDst: null})
    pair = await startPair('web.local:80', app.port)
  })
  afterAll(async () => {
    agent.destroy()
    await Promise.all([outbound?.close(100), pair?.close()])
    await closeServer(app?.server)
  })

  const post = (port: number, path: string, headers: Record<string, string> = {}): ReturnType<typeof request> =>
    request(port, {method: 'POST', path, headers: {host: 'web.local', 'content-length': '7', ...headers}, body: 'payment', agent})

  for (const [name, slug, port] of [['the outbound side', 'out', (): number => outbound.ports.outbound], ['a pair', 'pair', (): number => pair.client.ports.outbound]] as const) {
    it(`sends a processed POST once, on a fresh and on a reused connection (${name})`, async () => {
      const fresh = await post(port(), `/drop/fresh-${slug}`)
      expect(fresh.status).toBe(502)
      expect(fresh.headers['mesh-proxy-error']).toBeDefined()
      expect(app.count.get(`/drop/fresh-${slug}`)).toBe(1)
      // Warm the pools (the proxy's upstream connections are reused from here on).
      for (let i = 0; i < 3; i++) expect((await request(port(), {path: `/warm/${i}`, headers: {host: 'web.local'}, agent})).status).toBe(200)
      const reused = await post(port(), `/drop/reused-${slug}`)
      expect(reused.status).toBe(502)
      expect(app.count.get(`/drop/reused-${slug}`)).toBe(1)
      // Without a body (a POST whose parameters are in its target): replayable, still not replayed.
      for (let i = 0; i < 3; i++) expect((await request(port(), {path: `/warm3/${i}`, headers: {host: 'web.local'}, agent})).status).toBe(200)
      const bodyless = await request(port(), {method: 'POST', path: `/drop/bodyless-${slug}?amount=10`, headers: {host: 'web.local', 'content-length': '0'}, agent})
      expect(bodyless.status).toBe(502)
      expect(app.count.get(`/drop/bodyless-${slug}?amount=10`)).toBe(1)
    })

    it(`retries a GET and a POST marked retryable that were dropped the same way (${name})`, async () => {
      for (let i = 0; i < 3; i++) expect((await request(port(), {path: `/warm2/${i}`, headers: {host: 'web.local'}, agent})).status).toBe(200)
      const get = await request(port(), {path: `/drop-once/get-${slug}`, headers: {host: 'web.local'}, agent})
      expect(get.status).toBe(200)
      expect(app.count.get(`/drop-once/get-${slug}`)).toBe(2)
      const marked = await post(port(), `/drop-once/marked-${slug}`, {'mesh-retryable': 'true'})
      expect(marked.status).toBe(200)
      expect(app.count.get(`/drop-once/marked-${slug}`)).toBe(2)
    })
  }
})

describe('HTTP/2: a stream the app processed, then reset, is not replayed unless it is safe to', () => {
  let app: http2.Http2Server
  let appPort: number
  const count = new Map<string, number>()
  let outbound: RunningProxy
  let client: http2.ClientHttp2Session
  beforeAll(async () => {
    app = http2.createServer()
    app.on('stream', (s, h) => {
      const path = String(h[':path'])
      count.set(path, (count.get(path) ?? 0) + 1)
      s.on('error', () => {})
      s.resume()
      s.on('end', () => {
        if (path.startsWith('/drop/') || (path.startsWith('/drop-once/') && count.get(path) === 1)) s.close(http2.constants.NGHTTP2_INTERNAL_ERROR)
        else {
          s.respond({':status': 200})
          s.end(`ok ${path}`)
        }
      })
    })
    await new Promise<void>((r) => app.listen(0, '127.0.0.1', r))
    appPort = (app.address() as {port: number}).port
    outbound = await startProxy(testConfig({}, `web.local:80=127.0.0.1:${appPort}`), {log: quietLog(), originalDst: null})
    client = http2.connect(`http://127.0.0.1:${outbound.ports.outbound}`)
  })
  afterAll(async () => {
    client?.close()
    await outbound?.close(100)
    await new Promise((r) => app.close(r))
  })

  const send = (method: string, path: string, headers: Record<string, string> = {}): Promise<number> => new Promise((resolve, reject) => {
    const s = client.request({':method': method, ':path': path, ':authority': 'web.local', ...headers})
    s.on('response', (h) => resolve(Number(h[':status'])))
    s.on('error', reject)
    s.resume()
    s.end(method === 'POST' ? 'payment' : undefined)
  })

  it('sends a processed POST once; retries a GET and a marked POST', async () => {
    expect(await send('POST', '/drop/h2-post')).toBe(502)
    expect(count.get('/drop/h2-post')).toBe(1)
    expect(await send('GET', '/drop-once/h2-get')).toBe(200)
    expect(count.get('/drop-once/h2-get')).toBe(2)
    expect(await send('POST', '/drop-once/h2-marked', {'mesh-retryable': 'true'})).toBe(200)
    expect(count.get('/drop-once/h2-marked')).toBe(2)
  })
})
