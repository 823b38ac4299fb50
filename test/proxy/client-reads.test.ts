// The raw codec reads every plain TCP client connection into one shared buffer (conn.ts
// ClientReads, attached by read-buffer.ts readIntoOwnBuffer: Node has no `onread` option for
// accepted sockets) and copies out of it what outlives a read: part of a head or pipelined
// requests waiting, a body's bytes on their way upstream (kept for a retry), a request head the
// exchange keeps, bytes handed to Node's parser. Here: the attachment itself on real sockets
// (the supported runtime must take it), bytes the stream read ahead of it taken first, then
// requests through the proxy pair cut the ways that make bytes outlive their read: pipelined
// requests, heads and bodies in pieces each read on its own, Content-Length and chunked bodies,
// requests the raw codec hands to Node's parser after raw ones, retried requests whose next
// request was read meanwhile; generated mixes of these.
// The backend must see every request exactly as the client wrote it.
import http from 'node:http'
import net from 'node:net'
import fc from 'fast-check'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {clientReadCounts, RawConn, rawCounts} from '../../src/proxy/http/http1/raw/conn.js'
import {ReadBuffer, readIntoOwnBuffer} from '../../src/proxy/net/read-buffer.js'
import {eventually} from '../helpers/eventually.js'
import {CASES, digest, type Req, requestMixes, responses, seen, sendInPieces, text} from './reads-harness.js'
import type {Side} from '../../src/proxy/route/side.js'
import {startProxy, type RunningProxy} from '../../src/proxy/server.js'
import {closeServer, listenOn, quietLog, startPair, testConfig, type Pair} from './helpers.js'

/** Records what it is given; holds (or not) as told. */
class Recorder extends ReadBuffer {
  readonly got: Buffer[] = []
  hold = false

  constructor() {
    super(16, 64)
  }

  protected deliver(chunk: Buffer): boolean {
    this.got.push(Buffer.from(chunk))
    return this.hold
  }

  protected reentered(): void {
    throw new Error('a read inside a read (a plain TCP socket never does it)')
  }
}

/** A connected pair: `accepted` as a server accepts it (paused, as the proxy's listener does), `client` its peer. */
async function acceptedPair(): Promise<{accepted: net.Socket; client: net.Socket; close: () => Promise<void>}> {
  let take!: (s: net.Socket) => void
  const got = new Promise<net.Socket>((r) => { take = r })
  const server = net.createServer({pauseOnConnect: true, allowHalfOpen: true}, take)
  const port = await listenOn(server)
  const client = net.connect(port, '127.0.0.1')
  client.on('error', () => {})
  const accepted = await got
  accepted.on('error', () => {})
  return {accepted, client, close: async () => { client.destroy(); accepted.destroy(); await closeServer(server) }}
}

const joined = (r: Recorder): string => Buffer.concat(r.got).toString('latin1')

describe('readIntoOwnBuffer: an accepted socket reads into a buffer of its own', () => {
  it('takes on this runtime (the raw codec\'s client reads depend on it), and not twice', async () => {
    const p = await acceptedPair()
    try {
      expect(readIntoOwnBuffer(p.accepted, new Recorder())).toBe(true)
      expect(readIntoOwnBuffer(p.accepted, new Recorder())).toBe(false)
    } finally {
      await p.close()
    }
  })

  it('bytes go to the owner in order, none as \'data\'; the end still ends the stream', async () => {
    const p = await acceptedPair()
    try {
      const r = new Recorder()
      let data = 0
      p.accepted.on('data', () => { data++ })
      const ended = new Promise<void>((resolve) => p.accepted.once('end', resolve))
      expect(readIntoOwnBuffer(p.accepted, r)).toBe(true)
      p.accepted.resume()
      let want = ''
      // Pieces larger than the buffer (16 bytes here) and smaller, each read before the next is sent.
      for (const piece of ['abc', 'x'.repeat(40), 'defghij', 'y'.repeat(200), 'z']) {
        want += piece
        p.client.write(piece)
        await eventually(`the owner has ${want.length} bytes`, () => (joined(r).length >= want.length ? true : undefined), {intervalMs: 2})
      }
      p.client.end()
      await ended
      expect(joined(r)).toBe(want)
      expect(data).toBe(0)
    } finally {
      await p.close()
    }
  })

  it('a fixed buffer, shared by two connections: each read reaches its own connection\'s callback', async () => {
    const a = await acceptedPair()
    const b = await acceptedPair()
    try {
      const shared = Buffer.alloc(32)
      const got = {a: '', b: ''}
      const onread = (k: 'a' | 'b'): net.OnReadOpts => ({buffer: shared, callback: (n: number, buf: Uint8Array) => { got[k] += Buffer.from(buf.subarray(0, n)).toString('latin1'); return true }})
      expect(readIntoOwnBuffer(a.accepted, onread('a'))).toBe(true)
      expect(readIntoOwnBuffer(b.accepted, onread('b'))).toBe(true)
      a.accepted.resume()
      b.accepted.resume()
      let wantA = ''
      let wantB = ''
      for (let i = 0; i < 20; i++) {
        const pa = `a${i}-`.repeat(1 + (i % 7))
        const pb = `B${i}+`.repeat(1 + ((i * 3) % 11))
        wantA += pa
        wantB += pb
        a.client.write(pa)
        b.client.write(pb)
      }
      await eventually('both connections read all', () => (got.a.length >= wantA.length && got.b.length >= wantB.length ? true : undefined), {intervalMs: 2})
      expect(got).toEqual({a: wantA, b: wantB})
    } finally {
      await a.close()
      await b.close()
    }
  })

  it('a ReadBuffer is read into again only after a read its owner holds nothing of', async () => {
    const p = await acceptedPair()
    try {
      const r = new Recorder()
      expect(readIntoOwnBuffer(p.accepted, r)).toBe(true)
      const first = r.buffer()
      // (buffer() is what Node asks for after each read: the same buffer while nothing is held)
      r.callback(3, first)
      expect(r.buffer()).toBe(first)
      r.hold = true
      r.callback(3, first)
      const second = r.buffer()
      expect(second).not.toBe(first)
      r.hold = false
      r.callback(16, second)
      // (a read that filled it: the next one is bigger)
      expect(r.buffer().length).toBe(64)
    } finally {
      await p.close()
    }
  })
})

describe('RawConn.readOwn: what the stream read ahead of the detected head comes first', () => {
  // Detection reads the request line through the stream, and the stream may read more behind
  // it before the raw codec attaches its own reads. readOwn takes those bytes first, so no read
  // through the shared buffer overtakes them. Here the stream holds bytes at attachment and
  // stays paused after it. (serveRaw resumes the stream at once, and Node's resume flushes the
  // bytes before any read can come, drain or not: this pins readOwn's own guarantee.) The
  // request is HTTP/1.0: the raw codec hands it to Node's parser once its head is whole, in
  // the order it took the bytes, so an http.Server sees that order.
  it('the bytes read ahead go before the next read\'s, on a real socket', async () => {
    const p = await acceptedPair()
    const server = http.createServer((req, res) => {
      seen(req, (got) => res.writeHead(200, {'content-length': Buffer.byteLength(got)}).end(got))
    })
    try {
      const long = text(41, 900)
      const body = text(42, 300)
      const line = 'POST /ahead HTTP/1.0\r\n'
      const ahead = `host: web.local\r\nx-long: ${long}\r\n`
      const later = `content-length: ${body.length}\r\n\r\n${body}`
      const answers = responses(p.client, 1)
      answers.catch(() => {})
      p.client.write(line + ahead)
      // (read(0) starts the reads of a paused socket: what comes waits in the stream's buffer)
      p.accepted.read(0)
      await eventually('the stream read the line and the bytes behind it', () => (p.accepted.readableLength === line.length + ahead.length ? true : undefined), {intervalMs: 1})
      // What detection would have taken: the request line; the rest stays in the stream.
      const head = p.accepted.read(line.length) as Buffer
      expect(head.toString('latin1')).toBe(line)
      expect(p.accepted.readableLength).toBe(ahead.length)
      // (what RawConn reads of its side before a handover: nothing asks it for a route)
      const side = {direction: 'outbound', config: testConfig(), log: quietLog(), draining: false} as unknown as Side
      const c = new RawConn(side, server, p.accepted)
      c.onData(head)
      const attached = clientReadCounts.attached.outbound
      const reads = clientReadCounts.reads.outbound
      c.readOwn()
      expect(clientReadCounts.attached.outbound).toBe(attached + 1)
      expect(p.accepted.readableLength).toBe(0)
      // The rest of the head and the body: a read through the shared buffer, the stream still paused.
      p.client.write(later)
      await eventually('the rest came through the shared buffer', () => (clientReadCounts.reads.outbound > reads ? true : undefined), {intervalMs: 1})
      expect(await answers).toEqual([digest('POST', '/ahead', long, body)])
    } finally {
      await p.close()
      await closeServer(server)
    }
  })
})

describe('raw codec: client reads into the shared buffer', () => {
  let backend: http.Server
  let pair: Pair
  const saved = process.env.MESH_PROXY_HTTP1_CODEC

  beforeAll(async () => {
    process.env.MESH_PROXY_HTTP1_CODEC = 'raw'
    backend = http.createServer((req, res) => {
      seen(req, (body) => {
        res.writeHead(200, {'content-length': Buffer.byteLength(body), connection: 'keep-alive'})
        res.end(body)
      })
    })
    pair = await startPair('web.local:80', await listenOn(backend))
  })
  afterAll(async () => {
    if (saved === undefined) delete process.env.MESH_PROXY_HTTP1_CODEC
    else process.env.MESH_PROXY_HTTP1_CODEC = saved
    await pair.close()
    await closeServer(backend)
  })

  const run = (reqs: Req[], cuts: number[]): Promise<void> => sendInPieces(pair.client.ports.outbound, reqs, cuts)

  it('the raw codec\'s client reads come through the shared buffer (not the stream\'s \'data\')', async () => {
    const before = structuredClone(clientReadCounts)
    const raw = rawCounts.requests
    await run([{seed: 1, longLength: 10, bodyLength: 0, chunked: false, http10: false}, {seed: 2, longLength: 10, bodyLength: 0, chunked: false, http10: false}], [60])
    expect(rawCounts.requests - raw).toBe(4)
    expect(clientReadCounts.reads.outbound).toBeGreaterThan(before.reads.outbound)
    // (the inbound proxy's client is the outbound's upstream connection: its second request comes through the own reads)
    expect(clientReadCounts.reads.inbound).toBeGreaterThan(before.reads.inbound)
  })

  it('pipelined requests and heads cut across reads arrive as written (what waits is copied out of the shared buffer)', async () => {
    await run(...CASES.pipelined)
    await run(...CASES.manySmall)
  })

  it('bodies in pieces, Content-Length and chunked, each piece read on its own, arrive as written', async () => {
    await run(...CASES.bodies)
  })

  it('a request the raw codec hands to Node\'s parser after raw ones, with bytes of the next behind it, arrives as written', async () => {
    await run(...CASES.handover)
  })

  it('generated: request mixes cut at random points', async () => {
    await fc.assert(fc.asyncProperty(requestMixes(5, 9000), async ([reqs, cuts]) => {
      await run(reqs, cuts)
    }), {numRuns: 40})
  }, 120_000)
})

describe('raw codec: a request kept for a retry keeps the bytes it came in', () => {
  // The exchange keeps a request's head and body until its answer, to send them again on a
  // retry. Here its first attempt is answered 503 only after the client's next request was
  // read on the same connection: had the buffer the kept request came in been read into again,
  // the retry would carry the next request's bytes.
  let proxy: RunningProxy
  let backend: http.Server
  /** What each attempt at a kept request's path carried (method, path, long field and body digests). */
  const attempts = new Map<string, string[]>()
  /** Releases the 503 of a path's first attempt. */
  const gates = new Map<string, () => void>()
  const saved = process.env.MESH_PROXY_HTTP1_CODEC

  beforeAll(async () => {
    process.env.MESH_PROXY_HTTP1_CODEC = 'raw'
    backend = http.createServer((req, res) => {
      seen(req, (got) => {
        const kept = attempts.get(req.url ?? '')
        if (kept) {
          kept.push(got)
          if (kept.length === 1) {
            gates.set(req.url!, () => res.writeHead(503, {'content-length': '4'}).end('busy'))
            return
          }
        }
        res.writeHead(200, {'content-length': Buffer.byteLength(got)}).end(got)
      })
    })
    proxy = await startProxy(testConfig({}, `web.local:80=127.0.0.1:${await listenOn(backend)}`), {log: quietLog(), originalDst: null})
  })
  afterAll(async () => {
    if (saved === undefined) delete process.env.MESH_PROXY_HTTP1_CODEC
    else process.env.MESH_PROXY_HTTP1_CODEC = saved
    for (const open of gates.values()) open()
    await proxy.close(100)
    await closeServer(backend)
  })

  it.each([
    ['a PUT with a body read with its head', 'PUT', '/a1', 600, false],
    ['a PUT with a body read after its head', 'PUT', '/a3', 600, true],
    ['a GET (its head alone)', 'GET', '/a2', 0, false],
  ])('%s, retried after a 503, sends what it was read with, though the next request was read meanwhile', async (_name, method, path, bodyLength, split) => {
    attempts.set(path, [])
    const sock = net.connect(proxy.ports.outbound, '127.0.0.1')
    sock.on('error', () => {})
    await new Promise<void>((resolve) => sock.once('connect', resolve))
    try {
      const attached = clientReadCounts.attached.outbound
      const warm = responses(sock, 1)
      sock.write('GET /warm HTTP/1.1\r\nhost: web.local\r\n\r\n')
      await eventually('the raw codec reads the connection', () => (clientReadCounts.attached.outbound > attached ? true : undefined), {intervalMs: 1})
      expect((await warm)[0]).toMatch(/^GET \/warm /)
      const long = text(31, 300)
      const body = text(32, bodyLength)
      const answers = responses(sock, 2)
      answers.catch(() => {})
      let reads = clientReadCounts.reads.outbound
      const framing = bodyLength > 0 ? `content-length: ${bodyLength}\r\n` : ''
      const head = `${method} ${path} HTTP/1.1\r\nhost: web.local\r\nx-long: ${long}\r\n${framing}\r\n`
      if (split) {
        sock.write(head)
        await eventually('the proxy read the head', () => (clientReadCounts.reads.outbound > reads ? true : undefined), {intervalMs: 1})
        sock.write(body)
      } else sock.write(head + body)
      await eventually('the first attempt reached the backend', () => (attempts.get(path)!.length === 1 && gates.has(path) ? true : undefined), {intervalMs: 1})
      expect(clientReadCounts.reads.outbound).toBeGreaterThan(reads)
      reads = clientReadCounts.reads.outbound
      // The next request, longer than the kept one, read before the first attempt is answered.
      sock.write(`GET /b HTTP/1.1\r\nhost: web.local\r\nx-long: ${'Z'.repeat(1200)}\r\n\r\n`)
      await eventually('the proxy read the next request', () => (clientReadCounts.reads.outbound > reads ? true : undefined), {intervalMs: 1})
      const open = gates.get(path)!
      gates.delete(path)
      open()
      const want = digest(method, path, long, body)
      expect(await answers).toEqual([want, digest('GET', '/b', 'Z'.repeat(1200), '')])
      expect(attempts.get(path)).toEqual([want, want])
    } finally {
      sock.destroy()
    }
  })
})
