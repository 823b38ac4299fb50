// The attacks of issue 19 that ended the proxy process, one per class, as raw bytes on real
// sockets; shared by the regression suite (attacks-containment.test.ts) and the footprint bench
// (bench/proxy/attack-footprint.ts). Most need the app to answer *after* the proxy refused the
// rest of the client's bytes, so the app here holds `/hold/*` requests until released.
import http from 'node:http'
import net from 'node:net'
import {listenOn, readByPeer} from './helpers.js'

/** An app that answers `/hold/<id>` only when released, `/early/*` before the request body ends, and anything else once the request is in. */
export interface HoldApp {
  server: http.Server
  port: number
  /** Requests seen, by path. */
  seen: string[]
  /** Resolves when a request for `path` has arrived (and its first body bytes, if it has a body). */
  arrived(path: string): Promise<void>
  /** Answers the held request for `path` (200, a short body); resolves when the answer is written (or its connection is gone). */
  release(path: string): Promise<void>
}

export async function startHoldApp(): Promise<HoldApp> {
  const held = new Map<string, http.ServerResponse>()
  const waiters = new Map<string, () => void>()
  const arrivedSet = new Set<string>()
  const app: HoldApp = {
    server: http.createServer((req, res) => {
      const path = req.url ?? ''
      app.seen.push(path)
      req.on('error', () => {})
      const hasBody = req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined
      const arrive = (): void => {
        arrivedSet.add(path)
        waiters.get(path)?.()
      }
      if (path.startsWith('/hold/')) {
        held.set(path, res)
        if (hasBody) req.once('data', arrive)
        else arrive()
        req.resume()
        return
      }
      req.resume()
      if (path.startsWith('/early/')) {
        // Answers before the request body has all come (as servers that refuse a body do).
        res.writeHead(200, {'content-type': 'text/plain', 'content-length': '5'})
        res.end('early')
        return
      }
      req.on('end', () => {
        res.writeHead(200, {'content-type': 'text/plain'})
        res.end(`ok ${path}`)
      })
    }),
    port: 0,
    seen: [],
    arrived: (path) => arrivedSet.has(path) ? Promise.resolve() : new Promise((resolve) => waiters.set(path, resolve)),
    release: async (path) => {
      const res = held.get(path)
      if (!res) throw new Error(`no held request for ${path}`)
      held.delete(path)
      const written = new Promise<void>((resolve) => {
        if (res.closed || res.destroyed || !res.socket || res.socket.destroyed) return resolve()
        res.once('finish', resolve)
        res.once('close', resolve)
      })
      res.writeHead(200, {'content-type': 'text/plain', 'content-length': '4'})
      res.end('late')
      await written
    },
  }
  app.port = await listenOn(app.server)
  return app
}

export interface Ports {
  /** The server proxy's inbound port (forwards to the app). */
  inbound: number
  /** The client proxy's outbound port (routes web.local:80 to the server proxy). */
  outbound: number
}

export interface Attack {
  name: string
  /** What the attacker must get (tests): the proxy's refusal (400/502 with mesh-proxy-error), or the app's answer to `/hold/<id>` (200, `late`) and nothing else. */
  expect?: 'refused' | 'answered'
  /** Runs the attack; returns what the attacker's socket received. */
  run(ports: Ports, app: HoldApp, id: string): Promise<string>
}

/** A raw connection that collects what it receives: to a port on 127.0.0.1, or on a socket made by the caller (a TLS client). */
export class RawClient {
  readonly socket: net.Socket
  received = ''
  private readonly closed: Promise<void>
  private waiters: (() => void)[] = []

  constructor(to: number | net.Socket) {
    this.socket = typeof to === 'number' ? net.connect({host: '127.0.0.1', port: to, allowHalfOpen: false}) : to
    this.socket.on('error', () => {})
    this.socket.on('data', (c: Buffer) => {
      this.received += c.toString('latin1')
      for (const w of this.waiters.splice(0)) w()
    })
    this.closed = new Promise((resolve) => this.socket.once('close', () => {
      for (const w of this.waiters.splice(0)) w()
      resolve()
    }))
  }

  write(s: string): void {
    this.socket.write(s)
  }

  /** Writes `b`; resolves once the write is done (on a TLS socket, a record of its own), false when the connection is gone. */
  send(b: string | Buffer): Promise<boolean> {
    if (this.socket.destroyed || !this.socket.writable) return Promise.resolve(false)
    return new Promise((resolve) => this.socket.write(b, (err) => resolve(!err)))
  }

  /** Resolves once `re` matches what was received (or the connection closed). */
  async until(re: RegExp): Promise<string> {
    while (!re.test(this.received) && !this.socket.destroyed) await new Promise<void>((r) => this.waiters.push(r))
    return this.received
  }

  /** Resolves when the proxy closed the connection. */
  async end(): Promise<string> {
    await this.closed
    return this.received
  }

  destroy(): void {
    this.socket.destroy()
  }
}

/** Sends `head` (a request for `/hold/<id>` with a body), a good chunk, then `bad`, waits for the answer, then lets the app answer. */
async function badChunkAfterGood(port: number, app: HoldApp, path: string, head: string, bad: string, expectContinue = false): Promise<string> {
  const c = new RawClient(port)
  c.write(head)
  if (expectContinue) await c.until(/100 Continue/)
  c.write('1\r\na\r\n')
  await app.arrived(path)
  c.write(bad)
  const got = await c.until(/HTTP\/1\.1 [45]\d\d /)
  await app.release(path)
  c.destroy()
  return got
}

/** A chunked POST answered before its body ended, whose client then vanishes mid-body (the upstream request must not stay open). */
export async function vanishAfterEarlyAnswer(port: number, id: string): Promise<string> {
  const c = new RawClient(port)
  c.write(`POST /early/${id} HTTP/1.1\r\nHost: web.local\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n`)
  const got = await c.until(/early$/)
  c.destroy()
  return got
}

/** How the trailing-byte attacks run (the footprint bench turns the wait off for nginx, which reads nothing more until it has answered). */
export const trailingByte = {waitForPeerRead: true}

/**
 * Sends a request for `path` that closes the connection, waits until the app holds it, then one
 * byte more, which the proxy reads before the app answers; returns all the client read until the
 * connection closed. The byte used to be refused (400) while the request went on: the app's
 * answer then met a response already sent. Now it is ignored, as nginx ignores it.
 */
async function byteAfterRequest(port: number, app: HoldApp, path: string, request: (path: string) => string): Promise<string> {
  const c = new RawClient(port)
  c.write(request(path))
  await app.arrived(path)
  c.write('X')
  if (trailingByte.waitForPeerRead) await readByPeer(c.socket)
  await app.release(path)
  return c.end()
}

/** Sends `request`, returns the first answer, closes. */
async function answerTo(port: number, request: string): Promise<string> {
  const c = new RawClient(port)
  c.write(request)
  const got = await c.until(/HTTP\/1\.1 \d\d\d /)
  c.destroy()
  return got
}

export const CRASH_ATTACKS: Attack[] = [
  {
    // Node's parser: the request is dispatched, then the extra byte after an HTTP/1.0 request is an error.
    name: 'an extra byte after an HTTP/1.0 request (inbound)',
    expect: 'answered',
    run: (p, app, id) => byteAfterRequest(p.inbound, app, `/hold/${id}`, (path) => `GET ${path} HTTP/1.0\r\n\r\n`),
  },
  {
    name: 'absolute-form, Connection: close and one extra byte (outbound)',
    expect: 'answered',
    run: (p, app, id) => byteAfterRequest(p.outbound, app, `/hold/${id}`, (path) => `GET http://web.local${path} HTTP/1.1\r\nHost: web.local\r\nConnection: close\r\n\r\n`),
  },
  {
    name: 'TE: gzip, chunked with a bad chunk after a good one (inbound)',
    expect: 'refused',
    run: (p, app, id) => badChunkAfterGood(p.inbound, app, `/hold/${id}`, `POST /hold/${id} HTTP/1.1\r\nHost: web.local\r\nTransfer-Encoding: gzip, chunked\r\n\r\n`, 'zz\r\n'),
  },
  {
    name: 'Expect: 100-continue with a bad chunk after a good one (inbound)',
    expect: 'refused',
    run: (p, app, id) => badChunkAfterGood(p.inbound, app, `/hold/${id}`, `POST /hold/${id} HTTP/1.1\r\nHost: web.local\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n`, 'zz\r\n', true),
  },
  {
    name: 'plain chunked with a bad chunk after a good one (inbound)',
    expect: 'refused',
    run: (p, app, id) => badChunkAfterGood(p.inbound, app, `/hold/${id}`, `POST /hold/${id} HTTP/1.1\r\nHost: web.local\r\nTransfer-Encoding: chunked\r\n\r\n`, 'zz\r\n'),
  },
  {
    name: 'plain chunked with a bad chunk after a good one (outbound, through the pair)',
    expect: 'refused',
    run: (p, app, id) => badChunkAfterGood(p.outbound, app, `/hold/${id}`, `POST /hold/${id} HTTP/1.1\r\nHost: web.local\r\nTransfer-Encoding: chunked\r\n\r\n`, 'zz\r\n'),
  },
  {
    // The authority's port is validated by the one authority parser (400, bad_authority); here: the process lives.
    name: 'a Host whose port is not a number (outbound)',
    expect: 'refused',
    run: (p) => answerTo(p.outbound, 'GET / HTTP/1.1\r\nHost: foo.local:abc\r\n\r\n'),
  },
  {
    name: 'a Host whose port is out of range (outbound)',
    expect: 'refused',
    run: (p) => answerTo(p.outbound, 'GET / HTTP/1.1\r\nHost: foo.local:99999\r\n\r\n'),
  },
]
