// HTTP/2 and gRPC through the proxy pair: h2c requests with bodies and trailers, a real gRPC
// client and server (@grpc/grpc-js: unary, server/client/bidi streaming, metadata, trailers,
// grpc-status errors, cancellation), and a bounded h2load run.
import {execFile} from 'node:child_process'
import http2 from 'node:http2'
import {fileURLToPath} from 'node:url'
import {promisify} from 'node:util'
import * as grpc from '@grpc/grpc-js'
import * as protoLoader from '@grpc/proto-loader'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {eventually} from '../helpers/eventually.js'
import {startPair, type Pair} from './helpers.js'

const exec = promisify(execFile)

interface Msg { text: string, n: number }

function h2Request(port: number, headers: http2.OutgoingHttpHeaders, body?: string): Promise<{headers: http2.IncomingHttpHeaders, body: string, trailers?: http2.IncomingHttpHeaders}> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${port}`)
    session.on('error', reject)
    const req = session.request(headers, {endStream: body === undefined})
    let out = ''
    let resHeaders: http2.IncomingHttpHeaders = {}
    let trailers: http2.IncomingHttpHeaders | undefined
    req.on('response', (h) => (resHeaders = h))
    req.on('trailers', (t) => (trailers = t))
    req.setEncoding('utf8')
    req.on('data', (c: string) => (out += c))
    req.on('end', () => { session.close(); resolve({headers: resHeaders, body: out, trailers}) })
    req.on('error', reject)
    if (body !== undefined) req.end(body)
  })
}

describe('HTTP/2 (h2c) through the proxy pair', () => {
  let app: http2.Http2Server
  let pair: Pair
  beforeAll(async () => {
    app = http2.createServer()
    app.on('stream', (stream, headers) => {
      let body = ''
      stream.on('data', (c: Buffer) => (body += c))
      stream.on('end', () => {
        stream.respond({':status': 200, 'content-type': 'application/json', 'x-app': 'yes'}, {waitForTrailers: true})
        stream.on('wantTrailers', () => stream.sendTrailers({'x-trailer': 'done'}))
        stream.end(JSON.stringify({path: headers[':path'], authority: headers[':authority'], method: headers[':method'], body}))
      })
    })
    await new Promise<void>((r) => app.listen(0, '127.0.0.1', r))
    pair = await startPair('h2.local:80', (app.address() as {port: number}).port)
  })
  afterAll(async () => {
    await pair.close()
    await new Promise((r) => app.close(r))
  })

  it('forwards a request with a body and passes response trailers back', async () => {
    const r = await h2Request(pair.client.ports.outbound, {':method': 'POST', ':path': '/h2?q=1', ':authority': 'h2.local'}, 'hello h2')
    expect(r.headers[':status']).toBe(200)
    expect(r.headers['x-app']).toBe('yes')
    expect(JSON.parse(r.body)).toEqual({path: '/h2?q=1', authority: 'h2.local', method: 'POST', body: 'hello h2'})
    expect(r.trailers?.['x-trailer']).toBe('done')
  })

  it('answers 503 with mesh-proxy-error for an unknown service with no endpoints', async () => {
    const {testConfig, quietLog} = await import('./helpers.js')
    const {startProxy} = await import('../../src/proxy/server.js')
    const p = await startProxy(testConfig({}, 'none.local:80='), {log: quietLog(), originalDst: null})
    try {
      const r = await h2Request(p.ports.outbound, {':path': '/', ':authority': 'none.local'})
      expect(r.headers[':status']).toBe(503)
      expect(r.headers['mesh-proxy-error']).toBe('service none.local:80 has no endpoints')
    } finally {
      await p.close(100)
    }
  })

  it('survives a bounded h2load run (1,000 requests, 10 clients, 10 streams each)', async () => {
    const {stdout} = await exec('h2load', ['-n', '1000', '-c', '10', '-m', '10', '-H', ':authority: h2.local', `http://127.0.0.1:${pair.client.ports.outbound}/load`], {timeout: 60_000})
    expect(stdout).toMatch(/requests: 1000 total, 1000 started, 1000 done, 1000 succeeded, 0 failed, 0 errored/)
    expect(stdout).toMatch(/status codes: 1000 2xx/)
  })
})

describe('gRPC through the proxy pair', () => {
  let server: grpc.Server
  let pair: Pair
  let client: grpc.Client & Record<string, (...args: unknown[]) => unknown>

  beforeAll(async () => {
    const def = protoLoader.loadSync(fileURLToPath(new URL('./fixtures/echo.proto', import.meta.url)))
    const pkg = grpc.loadPackageDefinition(def) as unknown as {meshtest: {Echo: grpc.ServiceClientConstructor}}
    server = new grpc.Server()
    server.addService(pkg.meshtest.Echo.service, {
      Unary: (call: grpc.ServerUnaryCall<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) => {
        if (call.request.text === 'fail') return cb({code: grpc.status.PERMISSION_DENIED, details: 'nope'})
        const md = new grpc.Metadata()
        md.set('x-trailer', 'unary-done')
        cb(null, {text: `echo:${call.request.text}:${String(call.metadata.get('x-client')[0] ?? '')}`, n: call.request.n + 1}, md)
      },
      ServerStream: (call: grpc.ServerWritableStream<Msg, Msg>) => {
        for (let i = 0; i < call.request.n; i++) call.write({text: `${call.request.text}-${i}`, n: i})
        call.end()
      },
      ClientStream: (call: grpc.ServerReadableStream<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) => {
        let sum = 0
        let texts = ''
        call.on('data', (m: Msg) => { sum += m.n; texts += m.text })
        call.on('end', () => cb(null, {text: texts, n: sum}))
      },
      Bidi: (call: grpc.ServerDuplexStream<Msg, Msg>) => {
        call.on('data', (m: Msg) => call.write({text: `bidi:${m.text}`, n: m.n * 2}))
        call.on('end', () => call.end())
      },
    })
    const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))))
    pair = await startPair('grpc.local:80', port)
    client = new pkg.meshtest.Echo(`127.0.0.1:${pair.client.ports.outbound}`, grpc.credentials.createInsecure(), {'grpc.default_authority': 'grpc.local'}) as typeof client
  })
  afterAll(async () => {
    client.close()
    await pair.close()
    server.forceShutdown()
  })

  it('unary: request, response, metadata and trailers', async () => {
    const md = new grpc.Metadata()
    md.set('x-client', 'c1')
    let trailers: grpc.Metadata | undefined
    const res = await new Promise<Msg>((resolve, reject) => {
      const call = client.Unary({text: 'hi', n: 41}, md, (e: grpc.ServiceError | null, r: Msg) => (e ? reject(e) : resolve(r))) as grpc.ClientUnaryCall
      call.on('status', (s: grpc.StatusObject) => (trailers = s.metadata))
    })
    expect(res).toEqual({text: 'echo:hi:c1', n: 42})
    const t = await eventually('the call\'s trailers', () => trailers, {intervalMs: 10})
    expect(t.get('x-trailer')).toEqual(['unary-done'])
  })

  it('passes a grpc-status error (trailers-only response) through', async () => {
    const err = await new Promise<grpc.ServiceError>((resolve) => {
      client.Unary({text: 'fail', n: 0}, (e: grpc.ServiceError | null) => resolve(e!))
    })
    expect(err.code).toBe(grpc.status.PERMISSION_DENIED)
    expect(err.details).toBe('nope')
  })

  it('server streaming delivers every message in order', async () => {
    const got: Msg[] = []
    await new Promise<void>((resolve, reject) => {
      const call = client.ServerStream({text: 's', n: 50}) as grpc.ClientReadableStream<Msg>
      call.on('data', (m: Msg) => got.push(m))
      call.on('end', resolve)
      call.on('error', reject)
    })
    expect(got.map((m) => m.n)).toEqual(Array.from({length: 50}, (_, i) => i))
  })

  it('client streaming and bidi streaming', async () => {
    const sum = await new Promise<Msg>((resolve, reject) => {
      const call = client.ClientStream((e: grpc.ServiceError | null, r: Msg) => (e ? reject(e) : resolve(r))) as grpc.ClientWritableStream<Msg>
      for (let i = 1; i <= 10; i++) call.write({text: 'x', n: i})
      call.end()
    })
    expect(sum).toEqual({text: 'x'.repeat(10), n: 55})
    const replies: Msg[] = []
    await new Promise<void>((resolve, reject) => {
      const call = client.Bidi() as grpc.ClientDuplexStream<Msg, Msg>
      call.on('data', (m: Msg) => { replies.push(m); if (replies.length < 5) call.write({text: `m${replies.length}`, n: replies.length}); else call.end() })
      call.on('end', resolve)
      call.on('error', reject)
      call.write({text: 'm0', n: 0})
    })
    expect(replies.map((m) => m.text)).toEqual(['bidi:m0', 'bidi:m1', 'bidi:m2', 'bidi:m3', 'bidi:m4'])
  })

  it('a client cancel reaches the server as a cancelled call', async () => {
    const call = client.ServerStream({text: 'c', n: 100_000}) as grpc.ClientReadableStream<Msg>
    const status = await new Promise<grpc.StatusObject | grpc.ServiceError>((resolve) => {
      let n = 0
      call.on('data', () => { if (++n === 10) call.cancel() })
      call.on('error', resolve)
    })
    expect((status as grpc.ServiceError).code).toBe(grpc.status.CANCELLED)
  })
})
