// Pipelined requests are forwarded one at a time on every HTTP/1 codec, as nginx does: the node
// codec's parser (Node's server) reads a pipeline ahead and emits every request at once, and
// forwarding them as they came turned one client's pipelined flood into as many upstream
// requests at once (a connect storm that got a healthy endpoint ejected). Here the app counts
// how many requests it holds at once, and the answers must come back complete and in order.
// An Upgrade or CONNECT request pipelined behind a request takes its turn too: its tunnel starts
// only once every earlier response is complete (Node's server announces those requests by
// events of their own, which the node codec queues with the rest).
import http from 'node:http'
import net from 'node:net'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {MAX_PIPELINED_WAITING} from '../../src/proxy/http/http1/server.js'
import {closeServer, listenOn, startEchoApp, startPair, type EchoApp, type Pair} from './helpers.js'

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

describe('an Upgrade or CONNECT request pipelined behind a request', () => {
  /** How long the app holds /held: time for a tunnel started out of turn to show (not a measure). */
  const HOLD_MS = 500
  /** What the app saw and did, in order. */
  const events: string[] = []
  let app: http.Server
  const pairs: Partial<Record<'node' | 'raw', Pair>> = {}
  const saved = process.env.MESH_PROXY_HTTP1_CODEC

  beforeAll(async () => {
    app = http.createServer((req, res) => {
      events.push(`request ${req.url}`)
      const answer = (): void => {
        if (res.destroyed) return
        events.push(`answered ${req.url}`)
        const body = `${req.url}\n`
        res.writeHead(200, {'content-type': 'text/plain', 'content-length': Buffer.byteLength(body)})
        res.end(body)
      }
      if (req.url?.startsWith('/held?') === true) setTimeout(answer, HOLD_MS)
      else answer()
    })
    // An upgrade the app accepts: a 101, then every byte echoed back as `echo:<bytes>`.
    app.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
      events.push(`upgrade ${req.url}`)
      socket.on('error', () => {})
      socket.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n')
      if (head.length > 0) socket.write(`echo:${head.toString('latin1')}`)
      socket.on('data', (d: Buffer) => socket.write(`echo:${d.toString('latin1')}`))
    })
    await listenOn(app)
    for (const codec of ['node', 'raw'] as const) {
      process.env.MESH_PROXY_HTTP1_CODEC = codec
      pairs[codec] = await startPair('web.local:80', (app.address() as net.AddressInfo).port)
    }
  })
  afterAll(async () => {
    if (saved === undefined) delete process.env.MESH_PROXY_HTTP1_CODEC
    else process.env.MESH_PROXY_HTTP1_CODEC = saved
    for (const p of Object.values(pairs)) await p.close()
    app.closeAllConnections()
    await closeServer(app)
  })

  /** Writes `text` in one write on a new connection; what came back once `done` matches it (or the connection closed). */
  async function exchange(port: number, text: string, done: RegExp): Promise<string> {
    const sock = net.connect(port, '127.0.0.1')
    await new Promise((r) => sock.once('connect', r))
    sock.on('error', () => {})
    let got = ''
    let closed = false
    sock.setEncoding('latin1')
    sock.on('data', (d: string) => (got += d))
    sock.once('close', () => (closed = true))
    sock.write(text)
    const deadline = Date.now() + 30_000
    while (!done.test(got) && !closed && Date.now() < deadline) await new Promise((r) => { sock.once('data', r); sock.once('close', r) })
    sock.destroy()
    return got
  }

  /** What the app saw of the requests tagged `tag` (a test's own: a late event of another test is not its). */
  const eventsOf = (tag: string): string[] => events.filter((e) => e.endsWith(`?${tag}`)).map((e) => e.slice(0, -tag.length - 1))

  it.each(['node', 'raw'] as const)('%s codec: the upgrade starts after the earlier response is complete; the bytes after its head are the tunnel\'s', async (codec) => {
    const tag = `${codec}-upgrade`
    const got = await exchange(pairs[codec]!.client.ports.outbound,
      `GET /held?${tag} HTTP/1.1\r\nHost: web.local\r\n\r\n`
      + `GET /ws?${tag} HTTP/1.1\r\nHost: web.local\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\nping`, /echo:ping/)
    // The app met the upgrade only after it had answered the request before it.
    expect(eventsOf(tag)).toEqual(['request /held', 'answered /held', 'upgrade /ws'])
    // The client reads the whole first response, then the 101, then the tunnel's bytes.
    const length = `/held?${tag}\n`.length
    expect(got).toMatch(new RegExp(`^HTTP/1\\.1 200 [^]*?\\r\\ncontent-length: ${length}\\r\\n[^]*?\\r\\n\\r\\n/held\\?${tag}\\nHTTP/1\\.1 101 Switching Protocols\\r\\n[^]*?\\r\\n\\r\\necho:ping$`, 'i'))
  }, 60_000)

  it.each(['node', 'raw'] as const)('%s codec: a CONNECT tunnel starts after the earlier response is complete', async (codec) => {
    const tag = `${codec}-connect`
    const got = await exchange(pairs[codec]!.client.ports.outbound,
      `GET /held?${tag} HTTP/1.1\r\nHost: web.local\r\n\r\n`
      + 'CONNECT web.local:80 HTTP/1.1\r\nHost: web.local:80\r\n\r\n'
      + `GET /in-tunnel?${tag} HTTP/1.1\r\nHost: web.local\r\n\r\n`, /\/in-tunnel\?[\w-]+\n/)
    expect(eventsOf(tag)).toEqual(['request /held', 'answered /held', 'request /in-tunnel', 'answered /in-tunnel'])
    expect(got).toMatch(new RegExp(`^HTTP/1\\.1 200 [^]*?\\r\\n\\r\\n/held\\?${tag}\\nHTTP/1\\.1 200 Connection Established\\r\\n\\r\\nHTTP/1\\.1 200 [^]*?\\r\\n\\r\\n/in-tunnel\\?${tag}\\n$`))
  }, 60_000)

  it.each(['node', 'raw'] as const)('%s codec: an earlier answer that closes the connection (a 400) leaves the upgrade behind it unstarted', async (codec) => {
    const tag = `${codec}-closed`
    const got = await exchange(pairs[codec]!.client.ports.outbound,
      `GET /bad?${tag} HTTP/1.1\r\nHost: web.local:abc\r\n\r\n`
      + `GET /ws?${tag} HTTP/1.1\r\nHost: web.local\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\nping`, /echo:ping/)
    expect(got).toMatch(/^HTTP\/1\.1 400 [^]*\r\n\r\n[^]*$/)
    expect(got).not.toMatch(/101|echo:/)
    // A request sent after the close, answered: an upgrade forwarded on the closed connection's
    // behalf would have reached the app before it (its connection was under way first).
    expect(await exchange(pairs[codec]!.client.ports.outbound, `GET /after?${tag} HTTP/1.1\r\nHost: web.local\r\nConnection: close\r\n\r\n`, /\/after\?[\w-]+\n/)).toMatch(/^HTTP\/1\.1 200 /)
    expect(eventsOf(tag)).toEqual(['request /after', 'answered /after'])
  }, 60_000)
})
