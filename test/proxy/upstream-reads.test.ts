// The raw codec reads a plaintext upstream connection into a buffer of its own (raw-pool.ts
// OwnReads, net.connect's `onread`) and reads into it again only when nothing of it is held: a
// client write of its bytes still queued, or part of a response head waiting for the rest.
// Here a real backend answers through the proxy pair (both proxies read their upstreams so)
// with responses cut the ways that make a buffer be held: a head in pieces, a body in pieces
// that reach the client one by one, a body larger than every socket buffer on the way to a
// client that stops reading, chunked and Content-Length framing, hop-by-hop lines anywhere in
// the head (cut by the proxies, in the read's own bytes); and generated mixes of these. Every
// byte of every head and body must arrive as the backend sent it, less the hop-by-hop lines.
import http from 'node:http'
import net from 'node:net'
import fc from 'fast-check'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {OwnReads, type RawPool, upstreamReadCounts} from '../../src/proxy/endpoint/raw-pool.js'
import {RawConn, rawCounts} from '../../src/proxy/http/http1/raw/conn.js'
import {eventually} from '../helpers/eventually.js'
import {xorshiftBytes} from '../helpers/xorshift.js'
import {closeServer, listenOn, startPair, type Pair} from './helpers.js'

/** How a response is sent: its head cut at `headCuts`, its body in `pieces` (sizes), each piece sent when the client has all before it (`lockstep`). */
interface Script {
  seed: number
  bodyLength: number
  headCuts: number[]
  pieces: number[]
  chunked: boolean
  lockstep: boolean
  /** The client stops reading until the backend has sent all or is blocked. */
  stall: boolean
  /** Hop-by-hop lines in the head, each before the field line at its index (a Node app's Connection and Keep-Alive, and others): cut by the proxies. */
  hop?: Array<[string, number]>
}

/** Hop-by-hop lines an app may send; none may reach the client. */
const HOP_LINES = ['Connection: keep-alive', 'Keep-Alive: timeout=5, max=1000', 'Proxy-Connection: keep-alive', 'TE: trailers', 'connection: Keep-Alive']
const HOP_NAMES = ['connection', 'keep-alive', 'proxy-connection', 'te']

/** A field value of visible ASCII from a seed, long enough that heads span reads when cut. */
function longValue(seed: number): string {
  return xorshiftBytes(seed ^ 0x5bd1e995, 3000).toString('base64')
}

const scripts = new Map<string, Script>()
/** Body bytes the client has per request id (lockstep waits on it). */
const received = new Map<string, number>()
/** The backend's socket per request id, and whether it sent all. */
const backendState = new Map<string, {socket: net.Socket; done: boolean}>()

function write(s: net.Socket, b: Buffer): Promise<void> {
  return new Promise((resolve) => {
    if (s.write(b)) resolve()
    else s.once('drain', resolve)
  })
}

/** Answers GET /<id> on a keep-alive connection as the id's script says. */
async function answer(socket: net.Socket, id: string): Promise<void> {
  const sc = scripts.get(id)!
  const body = xorshiftBytes(sc.seed, sc.bodyLength)
  const lines = [`x-long: ${longValue(sc.seed)}`, `x-id: ${id}`, sc.chunked ? 'transfer-encoding: chunked' : `content-length: ${body.length}`]
  for (const [line, at] of [...(sc.hop ?? [])].sort((a, b) => b[1] - a[1])) lines.splice(at % (lines.length + 1), 0, line)
  const head = Buffer.from(`HTTP/1.1 200 OK\r\n${lines.map((l) => `${l}\r\n`).join('')}\r\n`, 'latin1')
  const state = {socket, done: false}
  backendState.set(id, state)
  let at = 0
  for (const cut of [...sc.headCuts, head.length]) {
    if (cut <= at) continue
    const reads = upstreamReadCounts.reads.plain
    await write(socket, head.subarray(at, cut))
    at = cut
    // (so the proxy reads the head in pieces: nothing of it reaches the client before the whole)
    if (cut < head.length) await eventually(`the proxy read ${id}'s head up to ${cut}`, () => (upstreamReadCounts.reads.plain > reads ? true : undefined), {intervalMs: 1})
  }
  let sent = 0
  for (const n of sc.pieces) {
    const piece = body.subarray(sent, Math.min(body.length, sent + n))
    if (piece.length === 0) break
    await write(socket, sc.chunked ? Buffer.concat([Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n')]) : piece)
    sent += piece.length
    if (sc.lockstep && !sc.stall) await eventually(`the client has ${sent} bytes of ${id}`, () => ((received.get(id) ?? 0) >= sent ? true : undefined), {intervalMs: 2})
  }
  if (sent < body.length) {
    await write(socket, sc.chunked ? Buffer.concat([Buffer.from(`${(body.length - sent).toString(16)}\r\n`), body.subarray(sent), Buffer.from('\r\n')]) : body.subarray(sent))
  }
  if (sc.chunked) await write(socket, Buffer.from('0\r\n\r\n'))
  state.done = true
}

/** A backend that reads request heads (no bodies) and answers each in turn. */
async function startBackend(): Promise<{server: net.Server; port: number}> {
  const server = net.createServer((socket) => {
    socket.setNoDelay(true)
    let buf = ''
    let busy: Promise<void> = Promise.resolve()
    socket.on('error', () => {})
    socket.on('data', (d: Buffer) => {
      buf += d.toString('latin1')
      for (let end = buf.indexOf('\r\n\r\n'); end >= 0; end = buf.indexOf('\r\n\r\n')) {
        const id = /^GET \/(\S+) /.exec(buf)?.[1] ?? ''
        buf = buf.slice(end + 4)
        // (a script that fails ends its connection: the client sees the error, not a hang)
        busy = busy.then(() => answer(socket, id)).catch(() => { socket.destroy() })
      }
    })
  })
  return {server, port: await listenOn(server)}
}

/** GET /<id> through the proxy; the response's x-long and body. */
function get(port: number, agent: http.Agent, id: string, stall: boolean): Promise<{status: number; long: string | undefined; names: string[]; body: Buffer}> {
  return new Promise((resolve, reject) => {
    const req = http.request({host: '127.0.0.1', port, path: `/${id}`, headers: {host: 'web.local'}, agent}, (res) => {
      const chunks: Buffer[] = []
      let n = 0
      res.on('data', (c: Buffer) => {
        chunks.push(c)
        n += c.length
        received.set(id, n)
      })
      res.on('end', () => resolve({status: res.statusCode ?? 0, long: res.headers['x-long'] as string | undefined, names: res.rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase()), body: Buffer.concat(chunks)}))
      res.on('error', reject)
      if (stall) {
        res.pause()
        // Reads again once everything on the way is full (the backend blocked) or the backend sent all.
        void eventually(`the backend blocked or done for ${id}`, () => {
          const st = backendState.get(id)
          return st && (st.done || st.socket.writableLength > 0) ? true : undefined
        }, {intervalMs: 5, timeoutMs: 60_000}).then(() => res.resume(), reject)
      }
    })
    req.on('error', reject)
    req.end()
  })
}

let nextId = 0

async function check(pair: Pair, agent: http.Agent, sc: Script): Promise<void> {
  const id = `r${nextId++}`
  scripts.set(id, sc)
  const res = await get(pair.client.ports.outbound, agent, id, sc.stall)
  expect(res.status).toBe(200)
  expect(res.long).toBe(longValue(sc.seed))
  // the app's own fields, in its order, and none of its hop-by-hop ones
  expect(res.names).toEqual(['x-long', 'x-id', sc.chunked ? 'transfer-encoding' : 'content-length'])
  expect(res.names.filter((n) => HOP_NAMES.includes(n))).toEqual([])
  const want = xorshiftBytes(sc.seed, sc.bodyLength)
  expect(res.body.length).toBe(want.length)
  // (compared whole, not printed whole)
  expect(res.body.equals(want), `body of ${id} differs at byte ${res.body.findIndex((v, i) => v !== want[i])}`).toBe(true)
  // (`received` stays: the backend may still be checking it)
  scripts.delete(id)
}

describe('raw codec: upstream reads into the connection\'s own buffer', () => {
  let backend: {server: net.Server; port: number}
  let pair: Pair
  const saved = process.env.MESH_PROXY_HTTP1_CODEC
  const agent = new http.Agent({keepAlive: true, maxSockets: 2})

  beforeAll(async () => {
    process.env.MESH_PROXY_HTTP1_CODEC = 'raw'
    backend = await startBackend()
    pair = await startPair('web.local:80', backend.port)
  })
  afterAll(async () => {
    if (saved === undefined) delete process.env.MESH_PROXY_HTTP1_CODEC
    else process.env.MESH_PROXY_HTTP1_CODEC = saved
    agent.destroy()
    await pair.close()
    await closeServer(backend.server)
  })

  it('a response head that comes in pieces arrives whole (the buffer holding its start is not read into)', async () => {
    const before = rawCounts.requests
    // Cuts inside the status line, inside the long field, and just before the blank line.
    await check(pair, agent, {seed: 7, bodyLength: 5000, headCuts: [9, 40, 1500, 3000], pieces: [5000], chunked: false, lockstep: false, stall: false})
    await check(pair, agent, {seed: 8, bodyLength: 100, headCuts: [2000], pieces: [100], chunked: true, lockstep: false, stall: false})
    expect(rawCounts.requests - before).toBe(4)
  }, 60_000)

  it('a head with hop-by-hop lines anywhere, in pieces or whole, with its body in the same read or not: they are cut, the rest arrives as sent', async () => {
    // (cuts inside the first hop line and inside the long field; then a head and body in one write)
    await check(pair, agent, {seed: 21, bodyLength: 3000, headCuts: [20, 30, 2000], pieces: [3000], chunked: false, lockstep: false, stall: false, hop: [['Connection: keep-alive', 0], ['Keep-Alive: timeout=5', 1], ['Proxy-Connection: keep-alive', 3]]})
    await check(pair, agent, {seed: 22, bodyLength: 700, headCuts: [], pieces: [700], chunked: true, lockstep: false, stall: false, hop: [['TE: trailers', 2], ['Connection: keep-alive', 3]]})
    await check(pair, agent, {seed: 23, bodyLength: 0, headCuts: [], pieces: [1], chunked: false, lockstep: false, stall: false, hop: [['connection: Keep-Alive', 3]]})
  }, 60_000)

  it('a body in pieces, each read on its own, arrives whole', async () => {
    await check(pair, agent, {seed: 11, bodyLength: 300_000, headCuts: [], pieces: [1, 7000, 8192, 8193, 65536, 65537, 1000, 100_000], chunked: false, lockstep: true, stall: false})
    await check(pair, agent, {seed: 12, bodyLength: 100_000, headCuts: [], pieces: [8192, 1, 70_000, 5], chunked: true, lockstep: true, stall: false})
  }, 60_000)

  it('a body larger than the socket buffers on the way, to a client that stops reading, arrives whole (queued writes keep their buffers)', async () => {
    await check(pair, agent, {seed: 21, bodyLength: 24 * 1024 * 1024, headCuts: [], pieces: Array(24).fill(1024 * 1024), chunked: false, lockstep: false, stall: true})
    await check(pair, agent, {seed: 22, bodyLength: 12 * 1024 * 1024, headCuts: [], pieces: Array(48).fill(256 * 1024), chunked: true, lockstep: false, stall: true})
  }, 120_000)

  it('generated responses: head cuts, body pieces, framing, lockstep or burst, stalled or reading clients', async () => {
    const script = fc.record({
      seed: fc.integer({min: 1, max: 2 ** 31 - 1}),
      bodyLength: fc.oneof(fc.integer({min: 0, max: 20_000}), fc.integer({min: 60_000, max: 400_000})),
      headCuts: fc.uniqueArray(fc.integer({min: 1, max: 4100}), {maxLength: 3}).map((a) => a.sort((x, y) => x - y)),
      pieces: fc.array(fc.oneof(fc.integer({min: 1, max: 9000}), fc.integer({min: 60_000, max: 140_000})), {minLength: 1, maxLength: 6}),
      chunked: fc.boolean(),
      lockstep: fc.boolean(),
      stall: fc.boolean(),
      hop: fc.array(fc.tuple(fc.constantFrom(...HOP_LINES), fc.nat(3)), {maxLength: 3}),
    })
    await fc.assert(fc.asyncProperty(script, async (sc) => {
      await check(pair, agent, sc)
    }), {numRuns: 40})
  }, 300_000)
})

describe('OwnReads: which buffer the next read goes into', () => {
  /** A pool stand-in (only drop() is called, for a connection no attempt owns). */
  const pool = {dropped: 0, drop() { this.dropped++ }}
  const reads = (owner: {upData(c: Buffer): boolean; crashed(e: unknown): void} | undefined): OwnReads => {
    const r = new OwnReads(pool as unknown as RawPool)
    r.up = {socket: undefined as never, reused: false, freedAt: 0, idleMs: 0, owner: owner as never}
    return r
  }

  it('the same buffer while the owner holds nothing of it; a new one after a read the owner holds', () => {
    let hold = false
    const seen: Buffer[] = []
    const r = reads({upData: (c) => { seen.push(c); return hold }, crashed: () => {}})
    const a = r.buffer() as Buffer
    a.write('hello', 'latin1')
    r.callback(5, a)
    expect(seen.at(-1)!.toString('latin1')).toBe('hello')
    expect(r.buffer()).toBe(a)
    hold = true
    r.callback(3, a)
    const b = r.buffer() as Buffer
    expect(b).not.toBe(a)
    // (the held bytes stay as they were read: nothing reads into `a` again)
    expect(seen.at(-1)!.buffer).toBe(a.buffer)
    hold = false
    r.callback(1, b)
    expect(r.buffer()).toBe(b)
  })

  it('a read that fills the buffer makes the next one bigger; a small read on a big one, small again', () => {
    const r = reads({upData: () => false, crashed: () => {}})
    const small = r.buffer() as Buffer
    r.callback(small.length, small)
    const big = r.buffer() as Buffer
    expect(big.length).toBeGreaterThan(small.length)
    r.callback(big.length - 1, big)
    expect(r.buffer()).toBe(big)
    r.callback(100, big)
    expect((r.buffer() as Buffer).length).toBe(small.length)
  })

  it('an owner that throws keeps the buffer (contained: its crashed() runs); bytes with no owner drop the connection', () => {
    const crashes: unknown[] = []
    const r = reads({upData: () => { throw new Error('boom') }, crashed: (e) => crashes.push(e)})
    const a = r.buffer() as Buffer
    r.callback(10, a)
    expect(crashes).toHaveLength(1)
    expect(r.buffer()).not.toBe(a)
    const orphan = reads(undefined)
    orphan.callback(1, orphan.buffer() as Buffer)
    expect(pool.dropped).toBe(1)
  })
})

describe('a client connection says when a write of it still holds the bytes (RawConn.holdsWrites)', () => {
  it('not after a write the kernel took; yes once writes queue behind a peer that does not read', async () => {
    const peerSockets: net.Socket[] = []
    const server = net.createServer((s) => { s.pause(); peerSockets.push(s) })
    const port = await listenOn(server)
    const socket = net.connect(port, '127.0.0.1')
    await new Promise((r) => socket.once('connect', r))
    // (a side with what the connection reads of it while nothing arrives: the idle timeout, far off)
    const conn = new RawConn({config: {limits: {httpIdleTimeoutMs: 600_000}}, draining: false} as never, undefined as never, socket)
    expect(conn.write(Buffer.alloc(100))).toBe(true)
    expect(conn.holdsWrites()).toBe(false)
    // The peer never reads: the kernel's buffers fill, then writes queue in the stream.
    const piece = Buffer.alloc(4096)
    let writes = 0
    while (!conn.holdsWrites()) {
      conn.write(piece)
      if (++writes % 64 === 0) await new Promise((r) => setImmediate(r))
    }
    expect(socket.writableLength).toBeGreaterThan(0)
    socket.destroy()
    for (const s of peerSockets) s.destroy()
    await closeServer(server)
  }, 60_000)
})
