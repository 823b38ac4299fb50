// The node codec's keep-alive pool (src/proxy/endpoint/http1-pool.ts, Node's Agent) when no connection is free:
// at most MAX_CONNECTING connects at once, the other requests wait (FIFO) for a connection freed
// or a connect slot, a failed connect fails every waiting request, and a waiting
// request can be withdrawn. Real HTTP server and sockets; the connects' timing is held by the
// test through the socket's name lookup (the socket is connecting, and buffers the request,
// until the lookup answers).
import http from 'node:http'
import net, {type AddressInfo} from 'node:net'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {Http1Pool, MAX_CONNECTING} from '../../src/proxy/endpoint/http1-pool.js'

let server: http.Server
let port: number
let connections = 0

beforeAll(async () => {
  server = http.createServer({keepAliveTimeout: 60_000}, (req, res) => res.end(req.url))
  server.on('connection', () => connections++)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  port = (server.address() as AddressInfo).port
})

afterAll(async () => {
  server.closeAllConnections()
  await new Promise((resolve) => server.close(resolve))
})

type Answer = (err: Error | null) => void

/** A pool whose connects each wait for the test to answer their lookup. */
function heldPool(): {pool: Http1Pool, lookups: Answer[]} {
  const lookups: Answer[] = []
  const lookup = (_host: string, opts: {all?: boolean}, cb: (...args: unknown[]) => void): void => {
    lookups.push((err) => {
      if (err) cb(err)
      else if (opts.all) cb(null, [{address: '127.0.0.1', family: 4}])
      else cb(null, '127.0.0.1', 4)
    })
  }
  const pool = new Http1Pool(() => net.connect({host: 'upstream.test', port, lookup: lookup as never}))
  return {pool, lookups}
}

interface Sent {
  req: http.ClientRequest
  done: Promise<{body?: string, error?: Error}>
}

function send(pool: Http1Pool, path: string, order: string[]): Sent {
  const req = http.request({host: '127.0.0.1', port, path, agent: pool})
  const done = new Promise<{body?: string, error?: Error}>((resolve) => {
    req.on('response', (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => (body += c))
      res.on('end', () => {
        order.push(body)
        resolve({body})
      })
    })
    req.on('error', (error) => resolve({error}))
  })
  req.end()
  return {req, done}
}

/** The requests' sockets are assigned (or queued) on the next turn. */
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

describe('node codec pool: requests that find no free connection', () => {
  it('at most MAX_CONNECTING connects at once; a waiting request takes a freed connection or the next connect', async () => {
    const {pool, lookups} = heldPool()
    const order: string[] = []
    const before = connections
    try {
      const sent = Array.from({length: 10}, (_, i) => send(pool, `/${i}`, order))
      await turn()
      expect(lookups).toHaveLength(MAX_CONNECTING)
      expect(pool.waiters).toBe(10 - MAX_CONNECTING)
      // One connect finishes: its slot goes to the first waiting request (/4, a new connect), and
      // the connection, each time its request is done, to the next one waiting.
      lookups[0](null)
      await Promise.all(sent.slice(MAX_CONNECTING + 1).map((s) => s.done))
      expect(order).toEqual(['/0', '/5', '/6', '/7', '/8', '/9'])
      expect(lookups).toHaveLength(MAX_CONNECTING + 1)
      expect(connections - before).toBe(1)
      expect(pool.waiters).toBe(0)
      for (const answer of lookups.slice(1)) answer(null)
      const results = await Promise.all(sent.map((s) => s.done))
      expect(results.map((r) => r.body)).toEqual(Array.from({length: 10}, (_, i) => `/${i}`))
      expect(connections - before).toBe(MAX_CONNECTING + 1)
      // Kept: the next requests reuse them.
      const again = await Promise.all(Array.from({length: 3}, (_, i) => send(pool, `/again${i}`, order).done))
      expect(again.map((r) => r.body)).toEqual(['/again0', '/again1', '/again2'])
      expect(lookups).toHaveLength(MAX_CONNECTING + 1)
      expect(connections - before).toBe(MAX_CONNECTING + 1)
    } finally {
      pool.destroy()
    }
  })

  it('a failed connect fails every waiting request; the pool connects again afterwards', async () => {
    const {pool, lookups} = heldPool()
    const order: string[] = []
    try {
      const sent = Array.from({length: 7}, (_, i) => send(pool, `/${i}`, order))
      await turn()
      expect(pool.waiters).toBe(3)
      const refused = Object.assign(new Error('getaddrinfo ENOTFOUND upstream.test'), {code: 'ENOTFOUND'})
      lookups[1](refused)
      const failed = await Promise.all([sent[1], ...sent.slice(MAX_CONNECTING)].map((s) => s.done))
      for (const r of failed) expect((r.error as NodeJS.ErrnoException | undefined)?.code).toBe('ENOTFOUND')
      expect(pool.waiters).toBe(0)
      for (const i of [0, 2, 3]) lookups[i](null)
      const ok = await Promise.all([0, 2, 3].map((i) => sent[i].done))
      expect(ok.map((r) => r.body)).toEqual(['/0', '/2', '/3'])
      expect((await send(pool, '/later', order).done).body).toBe('/later')
    } finally {
      pool.destroy()
    }
  })

  it('a withdrawn request leaves the queue with its error, and gets no connection', async () => {
    const {pool, lookups} = heldPool()
    const order: string[] = []
    try {
      const sent = Array.from({length: MAX_CONNECTING + 2}, (_, i) => send(pool, `/${i}`, order))
      await turn()
      expect(pool.waiters).toBe(2)
      const withdrawn = sent[MAX_CONNECTING]
      let closed = false
      withdrawn.req.on('close', () => (closed = true))
      const timeout = new Error('request timeout')
      withdrawn.req.destroy(timeout)
      pool.withdraw(withdrawn.req, timeout)
      expect((await withdrawn.done).error).toBe(timeout)
      await turn()
      expect(closed).toBe(true)
      expect(pool.waiters).toBe(1)
      // A request destroyed without being withdrawn is dropped when its turn comes, with its error.
      const last = sent[MAX_CONNECTING + 1]
      const gone = new Error('client left')
      last.req.destroy(gone)
      for (const answer of lookups) answer(null)
      expect((await last.done).error).toBe(gone)
      const rest = await Promise.all(sent.slice(0, MAX_CONNECTING).map((s) => s.done))
      expect(rest.map((r) => r.body)).toEqual(['/0', '/1', '/2', '/3'])
      expect(order).not.toContain(`/${MAX_CONNECTING}`)
      expect(pool.waiters).toBe(0)
    } finally {
      pool.destroy()
    }
  })
})
