// The demo application on real sockets: the services call each other through a real mesh
// proxy's outbound listener (static routes), the gRPC service answers a stock gRPC client
// (@grpc/grpc-js), and the failure fraction and slow route are what the demo promises.
import * as grpc from '@grpc/grpc-js'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {startApp, type RunningApp} from '../../src/demo/apps/run.js'
import {serviceAuthority} from '../../src/demo/apps/catalog.js'
import {Outbound} from '../../src/demo/apps/outbound.js'
import {GrpcClient} from '../../src/demo/apps/grpc-client.js'
import {decodeProto, encodeProto, frame, GrpcStatus, unframe} from '../../src/demo/apps/grpc-wire.js'
import {loadProxyConfig} from '../../src/proxy/config/config.js'
import {Logger} from '../../src/proxy/core/log.js'
import {startProxy, type RunningProxy} from '../../src/proxy/server.js'

describe('demo apps through a real proxy', () => {
  const apps: RunningApp[] = []
  let proxy: RunningProxy
  let via: Outbound
  const ports: Record<string, number> = {}

  beforeAll(async () => {
    for (const name of ['authors', 'stock'] as const) {
      const a = await startApp(name, {port: 0, via: {host: '127.0.0.1', port: 1}, slowMs: 150})
      apps.push(a)
      ports[name] = a.port!
    }
    // books and web need the proxy's port first; start the proxy with routes to authors and
    // stock, then add books once it listens (routes are a Map read per request).
    const cfg = loadProxyConfig({}, {inbound: '127.0.0.1:0', outbound: '127.0.0.1:0', admin: '127.0.0.1:0', tap: '127.0.0.1:0',
      staticRoutes: `${serviceAuthority('authors')}=127.0.0.1:${ports.authors};${serviceAuthority('stock')}=127.0.0.1:${ports.stock}`})
    cfg.retry.limit = 0
    proxy = await startProxy(cfg, {log: new Logger('error', 'plain'), originalDst: null})
    const out = {host: '127.0.0.1', port: proxy.ports.outbound}
    const books = await startApp('books', {port: 0, via: out, failEvery: 10})
    apps.push(books)
    cfg.staticRoutes.set(serviceAuthority('books'), [{host: '127.0.0.1', port: books.port!}])
    const web = await startApp('web', {port: 0, via: out})
    apps.push(web)
    cfg.staticRoutes.set(serviceAuthority('web'), [{host: '127.0.0.1', port: web.port!}])
    via = new Outbound('127.0.0.1', proxy.ports.outbound)
  })

  afterAll(async () => {
    via?.close()
    await Promise.all(apps.map((a) => a.stop()))
    await proxy?.close(100)
  })

  it('web -> books (HTTP/1.1) -> authors (gRPC) + stock (TCP over CONNECT) answers a book', async () => {
    let r = await via.getJson(serviceAuthority('web'), '/api/books/b3')
    if (r.status === 500) r = await via.getJson(serviceAuthority('web'), '/api/books/b3')
    expect(r.status).toBe(200)
    expect(r.body).toEqual({id: 'b3', title: 'Kindred', authorId: 'a3', author: 'Octavia E. Butler', inStock: 12})
  })

  it('books fails exactly every 10th request with a 500, which web passes on as a 500', async () => {
    const statuses: number[] = []
    for (let i = 0; i < 30; i++) statuses.push((await via.getJson(serviceAuthority('web'), `/api/books/b${(i % 5) + 1}`)).status)
    expect(statuses.filter((s) => s === 500)).toHaveLength(3)
    expect(statuses.filter((s) => s === 200)).toHaveLength(27)
  })

  it('the book list goes through the slow ListAuthors route', async () => {
    const t0 = performance.now()
    let r = await via.getJson(serviceAuthority('web'), '/api/books')
    if (r.status === 500) r = await via.getJson(serviceAuthority('web'), '/api/books')
    expect(r.status).toBe(200)
    expect(performance.now() - t0).toBeGreaterThanOrEqual(140)
    expect((r.body as Array<{author: string}>).map((b) => b.author)).toContain('Italo Calvino')
  })

  it('stock speaks its line protocol through a CONNECT tunnel and rejects garbage', async () => {
    expect(await via.tcpRequest(serviceAuthority('stock'), 'STOCK b1')).toBe('b1 4')
    expect(await via.tcpRequest(serviceAuthority('stock'), 'STOCK zz')).toBe('ERR unknown book zz')
    expect(await via.tcpRequest(serviceAuthority('stock'), 'hello')).toMatch(/^ERR expected/)
  })

  it('authors answers a stock gRPC client (@grpc/grpc-js) with grpc-status in trailers', async () => {
    const client = new grpc.Client(`127.0.0.1:${ports.authors}`, grpc.credentials.createInsecure())
    const call = (method: string, id: string): Promise<Record<number, Array<string | number>>> =>
      new Promise((resolve, reject) => {
        client.makeUnaryRequest(method, (v: Record<number, string>) => encodeProto(v), (b: Buffer) => decodeProto(b), {1: id}, (err, value) => (err ? reject(err) : resolve(value!)))
      })
    try {
      expect(await call('/demo.Authors/GetAuthor', 'a2')).toEqual({1: ['a2'], 2: ['Italo Calvino']})
      await expect(call('/demo.Authors/GetAuthor', 'nope')).rejects.toMatchObject({code: grpc.status.NOT_FOUND, details: 'no author nope'})
      await expect(call('/demo.Authors/Nope', 'x')).rejects.toMatchObject({code: grpc.status.UNIMPLEMENTED})
    } finally {
      client.close()
    }
  })

  it('our gRPC client goes through the proxy as HTTP/2 and surfaces non-OK statuses', async () => {
    const c = new GrpcClient(`http://127.0.0.1:${proxy.ports.outbound}`, serviceAuthority('authors'))
    try {
      expect((await c.call('/demo.Authors/GetAuthor', {1: 'a4'})).fields[2]).toEqual(['Stanisław Lem'])
      await expect(c.call('/demo.Authors/GetAuthor', {1: 'zz'})).rejects.toMatchObject({status: GrpcStatus.NOT_FOUND})
    } finally {
      c.close()
    }
  })
})

describe('gRPC wire codec', () => {
  it('round-trips framed protobuf messages with strings, ints and repeated fields', () => {
    const msg = encodeProto({1: ['a', 'bé'], 2: 300, 3: ''})
    const [back] = unframe(frame(msg))
    expect(decodeProto(back!)).toEqual({1: ['a', 'bé'], 2: [300], 3: ['']})
  })

  it('refuses truncated, compressed and oversized frames', () => {
    expect(() => unframe(Buffer.from([0, 0, 0, 0, 5, 1]))).toThrow(/truncated/)
    expect(() => unframe(Buffer.from([1, 0, 0, 0, 0]))).toThrow(/compressed/)
    expect(() => unframe(Buffer.from([0, 0xff, 0, 0, 0]))).toThrow(/over/)
  })
})
