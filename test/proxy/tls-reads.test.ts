// With mTLS, the raw codec reads decrypted bytes the way it reads plain TCP ones: into the shared
// client buffer on the inbound side (conn.ts ClientReads) and into each upstream connection's
// own buffer on the outbound side (raw-pool.ts OwnReads), through Node's `onread` attached to
// the TLS socket (read-buffer.ts readIntoOwnBuffer). Here: the attachment on real TLS sockets,
// both ends of a handshake; the one way a TLS socket can hand over a read while the one before
// is still handled (an empty write: TLSWrap::DoWrite decrypts and delivers inside the write),
// that the tripwire catches it, and that the codec never makes such a write; then requests and
// responses through an mTLS proxy pair, cut the ways that make bytes outlive their read.
import tls from 'node:tls'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {ReadBuffer, readIntoOwnBuffer} from '../../src/proxy/net/read-buffer.js'
import {eventually} from '../helpers/eventually.js'
import {closeServer, listenOn} from './helpers.js'
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
  const client = tls.connect({host: '127.0.0.1', port, ca: pki.ca, servername: nameOf('web'), allowHalfOpen: true})
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

describe('a TLS socket hands over a read inside an empty write', () => {
  // Three TLS records in one write reach the reader in one TCP read; TLSWrap decrypts them one
  // by one, handing each to the callback. Inside the callback for the first, the owner writes.
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

  it('an empty write inside a read: the next read comes inside the write, into the buffer being handled (the tripwire sees it)', async () => {
    const {r} = await readWhileWriting(Buffer.alloc(0))
    expect(r.reentries).toBeGreaterThan(0)
  })

  it('a write with bytes inside a read does not read: every byte in order, no read inside a read', async () => {
    const {r, want} = await readWhileWriting(Buffer.from('pong'))
    expect(r.reentries).toBe(0)
    expect(r.text).toBe(want)
  })
})
