// What the read tests send through a proxy pair and check at the backend (client-reads and
// tls-reads): requests made from seeds (a long field, a body, Content-Length or chunked, HTTP/1.0
// for a handover), sent as one byte stream cut at given points, each piece sent only once the
// outbound proxy has read the one before; the backend answers each with what it saw.
import {createHash} from 'node:crypto'
import type http from 'node:http'
import net from 'node:net'
import fc from 'fast-check'
import {expect} from 'vitest'
import {clientReadCounts, rawCounts} from '../../src/proxy/http/http1/raw/conn.js'
import {eventually} from '../helpers/eventually.js'
import {xorshiftBytes} from '../helpers/xorshift.js'

/** Deterministic visible ASCII for a seed. */
export const text = (seed: number, n: number): string => xorshiftBytes(seed, n, {ascii: true}).toString('latin1')

export interface Req {
  seed: number
  /** A field long enough that heads span reads (the client's buffer starts at 2 KB). */
  longLength: number
  bodyLength: number
  chunked: boolean
  /** HTTP/1.0 with keep-alive: the raw codec hands the connection to Node's parser for it. */
  http10: boolean
}

/** What the backend reports of a request: method, path, the long field's digest, the body's. */
export function digest(method: string, path: string, long: string, body: string | Buffer): string {
  const h = (v: string | Buffer): string => createHash('sha256').update(v).digest('hex').slice(0, 16)
  return `${method} ${path} ${h(long)} ${h(body)}`
}

/** Reads a request's body, then gives its digest as the backend saw it (the two backends below answer with it). */
export function seen(req: http.IncomingMessage, then: (digest: string) => void): void {
  const chunks: Buffer[] = []
  req.on('data', (c: Buffer) => chunks.push(c))
  req.on('end', () => then(digest(req.method ?? '', req.url ?? '', String(req.headers['x-long'] ?? ''), Buffer.concat(chunks))))
}

export function serialize(r: Req, i: number): {bytes: Buffer; want: string} {
  const long = text(r.seed, r.longLength)
  const body = text(r.seed ^ 0x2545f491, r.bodyLength)
  const method = r.bodyLength > 0 || r.chunked ? 'POST' : 'GET'
  const path = `/r${i}?s=${r.seed}`
  let framing = ''
  let payload = body
  if (r.chunked) {
    framing = 'transfer-encoding: chunked\r\n'
    // (the body in chunks of up to 700 bytes, then the last chunk)
    payload = ''
    for (let at = 0; at < body.length; at += 700) {
      const c = body.slice(at, at + 700)
      payload += `${c.length.toString(16)}\r\n${c}\r\n`
    }
    payload += '0\r\n\r\n'
  } else if (method === 'POST') framing = `content-length: ${body.length}\r\n`
  const version = r.http10 ? 'HTTP/1.0' : 'HTTP/1.1'
  const keep = r.http10 ? 'connection: keep-alive\r\n' : ''
  const head = `${method} ${path} ${version}\r\nhost: web.local\r\nx-long: ${long}\r\n${keep}${framing}\r\n`
  return {bytes: Buffer.from(head + payload, 'latin1'), want: digest(method, path, long, body)}
}

/** Reads `n` responses (Content-Length framed) from `sock`; each body as text. `orClose`: fewer if the connection closes first (else that is an error). */
export function responses(sock: net.Socket, n: number, orClose = false): Promise<string[]> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0)
    const out: string[] = []
    const onData = (d: Buffer): void => {
      buf = Buffer.concat([buf, d])
      for (;;) {
        const end = buf.indexOf('\r\n\r\n')
        if (end < 0) return
        const head = buf.subarray(0, end).toString('latin1')
        const len = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 'NaN')
        if (!Number.isFinite(len)) return reject(new Error(`a response without content-length: ${head}`))
        if (buf.length < end + 4 + len) return
        const status = head.slice(9, 12)
        out.push(status === '200' ? buf.subarray(end + 4, end + 4 + len).toString('latin1') : `status ${status}: ${buf.subarray(end + 4, end + 4 + len).toString('latin1')}`)
        buf = buf.subarray(end + 4 + len)
        if (out.length === n) {
          sock.off('data', onData)
          resolve(out)
          return
        }
      }
    }
    sock.on('data', onData)
    sock.once('close', () => (orClose ? resolve(out) : reject(new Error(`the connection closed after ${out.length} of ${n} responses`))))
  })
}

/**
 * Sends `reqs` on one connection to an outbound proxy's `port` as one byte stream cut at `cuts`, each
 * piece only once the proxy has read the one before (so each is a read of its own), and
 * checks the backend saw each request as written, in order.
 */
export async function sendInPieces(port: number, reqs: Req[], cuts: number[]): Promise<void> {
  const parts = reqs.map((r, i) => serialize(r, i))
  const stream = Buffer.concat(parts.map((p) => p.bytes))
  // (the first piece holds at least the first request line: protocol detection reads it, then the raw codec's own reads start)
  const firstLine = stream.indexOf('\r\n') + 2
  const sock = net.connect(port, '127.0.0.1')
  sock.setNoDelay(true)
  sock.on('error', () => {})
  await new Promise<void>((resolve) => sock.once('connect', resolve))
  const answers = responses(sock, reqs.length)
  answers.catch(() => {})
  const attached = clientReadCounts.attached.outbound
  const handovers = rawCounts.handovers
  try {
    let at = 0
    for (const cut of [...cuts.filter((c) => c >= firstLine && c < stream.length).sort((a, b) => a - b), stream.length]) {
      if (cut <= at) continue
      const reads = clientReadCounts.reads.outbound
      sock.write(stream.subarray(at, cut))
      if (at === 0) await eventually('the raw codec reads the connection', () => (clientReadCounts.attached.outbound > attached ? true : undefined), {intervalMs: 1})
      else if (cut < stream.length) {
        // Each piece is read on its own before the next is sent (once a request went to Node's parser, its reads are Node's).
        await eventually(`the proxy read the piece ending at ${cut}`, () => (clientReadCounts.reads.outbound > reads || rawCounts.handovers > handovers ? true : undefined), {intervalMs: 1})
      }
      at = cut
    }
    expect(await answers).toEqual(parts.map((p) => p.want))
  } finally {
    sock.destroy()
  }
}

/**
 * Generated request mixes, each with the points to cut its byte stream at: up to `maxRequests`
 * requests, bodies up to `bigBody` bytes. At most ~15 KB a connection: pipelined requests past a
 * head's worth (16 KB) pause the reads, and each piece is awaited.
 */
export function requestMixes(maxRequests: number, bigBody: number): fc.Arbitrary<[Req[], number[]]> {
  const req = fc.record({
    seed: fc.integer({min: 1, max: 2 ** 31 - 1}),
    longLength: fc.oneof(fc.integer({min: 0, max: 200}), fc.integer({min: 1800, max: 4000})),
    bodyLength: fc.oneof(fc.constant(0), fc.integer({min: 1, max: 3000}), fc.integer({min: 5000, max: bigBody})),
    chunked: fc.boolean(),
    http10: fc.constant(false),
  })
  return fc.array(req, {minLength: 1, maxLength: maxRequests}).map((reqs) => {
    let total = 0
    return reqs.filter((r, i) => (total += serialize(r, i).bytes.length) <= 15_000 || i === 0)
  }).chain((reqs) => {
    const total = reqs.reduce((n, r, i) => n + serialize(r, i).bytes.length, 0)
    return fc.tuple(fc.constant(reqs), fc.uniqueArray(fc.integer({min: 1, max: total - 1}), {maxLength: 8}))
  })
}

const get = (seed: number, longLength: number): Req => ({seed, longLength, bodyLength: 0, chunked: false, http10: false})

/** The cases both pairs (plaintext, mTLS) run by name: requests, and where their stream is cut. */
export const CASES: Record<'pipelined' | 'manySmall' | 'bodies' | 'handover', [Req[], number[]]> = {
  /** A head cut inside its long field, then the rest with the next two requests pipelined behind it. */
  pipelined: [[get(3, 3000), get(4, 100), get(5, 2500)], [100, 1500, 3050, 3100]],
  /** Many small pipelined heads in one read, then one cut mid-line. */
  manySmall: [[get(6, 5), get(7, 5), get(8, 5), get(9, 5), get(10, 5)], [20, 150, 151]],
  /** Bodies in pieces, Content-Length and chunked, each piece read on its own. */
  bodies: [[
    {seed: 11, longLength: 50, bodyLength: 9000, chunked: false, http10: false},
    {seed: 12, longLength: 50, bodyLength: 5000, chunked: true, http10: false},
    {seed: 13, longLength: 50, bodyLength: 0, chunked: false, http10: false},
  ], [150, 151, 2000, 2048, 4100, 9100, 9200, 12_000, 13_500]],
  /** A request the raw codec hands to Node's parser (HTTP/1.0) after a raw one, with the next behind it. */
  handover: [[
    {seed: 21, longLength: 40, bodyLength: 0, chunked: false, http10: false},
    {seed: 22, longLength: 40, bodyLength: 300, chunked: false, http10: true},
    {seed: 23, longLength: 40, bodyLength: 0, chunked: false, http10: false},
  ], [30, 200, 210]],
}
