// The raw HTTP/1 codec (MESH_PROXY_HTTP1_CODEC=raw) on both proxies of a pair, real sockets:
// curl and Node clients, bodies both ways (Content-Length and chunked, 1 MB), keep-alive reuse,
// pipelining, fail-fast answers, malformed heads, a WebSocket handed over to the Node codec,
// metrics; and the codec's framing and setting on their own.
import {execFile} from 'node:child_process'
import {writeFileSync, mkdtempSync, rmSync} from 'node:fs'
import http from 'node:http'
import net from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {promisify} from 'node:util'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import WebSocket, {WebSocketServer} from 'ws'
import {spawnMesh} from '../helpers/run.js'
import {eventually} from '../helpers/eventually.js'
import {createProxyMetrics} from '../../src/metrics/proxy-metrics.js'
import type {Discovery} from '../../src/proxy/core/contracts.js'
import {rawCounts} from '../../src/proxy/http/http1/raw/conn.js'
import {ChunkedFramer} from '../../src/proxy/http/http1/raw/framing.js'
import {http1Codec} from '../../src/proxy/http/http1/codec.js'
import {startProxy} from '../../src/proxy/server.js'
import {closeServer, listenOn, quietLog, rawExchange, request, startEchoApp, startPair, testConfig, type EchoApp, type Pair} from './helpers.js'

const exec = promisify(execFile)
const MB = 1024 * 1024

describe('raw HTTP/1 codec through a proxy pair', () => {
  let app: EchoApp
  let pair: Pair
  let out: number
  let tmp: string
  const metrics = createProxyMetrics()
  const saved = process.env.MESH_PROXY_HTTP1_CODEC

  beforeAll(async () => {
    process.env.MESH_PROXY_HTTP1_CODEC = 'raw'
    tmp = mkdtempSync(join(tmpdir(), 'mesh-raw-'))
    app = await startEchoApp((req, res) => {
      if (req.url === '/big') {
        res.writeHead(200, {'content-type': 'application/octet-stream', 'content-length': MB})
        res.end(Buffer.alloc(MB, 7))
        return true
      }
      if (req.url === '/big-chunked') {
        res.writeHead(200, {'content-type': 'application/octet-stream'})
        for (let i = 0; i < 16; i++) res.write(Buffer.alloc(64 * 1024, 9))
        res.end()
        return true
      }
      if (req.url === '/empty') {
        res.writeHead(204, {'x-seen': req.method})
        res.end()
        return true
      }
      return false
    })
    // Retries off on the client side, so requests with bodies stay on the raw path too.
    pair = await startPair('web.local:80', app.port, (c) => { c.retry = {...c.retry, limit: 0} }, {client: {observers: [metrics.observer]}})
    out = pair.client.ports.outbound
  })
  afterAll(async () => {
    await pair.close()
    await closeServer(app.server)
    rmSync(tmp, {recursive: true, force: true})
    if (saved === undefined) delete process.env.MESH_PROXY_HTTP1_CODEC
    else process.env.MESH_PROXY_HTTP1_CODEC = saved
  })

  it('serves curl GETs on the raw path (no hand-over), hop-by-hop headers dropped', async () => {
    const before = {...rawCounts}
    const {stdout} = await exec('curl', ['-sS', '--max-time', '5', '-H', 'Host: web.local', '-H', 'Keep-Alive: timeout=5', '-H', 'Connection: keep-alive, x-drop', '-H', 'x-drop: 1', `http://127.0.0.1:${out}/hello?x=1`])
    const seen = JSON.parse(stdout)
    expect(seen.url).toBe('/hello?x=1')
    expect(seen.headers.host).toBe('web.local')
    expect(seen.headers['x-drop']).toBeUndefined()
    expect(seen.headers['keep-alive']).toBeUndefined()
    // One request on each proxy, both on the raw codec.
    expect(rawCounts.requests - before.requests).toBe(2)
    expect(rawCounts.handovers - before.handovers).toBe(0)
  })

  it('reuses one keep-alive connection end to end for sequential requests', async () => {
    const agent = new http.Agent({keepAlive: true, maxSockets: 1})
    const conns = app.connections
    for (let i = 0; i < 5; i++) {
      const r = await request(out, {path: `/seq${i}`, headers: {host: 'web.local'}, agent})
      expect(r.status).toBe(200)
      expect(JSON.parse(r.body).url).toBe(`/seq${i}`)
    }
    agent.destroy()
    // The inbound proxy's pool to the app kept at most one new connection.
    expect(app.connections - conns).toBeLessThanOrEqual(1)
  })

  it('carries 1 MB request bodies, Content-Length and chunked (Node client)', async () => {
    const body = Buffer.alloc(MB, 1)
    const r1 = await request(out, {method: 'POST', path: '/cl', headers: {host: 'web.local', 'content-length': MB}, body})
    expect(JSON.parse(r1.body).bodyLength).toBe(MB)
    const r2 = await new Promise<string>((resolve, reject) => {
      const req = http.request({host: '127.0.0.1', port: out, method: 'POST', path: '/chunked', headers: {host: 'web.local'}, agent: false}, (res) => {
        let s = ''
        res.setEncoding('utf8')
        res.on('data', (c: string) => (s += c))
        res.on('end', () => resolve(s))
      })
      req.on('error', reject)
      for (let i = 0; i < 16; i++) req.write(Buffer.alloc(64 * 1024, 2))
      req.end()
    })
    const seen = JSON.parse(r2)
    expect(seen.headers['transfer-encoding']).toBe('chunked')
    expect(seen.bodyLength).toBe(MB)
  })

  it('carries a 1 MB chunked upload from curl and 1 MB responses both framings', async () => {
    const file = join(tmp, 'up.bin')
    writeFileSync(file, Buffer.alloc(MB, 3))
    const {stdout} = await exec('curl', ['-sS', '--max-time', '10', '-H', 'Host: web.local', '-H', 'Transfer-Encoding: chunked', '--data-binary', `@${file}`, `http://127.0.0.1:${out}/up`])
    expect(JSON.parse(stdout).bodyLength).toBe(MB)
    for (const path of ['/big', '/big-chunked']) {
      const {stdout: size} = await exec('curl', ['-sS', '--max-time', '10', '-o', '/dev/null', '-w', '%{size_download} %{http_code}', '-H', 'Host: web.local', `http://127.0.0.1:${out}${path}`])
      expect(size).toBe(`${MB} 200`)
    }
  })

  it('frames HEAD and 204 answers without a body and keeps the connection for the next request', async () => {
    const text = await rawExchange(out, 'HEAD /big HTTP/1.1\r\nHost: web.local\r\n\r\nGET /empty HTTP/1.1\r\nHost: web.local\r\n\r\n'
      + 'GET /last HTTP/1.1\r\nHost: web.local\r\nConnection: close\r\n\r\n', 3000)
    const heads = [...text.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => m[1])
    expect(heads).toEqual(['200', '204', '200'])
    expect(text).toMatch(/content-length: 1048576/i)
    expect(text).toMatch(/"url":"\/last"/)
    expect(text.length).toBeLessThan(4096)
  })

  it('answers a client that half-closes after its request', async () => {
    const text = await rawExchange(out, 'GET /half HTTP/1.1\r\nHost: web.local\r\n\r\n', 3000, true)
    expect(text).toMatch(/^HTTP\/1\.1 200 /)
    expect(text).toMatch(/"url":"\/half"/)
  })

  it('does not reuse a pooled upstream connection the app closed while idle (POST with a body succeeds)', async () => {
    const quick = await startEchoApp()
    quick.server.keepAliveTimeout = 150
    let appClosed = 0
    quick.server.on('connection', (s: net.Socket) => s.once('close', () => appClosed++))
    const p = await startPair('quick.local:80', quick.port, (c) => { c.retry = {...c.retry, limit: 0} })
    try {
      const post = (): Promise<{status: number}> => request(p.client.ports.outbound, {method: 'POST', path: '/q', headers: {host: 'quick.local', 'content-length': 5}, body: 'hello'})
      expect((await post()).status).toBe(200)
      await eventually('the app to close the idle connection', () => (appClosed > 0 ? true : undefined), {intervalMs: 50})
      expect((await post()).status).toBe(200)
      expect(quick.requests).toBe(2)
    } finally {
      await p.close()
      await closeServer(quick.server)
    }
  })

  it('answers pipelined requests in order on one connection', async () => {
    const reqs = ['/p1', '/p2', '/p3'].map((p) => `GET ${p} HTTP/1.1\r\nHost: web.local\r\n\r\n`).join('')
    const text = await rawExchange(out, reqs + 'POST /p4 HTTP/1.1\r\nHost: web.local\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc', 3000)
    const urls = [...text.matchAll(/"url":"(\/p\d)"/g)].map((m) => m[1])
    expect(urls).toEqual(['/p1', '/p2', '/p3', '/p4'])
    expect(text).toMatch(/"body":"abc"/)
  })

  it('answers malformed heads with 400 and mesh-proxy-error, counted, never forwarded', async () => {
    const requests = app.requests
    const malformed = pair.client.stats.refused.malformed_request
    const bad = [
      'GET / HTTP/1.1\r\nHost: web.local\r\nX-Fold: a\r\n b\r\n\r\n',
      'POST / HTTP/1.1\r\nHost: web.local\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
      'POST / HTTP/1.1\r\nHost: web.local\r\nContent-Length: 3x\r\n\r\nabc',
      'GET / HTTP/1.1\nHost: web.local\r\n\r\n',
    ]
    for (const b of bad) {
      const text = await rawExchange(out, b, 2000)
      expect(text, JSON.stringify(b)).toMatch(/^HTTP\/1\.1 400 /)
      expect(text).toMatch(/mesh-proxy-error: /i)
    }
    // A malformed chunked body on the raw path itself (after the head was forwarded).
    const text = await rawExchange(out, 'POST /x HTTP/1.1\r\nHost: web.local\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', 2000)
    expect(text).toMatch(/^HTTP\/1\.1 400 /)
    expect(pair.client.stats.refused.malformed_request - malformed).toBe(5)
    // The chunked one reached the app as a head only (it was forwarded before its body went bad).
    expect(app.requests - requests).toBeLessThanOrEqual(1)
  })

  it('fails fast: 503 for a service without endpoints, 502 for a refused connect', async () => {
    const empty: Discovery = {
      resolve: async () => ({current: () => ({endpoints: []}), onChange: () => () => {}, close: () => {}}),
      close: () => {},
    }
    const proxy = await startProxy(testConfig(), {log: quietLog(), originalDst: null, discovery: empty})
    try {
      const r = await request(proxy.ports.outbound, {path: '/', headers: {host: 'empty.local'}})
      expect(r.status).toBe(503)
      expect(r.headers['mesh-proxy-error']).toMatch(/no endpoints/)
    } finally {
      await proxy.close(200)
    }
    const closed = net.createServer()
    const port = await listenOn(closed)
    await closeServer(closed)
    const refused = await startProxy(testConfig({}, `gone.local:80=127.0.0.1:${port}`), {log: quietLog(), originalDst: null})
    try {
      const r = await request(refused.ports.outbound, {path: '/', headers: {host: 'gone.local'}})
      expect(r.status).toBe(502)
      expect(r.headers['mesh-proxy-error']).toMatch(/ECONNREFUSED/)
    } finally {
      await refused.close(200)
    }
  })

  it('hands a WebSocket upgrade over to the Node codec, which carries it', async () => {
    const wss = new WebSocketServer({port: 0, host: '127.0.0.1'})
    await new Promise((r) => wss.once('listening', r))
    wss.on('connection', (ws) => ws.on('message', (m) => ws.send(`echo:${String(m)}`)))
    const wsPair = await startPair('ws.local:80', (wss.address() as net.AddressInfo).port)
    const handovers = rawCounts.handovers
    try {
      const ws = new WebSocket('ws://ws.local/chat', {createConnection: () => net.connect(wsPair.client.ports.outbound, '127.0.0.1')})
      await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject) })
      const reply = new Promise<string>((resolve) => ws.once('message', (m) => resolve(String(m))))
      ws.send('hi')
      expect(await reply).toBe('echo:hi')
      ws.close()
      expect(rawCounts.handovers - handovers).toBeGreaterThanOrEqual(2)
    } finally {
      await wsPair.close()
      await new Promise((r) => wss.close(r))
    }
  })

  it('counts requests and responses in the metrics', async () => {
    const count = (): number => {
      const m = /request_total\{[^}]*direction="outbound"[^}]*authority="web\.local:80"[^}]*\} (\d+)/.exec(metrics.registry.metrics())
      return m ? Number(m[1]) : 0
    }
    const before = count()
    for (let i = 0; i < 3; i++) expect((await request(out, {path: '/m', headers: {host: 'web.local'}})).status).toBe(200)
    expect(count() - before).toBe(3)
    expect(metrics.registry.metrics()).toMatch(/response_total\{[^}]*direction="outbound"[^}]*status_code="200"[^}]*\} \d+/)
  })
})

describe('raw codec parts', () => {
  it('finds the end of a chunked body across any split, trailers included', () => {
    const msg = Buffer.from('5\r\nhello\r\na;ext=1\r\n0123456789\r\n0\r\nx-sum: 1\r\n\r\nNEXT')
    const endAt = msg.length - 4
    for (let cut = 1; cut < msg.length; cut++) {
      const f = new ChunkedFramer()
      const first = f.feed(msg.subarray(0, cut), 0)
      if (cut >= endAt) {
        expect(first).toBe(endAt)
        continue
      }
      expect(first).toBe(-1)
      expect(f.feed(msg.subarray(cut), 0)).toBe(endAt - cut)
      // Body data only (tap's response-length), whatever the split: 5 + 10 bytes.
      expect(f.payload).toBe(15)
    }
  })

  it('rejects bad chunk sizes and missing CRLFs', () => {
    for (const bad of ['zz\r\n', '5\r\nhelloXX', '5\nhello\r\n', '1234567890abc\r\n']) {
      expect(new ChunkedFramer().feed(Buffer.from(bad), 0), bad).toBe(-2)
    }
  })

  it('reads MESH_PROXY_HTTP1_CODEC strictly, naming the variable and the fix', () => {
    expect(http1Codec({})).toBe('raw')
    expect(http1Codec({MESH_PROXY_HTTP1_CODEC: 'node'})).toBe('node')
    expect(http1Codec({MESH_PROXY_HTTP1_CODEC: 'raw'})).toBe('raw')
    let err: unknown
    try { http1Codec({MESH_PROXY_HTTP1_CODEC: 'fast'}) } catch (e) { err = e }
    expect(err).toBeInstanceOf(Error)
    expect((err as Error).message).toMatch(/MESH_PROXY_HTTP1_CODEC="fast"/)
    expect((err as {suggestions?: string[]}).suggestions?.join(' ')).toMatch(/"raw".*"node"/)
  })

  it('mesh proxy exits 1 at start on a bad MESH_PROXY_HTTP1_CODEC, nothing on stdout', async () => {
    const any = '127.0.0.1:0'
    const r = await spawnMesh(['proxy'], {env: {
      MESH_PROXY_HTTP1_CODEC: 'fast', MESH_PROXY_INBOUND_LISTEN_ADDR: any, MESH_PROXY_OUTBOUND_LISTEN_ADDR: any,
      MESH_PROXY_ADMIN_LISTEN_ADDR: any, MESH_PROXY_TAP_LISTEN_ADDR: any,
    }})
    expect(r.exitCode).toBe(1)
    expect(r.stderr).toMatch(/MESH_PROXY_HTTP1_CODEC="fast" is not a known HTTP\/1 codec/)
    expect(r.stderr).not.toMatch(/\n\s+at /)
    expect(r.stdout).toBe('')
  }, 30_000)
})
