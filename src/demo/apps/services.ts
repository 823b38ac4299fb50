// The demo application: web (HTTP/1.1 front end) -> books (HTTP/1.1 JSON, fails every Nth
// request) -> authors (gRPC, ListAuthors is slow) and stock (a plain TCP line protocol).
// Services call each other only through their own proxy's outbound listener.
import http from 'node:http'
import net from 'node:net'
import {setTimeout as sleep} from 'node:timers/promises'
import {AUTHORS, BOOKS, STOCK, serviceAuthority} from './catalog.js'
import {GrpcClient} from './grpc-client.js'
import {createGrpcServer} from './grpc-server.js'
import {GrpcStatus, GrpcWireError} from './grpc-wire.js'
import {createHttpApp} from './http-app.js'
import type {Outbound} from './outbound.js'

export interface AppContext {
  namespace: string
  /** The app's proxy's outbound listener. */
  outbound: Outbound
  /** books: every Nth request fails with 500 (0: never). */
  failEvery: number
  /** authors: how long ListAuthors takes, in ms. */
  slowMs: number
}

export type Server = http.Server | net.Server | import('node:http2').Http2Server

export function webApp(ctx: AppContext): Server {
  const books = serviceAuthority('books', ctx.namespace)
  const pass = async (path: string): Promise<{status: number; body: unknown}> => {
    const r = await ctx.outbound.getJson(books, path)
    // A failed books call is web's failure too: a 500 (a 502 would be retried by the proxies).
    return {status: r.status >= 500 ? 500 : r.status, body: r.status >= 500 ? {error: 'books failed', books: r.body} : r.body}
  }
  return createHttpApp('web', [
    [/^\/$/, async () => ({status: 200, body: {service: 'web', try: ['/api/books', '/api/books/b1']}})],
    [/^\/api\/books$/, async () => pass('/books')],
    [/^\/api\/books\/([a-z0-9]{1,16})$/, async ([id]) => pass(`/books/${id}`)],
  ])
}

export function booksApp(ctx: AppContext): Server {
  const authors = new GrpcClient(`http://${ctx.outbound.host}:${ctx.outbound.port}`, serviceAuthority('authors', ctx.namespace))
  const stock = serviceAuthority('stock', ctx.namespace)
  let count = 0
  const failing = (): boolean => ctx.failEvery > 0 && ++count % ctx.failEvery === 0
  const server = createHttpApp('books', [
    [/^\/books$/, async () => {
      if (failing()) return {status: 500, body: {error: 'simulated failure (books fails every ' + ctx.failEvery + 'th request)'}}
      const reply = await authors.call('/demo.Authors/ListAuthors', {})
      const ids = (reply.fields[1] ?? []).map(String)
      const names = (reply.fields[2] ?? []).map(String)
      const byId = new Map(ids.map((id, i) => [id, names[i]]))
      return {status: 200, body: BOOKS.map((b) => ({...b, author: byId.get(b.authorId)}))}
    }],
    [/^\/books\/([a-z0-9]{1,16})$/, async ([id]) => {
      if (failing()) return {status: 500, body: {error: 'simulated failure'}}
      const book = BOOKS.find((b) => b.id === id)
      if (!book) return {status: 404, body: {error: `no book ${id}`}}
      const [author, line] = await Promise.all([authors.call('/demo.Authors/GetAuthor', {1: book.authorId}), ctx.outbound.tcpRequest(stock, `STOCK ${book.id}`)])
      const inStock = Number(line.split(' ')[1])
      return {status: 200, body: {...book, author: String(author.fields[2]?.[0] ?? ''), inStock}}
    }],
  ])
  server.on('close', () => authors.close())
  return server
}

export function authorsApp(ctx: AppContext): Server {
  return createGrpcServer({
    '/demo.Authors/GetAuthor': (req) => {
      const id = String(req[1]?.[0] ?? '')
      const name = AUTHORS[id]
      if (!name) throw new GrpcWireError(`no author ${id}`, GrpcStatus.NOT_FOUND)
      return {1: id, 2: name}
    },
    '/demo.Authors/ListAuthors': async () => {
      await sleep(ctx.slowMs)
      return {1: Object.keys(AUTHORS), 2: Object.values(AUTHORS)}
    },
  })
}

/** `STOCK <book-id>\n` -> `<book-id> <count>\n` (or `ERR ...`), many per connection. */
export function stockApp(): Server {
  return net.createServer((socket) => {
    socket.setEncoding('utf8')
    socket.setTimeout(60_000, () => socket.destroy())
    socket.on('error', () => {})
    let buf = ''
    socket.on('data', (chunk: string) => {
      buf += chunk
      if (buf.length > 4096) return void socket.end('ERR line too long\n')
      let nl
      while ((nl = buf.indexOf('\n')) !== -1) {
        const line = buf.slice(0, nl).trim()
        buf = buf.slice(nl + 1)
        const m = /^STOCK ([a-z0-9]{1,16})$/.exec(line)
        if (!m) socket.write(`ERR expected "STOCK <book-id>"\n`)
        else if (STOCK[m[1]!] === undefined) socket.write(`ERR unknown book ${m[1]}\n`)
        else socket.write(`${m[1]} ${STOCK[m[1]!]}\n`)
      }
    })
  })
}
