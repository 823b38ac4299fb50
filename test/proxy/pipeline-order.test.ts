// Pipelined requests are forwarded one at a time on every HTTP/1 codec, as nginx does: the node
// codec's parser (Node's server) reads a pipeline ahead and emits every request at once, and
// forwarding them as they came turned one client's pipelined flood into as many upstream
// requests at once (a connect storm that got a healthy endpoint ejected). Here the app counts
// how many requests it holds at once, and the answers must come back complete and in order.
import net from 'node:net'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {MAX_PIPELINED_WAITING} from '../../src/proxy/http/http1/server.js'
import {closeServer, startEchoApp, startPair, type EchoApp, type Pair} from './helpers.js'

const N = 40

describe('pipelined requests', () => {
  let app: EchoApp
  let active = 0
  let most = 0
  const pairs: Partial<Record<'node' | 'raw', Pair>> = {}
  const saved = process.env.MESH_PROXY_HTTP1_CODEC

  beforeAll(async () => {
    app = await startEchoApp((req, res) => {
      active++
      most = Math.max(most, active)
      // Held a little, so that requests forwarded at once would overlap here.
      setTimeout(() => {
        active--
        const body = `${req.url}\n`
        res.writeHead(200, {'content-type': 'text/plain', 'content-length': Buffer.byteLength(body)})
        res.end(body)
      }, 5)
      return true
    })
    for (const codec of ['node', 'raw'] as const) {
      process.env.MESH_PROXY_HTTP1_CODEC = codec
      pairs[codec] = await startPair('web.local:80', app.port)
    }
  })
  afterAll(async () => {
    if (saved === undefined) delete process.env.MESH_PROXY_HTTP1_CODEC
    else process.env.MESH_PROXY_HTTP1_CODEC = saved
    for (const p of Object.values(pairs)) await p.close()
    await closeServer(app.server)
  })

  // HTTP/1.0 requests: the raw codec hands them to Node's server, so both cases meet its parser.
  it.each([
    ['node', 'HTTP/1.1'], ['raw', 'HTTP/1.1'], ['raw', 'HTTP/1.0'],
  ] as const)('%s codec, %s', async (codec, version) => {
    active = 0
    most = 0
    const sock = net.connect(pairs[codec]!.client.ports.outbound, '127.0.0.1')
    await new Promise((r) => sock.once('connect', r))
    let got = ''
    sock.setEncoding('latin1')
    sock.on('data', (d: string) => (got += d))
    const keep = version === 'HTTP/1.0' ? 'Connection: keep-alive\r\n' : ''
    let pipeline = ''
    for (let i = 0; i < N; i++) pipeline += `GET /p${i} ${version}\r\nHost: web.local\r\n${keep}\r\n`
    sock.write(pipeline)
    const deadline = Date.now() + 60_000
    while ((got.match(/\/p\d+\n/g) ?? []).length < N && Date.now() < deadline) await new Promise((r) => sock.once('data', r))
    sock.destroy()
    expect((got.match(/\/p\d+\n/g) ?? [])).toEqual(Array.from({length: N}, (_, i) => `/p${i}\n`))
    expect(most).toBe(1)
  }, 90_000)

  // Node's parser reads a pipeline ahead and holds a request and a response for each: a client
  // streaming pipelined requests would grow that queue without end. Past the bound the
  // connection is closed, counted once; what was waiting never reaches the app.
  it('node codec: a connection with more pipelined requests waiting than the bound is closed, counted as pipeline_limit', async () => {
    const pair = pairs.node!
    const before = pair.client.stats.refused.pipeline_limit
    const seenBefore = app.requests
    const sock = net.connect(pair.client.ports.outbound, '127.0.0.1')
    await new Promise((r) => sock.once('connect', r))
    sock.on('error', () => {})
    const closed = new Promise((r) => sock.once('close', r))
    let pipeline = ''
    for (let i = 0; i < 3 * MAX_PIPELINED_WAITING; i++) pipeline += `GET /flood${i} HTTP/1.1\r\nHost: web.local\r\n\r\n`
    sock.write(pipeline)
    await closed
    expect(pair.client.stats.refused.pipeline_limit - before).toBe(1)
    // At most the one in progress went on (one at a time), none of those waiting.
    expect(app.requests - seenBefore).toBeLessThanOrEqual(1)
    // The listener serves others.
    const other = net.connect(pair.client.ports.outbound, '127.0.0.1')
    let got = ''
    other.setEncoding('latin1').on('data', (d: string) => (got += d))
    other.write('GET /after HTTP/1.1\r\nHost: web.local\r\nConnection: close\r\n\r\n')
    await new Promise((r) => other.once('close', r))
    expect(got).toMatch(/^HTTP\/1\.1 200 [^]*\/after\n$/)
  }, 60_000)
})
