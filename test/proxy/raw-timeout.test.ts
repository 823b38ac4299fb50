// Request timeouts on the raw HTTP/1 codec, side by side with the node codec: a proxy pair of
// each (the codec is read when a side's server is built), the same routes and the same slow
// app; the raw pair must answer as the node pair does (504, mesh-proxy-error, observer events)
// and keep the requests on the raw path.
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import type {Observer, RequestMeta, ResponseEndMeta} from '../../src/proxy/core/observe.js'
import {rawCounts} from '../../src/proxy/http/http1/raw/conn.js'
import {parseRoutes} from '../../src/proxy/config/route-policy.js'
import {closeServer, request, startEchoApp, startPair, type EchoApp, type Pair, type SimpleResponse} from './helpers.js'

const ROUTES = 'web.local GET /slow=timeout:300ms;web.local POST /slowpost=timeout:300ms,retries:0;web.local GET /headfirst=timeout:300ms;web.local GET /twice=timeout:600ms,retries:2'

interface Seen { path: string, init?: number, end?: ResponseEndMeta }

function recorder(): {observer: Observer, seen: Seen[]} {
  const seen: Seen[] = []
  const find = (m: RequestMeta): Seen | undefined => seen.find((s) => s.path === m.path && s.end === undefined)
  return {
    seen,
    observer: {
      requestInit: (m) => { seen.push({path: m.path}) },
      responseInit: (m, status) => { const s = find(m); if (s) s.init = status },
      responseEnd: (m, end) => { const s = find(m); if (s) s.end = {...end} },
      tcpOpen: () => {},
      tcpClose: () => {},
    },
  }
}

describe('request timeouts: raw codec answers as the node codec', () => {
  let app: EchoApp
  let twiceAttempts = 0
  const pairs: Record<'node' | 'raw', {pair: Pair, seen: Seen[]}> = {} as never
  const saved = process.env.MESH_PROXY_HTTP1_CODEC

  beforeAll(async () => {
    app = await startEchoApp((req, res) => {
      if (req.url === '/twice') twiceAttempts++
      if (req.url === '/slow' || req.url === '/slowpost' || req.url === '/twice') {
        setTimeout(() => { if (!res.destroyed) res.end('late') }, 1500)
        return true
      }
      if (req.url === '/headfirst') {
        // The head at once, the body after the route's timeout: the timer must be off by then.
        res.writeHead(200, {'content-type': 'text/plain', 'content-length': 4})
        res.flushHeaders()
        setTimeout(() => { if (!res.destroyed) res.end('done') }, 700)
        return true
      }
      return false
    })
    for (const codec of ['node', 'raw'] as const) {
      process.env.MESH_PROXY_HTTP1_CODEC = codec
      const r = recorder()
      const pair = await startPair('web.local:80', app.port, (c) => { c.routes = parseRoutes(ROUTES, 'test') }, {client: {observers: [r.observer]}})
      pairs[codec] = {pair, seen: r.seen}
    }
  })
  afterAll(async () => {
    for (const p of Object.values(pairs)) await p.pair.close()
    await closeServer(app.server)
    if (saved === undefined) delete process.env.MESH_PROXY_HTTP1_CODEC
    else process.env.MESH_PROXY_HTTP1_CODEC = saved
  })

  async function timed(codec: 'node' | 'raw', path: string, method = 'GET', body?: string): Promise<{r: SimpleResponse, ms: number, handovers: number}> {
    const before = rawCounts.handovers
    const t0 = performance.now()
    const r = await request(pairs[codec].pair.client.ports.outbound, {method, path, headers: {host: 'web.local', ...(body ? {'content-length': Buffer.byteLength(body)} : {})}, body})
    return {r, ms: performance.now() - t0, handovers: rawCounts.handovers - before}
  }

  /** The answer without the upstream's port (each pair has its own). */
  const shape = (r: SimpleResponse): unknown => ({status: r.status, error: String(r.headers['mesh-proxy-error']).replace(/:\d+/, ':PORT'), type: r.headers['content-type']})

  it('answers 504 with mesh-proxy-error when the route timeout passes before the response head, on the raw path', async () => {
    const node = await timed('node', '/slow')
    const raw = await timed('raw', '/slow')
    expect(raw.r.status).toBe(504)
    expect(raw.r.headers['mesh-proxy-error']).toMatch(/^no response from 127\.0\.0\.1:\d+ within 300ms$/)
    expect(shape(raw.r)).toEqual(shape(node.r))
    expect(raw.r.body).toBe(node.r.body.replace(/:\d+/, raw.r.body.match(/:\d+/)![0]))
    // Not before the timeout; the header says the route's timeout answered, not the app (1.5 s).
    expect(raw.ms).toBeGreaterThanOrEqual(280)
    expect(raw.handovers).toBe(0)
  })

  it('times out a POST whose body went upstream, on the raw path, as the node codec does', async () => {
    const node = await timed('node', '/slowpost', 'POST', 'amount=5')
    const raw = await timed('raw', '/slowpost', 'POST', 'amount=5')
    expect(raw.r.status).toBe(504)
    expect(shape(raw.r)).toEqual(shape(node.r))
    expect(raw.handovers).toBe(0)
  })

  it('clears the timer on the response head: a body slower than the timeout arrives whole', async () => {
    // (Raw pair only: the node codec's inbound proxy holds a relayed head until the first body
    // bytes, so through a node pair the client proxy sees no head before its timeout.)
    const {r, ms} = await timed('raw', '/headfirst')
    expect({status: r.status, body: r.body}).toEqual({status: 200, body: 'done'})
    expect(ms).toBeGreaterThanOrEqual(650)
  })

  it('bounds all attempts together: the timeout is not restarted per retry', async () => {
    const before = twiceAttempts
    const raw = await timed('raw', '/twice')
    expect(raw.r.status).toBe(504)
    expect(raw.r.headers['mesh-proxy-error']).toMatch(/within 600ms$/)
    // One attempt reached the app: a timer restarted per retry would have sent the retries
    // (retries:2) after it expired. Counted, not timed.
    expect(twiceAttempts - before).toBe(1)
  })

  it('reports the same observer events (tap, metrics) for a timed-out request', () => {
    const ev = (codec: 'node' | 'raw') => pairs[codec].seen.filter((s) => s.path === '/slow').map((s) => ({init: s.init, end: s.end}))
    expect(ev('raw')).toEqual([{init: 504, end: {status: 504, responseBytes: 0}}])
    expect(ev('raw')).toEqual(ev('node'))
  })
})
