// tcp_close_total{errno} and tcp_connection_duration_ms from a real sidecar (runSidecar: data
// path + admin /metrics), as Linkerd's proxy sets them: a connection the client resets
// (SO_LINGER 0: an RST) after its answer counts under errno="ECONNRESET", one it closes cleanly
// under no errno; every closed connection has its duration. HTTP/1 under both codecs
// (MESH_PROXY_HTTP1_CODEC), HTTP/2 with prior knowledge, and an opaque CONNECT tunnel whose
// upstream resets.
import http2 from 'node:http2'
import net from 'node:net'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {parseMetrics, type Sample} from '../../src/metrics/index.js'
import {runSidecar, type Sidecar} from '../../src/proxy/run.js'
import {eventually} from '../helpers/eventually.js'
import {closeServer, listenOn, quietLog, startEchoApp, testConfig, type EchoApp} from './helpers.js'

let app: EchoApp
let h2app: http2.Http2Server
let resetter: net.Server
let resetPort = 0
const sidecars: Record<'node' | 'raw', Sidecar | undefined> = {node: undefined, raw: undefined}

async function sidecar(codec: 'node' | 'raw', routes: string): Promise<Sidecar> {
  const saved = process.env.MESH_PROXY_HTTP1_CODEC
  process.env.MESH_PROXY_HTTP1_CODEC = codec
  try {
    return await runSidecar(testConfig({}, routes), {}, quietLog())
  } finally {
    if (saved === undefined) delete process.env.MESH_PROXY_HTTP1_CODEC
    else process.env.MESH_PROXY_HTTP1_CODEC = saved
  }
}

async function samples(s: Sidecar, family: string): Promise<Sample[]> {
  const res = await fetch(`http://127.0.0.1:${s.ports.admin}/metrics`, {signal: AbortSignal.timeout(10_000)})
  return parseMetrics(await res.text()).get(family)?.samples ?? []
}

/** Closes of outbound connections, by errno ('' for none), summed. */
async function closesByErrno(s: Sidecar): Promise<Record<string, number>> {
  const out: Record<string, number> = {}
  for (const x of await samples(s, 'tcp_close_total')) {
    if (x.labels.direction !== 'outbound') continue
    const e = x.labels.errno ?? ''
    out[e] = (out[e] ?? 0) + x.value
  }
  return out
}

async function durationCount(s: Sidecar, errno: string): Promise<number> {
  return (await samples(s, 'tcp_connection_duration_ms'))
    .filter((x) => x.name === 'tcp_connection_duration_ms_count' && x.labels.direction === 'outbound' && (x.labels.errno ?? '') === errno)
    .reduce((a, x) => a + x.value, 0)
}

/** One request head on a new connection to the proxy's outbound port; then RST (reset) or FIN. */
function exchange(port: number, head: string, end: 'reset' | 'close'): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({host: '127.0.0.1', port})
    let got = ''
    sock.setTimeout(10_000, () => sock.destroy(new Error('no answer')))
    sock.on('data', (c: Buffer) => {
      got += c.toString('latin1')
      // The whole (small) answer is there: the proxy now waits for the next request.
      if (!/\r\n\r\n/.test(got) || !got.includes('"method"')) return
      if (end === 'reset') sock.resetAndDestroy()
      else sock.end()
      resolve(got.split('\r\n')[0]!)
    })
    sock.on('error', reject)
    sock.write(head)
  })
}

/** Waits until the sidecar counted `n` more outbound closes under `errno` than `before`. */
async function closed(s: Sidecar, errno: string, before: Record<string, number>, n = 1): Promise<void> {
  await eventually(`${n} more outbound close(s) with errno "${errno}"`, async () => ((await closesByErrno(s))[errno] ?? 0) >= (before[errno] ?? 0) + n ? true : undefined, 20_000)
}

beforeAll(async () => {
  app = await startEchoApp()
  h2app = http2.createServer()
  h2app.on('stream', (stream) => {
    stream.respond({':status': 200})
    stream.end('{"method":"h2"}')
  })
  await new Promise<void>((r) => h2app.listen(0, '127.0.0.1', r))
  // An upstream that resets every connection as soon as it has read something.
  resetter = net.createServer((s) => s.once('data', () => s.resetAndDestroy()))
  resetPort = await listenOn(resetter)
  const routes = `web.test:80=127.0.0.1:${app.port};h2.test:80=127.0.0.1:${(h2app.address() as net.AddressInfo).port};reset.test:80=127.0.0.1:${resetPort}`
  sidecars.node = await sidecar('node', routes)
  sidecars.raw = await sidecar('raw', routes)
})

afterAll(async () => {
  await Promise.all([sidecars.node?.stop(200), sidecars.raw?.stop(200)])
  await closeServer(app?.server)
  await closeServer(resetter)
  await new Promise((r) => h2app?.close(r))
})

describe('errno and connection durations from a real sidecar', () => {
  for (const codec of ['raw', 'node'] as const) {
    it(`HTTP/1 (${codec} codec): a client's reset is errno="ECONNRESET", a clean close has no errno, both have a duration`, async () => {
      const s = sidecars[codec]!
      const head = 'GET /x HTTP/1.1\r\nhost: web.test\r\n\r\n'
      let before = await closesByErrno(s)
      const durationsBefore = await durationCount(s, 'ECONNRESET')
      expect(await exchange(s.ports.outbound, head, 'reset')).toBe('HTTP/1.1 200 OK')
      await closed(s, 'ECONNRESET', before)
      expect(await durationCount(s, 'ECONNRESET')).toBe(durationsBefore + 1)
      before = await closesByErrno(s)
      const cleanBefore = await durationCount(s, '')
      expect(await exchange(s.ports.outbound, head, 'close')).toBe('HTTP/1.1 200 OK')
      await closed(s, '', before)
      expect((await closesByErrno(s)).ECONNRESET).toBe(before.ECONNRESET)
      expect(await durationCount(s, '')).toBe(cleanBefore + 1)
      // Every errno the sidecar wrote is a system error's name.
      for (const e of Object.keys(await closesByErrno(s))) expect(e).toMatch(/^(|E[A-Z0-9]+|UNKNOWN_ERRNO)$/)
    })
  }

  it('HTTP/2 with prior knowledge: a client\'s reset after its answer is errno="ECONNRESET"', async () => {
    const s = sidecars.raw!
    const before = await closesByErrno(s)
    const socket = net.connect({host: '127.0.0.1', port: s.ports.outbound})
    const session = http2.connect('http://h2.test', {createConnection: () => socket})
    session.on('error', () => {})
    const body = await new Promise<string>((resolve, reject) => {
      const req = session.request({':path': '/x', ':authority': 'h2.test:80'})
      let b = ''
      req.setEncoding('utf8').on('data', (c: string) => (b += c)).on('end', () => resolve(b)).on('error', reject)
      req.end()
    })
    expect(body).toBe('{"method":"h2"}')
    socket.resetAndDestroy()
    await closed(s, 'ECONNRESET', before)
  })

  it('an opaque CONNECT tunnel whose upstream resets is errno="ECONNRESET" on the tunnel\'s series (its endpoint)', async () => {
    const s = sidecars.raw!
    const count = async (): Promise<number> => (await samples(s, 'tcp_close_total'))
      .filter((x) => x.labels.direction === 'outbound' && x.labels.errno === 'ECONNRESET' && x.labels.authority === `127.0.0.1:${resetPort}`).reduce((a, x) => a + x.value, 0)
    const before = await count()
    await new Promise<void>((resolve, reject) => {
      const sock = net.connect({host: '127.0.0.1', port: s.ports.outbound})
      let got = ''
      sock.on('data', (c: Buffer) => {
        got += c.toString('latin1')
        if (got.startsWith('HTTP/1.1 200') && got.includes('\r\n\r\n')) sock.write('hello')
      })
      sock.on('close', () => resolve())
      sock.on('error', () => resolve())
      sock.setTimeout(10_000, () => sock.destroy(new Error('tunnel did not end')))
      sock.once('timeout', () => reject(new Error('tunnel did not end')))
      sock.write('CONNECT reset.test:80 HTTP/1.1\r\nhost: reset.test:80\r\n\r\n')
    })
    await eventually('the tunnel\'s close under ECONNRESET', async () => ((await count()) > before ? true : undefined), 20_000)
  })
})
