// Hostile input from inside the mesh: a workload with a valid mesh certificate connects straight
// to another pod's inbound port over mTLS, where the raw codec reads the decrypted bytes into the
// shared client buffer (raw/conn.ts ClientReads). The plaintext suites' attacks (attacks-bounds,
// malformed) on that path: a head dripped a byte per TLS record (408 at the header read
// timeout, counted header_timeout), a head finished after its 408 (never forwarded), oversized
// and smuggling-shaped requests in one record and in records of 7 bytes (the plaintext answers:
// malformed-cases.ts), pipelined floods in one record and cut every 7 bytes; and a dripped head
// held while honest clients' requests come into the same inbound through an mTLS pair; and TLS
// handshakes that stall, half-close or send what is not TLS after their ClientHello (closed at the
// handshake timeout or at once, counted tls_handshake), or that the peer itself abandons. Runs on
// the codec MESH_PROXY_HTTP1_CODEC selects (npm test: raw; npm run test:node-codec: node).
import http from 'node:http'
import net from 'node:net'
import tls from 'node:tls'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import type {EndpointSet} from '../../src/proxy/core/contracts.js'
import {clientReadCounts} from '../../src/proxy/http/http1/raw/conn.js'
import {startProxy, type RunningProxy} from '../../src/proxy/server.js'
import {eventually} from '../helpers/eventually.js'
import {RawClient} from './attacks.js'
import {closeServer, fixedDiscovery, listenOn, quietLog, readByPeer, testConfig, withCodec} from './helpers.js'
import {MALFORMED, MALFORMED_LIMITS} from './malformed-cases.js'
import {CASES, digest, type Req, responses, seen, sendInPieces, serialize} from './reads-harness.js'
import {makePki, nameOf, type TestPki} from './test-identity.js'

const codec = process.env.MESH_PROXY_HTTP1_CODEC === 'node' ? 'node' : 'raw'
/** The header read timeout of the `slow` inbound. */
const HEADER_TIMEOUT_MS = 400

let pki: TestPki
let attackerCtx: tls.SecureContext
let app: http.Server
/** Requests the app saw start, as `METHOD target`, in order. */
const appSaw: string[] = []
/** An inbound whose header read timeout is short (the slowloris cases). */
let slow: RunningProxy
/** An inbound whose detect timeout, and so TLS handshake timeout, is short (the stalled handshakes). */
let shake: RunningProxy
const HANDSHAKE_TIMEOUT_MS = 400
/** The pair's inbound: the malformed cases' limits, and no header read timeout a test could meet. */
let web: RunningProxy
/** The pair's outbound (the honest clients' way in): routes web.local:80 to `web` over mTLS. */
let outbound: RunningProxy

beforeAll(async () => {
  pki = makePki()
  attackerCtx = pki.identity('attacker').clientContext()
  // The app answers each request with its digest (reads-harness.ts): what it saw, checkable.
  app = http.createServer((req, res) => {
    appSaw.push(`${req.method} ${req.url}`)
    seen(req, (got) => res.writeHead(200, {'content-length': Buffer.byteLength(got)}).end(got))
  })
  const forward = {host: '127.0.0.1', port: await listenOn(app)}
  const identity = pki.identity('web')
  const slowCfg = testConfig({inboundForward: forward})
  slowCfg.limits.headerReadTimeoutMs = HEADER_TIMEOUT_MS
  slow = await startProxy(slowCfg, {log: quietLog(), originalDst: null, identity})
  const shakeCfg = testConfig({inboundForward: forward})
  shakeCfg.limits.detectTimeoutMs = HANDSHAKE_TIMEOUT_MS
  shake = await startProxy(shakeCfg, {log: quietLog(), originalDst: null, identity})
  const webCfg = testConfig({inboundForward: forward})
  Object.assign(webCfg.limits, MALFORMED_LIMITS)
  // (the interleaving case holds a head open while honest traffic goes by: the test's timeout bounds it, not this)
  webCfg.limits.headerReadTimeoutMs = 600_000
  web = await startProxy(webCfg, {log: quietLog(), originalDst: null, identity})
  const ep: EndpointSet = {endpoints: [{host: '127.0.0.1', port: web.ports.inbound, identity: nameOf('web'), labels: {}}]}
  // (the raw codec on both codecs' runs: the honest clients' sender paces its pieces by its reads, reads-harness.ts sendInPieces)
  outbound = await withCodec('raw', () => startProxy(testConfig(), {log: quietLog(), originalDst: null, identity: pki.identity('client'), discovery: fixedDiscovery({'web.local:80': ep})}))
})

afterAll(async () => {
  await Promise.all([outbound?.close(100), web?.close(100), slow?.close(100), shake?.close(100)])
  await closeServer(app)
  pki?.cleanup()
})

/** A meshed workload's TLS client, with its own valid certificate, straight to the inbound `port`; the handshake done. */
async function attacker(port: number, allowHalfOpen = false): Promise<RawClient> {
  const tcp = net.connect({host: '127.0.0.1', port, allowHalfOpen})
  tcp.setNoDelay(true)
  const s = tls.connect({socket: tcp, servername: nameOf('web'), secureContext: attackerCtx, ALPNProtocols: ['http/1.1']})
  const c = new RawClient(s)
  await new Promise<void>((resolve, reject) => {
    s.once('secureConnect', () => resolve())
    s.once('close', () => reject(new Error('the inbound closed the connection before the handshake was done')))
  })
  expect(s.authorized).toBe(true)
  return c
}

/**
 * Writes `bytes` in pieces of `size`, each a TLS record of its own (the next written once the
 * write before it is done); with `untilAnswered`, stops once anything came back. Stops when the
 * connection is gone. Returns the bytes written.
 */
async function drip(c: RawClient, bytes: string | Buffer, size: number, untilAnswered = true): Promise<number> {
  const b = typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes
  let at = 0
  while (at < b.length && !(untilAnswered && c.received !== '')) {
    if (!(await c.send(b.subarray(at, at + size)))) break
    at = Math.min(b.length, at + size)
  }
  return at
}

/** The status lines in `text`. */
const statusLines = (text: string): string[] => text.match(/HTTP\/1\.1 \d{3} [^\r]*/g) ?? []

/** A well-formed request from a meshed client straight to the inbound `port` is served: 200, the app's digest of it. */
async function stillServes(port: number, path: string): Promise<void> {
  const c = await attacker(port)
  c.write(`GET ${path} HTTP/1.1\r\nHost: web.local\r\nConnection: close\r\n\r\n`)
  const got = await c.end()
  expect(statusLines(got)).toEqual(['HTTP/1.1 200 OK'])
  expect(got.endsWith(`\r\n\r\n${digest('GET', path, '', '')}`)).toBe(true)
}

/** The first bytes a meshed client's TLS sends to this proxy: its ClientHello, naming the proxy (caught by a listener that answers nothing). */
async function clientHello(): Promise<Buffer> {
  const catcher = net.createServer()
  const got = new Promise<Buffer>((resolve) => catcher.once('connection', (s: net.Socket) => s.once('data', (d: Buffer) => { resolve(d); s.destroy() })))
  const port = await listenOn(catcher)
  const c = tls.connect({host: '127.0.0.1', port, servername: nameOf('web'), secureContext: attackerCtx, ALPNProtocols: ['http/1.1']})
  c.on('error', () => {})
  try {
    return await got
  } finally {
    c.destroy()
    await closeServer(catcher)
  }
}

describe('TLS handshakes that do not finish, on an mTLS inbound', () => {
  // [what the peer does after its ClientHello, what it sends, counted tls_handshake]
  const cases: [string, (c: net.Socket, hello: Buffer) => void, boolean][] = [
    ['stalls (the handshake timeout)', (c, hello) => c.write(hello), true],
    ['half-closes (held until the handshake timeout)', (c, hello) => c.end(hello), true],
    ['sends plaintext HTTP (OpenSSL refuses the record)', (c, hello) => c.write(Buffer.concat([hello, Buffer.from('GET / HTTP/1.1\r\nHost: web.local\r\n\r\n')])), true],
    ['sends its own alert (it gave up: not a refusal)', (c, hello) => c.write(Buffer.concat([hello, Buffer.from([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28])])), false],
    ['resets (it left: not a refusal)', (c, hello) => c.write(hello, () => c.resetAndDestroy()), false],
  ]
  for (const [what, act, counted] of cases) {
    it(`a peer that ${what}: closed, ${counted ? 'counted tls_handshake' : 'nothing counted'}, nothing reaches the app`, async () => {
      const hello = await clientHello()
      const refused = structuredClone(shake.stats.refused)
      const saw = appSaw.length
      const c = net.connect({host: '127.0.0.1', port: shake.ports.inbound, allowHalfOpen: true})
      c.on('error', () => {})
      // (half-open only as long as the case wants: the proxy's end closes ours)
      c.on('end', () => c.destroy())
      c.resume()
      const closed = new Promise<void>((resolve) => c.once('close', () => resolve()))
      await new Promise<void>((resolve) => c.once('connect', () => resolve()))
      act(c, hello)
      await closed
      // (the proxy counts when it closes its end: awaited, since the client's close may come first on a reset)
      if (counted) await eventually('the refusal counted', () => (shake.stats.refused.tls_handshake > refused.tls_handshake ? true : undefined), {intervalMs: 5})
      else await stillServes(shake.ports.inbound, `/after-handshake-${what.split(' ')[0]}`)
      expect(shake.stats.refused).toEqual(counted ? {...refused, tls_handshake: refused.tls_handshake + 1} : refused)
      expect(appSaw.slice(saw).filter((r) => !r.startsWith('GET /after-handshake-'))).toEqual([])
    })
  }

  it('the inbound still serves', async () => {
    await stillServes(shake.ports.inbound, '/after-handshakes')
  })
})

describe('slowloris over mTLS', () => {
  it('a head dripped a byte per TLS record is answered 408 at the header read timeout, counted header_timeout, and never reaches the app', async () => {
    const refused = structuredClone(slow.stats.refused)
    const saw = appSaw.length
    const attached = clientReadCounts.attached.inbound
    const reads = clientReadCounts.reads.inbound
    const c = await attacker(slow.ports.inbound)
    // Every line of a head but the blank one that ends it: never whole, however fast it goes.
    const head = 'GET /slowloris HTTP/1.1\r\nHost: web.local\r\n' + 'X-Slow: 1\r\n'.repeat(16)
    const started = performance.now()
    await drip(c, head, 1)
    const got = await c.end()
    expect(performance.now() - started).toBeGreaterThanOrEqual(HEADER_TIMEOUT_MS - 5)
    expect(statusLines(got)).toEqual(['HTTP/1.1 408 Request Timeout'])
    expect(slow.stats.refused).toEqual({...refused, header_timeout: refused.header_timeout + 1})
    expect(appSaw.slice(saw)).toEqual([])
    if (codec === 'raw') {
      // (the dripped bytes came through the shared client buffer, not the stream)
      expect(clientReadCounts.attached.inbound).toBe(attached + 1)
      expect(clientReadCounts.reads.inbound).toBeGreaterThan(reads)
    }
    await stillServes(slow.ports.inbound, '/after-slowloris')
  })

  it('the second head on a kept-alive connection, dripped, is answered 408 after the first request\'s 200', async () => {
    const refused = structuredClone(slow.stats.refused)
    const c = await attacker(slow.ports.inbound)
    c.write('GET /first HTTP/1.1\r\nHost: web.local\r\n\r\n')
    await c.until(/GET \/first [0-9a-f]{16} [0-9a-f]{16}$/)
    await drip(c, 'GET /second HTTP/1.1\r\nHost: web.local\r\nX-Slow: 1\r\n', 1, false)
    const got = await c.end()
    expect(statusLines(got)).toEqual(['HTTP/1.1 200 OK', 'HTTP/1.1 408 Request Timeout'])
    expect(slow.stats.refused).toEqual({...refused, header_timeout: refused.header_timeout + 1})
    expect(appSaw.filter((r) => /^GET \/(first|second)$/.test(r))).toEqual(['GET /first'])
  })

  it('a head completed after its 408 is not forwarded: the connection is over for the proxy, whatever the client sends after', async () => {
    // (half-open: the client still writes after the proxy's close_notify and FIN, as an attacker's would)
    const c = await attacker(slow.ports.inbound, true)
    await drip(c, 'GET /after-408 HTTP/1.1\r\nHost: web.local\r\n', 1)
    await c.until(/HTTP\/1\.1 408/)
    expect(c.socket.writable).toBe(true)
    const ignored = slow.stats.ignoredBytes.after_close
    // The rest of the head, and a whole request behind it, in records of their own, while the connection is open.
    const late = 'X-Late: 1\r\n\r\nGET /after-408-next HTTP/1.1\r\nHost: web.local\r\n\r\n'
    expect(await c.send(late.slice(0, 13))).toBe(true)
    expect(await c.send(late.slice(13))).toBe(true)
    // (then the client's close_notify and FIN: a proxy that took the requests would answer them before it closes)
    c.socket.end()
    const got = await c.end()
    // A request on a new connection, answered: the app has seen whatever came before it.
    await stillServes(slow.ports.inbound, '/after-408-barrier')
    expect(appSaw.filter((r) => r.includes('/after-408'))).toEqual(['GET /after-408-barrier'])
    expect(statusLines(got)).toEqual(['HTTP/1.1 408 Request Timeout'])
    // What came after the 408 is counted as ignored (the node codec reads nothing more after its 408: attacks-bounds.test.ts).
    if (codec === 'raw') expect(slow.stats.ignoredBytes.after_close).toBe(ignored + late.length)
  })
})

describe('malformed, oversized and smuggling-shaped requests over mTLS: the plaintext inbound\'s answers (malformed-cases.ts)', () => {
  // (the one whose head the app may see, a body broken after it, last: it may reach the app after its test)
  const cases = [...MALFORMED.filter((k) => !k.streamed), ...MALFORMED.filter((k) => k.streamed)]
  for (const k of cases) {
    for (const [how, size] of [['in one TLS record', Infinity], ['in TLS records of 7 bytes', 7]] as const) {
      it(`${k.status} to ${k.name}, ${how}`, async () => {
        const refused = structuredClone(web.stats.refused)
        const saw = appSaw.length
        const c = await attacker(web.ports.inbound)
        await drip(c, k.bytes, size)
        const got = await c.end()
        expect(statusLines(got)).toHaveLength(1)
        expect(got).toMatch(new RegExp(`^HTTP/1\\.1 ${k.status} `))
        expect(got.toLowerCase()).toContain('mesh-proxy-error:')
        expect(web.stats.refused).toEqual({...refused, malformed_request: refused.malformed_request + 1})
        // Nothing reached the app (a smuggled request least of all); a head whose body broke, at most that head.
        if (k.streamed) expect(appSaw.slice(saw).filter((r) => r !== 'POST /')).toEqual([])
        else expect(appSaw.slice(saw)).toEqual([])
      })
    }
  }

  it('the inbound still serves', async () => {
    await stillServes(web.ports.inbound, '/after-malformed')
  })
})

describe('pipelined floods over mTLS', () => {
  const N = 500
  const tiny = (seed: number): Req => ({seed, longLength: 5, bodyLength: 0, chunked: false, http10: false})

  for (const [how, size, seed] of [['in one write (records of 16 KB)', Infinity, 10_000], ['cut every 7 bytes, a TLS record each', 7, 20_000]] as const) {
    it(`${N} tiny GETs ${how}: ${codec === 'raw' ? 'every answer, in order; the app sees exactly what was sent' : 'what is answered comes in order, the app sees those; past the pipeline bound, closed'}`, async () => {
      const parts = Array.from({length: N}, (_, i) => serialize(tiny(seed + i), i))
      const sent = Array.from({length: N}, (_, i) => `GET /r${i}?s=${seed + i}`)
      const mine = new Set(sent)
      const refused = structuredClone(web.stats.refused)
      const c = await attacker(web.ports.inbound)
      const answers = responses(c.socket, N, true)
      await drip(c, Buffer.concat(parts.map((p) => p.bytes)), size, false)
      const got = await answers
      c.destroy()
      const appGot = appSaw.filter((r) => mine.has(r))
      // The raw codec serves every request. The node codec closes a connection with more than
      // MAX_PIPELINED_WAITING requests waiting (pipeline-order.test.ts): Node's parser reads a
      // whole record's at once, and a record of 16 KB holds hundreds; cut every 7 bytes, the
      // proxy may keep up (measured: all 500 served, each time).
      if (codec === 'raw' || (size !== Infinity && got.length === N)) {
        expect(got).toEqual(parts.map((p) => p.want))
        expect(appGot).toEqual(sent)
        expect(web.stats.refused).toEqual(refused)
      } else {
        // Closed at the bound, counted: what was answered before came in order; the app saw
        // those, and at most the one in progress.
        expect(web.stats.refused).toEqual({...refused, pipeline_limit: refused.pipeline_limit + 1})
        expect(got).toEqual(parts.slice(0, got.length).map((p) => p.want))
        expect(appGot).toEqual(sent.slice(0, appGot.length))
        expect(appGot.length - got.length).toBeLessThanOrEqual(1)
      }
      await stillServes(web.ports.inbound, `/after-flood-${seed}`)
    })
  }
})

describe('a head dripped over mTLS while honest clients\' requests come into the same inbound through the pair', () => {
  it('every honest request is answered 200 with what the app saw of it; the dripped head, finished at last, is its own request', async () => {
    const refused = structuredClone(web.stats.refused)
    const c = await attacker(web.ports.inbound)
    const answer = responses(c.socket, 1)
    answer.catch(() => {})
    const slowReq = serialize({seed: 4242, longLength: 600, bodyLength: 0, chunked: false, http10: false}, 0)
    // All but the blank line's LF: the head is never whole until the end.
    const held = slowReq.bytes.length - 1
    const rounds = 6
    const step = Math.ceil(held / rounds)
    for (let at = 0; at < held; at += step) {
      const to = Math.min(held, at + step)
      expect(await drip(c, slowReq.bytes.subarray(at, to), 1, false)).toBe(to - at)
      // (the inbound has read the head so far, and holds it, before the honest requests come)
      await readByPeer(c.socket)
      await Promise.all([
        sendInPieces(outbound.ports.outbound, ...CASES.pipelined),
        sendInPieces(outbound.ports.outbound, ...CASES.manySmall),
        sendInPieces(outbound.ports.outbound, ...CASES.bodies),
        sendInPieces(outbound.ports.outbound, ...CASES.handover),
      ])
    }
    expect(c.received).toBe('')
    expect(await c.send(slowReq.bytes.subarray(held))).toBe(true)
    expect(await answer).toEqual([slowReq.want])
    expect(web.stats.refused).toEqual(refused)
    c.destroy()
  }, 60_000)
})
