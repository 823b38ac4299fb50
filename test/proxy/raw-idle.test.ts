// The raw codec's idle timeout on client connections (httpIdleTimeoutMs, drain.ts's shared
// ticker): a keep-alive connection with nothing in progress and no byte either way for that long
// is closed; one that keeps sending requests, or whose request is still being answered, is not.
// The node codec's own keep-alive timeout closes the same idle connection (compared side by side):
// on both, the close is shown to be the idle timeout's (not before it, clean, no error answer,
// and not while the connection is used).
import net from 'node:net'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {rawCounts} from '../../src/proxy/http/http1/raw/conn.js'
import {eventually} from '../helpers/eventually.js'
import {closeServer, startEchoApp, startPair, type EchoApp, type Pair} from './helpers.js'

const IDLE_MS = 1000

/** A keep-alive client connection that sends GETs one at a time and reads each whole answer. */
interface Client {
  get(path: string): Promise<string>
  closed: Promise<void>
  isClosed(): boolean
  socket: net.Socket
  /** performance.now() when the last request was written, and when the connection closed. */
  sentAt: number
  closedAt: number
  /** Bytes received after the last whole answer (an error answer, a 408, would show here). */
  extra(): string
  /** The peer ended the connection cleanly (FIN), and no socket error came. */
  endedCleanly(): boolean
}

async function client(port: number): Promise<Client> {
  const socket = net.connect(port, '127.0.0.1')
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject))
  let closedFlag = false
  let ended = false
  let failed = false
  const closed = new Promise<void>((resolve) => socket.once('close', () => { closedFlag = true; c.closedAt = performance.now(); resolve() }))
  let buf = ''
  /** Where the last whole answer ended in `buf`. */
  let answered = 0
  let waiter: (() => void) | undefined
  socket.setEncoding('latin1')
  socket.on('data', (d: string) => { buf += d; waiter?.() })
  socket.on('end', () => (ended = true))
  socket.on('error', () => (failed = true))
  const c: Client = {
    socket,
    closed,
    sentAt: 0,
    closedAt: 0,
    isClosed: () => closedFlag,
    extra: () => buf.slice(answered),
    endedCleanly: () => ended && !failed,
    get: (path) => new Promise<string>((resolve, reject) => {
      buf = ''
      answered = 0
      const check = (): void => {
        const end = buf.indexOf('\r\n\r\n')
        const cl = /\r\ncontent-length: *(\d+)/i.exec(buf)
        const whole = end >= 0 && (cl ? buf.length >= end + 4 + Number(cl[1]) : buf.endsWith('\r\n0\r\n\r\n'))
        if (whole) {
          waiter = undefined
          answered = cl ? end + 4 + Number(cl[1]) : buf.length
          resolve(buf.slice(0, answered))
        }
      }
      waiter = check
      void closed.then(() => reject(new Error(`closed while waiting for ${path}: ${JSON.stringify(buf)}`)))
      c.sentAt = performance.now()
      socket.write(`GET ${path} HTTP/1.1\r\nHost: web.local\r\n\r\n`)
    }),
  }
  return c
}

/** Resolves when `p` does, or after `ms` (a guard against a hang, never a measure). */
const guard = (p: Promise<void>, ms: number): Promise<void> => Promise.race([p, new Promise<void>((r) => setTimeout(r, ms).unref())])

describe('idle client connections', () => {
  let app: EchoApp
  const pairs: Partial<Record<'node' | 'raw', Pair>> = {}
  const saved = process.env.MESH_PROXY_HTTP1_CODEC

  beforeAll(async () => {
    app = await startEchoApp((req, res) => {
      if (req.url === '/slow') {
        // Answered after three idle timeouts: the connection is busy, not idle, meanwhile.
        setTimeout(() => { if (!res.destroyed) res.end('late') }, 3 * IDLE_MS)
        return true
      }
      return false
    })
    for (const codec of ['node', 'raw'] as const) {
      process.env.MESH_PROXY_HTTP1_CODEC = codec
      pairs[codec] = await startPair('web.local:80', app.port, (c) => { c.limits.httpIdleTimeoutMs = IDLE_MS })
    }
  })
  afterAll(async () => {
    if (saved === undefined) delete process.env.MESH_PROXY_HTTP1_CODEC
    else process.env.MESH_PROXY_HTTP1_CODEC = saved
    for (const p of Object.values(pairs)) await p.close()
    await closeServer(app.server)
  })

  // The close must be the idle timeout's, not any close: the connection outlives the timeout
  // while it is used (below), closes only once the timeout has passed since its last request,
  // cleanly (FIN), with nothing sent after the last answer (no 408 or other error answer).
  it.each(['node', 'raw'] as const)('%s codec: an idle keep-alive connection is closed by the idle timeout', async (codec) => {
    const before = rawCounts.requests
    const c = await client(pairs[codec]!.client.ports.outbound)
    expect(await c.get('/a')).toMatch(/^HTTP\/1\.1 200 /)
    // (served by the codec under test: the raw codec counts its requests, the node codec none)
    if (codec === 'raw') expect(rawCounts.requests).toBeGreaterThan(before)
    else expect(rawCounts.requests).toBe(before)
    expect(c.isClosed()).toBe(false)
    await guard(c.closed, 20_000)
    expect(c.isClosed()).toBe(true)
    expect(c.extra()).toBe('')
    expect(c.endedCleanly()).toBe(true)
    // Not before the timeout: the proxy's clock starts at its answer, after the request was
    // written (Node's timers count whole milliseconds, hence the few allowed).
    expect(c.closedAt - c.sentAt).toBeGreaterThanOrEqual(IDLE_MS - 5)
  }, 30_000)

  it.each(['node', 'raw'] as const)('%s codec: a connection that keeps sending requests stays open past the idle timeout', async (codec) => {
    const c = await client(pairs[codec]!.client.ports.outbound)
    const start = performance.now()
    let n = 0
    // Requests a tenth of the timeout apart (pacing, not a measure), until two and a half
    // timeouts have passed: only a stall of most of a timeout could let the connection go.
    while (performance.now() - start < 2.5 * IDLE_MS) {
      expect(await c.get(`/keep-${n++}`)).toMatch(/^HTTP\/1\.1 200 /)
      await new Promise((r) => setTimeout(r, IDLE_MS / 10))
    }
    expect(c.isClosed()).toBe(false)
    c.socket.destroy()
  }, 30_000)

  it.each(['node', 'raw'] as const)('%s codec: a request still being answered keeps its connection past the idle timeout; idle after the answer, it is closed', async (codec) => {
    const c = await client(pairs[codec]!.client.ports.outbound)
    const res = await c.get('/slow')
    expect(res).toMatch(/^HTTP\/1\.1 200 /)
    expect(res).toMatch(/late/)
    expect(c.isClosed()).toBe(false)
    await c.closed
  }, 30_000)

  it('raw codec: the ticker closes only the idle one of two connections', async () => {
    const idle = await client(pairs.raw!.client.ports.outbound)
    const busy = await client(pairs.raw!.client.ports.outbound)
    expect(await idle.get('/i')).toMatch(/^HTTP\/1\.1 200 /)
    const slow = busy.get('/slow')
    await eventually('the idle connection closed', () => (idle.isClosed() ? true : undefined), {timeoutMs: 20_000})
    expect(busy.isClosed()).toBe(false)
    expect(await slow).toMatch(/late/)
    busy.socket.destroy()
  }, 30_000)
})
