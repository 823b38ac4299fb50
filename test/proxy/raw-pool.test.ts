// The raw codec's upstream pool when no connection is free (src/proxy/endpoint/raw-pool.ts): attempts wait for the
// first connection released or connected, at most MAX_CONNECTING connects run at once, a failed
// connect fails every waiting attempt. The endpoint here is a stand-in whose connections the
// test establishes or fails itself (a connect's timing is what is under test); the pool on real
// mTLS connections is exercised by test/control/mtls-pair.test.ts and measured by bench/proxy.
import {Duplex} from 'node:stream'
import {describe, expect, it} from 'vitest'
import type {EndpointClient} from '../../src/proxy/endpoint/endpoint.js'
import {RawPool, type Upstream, type UpstreamWaiter} from '../../src/proxy/endpoint/raw-pool.js'
import {MAX_CONNECTING, MESHED_POOL_IDLE_MS, POOL_IDLE_MS} from '../../src/proxy/endpoint/http1-pool.js'

/** A connection that establishes (secureConnect, as an mTLS one) or fails when the test says. */
class FakeTls extends Duplex {
  readonly encrypted = true
  override _read(): void {}
  override _write(_c: Buffer, _e: BufferEncoding, cb: () => void): void {
    cb()
  }

  up(): void {
    this.emit('secureConnect')
  }
}

function endpoint(tls = true): {ep: EndpointClient, sockets: FakeTls[]} {
  const sockets: FakeTls[] = []
  const ep = {tls: {tls}, connect: () => {
    const s = new FakeTls()
    sockets.push(s)
    return s
  }} as unknown as EndpointClient
  return {ep, sockets}
}

/** A destroyed stream's 'error' and 'close' come on the next turns. */
const eventsDelivered = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

interface Waiter extends UpstreamWaiter {
  got?: Upstream
  error?: Error
}

function waiter(): Waiter {
  const w: Waiter = {
    gotUpstream: (u) => void (w.got = u),
    connectFailed: (err) => void (w.error = err),
    crashed: (err) => { throw err },
  }
  return w
}

describe('raw pool: attempts that find no free connection', () => {
  it('wait; at most MAX_CONNECTING connects at once; each connection goes to the longest waiting', () => {
    const {ep, sockets} = endpoint()
    const pool = new RawPool(ep)
    const ws = Array.from({length: 10}, waiter)
    for (const w of ws) expect(pool.acquire(w)).toBeUndefined()
    expect(sockets).toHaveLength(MAX_CONNECTING)
    expect(pool.waiters).toBe(10)
    sockets[2].up()
    expect(ws[0].got?.socket).toBe(sockets[2])
    expect(ws[0].got?.reused).toBe(false)
    expect(ws.slice(1).every((w) => w.got === undefined)).toBe(true)
    // 9 still wait, 3 connects run: one more starts
    expect(sockets).toHaveLength(MAX_CONNECTING + 1)
  })

  it('a released connection goes to a waiting attempt before any connect finishes', () => {
    const {ep, sockets} = endpoint()
    const pool = new RawPool(ep)
    const first = waiter()
    pool.acquire(first)
    sockets[0].up()
    const busy = first.got!
    const second = waiter()
    expect(pool.acquire(second)).toBeUndefined()
    expect(sockets).toHaveLength(2)
    pool.release(busy)
    expect(second.got).toBe(busy)
    expect(second.got?.reused).toBe(true)
    // The connect still running ends in the free list, for the next attempt.
    sockets[1].up()
    const third = waiter()
    expect(pool.acquire(third)?.socket).toBe(sockets[1])
    expect(pool.waiters).toBe(0)
  })

  it('a failed connect fails every waiting attempt; a cancelled one gets nothing', async () => {
    const {ep, sockets} = endpoint()
    const pool = new RawPool(ep)
    const [a, b, c] = [waiter(), waiter(), waiter()]
    pool.acquire(a)
    pool.acquire(b)
    pool.acquire(c)
    pool.cancel(b)
    sockets[0].destroy(Object.assign(new Error('connect ECONNREFUSED'), {code: 'ECONNREFUSED'}))
    await eventsDelivered()
    expect(a.error?.message).toBe('connect ECONNREFUSED')
    expect(c.error?.message).toBe('connect ECONNREFUSED')
    expect(b.error).toBeUndefined()
    expect(b.got).toBeUndefined()
    expect(pool.waiters).toBe(0)
  })

  it('a connection that closes before it is established is a failed connect', async () => {
    const {ep, sockets} = endpoint()
    const pool = new RawPool(ep)
    const a = waiter()
    pool.acquire(a)
    sockets[0].destroy()
    await eventsDelivered()
    expect(a.error?.message).toBe('the connection closed before it was established')
  })

  it('closing the pool (the endpoint went) fails the waiting attempts', () => {
    const {ep} = endpoint()
    const pool = new RawPool(ep)
    const a = waiter()
    pool.acquire(a)
    pool.close()
    expect(a.error?.message).toBe('the endpoint was removed')
  })
})

describe('raw pool: idle time', () => {
  it('keeps mTLS connections to a peer proxy longer than plaintext ones (a handshake saved)', () => {
    expect(new RawPool(endpoint(true).ep).idleMs).toBe(MESHED_POOL_IDLE_MS)
    expect(new RawPool(endpoint(false).ep).idleMs).toBe(POOL_IDLE_MS)
    // below the peer's inbound idle timeout, so that this side closes first
    expect(MESHED_POOL_IDLE_MS).toBeLessThan(60_000)
    const {ep, sockets} = endpoint(true)
    const pool = new RawPool(ep)
    const w = waiter()
    pool.acquire(w)
    sockets[0].up()
    expect(w.got?.idleMs).toBe(MESHED_POOL_IDLE_MS)
  })
})
