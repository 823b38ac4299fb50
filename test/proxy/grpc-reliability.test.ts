// gRPC reliability through a real proxy pair with @grpc/grpc-js: deadlines (the route timeout
// and the client's grpc-timeout) answered as DEADLINE_EXCEEDED by the proxy with the upstream
// call cancelled and the time left passed on, and retries of UNAVAILABLE trailers-only errors
// when the request (or its route) is marked retryable.
import http2 from 'node:http2'
import {fileURLToPath} from 'node:url'
import * as grpc from '@grpc/grpc-js'
import * as protoLoader from '@grpc/proto-loader'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {parseRoutes} from '../../src/proxy/config/route-policy.js'
import {eventually} from '../helpers/eventually.js'
import {closeServer, listenOn, startPair, type Pair} from './helpers.js'

interface Msg { text: string, n: number }
type EchoClient = grpc.Client & Record<string, (...args: unknown[]) => unknown>

const calls = new Map<string, number>()
let cancelled = 0
let server: grpc.Server
let port: number
let Echo: grpc.ServiceClientConstructor

function unary(client: EchoClient, text: string, opts: {md?: Record<string, string>, deadlineMs?: number} = {}): Promise<{res?: Msg, err?: grpc.ServiceError, ms: number}> {
  const md = new grpc.Metadata()
  for (const [k, v] of Object.entries(opts.md ?? {})) md.set(k, v)
  const t0 = performance.now()
  return new Promise((resolve) => {
    client.Unary({text, n: 1}, md, {deadline: Date.now() + (opts.deadlineMs ?? 10_000)}, (err: grpc.ServiceError | null, res: Msg) => {
      resolve(err ? {err, ms: performance.now() - t0} : {res, ms: performance.now() - t0})
    })
  })
}

beforeAll(async () => {
  const def = protoLoader.loadSync(fileURLToPath(new URL('./fixtures/echo.proto', import.meta.url)))
  Echo = (grpc.loadPackageDefinition(def) as unknown as {meshtest: {Echo: grpc.ServiceClientConstructor}}).meshtest.Echo
  server = new grpc.Server()
  server.addService(Echo.service, {
    Unary: (call: grpc.ServerUnaryCall<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) => {
      const text = call.request.text
      const n = (calls.get(text) ?? 0) + 1
      calls.set(text, n)
      if (text.startsWith('slow')) {
        const timer = setTimeout(() => cb(null, {text: 'late', n}), 2000)
        call.on('cancelled', () => { cancelled++; clearTimeout(timer) })
        return
      }
      if (text.startsWith('flaky') && n === 1) return cb({code: grpc.status.UNAVAILABLE, details: 'warming up'})
      cb(null, {text: `ok:${text}`, n})
    },
  })
  port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))))
})

afterAll(() => {
  server.forceShutdown()
})

function clientOf(pair: Pair): EchoClient {
  return new Echo(`127.0.0.1:${pair.client.ports.outbound}`, grpc.credentials.createInsecure(), {'grpc.default_authority': 'grpc.local'}) as EchoClient
}

describe('gRPC through a pair with default routes', () => {
  let pair: Pair
  let client: EchoClient
  beforeAll(async () => {
    pair = await startPair('grpc.local:80', port)
    client = clientOf(pair)
  })
  afterAll(async () => {
    client.close()
    await pair.close()
  })

  it('retries an UNAVAILABLE trailers-only error when the call is marked mesh-retryable', async () => {
    const r = await unary(client, 'flaky-marked', {md: {'mesh-retryable': 'true'}})
    expect(r.err).toBeUndefined()
    expect(r.res).toEqual({text: 'ok:flaky-marked', n: 2})
    expect(calls.get('flaky-marked')).toBe(2)
    expect(pair.client.stats.retries).toBe(1)
    expect(pair.server.stats.retries).toBe(0)
  })

  it('passes UNAVAILABLE through, unretried, when the call is not marked', async () => {
    const r = await unary(client, 'flaky-plain')
    expect(r.err?.code).toBe(grpc.status.UNAVAILABLE)
    expect(r.err?.details).toBe('warming up')
    expect(calls.get('flaky-plain')).toBe(1)
  })

  it('a client deadline shorter than the server\'s delay ends in DEADLINE_EXCEEDED and cancels the server\'s call', async () => {
    const before = cancelled
    const r = await unary(client, 'slow-deadline', {deadlineMs: 300})
    expect(r.err?.code).toBe(grpc.status.DEADLINE_EXCEEDED)
    await eventually('the server\'s call to be cancelled', () => (cancelled > before ? true : undefined))
    expect(cancelled).toBe(before + 1)
  })
})

describe('gRPC through a pair with a route timeout and retryable route', () => {
  let pair: Pair
  let client: EchoClient
  beforeAll(async () => {
    pair = await startPair('grpc.local:80', port, (c) => { c.routes = parseRoutes('grpc.local POST /meshtest.Echo/=timeout:300ms,retryable:true', 'test') })
    client = clientOf(pair)
  })
  afterAll(async () => {
    client.close()
    await pair.close()
  })

  it('answers DEADLINE_EXCEEDED itself at the route timeout, though the client would wait 10 s', async () => {
    const before = cancelled
    const r = await unary(client, 'slow-route')
    expect(r.err?.code).toBe(grpc.status.DEADLINE_EXCEEDED)
    expect(r.err?.details).toMatch(/no response from .* within 300ms/)
    expect(r.err?.metadata.get('mesh-proxy-error')[0]).toMatch(/within 300ms/)
    // The proxy's own deadline answered (it says so), not the client's 10 s: no upper bound.
    expect(r.ms).toBeGreaterThanOrEqual(280)
    await eventually('the server\'s call to be cancelled', () => (cancelled > before ? true : undefined))
    expect(cancelled).toBe(before + 1)
  })

  it('retries UNAVAILABLE on a route marked retryable, with no header on the call', async () => {
    const r = await unary(client, 'flaky-route')
    expect(r.res).toEqual({text: 'ok:flaky-route', n: 2})
  })
})

describe('grpc-timeout', () => {
  it('is honoured (the smaller of it and the route timeout) and passed upstream as the time left', async () => {
    const seen: string[] = []
    const resets: number[] = []
    const app = http2.createServer()
    app.on('stream', (stream, headers) => {
      seen.push(String(headers['grpc-timeout']))
      stream.on('error', () => {})
      stream.on('close', () => resets.push(stream.rstCode ?? -1))
    })
    const appPort = await listenOn(app)
    const pair = await startPair('raw.local:80', appPort, (c) => { c.routes = parseRoutes('raw.local=timeout:5s', 'test') })
    try {
      const session = http2.connect(`http://127.0.0.1:${pair.client.ports.outbound}`)
      const t0 = performance.now()
      const res = await new Promise<http2.IncomingHttpHeaders>((resolve, reject) => {
        const req = session.request({':method': 'POST', ':path': '/meshtest.Echo/Unary', ':authority': 'raw.local', 'content-type': 'application/grpc', te: 'trailers', 'grpc-timeout': '250m'})
        req.on('response', (h) => resolve(h))
        req.on('error', reject)
        req.end(Buffer.from([0, 0, 0, 0, 6, 0x0a, 4, 0x73, 0x6c, 0x6f, 0x77]))
      })
      const ms = performance.now() - t0
      session.close()
      expect(res[':status']).toBe(200)
      expect(res['grpc-status']).toBe('4')
      expect(res['grpc-message']).toMatch(/within 250ms/)
      expect(res['mesh-proxy-error']).toMatch(/within 250ms/)
      expect(ms).toBeGreaterThanOrEqual(240)
      // Both proxies passed on the time left: at most 250 ms, never the route's 5 s (how much is
      // left depends on the machine's speed: only that some is).
      expect(seen).toHaveLength(1)
      expect(seen[0]).toMatch(/^\d+m$/)
      expect(Number(seen[0].slice(0, -1))).toBeLessThanOrEqual(250)
      expect(Number(seen[0].slice(0, -1))).toBeGreaterThan(0)
      await eventually('the upstream stream to be reset', () => (resets.length > 0 ? true : undefined))
      expect(resets).toEqual([http2.constants.NGHTTP2_CANCEL])
    } finally {
      await pair.close()
      await closeServer(app)
    }
  })
})
