// HTTP/1.1 through a proxy pair (outbound -> inbound -> app) on real sockets: curl and Node
// clients, keep-alive, chunked bodies, pipelining, absolute-form, CONNECT, WebSocket, fail-fast.
import {execFile} from 'node:child_process'
import http from 'node:http'
import net from 'node:net'
import {promisify} from 'node:util'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import WebSocket, {WebSocketServer} from 'ws'
import {eventually} from '../helpers/eventually.js'
import {closeServer, listenOn, rawExchange, request, startEchoApp, startPair, type EchoApp, type Pair} from './helpers.js'

const exec = promisify(execFile)

describe('HTTP/1.1 through the proxy pair', () => {
  let app: EchoApp
  let pair: Pair
  let out: number

  beforeAll(async () => {
    app = await startEchoApp((req, res) => {
      if (req.url === '/chunked') {
        res.writeHead(200, {'content-type': 'text/plain'})
        let i = 0
        const tick = (): void => { if (i++ < 5) { res.write(`part${i};`); setImmediate(tick) } else res.end('done') }
        tick()
        return true
      }
      if (req.url === '/gzip-te') {
        // (the body is not really gzip: only the framing and the header are under test)
        res.writeHead(200, {'transfer-encoding': 'gzip, chunked'})
        res.end('zz')
        return true
      }
      if (req.url === '/trailers') {
        // A chunked response with trailers; the request's own trailers are echoed in them.
        res.writeHead(200, {'content-type': 'text/plain', trailer: 'x-checksum, x-request-trailer'})
        res.write('body-')
        res.addTrailers({'x-checksum': 'abc123', 'x-request-trailer': String(req.trailers['x-sent'] ?? 'none')})
        res.end('end')
        return true
      }
      return false
    })
    pair = await startPair('web.local:80', app.port)
    out = pair.client.ports.outbound
  })
  afterAll(async () => {
    await pair.close()
    await closeServer(app.server)
  })

  it('curl with HTTP_PROXY (absolute-form) reaches the app with its Host and path', async () => {
    const {stdout} = await exec('curl', ['-sS', '--max-time', '5', '-x', `http://127.0.0.1:${out}`, 'http://web.local/hello?x=1'])
    const seen = JSON.parse(stdout)
    expect(seen.url).toBe('/hello?x=1')
    expect(seen.headers.host).toBe('web.local')
    expect(seen.headers['proxy-connection']).toBeUndefined()
  })

  it('origin-form with a Host header is routed by authority', async () => {
    const r = await request(out, {path: '/a', headers: {host: 'web.local:80'}})
    expect(r.status).toBe(200)
    expect(JSON.parse(r.body).url).toBe('/a')
  })

  it('keeps connections alive: many requests reuse few upstream connections', async () => {
    const agent = new http.Agent({keepAlive: true, maxSockets: 1})
    const before = app.connections
    for (let i = 0; i < 20; i++) {
      const r = await request(out, {path: `/k${i}`, headers: {host: 'web.local'}, agent})
      expect(r.status).toBe(200)
    }
    agent.destroy()
    expect(app.connections - before).toBeLessThanOrEqual(2)
  })

  it('carries a large chunked request body and a chunked response', async () => {
    const body = Buffer.alloc(300_000, 'x')
    const r = await new Promise<{status: number, body: string}>((resolve, reject) => {
      const req = http.request({host: '127.0.0.1', port: out, method: 'POST', path: '/upload', headers: {host: 'web.local', 'transfer-encoding': 'chunked'}}, (res) => {
        let b = ''
        res.on('data', (c: Buffer) => (b += c))
        res.on('end', () => resolve({status: res.statusCode!, body: b}))
      })
      req.on('error', reject)
      for (let i = 0; i < 3; i++) req.write(body.subarray(i * 100_000, (i + 1) * 100_000))
      req.end()
    })
    expect(r.status).toBe(200)
    expect(JSON.parse(r.body).bodyLength).toBe(300_000)
    const c = await request(out, {path: '/chunked', headers: {host: 'web.local'}})
    expect(c.headers['transfer-encoding']).toBe('chunked')
    expect(c.body).toBe('part1;part2;part3;part4;part5;done')
  })

  it('carries response trailers and request trailers (Node client)', async () => {
    const r = await new Promise<{body: string, trailers: NodeJS.Dict<string>, te?: string}>((resolve, reject) => {
      const req = http.request({host: '127.0.0.1', port: out, method: 'POST', path: '/trailers', headers: {host: 'web.local', 'transfer-encoding': 'chunked', trailer: 'x-sent'}}, (res) => {
        let body = ''
        res.on('data', (c: Buffer) => (body += c))
        res.on('end', () => resolve({body, trailers: res.trailers, te: res.headers['transfer-encoding']}))
      })
      req.on('error', reject)
      req.write('payload')
      req.addTrailers({'x-sent': 'from-client'})
      req.end()
    })
    expect(r.body).toBe('body-end')
    expect(r.te).toBe('chunked')
    expect(r.trailers).toEqual({'x-checksum': 'abc123', 'x-request-trailer': 'from-client'})
  })

  it('carries trailers on the wire (raw socket), with the Trailer header', async () => {
    const text = await rawExchange(out, 'GET /trailers HTTP/1.1\r\nHost: web.local\r\nConnection: close\r\n\r\n', 3000)
    expect(text).toMatch(/^HTTP\/1\.1 200/)
    expect(text).toMatch(/\r\ntrailer: x-checksum, x-request-trailer\r\n/i)
    // last chunk, then the trailer fields, then the empty line
    expect(text).toMatch(/\r\n0\r\nx-checksum: abc123\r\nx-request-trailer: none\r\n\r\n$/i)
  })

  it('keeps the framing of a chunked body on a GET (the next request on the connection is intact)', async () => {
    const two = 'GET /g1 HTTP/1.1\r\nHost: web.local\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n' +
      'GET /g2 HTTP/1.1\r\nHost: web.local\r\nConnection: close\r\n\r\n'
    const text = await rawExchange(out, two, 3000)
    const seen = [...text.matchAll(/\{"method".*?"bodyLength":(\d+)/g)].map((m) => Number(m[1]))
    expect(text.match(/"url":"(\/g\d)"/g)).toEqual(['"url":"/g1"', '"url":"/g2"'])
    expect(seen).toEqual([5, 0])
  })

  it('keeps the other transfer codings of a chunked body (gzip, chunked) both ways', async () => {
    const text = await rawExchange(out, 'POST /te HTTP/1.1\r\nHost: web.local\r\nTransfer-Encoding: gzip, chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n0\r\n\r\n', 3000)
    const seen = JSON.parse(text.slice(text.indexOf('{'), text.lastIndexOf('}') + 1))
    expect(seen.headers['transfer-encoding']).toBe('gzip, chunked')
    expect(seen.bodyLength).toBe(3)
    const gz = await rawExchange(out, 'GET /gzip-te HTTP/1.1\r\nHost: web.local\r\nConnection: close\r\n\r\n', 3000)
    expect(gz).toMatch(/\r\ntransfer-encoding: gzip, chunked\r\n/i)
    expect(gz).toMatch(/\r\n\r\n2\r\nzz\r\n0\r\n\r\n$/)
  })

  it('answers pipelined requests in order on one connection', async () => {
    const reqs = ['/p1', '/p2', '/p3'].map((p) => `GET ${p} HTTP/1.1\r\nHost: web.local\r\n\r\n`).join('')
    const text = await rawExchange(out, reqs + 'GET /p4 HTTP/1.1\r\nHost: web.local\r\nConnection: close\r\n\r\n', 3000)
    const urls = [...text.matchAll(/"url":"(\/p\d)"/g)].map((m) => m[1])
    expect(urls).toEqual(['/p1', '/p2', '/p3', '/p4'])
  })

  it('fails fast with 503 and mesh-proxy-error when a service has no endpoints', async () => {
    const r = await exec('curl', ['-sS', '-i', '--max-time', '5', '-x', `http://127.0.0.1:${out}`, 'http://nowhere.invalid/'], {}).catch((e: {stdout: string}) => e)
    // Unknown authorities go direct; nowhere.invalid does not resolve: 502 from the proxy.
    expect(r.stdout).toMatch(/^HTTP\/1\.1 502/)
    expect(r.stdout).toMatch(/mesh-proxy-error: connecting to nowhere\.invalid:80/i)
  })

  it('tunnels CONNECT to the routed authority (curl -p)', async () => {
    const {stdout} = await exec('curl', ['-sS', '--max-time', '5', '-p', '-x', `http://127.0.0.1:${out}`, 'http://web.local:80/tunneled'])
    expect(JSON.parse(stdout).url).toBe('/tunneled')
  })

  it('carries a WebSocket upgrade end to end', async () => {
    const wss = new WebSocketServer({port: 0, host: '127.0.0.1'})
    await new Promise((r) => wss.once('listening', r))
    wss.on('connection', (ws) => ws.on('message', (m) => ws.send(`echo:${String(m)}`)))
    const wsPort = (wss.address() as net.AddressInfo).port
    const wsPair = await startPair('ws.local:80', wsPort)
    try {
      const ws = new WebSocket(`ws://ws.local/chat`, {createConnection: () => net.connect(wsPair.client.ports.outbound, '127.0.0.1')})
      await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject) })
      const replies: string[] = []
      const got = new Promise<void>((resolve) => ws.on('message', (m) => { replies.push(String(m)); if (replies.length === 3) resolve() }))
      for (const m of ['a', 'b', 'c']) ws.send(m)
      await got
      expect(replies).toEqual(['echo:a', 'echo:b', 'echo:c'])
      ws.close()
    } finally {
      await wsPair.close()
      await new Promise((r) => wss.close(r))
    }
  })
})

describe('HTTP/1.1 retries belong to the outbound side', () => {
  it('the inbound proxy alone does not retry a 503 from the app', async () => {
    const {testConfig, quietLog} = await import('./helpers.js')
    const {startProxy} = await import('../../src/proxy/server.js')
    const app = await startEchoApp((_req, res) => { res.writeHead(503).end('busy'); return true })
    const p = await startProxy(testConfig({inboundForward: {host: '127.0.0.1', port: app.port}}), {log: quietLog(), originalDst: null})
    try {
      const r = await request(p.ports.inbound, {path: '/once', headers: {host: 'web.local'}})
      expect(r.status).toBe(503)
      expect(r.body).toBe('busy')
      expect(app.requests).toBe(1)
      expect(p.stats.retries).toBe(0)
    } finally {
      await p.close(100)
      await closeServer(app.server)
    }
  })

  it('the pair retries a 503 once, on the outbound side only', async () => {
    let n = 0
    const app = await startEchoApp((_req, res) => { if (n++ === 0) { res.writeHead(503).end('busy'); return true } return false })
    const pair = await startPair('web.local:80', app.port)
    try {
      const r = await request(pair.client.ports.outbound, {path: '/r', headers: {host: 'web.local'}})
      expect(r.status).toBe(200)
      expect(app.requests).toBe(2)
      expect(pair.client.stats.retries).toBe(1)
      expect(pair.server.stats.retries).toBe(0)
    } finally {
      await pair.close()
      await closeServer(app.server)
    }
  })

  it('clients that give up do not get the endpoint ejected', async () => {
    const app = await startEchoApp((req, res) => {
      if (req.url === '/slow') { setTimeout(() => { if (!res.destroyed) res.end('late') }, 2000).unref(); return true }
      return false
    })
    const pair = await startPair('web.local:80', app.port)
    try {
      // More abandoned requests than the failure accrual's 7 consecutive failures.
      for (let i = 0; i < 10; i++) {
        await new Promise<void>((resolve) => {
          const req = http.request({host: '127.0.0.1', port: pair.client.ports.outbound, path: '/slow', headers: {host: 'web.local'}, agent: false}, (res) => {
            res.resume()
            resolve() // an answer before the app saw the request: the proxy refused it
          })
          req.on('error', () => resolve())
          req.end()
          const deadline = Date.now() + 2000
          const wait = (): void => { if (app.requests > i || Date.now() > deadline) { req.destroy(); resolve() } else setTimeout(wait, 5) }
          wait()
        })
      }
      const r = await request(pair.client.ports.outbound, {path: '/after', headers: {host: 'web.local'}})
      expect(r.status).toBe(200)
      expect(JSON.parse(r.body).url).toBe('/after')
    } finally {
      await pair.close()
      await closeServer(app.server)
    }
  })
})

describe('HTTP/1.1 keep-alive pool (endpoint/http1-pool.ts)', () => {
  async function pooled(pool: http.Agent, port: number, path: string): Promise<number> {
    return new Promise((resolve, reject) => {
      http.get({host: '127.0.0.1', port, path, agent: pool}, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode ?? 0)) }).on('error', reject)
    })
  }

  it('reuses a connection, keeps a busy one open past the idle time, and closes it once idle', async () => {
    const {Http1Pool} = await import('../../src/proxy/endpoint/http1-pool.js')
    let opened = 0
    let closed = 0
    const app = http.createServer({keepAliveTimeout: 60_000}, (req, res) => {
      setTimeout(() => res.end('ok'), req.url === '/slow' ? 600 : 0)
    })
    app.on('connection', (s: net.Socket) => { opened++; s.on('close', () => closed++) })
    const port = await listenOn(app)
    const pool = new Http1Pool(() => net.connect(port, '127.0.0.1'), 300)
    try {
      expect(await pooled(pool, port, '/a')).toBe(200)
      expect(await pooled(pool, port, '/slow')).toBe(200) // busy for 2x the idle time: not swept
      expect(await pooled(pool, port, '/b')).toBe(200)
      expect(opened).toBe(1)
      await eventually('the idle connection to be swept', () => (closed > 0 ? true : undefined), {intervalMs: 50})
      expect(closed).toBe(1)
    } finally {
      pool.destroy()
      await closeServer(app)
    }
  })

  it('closes sooner when the server announces a shorter Keep-Alive timeout', async () => {
    const {Http1Pool} = await import('../../src/proxy/endpoint/http1-pool.js')
    let closedAt = 0
    const app = http.createServer({keepAliveTimeout: 60_000}, (_req, res) => {
      res.shouldKeepAlive = true
      res.writeHead(200, {'keep-alive': 'timeout=2'}).end('ok')
    })
    app.on('connection', (s: net.Socket) => s.on('close', () => { closedAt = Date.now() }))
    const port = await listenOn(app)
    const pool = new Http1Pool(() => net.connect(port, '127.0.0.1'), 30_000)
    try {
      const t0 = Date.now()
      expect(await pooled(pool, port, '/')).toBe(200)
      // Sooner than the pool's own 30 s: closed while this generous deadline (well under 30 s)
      // runs, and not before the hint less its 1 s margin. No upper bound on the machine's speed.
      await eventually('the connection to close on the server\'s hint', () => (closedAt > 0 ? true : undefined), {timeoutMs: 15_000, intervalMs: 50})
      expect(closedAt - t0).toBeGreaterThanOrEqual(950)
    } finally {
      pool.destroy()
      await closeServer(app)
    }
  })
})

describe('HTTP/1.1 fail-fast and routing errors', () => {
  it('answers 503 with mesh-proxy-error for a route with no endpoints', async () => {
    const {testConfig, quietLog} = await import('./helpers.js')
    const {startProxy} = await import('../../src/proxy/server.js')
    const p = await startProxy(testConfig({}, 'empty.local:80='), {log: quietLog(), originalDst: null})
    try {
      const r = await request(p.ports.outbound, {path: '/', headers: {host: 'empty.local'}})
      expect(r.status).toBe(503)
      expect(r.headers['mesh-proxy-error']).toBe('service empty.local:80 has no endpoints')
    } finally {
      await p.close(100)
    }
  })
})
