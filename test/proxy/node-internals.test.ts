// The node codec (src/proxy/http/http1/server.ts) and the ignored-bytes count (http1/after-close.ts)
// read Node internals that no documentation promises. Each is pinned here to the running Node, so
// a Node upgrade that changes one fails CI with its name, instead of the proxy falling back
// silently (a drain closing connections in the middle of an answer, a broken body answered as
// a new request, ignored bytes miscounted, no 408 at all):
// - `socket._httpMessage`: the response in progress on a connection, null between requests
//   (closeIdleHttp1: a drain closes only connections at rest);
// - `socket.parser.incoming`: the last request whose head the parser read, with `complete`
//   (clientError: a body that broke is its request's refusal, not a new request's);
// - a parse error's `rawPacket` and `bytesParsed` for HPE_CLOSED_CONNECTION (after-close.ts);
// - the headers timeout checker started by 'listening' on a server that never listens, at
//   `connectionsCheckingInterval` (http/head-timeout.ts).
// The server is Node's, made with the proxy's options and fed accepted sockets through
// 'connection', as the proxy feeds it.
import {once} from 'node:events'
import type {IncomingMessage, Server, ServerResponse} from 'node:http'
import net from 'node:net'
import {afterEach, describe, expect, it} from 'vitest'
import {createServer} from '../../src/proxy/core/node-http.js'
import {eventually} from '../helpers/eventually.js'

interface Internals extends net.Socket {
  _httpMessage?: unknown
  parser?: {incoming?: IncomingMessage | null} | null
}

type ClientError = NodeJS.ErrnoException & {rawPacket?: unknown, bytesParsed?: unknown}

const closers: (() => void)[] = []
afterEach(() => {
  for (const c of closers.splice(0)) c()
})

/** Node's server, fed by a listener on 127.0.0.1 through 'connection' (as the proxy feeds it); returns the listener's port. */
async function serve(server: Server): Promise<number> {
  const front = net.createServer((s) => server.emit('connection', s))
  front.listen(0, '127.0.0.1')
  await once(front, 'listening')
  closers.push(() => {
    front.close()
    server.closeAllConnections()
  })
  return (front.address() as net.AddressInfo).port
}

function proxyLikeServer(handler?: (req: IncomingMessage, res: ServerResponse) => void): Server {
  return createServer({maxHeaderSize: 16_384, joinDuplicateHeaders: false, requireHostHeader: false, requestTimeout: 0}, handler)
}

function connect(port: number): net.Socket {
  const c = net.connect(port, '127.0.0.1')
  c.on('error', () => {})
  c.resume()
  closers.push(() => c.destroy())
  return c
}

/** A promise and its resolve (Promise.withResolvers, outside this project's ES2023 lib). */
function deferred<T>(): {promise: Promise<T>, resolve: (v: T) => void} {
  let resolve!: (v: T) => void
  const promise = new Promise<T>((r) => (resolve = r))
  return {promise, resolve}
}

const PIN = `Node ${process.version} no longer has this in the shape src/proxy/http/http1/server.ts relies on`

describe(`Node internals the node codec relies on (${process.version})`, () => {
  it('socket._httpMessage is the response in progress, and null once it is over (closeIdleHttp1)', async () => {
    const seen: {during?: unknown, res?: unknown, after?: unknown} = {}
    const done = deferred<void>()
    const server = proxyLikeServer((req, res) => {
      const socket = req.socket as Internals
      seen.during = socket._httpMessage
      seen.res = res
      res.on('finish', () => setImmediate(() => {
        seen.after = socket._httpMessage
        done.resolve()
      }))
      res.end('ok')
    })
    const c = connect(await serve(server))
    c.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n')
    await done.promise
    expect(seen.during === seen.res, `${PIN}: socket._httpMessage is not the response in progress`).toBe(true)
    expect(seen.after, `${PIN}: socket._httpMessage is not null once the response is over`).toBeNull()
  })

  it('socket.parser.incoming is the request whose head was read, complete once its body is; null once answered', async () => {
    const seen: Record<string, unknown> = {}
    const done = deferred<void>()
    const server = proxyLikeServer((req, res) => {
      const socket = req.socket as Internals
      seen.parserIsObject = typeof socket.parser === 'object' && socket.parser !== null
      seen.incomingIsReq = socket.parser?.incoming === req
      seen.completeBefore = req.complete
      req.resume()
      req.on('end', () => {
        seen.completeAfter = socket.parser?.incoming?.complete
        res.on('finish', () => setImmediate(() => {
          seen.afterAnswer = socket.parser ? socket.parser.incoming : 'no parser'
          done.resolve()
        }))
        res.end('ok')
      })
    })
    const c = connect(await serve(server))
    c.write('POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n')
    // (the rest of the body later: the handler has run with the body incomplete)
    setTimeout(() => c.write('0\r\n\r\n'), 20)
    await done.promise
    expect(seen, PIN).toEqual({parserIsObject: true, incomingIsReq: true, completeBefore: false, completeAfter: true, afterAnswer: null})
  })

  it('when a pipelined request\'s body breaks, clientError sees it as socket.parser.incoming, not complete; junk after an answered request is no incoming request', async () => {
    const errors: {code?: string, incoming?: string | null, complete?: boolean}[] = []
    const server = proxyLikeServer((req, res) => {
      req.resume()
      req.on('end', () => res.end('ok'))
    })
    server.on('clientError', (err: ClientError, socket: Internals) => {
      const inc = socket.parser?.incoming
      errors.push({code: err.code, incoming: inc ? inc.url : inc, complete: inc?.complete})
      socket.destroy()
    })
    const port = await serve(server)
    const a = connect(port)
    a.write('POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhiPOST /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\nzz\r\n')
    await once(a, 'close')
    const b = connect(port)
    let got = ''
    b.on('data', (d: Buffer) => {
      got += d.toString('latin1')
      if (got.endsWith('ok') && !got.includes('JUNK')) b.write('JUNK\r\n\r\n')
    })
    b.write('GET /c HTTP/1.1\r\nHost: x\r\n\r\n')
    await once(b, 'close')
    expect(errors.map((e) => e.code)).toEqual(['HPE_INVALID_CHUNK_SIZE', 'HPE_INVALID_METHOD'])
    expect(errors[0], `${PIN}: socket.parser.incoming is not the request whose body broke`).toMatchObject({incoming: '/b', complete: false})
    const junk = errors[1]!
    expect(junk.incoming === null || junk.incoming === undefined || junk.complete === true, `${PIN}: junk after an answered request looks like an incomplete request (${JSON.stringify(junk)})`).toBe(true)
  })

  it('HPE_CLOSED_CONNECTION: the first report\'s bytesParsed is one past the first refused byte; each later read is reported whole as rawPacket (after-close.ts)', async () => {
    const reports: {code?: string, raw: number, parsed: unknown}[] = []
    const answered = deferred<void>()
    let release = (): void => {}
    const server = proxyLikeServer((req, res) => {
      req.resume()
      // The answer waits until the test has sent what follows (else Node closes first).
      release = () => res.end('ok')
      answered.resolve()
    })
    const more = deferred<void>()
    server.on('clientError', (err: ClientError) => {
      reports.push({code: err.code, raw: Buffer.isBuffer(err.rawPacket) ? err.rawPacket.length : -1, parsed: err.bytesParsed})
      if (reports.length === 2) more.resolve()
    })
    const c = connect(await serve(server))
    const head = 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'
    c.write(`${head}\r\nXYZ`)
    await answered.promise
    // (the first read's report comes with the request, from the same parse)
    await eventually('HPE_CLOSED_CONNECTION reported for the bytes after the closing request', () => (reports.length > 0 ? true : undefined), {intervalMs: 5, timeoutMs: 10_000})
    c.write('abcdef')
    await more.promise
    release()
    await once(c, 'close')
    expect(reports[0], `${PIN}: HPE_CLOSED_CONNECTION's first report (rawPacket, bytesParsed)`).toEqual({code: 'HPE_CLOSED_CONNECTION', raw: head.length + 5, parsed: head.length + 3})
    expect(reports[1], `${PIN}: HPE_CLOSED_CONNECTION's later report (rawPacket: the whole read)`).toMatchObject({code: 'HPE_CLOSED_CONNECTION', raw: 6})
  })

  it('a server that never listens enforces headersTimeout once \'listening\' is emitted, checking at connectionsCheckingInterval (head-timeout.ts)', async () => {
    const server = proxyLikeServer(() => {})
    server.headersTimeout = 200
    ;(server as Server & {connectionsCheckingInterval: number}).connectionsCheckingInterval = 50
    server.emit('listening')
    closers.push(() => server.close())
    const timedOut = deferred<string | undefined>()
    server.on('clientError', (err: ClientError, socket: net.Socket) => {
      timedOut.resolve(err.code)
      socket.destroy()
    })
    const c = connect(await serve(server))
    c.write('GET / HTTP/1.1\r\nHost: x\r\n')
    expect(await timedOut.promise, `${PIN}: no ERR_HTTP_REQUEST_TIMEOUT for a head that never ends`).toBe('ERR_HTTP_REQUEST_TIMEOUT')
  })
})
