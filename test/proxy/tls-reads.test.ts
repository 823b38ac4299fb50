// With mTLS, the raw codec reads decrypted bytes the way it reads plain TCP ones: into the shared
// client buffer on the inbound side (conn.ts ClientReads) and into each upstream connection's
// own buffer on the outbound side (raw-pool.ts OwnReads), through Node's `onread` attached to
// the TLS socket (read-buffer.ts readIntoOwnBuffer). Here: the attachment on real TLS sockets,
// both ends of a handshake; the one way a TLS socket can hand over a read while the one before
// is still handled (an empty write: TLSWrap::DoWrite decrypts and delivers inside the write),
// that the tripwire catches it, and that the codec never makes such a write; then requests and
// responses through an mTLS proxy pair, cut the ways that make bytes outlive their read.
import {createHash} from 'node:crypto'
import http from 'node:http'
import net from 'node:net'
import tls from 'node:tls'
import fc from 'fast-check'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import type {EndpointSet} from '../../src/proxy/core/contracts.js'
import {newStats} from '../../src/proxy/core/stats.js'
import {upstreamReadCounts} from '../../src/proxy/endpoint/raw-pool.js'
import {clientReadCounts, RawConn} from '../../src/proxy/http/http1/raw/conn.js'
import {ReadBuffer, readIntoOwnBuffer} from '../../src/proxy/net/read-buffer.js'
import type {Side} from '../../src/proxy/route/side.js'
import {startProxy, type RunningProxy} from '../../src/proxy/server.js'
import {eventually} from '../helpers/eventually.js'
import {closeServer, fixedDiscovery, listenOn, quietLog, testConfig} from './helpers.js'
import {CASES, type Req, requestMixes, seen, sendInPieces} from './reads-harness.js'
import {makePki, nameOf, type TestPki} from './test-identity.js'

/** Records what it is given; on each read, runs `during` (what the owner does inside a read). */
class Recorder extends ReadBuffer {
  readonly got: Buffer[] = []
  reentries = 0
  during: (() => void) | undefined

  constructor(small = 1024, big = 4096) {
    super(small, big)
  }

  protected deliver(chunk: Buffer): boolean {
    this.got.push(Buffer.from(chunk))
    this.during?.()
    return false
  }

  protected reentered(): void {
    this.reentries++
  }

  get text(): string {
    return Buffer.concat(this.got).toString('latin1')
  }
}

let pki: TestPki

beforeAll(() => {
  pki = makePki()
})
afterAll(() => pki.cleanup())

/** A TLS connection over loopback, both ends established: `server` as accepted (paused), `client` as tls.connect made it. */
async function tlsPair(): Promise<{server: tls.TLSSocket; client: tls.TLSSocket; close: () => Promise<void>}> {
  const web = pki.identity('web')
  let take!: (s: tls.TLSSocket) => void
  const got = new Promise<tls.TLSSocket>((r) => { take = r })
  const srv = tls.createServer({SNICallback: (_name, cb) => cb(null, web.serverContext()), allowHalfOpen: true}, (s) => {
    s.pause()
    take(s)
  })
  const port = await listenOn(srv)
  const client = tls.connect({host: '127.0.0.1', port, ca: pki.ca, servername: nameOf('web')})
  client.on('error', () => {})
  await new Promise<void>((r) => client.once('secureConnect', () => r()))
  const server = await got
  server.on('error', () => {})
  return {server, client, close: async () => { client.destroy(); server.destroy(); await closeServer(srv) }}
}

/** Deterministic text of `n` bytes. */
const text = (seed: number, n: number): string => {
  let s = ''
  let x = seed
  while (s.length < n) {
    x = (x * 1103515245 + 12345) >>> 0
    s += String.fromCharCode(0x21 + (x % 94))
  }
  return s
}

describe('readIntoOwnBuffer on a TLS socket', () => {
  it.each(['server', 'client'] as const)('the %s end: decrypted bytes go to the owner in order, none as \'data\'; the end still ends the stream', async (end) => {
    const p = await tlsPair()
    try {
      const [reader, writer] = end === 'server' ? [p.server, p.client] : [p.client, p.server]
      const r = new Recorder()
      let data = 0
      reader.on('data', () => { data++ })
      const ended = new Promise<void>((resolve) => reader.once('end', resolve))
      expect(readIntoOwnBuffer(reader, r)).toBe(true)
      reader.resume()
      let want = ''
      // Pieces smaller than the buffer and larger than it, and larger than a TLS record (16 KB).
      for (const [i, n] of [3, 900, 1024, 5000, 40_000, 1].entries()) {
        const piece = text(i + 1, n)
        want += piece
        writer.write(piece)
        await eventually(`the owner has ${want.length} bytes`, () => (r.text.length >= want.length ? true : undefined), {intervalMs: 2})
      }
      writer.end()
      await ended
      expect(r.text).toBe(want)
      expect(data).toBe(0)
      expect(r.reentries).toBe(0)
    } finally {
      await p.close()
    }
  })
})

describe('a read inside a read: an empty write to a TLS socket, and the tripwires', () => {
  // Three TLS records in one write reach the reader in one TCP read; TLSWrap decrypts them one
  // by one, handing each to the callback. Inside the callback for the first, the owner writes.
  // Node 20's TLSWrap answers an empty write by decrypting what it holds and handing it over
  // inside the write (DoWrite calls ClearOut), into the buffer being handled; Node 24's does not
  // (checked by hand on both). The codec never writes an empty buffer (RawConn.write, the
  // upstream's sendUp); on a runtime that reads inside the write, the tripwire sees it.
  async function readWhileWriting(write: Buffer): Promise<{r: Recorder; want: string}> {
    const p = await tlsPair()
    try {
      const r = new Recorder(64 * 1024, 64 * 1024)
      let wrote = false
      r.during = () => {
        if (wrote) return
        wrote = true
        p.server.write(write)
      }
      expect(readIntoOwnBuffer(p.server, r)).toBe(true)
      const want = text(7, 40_000)
      p.client.write(want)
      p.server.resume()
      await eventually('the reader has every byte, or saw a read inside a read', () => (r.text.length >= want.length || r.reentries > 0 ? true : undefined), {intervalMs: 2})
      return {r, want}
    } finally {
      await p.close()
    }
  }

  it('an empty write inside a read never goes unseen: the runtime reads nothing inside it, or the tripwire fires', async () => {
    const {r, want} = await readWhileWriting(Buffer.alloc(0))
    if (r.reentries === 0) expect(r.text).toBe(want)
    else expect(r.reentries).toBeGreaterThan(0)
  })

  it('a write with bytes inside a read does not read: every byte in order, no read inside a read', async () => {
    const {r, want} = await readWhileWriting(Buffer.from('pong'))
    expect(r.reentries).toBe(0)
    expect(r.text).toBe(want)
  })

  it('ReadBuffer: a read handed over inside a read goes to the tripwire, not to the owner', () => {
    const r = new Recorder(16, 64)
    const buf = r.buffer()
    buf.write('outer')
    r.during = () => {
      r.during = undefined
      // (what Node would do: the next read, into the buffer it was last given)
      buf.write('inner')
      r.callback(5, buf)
    }
    r.callback(5, buf)
    expect(r.reentries).toBe(1)
    expect(r.text).toBe('outer')
  })

  it('the shared client buffer: a read of another connection inside a read cuts both connections, counted', async () => {
    const server = http.createServer()
    const srv = net.createServer({pauseOnConnect: true})
    const port = await listenOn(srv)
    const accepted: net.Socket[] = []
    srv.on('connection', (s) => accepted.push(s))
    const a = net.connect(port, '127.0.0.1')
    const b = net.connect(port, '127.0.0.1')
    for (const s of [a, b]) s.on('error', () => {})
    await eventually('both accepted', () => (accepted.length === 2 ? true : undefined), {intervalMs: 1})
    const [sa, sb] = accepted as [net.Socket, net.Socket]
    try {
      const stats = newStats()
      let inside: (() => void) | undefined
      // (what RawConn reads of its side up to a request's route policy: prepare is asked inside the read of a whole head)
      const side = {
        direction: 'inbound', config: testConfig(), log: quietLog(), draining: false, observer: undefined, stats,
        prepare: () => {
          inside?.()
          return new Promise(() => {})
        },
      } as unknown as Side
      const ca = new RawConn(side, server, sa)
      const cb = new RawConn(side, server, sb)
      for (const s of [sa, sb]) s.on('error', () => {})
      ca.readOwn()
      cb.readOwn()
      sa.resume()
      sb.resume()
      // b's read callback, called inside a's read: what a runtime reading inside a write would do
      const slot = Object.getOwnPropertySymbols(sb).find((k) => k.description === 'kBufferCb')!
      const bRead = (sb as unknown as Record<symbol, (n: number) => boolean>)[slot]
      inside = () => {
        inside = undefined
        bRead(3)
      }
      const closed = Promise.all([sa, sb].map((s) => new Promise<void>((r) => s.once('close', () => r()))))
      a.write('GET / HTTP/1.1\r\nhost: web.local\r\n\r\n')
      await closed
      expect(sa.destroyed && sb.destroyed).toBe(true)
      expect(stats.refused.internal_error).toBe(2)
    } finally {
      a.destroy()
      b.destroy()
      await closeServer(srv)
    }
  })
})

describe('a TLS client connection says when a write of it still holds the bytes (RawConn.holdsWrites)', () => {
  it('not after a write with nothing before it in the stream (TLSWrap took it); yes after one queued behind a write in flight', async () => {
    const p = await tlsPair()
    try {
      // (a side with what the connection reads of it while nothing arrives: the idle timeout, far off)
      const conn = new RawConn({config: {limits: {httpIdleTimeoutMs: 600_000}}, draining: false} as never, undefined as never, p.server)
      expect(conn.write(Buffer.alloc(100, 1))).toBe(true)
      expect(p.server.writableLength).toBe(100)
      expect(conn.holdsWrites()).toBe(false)
      // A second write while the first is in flight waits in the stream, as the caller's buffer.
      const queued = Buffer.alloc(100, 2)
      conn.write(queued)
      expect(conn.holdsWrites()).toBe(true)
      // Asked again with no write since: nothing new is held by a write.
      expect(conn.holdsWrites()).toBe(false)
      await eventually('the writes are done', () => (p.server.writableLength === 0 ? true : undefined), {intervalMs: 1})
      expect(conn.write(Buffer.alloc(50, 3))).toBe(true)
      expect(conn.holdsWrites()).toBe(false)
      // A corked write waits in the stream too.
      await eventually('the writes are done', () => (p.server.writableLength === 0 ? true : undefined), {intervalMs: 1})
      conn.cork()
      conn.write(Buffer.alloc(10, 4))
      conn.uncork()
      expect(conn.holdsWrites()).toBe(true)
      // The peer got every byte, in order.
      let got = Buffer.alloc(0)
      p.client.on('data', (d: Buffer) => { got = Buffer.concat([got, d]) })
      await eventually('the peer has every byte', () => (got.length >= 260 ? true : undefined), {intervalMs: 1})
      expect(got).toEqual(Buffer.concat([Buffer.alloc(100, 1), Buffer.alloc(100, 2), Buffer.alloc(50, 3), Buffer.alloc(10, 4)]))
    } finally {
      await p.close()
    }
  })
})

describe('raw codec over mTLS: both TLS sides read into buffers of their own', () => {
  let backend: http.Server
  let inbound: RunningProxy
  let outbound: RunningProxy
  /** Bytes of the big response a path asks for, and whether the backend found the client full. */
  const big = {size: 24 * 1024 * 1024, blocked: false}
  const saved = process.env.MESH_PROXY_HTTP1_CODEC

  beforeAll(async () => {
    process.env.MESH_PROXY_HTTP1_CODEC = 'raw'
    backend = http.createServer((req, res) => {
      if (req.url === '/big') {
        res.writeHead(200, {'content-length': big.size})
        let sent = 0
        const more = (): void => {
          while (sent < big.size) {
            const n = Math.min(256 * 1024, big.size - sent)
            const ok = res.write(bigBytes(sent, n))
            sent += n
            if (!ok) {
              big.blocked = true
              res.once('drain', more)
              return
            }
          }
          res.end()
        }
        more()
        return
      }
      seen(req, (got) => res.writeHead(200, {'content-length': Buffer.byteLength(got), connection: 'keep-alive'}).end(got))
    })
    const appPort = await listenOn(backend)
    inbound = await startProxy(testConfig({inboundForward: {host: '127.0.0.1', port: appPort}}), {log: quietLog(), originalDst: null, identity: pki.identity('web')})
    const ep: EndpointSet = {endpoints: [{host: '127.0.0.1', port: inbound.ports.inbound, identity: nameOf('web'), labels: {}}]}
    outbound = await startProxy(testConfig(), {log: quietLog(), originalDst: null, identity: pki.identity('client'), discovery: fixedDiscovery({'web.local:80': ep})})
  })
  afterAll(async () => {
    if (saved === undefined) delete process.env.MESH_PROXY_HTTP1_CODEC
    else process.env.MESH_PROXY_HTTP1_CODEC = saved
    await Promise.all([outbound?.close(200), inbound?.close(200)])
    await closeServer(backend)
  })

  const run = (reqs: Req[], cuts: number[]): Promise<void> => sendInPieces(outbound.ports.outbound, reqs, cuts)
  const get = (seed: number, longLength: number): Req => ({seed, longLength, bodyLength: 0, chunked: false, http10: false})

  it('the inbound proxy\'s TLS client and the outbound\'s TLS upstream read without the stream\'s \'data\'', async () => {
    const before = structuredClone(clientReadCounts)
    const up = structuredClone(upstreamReadCounts)
    await run([get(1, 10), get(2, 10)], [60])
    expect(clientReadCounts.attached.inbound).toBeGreaterThan(before.attached.inbound)
    expect(clientReadCounts.reads.inbound).toBeGreaterThan(before.reads.inbound)
    expect(upstreamReadCounts.attached.tls).toBeGreaterThan(up.attached.tls)
    expect(upstreamReadCounts.reads.tls).toBeGreaterThan(up.reads.tls)
  })

  it('pipelined requests, heads cut inside a field, bodies in pieces (Content-Length, chunked) arrive as written', async () => {
    await run(...CASES.pipelined)
    await run(...CASES.bodies)
  })

  it('a request the inbound hands to Node\'s parser after raw ones arrives as written', async () => {
    await run(...CASES.handover)
  })

  it('generated: request mixes cut at random points', async () => {
    await fc.assert(fc.asyncProperty(requestMixes(4, 40_000), async ([reqs, cuts]) => {
      await run(reqs, cuts)
    }), {numRuns: 30})
  }, 120_000)

  it('a big response through the TLS upstream to a client that stops reading arrives as sent', async () => {
    big.blocked = false
    const sock = net.connect(outbound.ports.outbound, '127.0.0.1')
    sock.on('error', () => {})
    await new Promise<void>((resolve) => sock.once('connect', resolve))
    try {
      const hash = createHash('sha256')
      let got = 0
      let headSeen = false
      let pending = Buffer.alloc(0)
      const done = new Promise<void>((resolve) => {
        sock.on('data', (d: Buffer) => {
          if (!headSeen) {
            pending = Buffer.concat([pending, d])
            const end = pending.indexOf('\r\n\r\n')
            if (end < 0) return
            headSeen = true
            d = pending.subarray(end + 4)
          }
          hash.update(d)
          got += d.length
          if (got >= big.size) resolve()
        })
      })
      sock.pause()
      sock.write('GET /big HTTP/1.1\r\nhost: web.local\r\n\r\n')
      // (the client reads nothing until the backend is blocked: every buffer on the way is full)
      await eventually('the backend is blocked', () => (big.blocked ? true : undefined), {intervalMs: 5})
      sock.resume()
      await done
      expect(got).toBe(big.size)
      expect(hash.digest('hex')).toBe(createHash('sha256').update(bigBytes(0, big.size)).digest('hex'))
    } finally {
      sock.destroy()
    }
  }, 60_000)
})

/** The big response's bytes from `at`, `n` of them (a function of the offset: any piece can be checked). */
function bigBytes(at: number, n: number): Buffer {
  const b = Buffer.allocUnsafe(n)
  for (let i = 0; i < n; i++) {
    const k = at + i
    b[i] = (k * 31 + (k >>> 8) * 7 + (k >>> 16)) & 0xff
  }
  return b
}
