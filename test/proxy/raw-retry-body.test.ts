// Retries of requests with bodies on the raw HTTP/1 codec (outbound proxy -> real apps): the
// body streams upstream while up to 64 KiB of it is kept; a retried attempt sends the same
// bytes (Content-Length from a Node client, chunked from curl; also when the first answer
// came before the whole body); bodies past the limit or the
// process-wide cap, and non-idempotent requests, are not retried; nothing hands over to the
// node codec and no kept byte outlives its request.
import {execFile} from 'node:child_process'
import {createHash} from 'node:crypto'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import http from 'node:http'
import net from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {promisify} from 'node:util'
import {afterAll, afterEach, beforeAll, describe, expect, it} from 'vitest'
import {eventually} from '../helpers/eventually.js'
import {rawCounts} from '../../src/proxy/http/http1/raw/conn.js'
import {replayHeld as rawReplayHeld, setReplayCap as setRawReplayCap} from '../../src/proxy/http/replay-cap.js'
import {startProxy, type RunningProxy} from '../../src/proxy/server.js'
import {closeServer, listenOn, quietLog, request, testConfig} from './helpers.js'

const exec = promisify(execFile)
const KiB = 1024
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex')

/** An app that records each request's body, answering the first `fail` of them with 503. */
interface App { server: http.Server, port: number, bodies: Buffer[], fail: number, early: number, firstData?: () => void }

async function startApp(): Promise<App> {
  const app: App = {server: undefined as unknown as http.Server, port: 0, bodies: [], fail: 0, early: 0}
  app.server = http.createServer((req, res) => {
    if (app.early > 0) {
      // A 503 on the head alone, before the body has arrived.
      app.early--
      res.writeHead(503, {connection: 'close'}).end('busy')
      return
    }
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => { chunks.push(c); app.firstData?.() })
    req.on('end', () => {
      const body = Buffer.concat(chunks)
      app.bodies.push(body)
      if (app.bodies.length <= app.fail) {
        res.writeHead(503).end('busy')
        return
      }
      res.writeHead(200, {'content-type': 'text/plain'}).end(sha(body))
    })
  })
  app.port = await listenOn(app.server)
  return app
}

describe('raw codec: retries of requests with bodies', () => {
  let app: App
  let proxy: RunningProxy
  let out: number
  let tmp: string
  const saved = process.env.MESH_PROXY_HTTP1_CODEC

  beforeAll(async () => {
    process.env.MESH_PROXY_HTTP1_CODEC = 'raw'
    tmp = mkdtempSync(join(tmpdir(), 'mesh-raw-retry-'))
    app = await startApp()
    proxy = await startProxy(testConfig({}, `web.local:80=127.0.0.1:${app.port}`), {log: quietLog(), originalDst: null})
    out = proxy.ports.outbound
  })
  afterEach(() => {
    app.bodies = []
    app.fail = 0
    app.early = 0
    app.firstData = undefined
  })
  afterAll(async () => {
    await proxy.close(100)
    await closeServer(app.server)
    rmSync(tmp, {recursive: true, force: true})
    if (saved === undefined) delete process.env.MESH_PROXY_HTTP1_CODEC
    else process.env.MESH_PROXY_HTTP1_CODEC = saved
  })

  const post = (body: Buffer, headers: Record<string, string> = {}, method = 'POST') =>
    request(out, {method, path: '/pay', headers: {host: 'web.local', 'content-length': String(body.length), ...headers}, body})

  it('retries a retryable POST that got a 503 and sends the same body bytes again, on the raw path', async () => {
    const body = Buffer.alloc(40 * KiB)
    for (let i = 0; i < body.length; i++) body[i] = (i * 31) & 0xff
    app.fail = 1
    const before = {...rawCounts}
    const retries = proxy.stats.retries
    const r = await post(body, {'mesh-retryable': 'true'})
    expect(r.status).toBe(200)
    expect(r.body).toBe(sha(body))
    expect(app.bodies.map(sha)).toEqual([sha(body), sha(body)])
    expect(proxy.stats.retries - retries).toBe(1)
    expect(rawCounts.handovers - before.handovers).toBe(0)
    expect(rawCounts.requests - before.requests).toBe(1)
  })

  it('retries an idempotent PUT with a chunked body from curl after a 503', async () => {
    const body = Buffer.alloc(20 * KiB, 'x')
    const file = join(tmp, 'put.bin')
    writeFileSync(file, body)
    app.fail = 1
    const before = rawCounts.handovers
    const {stdout} = await exec('curl', ['-sS', '--max-time', '5', '-X', 'PUT', '-H', 'Host: web.local', '-H', 'Transfer-Encoding: chunked', '--data-binary', `@${file}`, `http://127.0.0.1:${out}/put`])
    expect(stdout).toBe(sha(body))
    expect(app.bodies.map(sha)).toEqual([sha(body), sha(body)])
    expect(rawCounts.handovers - before).toBe(0)
  })

  it('does not retry a POST that is not marked retryable (the node codec\'s rule)', async () => {
    app.fail = 1
    const r = await post(Buffer.from('amount=5'))
    expect(r.status).toBe(503)
    expect(app.bodies.length).toBe(1)
  })

  it('does not retry a body over 64 KiB: it streams through once and the 503 is the answer', async () => {
    app.fail = 1
    const body = Buffer.alloc(100 * KiB, 3)
    const r = await post(body, {'mesh-retryable': 'true'})
    expect(r.status).toBe(503)
    expect(app.bodies.map(sha)).toEqual([sha(body)])
  })

  it('does not keep bodies past the process-wide cap (not retried), and keeps nothing once requests end', async () => {
    const before = setRawReplayCap(4 * KiB)
    try {
      app.fail = 1
      const r = await post(Buffer.alloc(8 * KiB, 1), {'mesh-retryable': 'true'})
      expect(r.status).toBe(503)
      expect(app.bodies.length).toBe(1)
    } finally {
      setRawReplayCap(before)
    }
    expect(rawReplayHeld()).toBe(0)
  })

  it('streams the body upstream while keeping it (the app sees bytes before the client has sent them all)', async () => {
    const sock = net.connect({host: '127.0.0.1', port: out})
    await new Promise((r) => sock.once('connect', r))
    const seen = new Promise<void>((resolve) => { app.firstData = resolve })
    sock.write('POST /stream HTTP/1.1\r\nHost: web.local\r\nmesh-retryable: true\r\nContent-Length: 2000\r\n\r\n' + 'a'.repeat(1000))
    // The app sees the first half before the client sends the rest (a generous guard, not a bound).
    const first = await Promise.race([seen.then(() => true), new Promise((r) => setTimeout(() => r(false), 30_000))])
    let answer = ''
    sock.on('data', (c: Buffer) => (answer += c.toString('latin1')))
    sock.write('b'.repeat(1000))
    await eventually('the answer with the whole body\'s hash', () => (answer.includes(sha(Buffer.from('a'.repeat(1000) + 'b'.repeat(1000)))) ? true : undefined), {intervalMs: 20})
    sock.destroy()
    expect(first).toBe(true)
    expect(answer).toMatch(/^HTTP\/1\.1 200 /)
    expect(answer).toContain(sha(Buffer.from('a'.repeat(1000) + 'b'.repeat(1000))))
  })

  it('retries a POST answered 503 before its body was all sent: the retry carries the kept part, then the rest', async () => {
    app.early = 1
    const sock = net.connect({host: '127.0.0.1', port: out})
    await new Promise((r) => sock.once('connect', r))
    let answer = ''
    sock.on('data', (c: Buffer) => (answer += c.toString('latin1')))
    const full = Buffer.from('c'.repeat(3000) + 'd'.repeat(3000))
    sock.write('POST /early HTTP/1.1\r\nHost: web.local\r\nmesh-retryable: true\r\nContent-Length: 6000\r\n\r\n' + 'c'.repeat(3000))
    // The first attempt's 503 comes back (and is retried) while the client still holds half.
    const retries = proxy.stats.retries
    await eventually('the first attempt to be retried', () => (proxy.stats.retries !== retries ? true : undefined), {intervalMs: 20})
    sock.write('d'.repeat(3000))
    await eventually('the answer with the whole body\'s hash', () => (answer.includes(sha(full)) ? true : undefined), {intervalMs: 20})
    sock.destroy()
    expect(proxy.stats.retries - retries).toBe(1)
    expect(answer).toMatch(/^HTTP\/1\.1 200 /)
    expect(answer).toContain(sha(full))
    expect(app.bodies.map(sha)).toEqual([sha(full)])
  })

  it('retries a POST whose connection the app reset, on a route marked retryable, and keeps the connection raw', async () => {
    let reset = true
    const flaky = net.createServer((s) => {
      if (reset) {
        reset = false
        s.once('data', () => s.resetAndDestroy())
        return
      }
      let got = ''
      s.on('data', (c: Buffer) => {
        got += c.toString('latin1')
        if (got.endsWith('hello')) s.end('HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok')
      })
    })
    const port = await listenOn(flaky)
    const cfg = testConfig({}, `flaky.local:80=127.0.0.1:${port}`)
    const p = await startProxy(cfg, {log: quietLog(), originalDst: null})
    try {
      const r = await request(p.ports.outbound, {method: 'POST', path: '/x', headers: {host: 'flaky.local', 'mesh-retryable': 'true', 'content-length': '5'}, body: 'hello'})
      expect(r.status).toBe(200)
      expect(r.body).toBe('ok')
      expect(p.stats.retries).toBe(1)
    } finally {
      await p.close(100)
      await closeServer(flaky)
    }
    expect(rawReplayHeld()).toBe(0)
  })
})
