// Bytes after a request the proxy has already forwarded never change that request's answer.
// Node's parser (the node codec, and every connection the raw codec hands it: HTTP/1.0, Expect,
// absolute-form) refuses what follows a request that closes the connection (`Connection:
// close`, HTTP/1.0 without keep-alive) as HPE_CLOSED_CONNECTION, and what follows any request
// that is not a request (junk) as a parse error, while the request before is already on its way
// to the app. The proxy used to answer that refusal as a 400 through the forwarded request's
// own response: the client read a 400 for a request the app executed (a retrying client repeats
// it). As nginx does: the request is answered normally and whole; the bytes after a closing
// request are ignored (never forwarded, never answered, not a refusal; counted on /metrics as
// mesh_proxy_ignored_bytes_total{reason="after_close"}) and the connection closes; junk after a
// keep-alive request gets its 400 (counted) after the earlier answers.
// Real sockets, one write per case, through a proxy pair and to the inbound side, both codecs.
import http from 'node:http'
import net from 'node:net'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {createProxyMetrics, parseMetrics, type ProxyMetrics} from '../../src/metrics/index.js'
import {IGNORED_REASON_NAMES} from '../../src/proxy/core/ignored.js'
import {eventually} from '../helpers/eventually.js'
import {closeServer, listenOn, readByPeer, startPair, withCodec, type Pair} from './helpers.js'

/** An app that records each request (`<METHOD> <url>`) and answers `ok <url>\n` with a length; `/hold/*` waits for release(). */
interface App {
  server: http.Server
  seen: string[]
  arrived(url: string): Promise<void>
  release(url: string): void
}

async function startApp(): Promise<App & {port: number}> {
  const held = new Map<string, () => void>()
  const waiters = new Map<string, () => void>()
  const app = {
    seen: [] as string[],
    server: http.createServer((req, res) => {
      const url = req.url ?? ''
      app.seen.push(`${req.method} ${url}`)
      req.resume()
      req.on('end', () => {
        const answer = (): void => {
          const body = `ok ${url}\n`
          res.writeHead(200, {'content-type': 'text/plain', 'content-length': Buffer.byteLength(body)})
          res.end(body)
        }
        if (url.startsWith('/hold/')) held.set(url, answer)
        else answer()
        waiters.get(url)?.()
      })
    }),
    arrived: (url: string) => held.has(url) ? Promise.resolve() : new Promise<void>((r) => waiters.set(url, r)),
    release: (url: string) => {
      const answer = held.get(url)
      if (!answer) throw new Error(`no held request for ${url}`)
      held.delete(url)
      answer()
    },
    port: 0,
  }
  app.port = await listenOn(app.server)
  return app
}

interface Answer {
  status: number
  body: string
}

/** The responses in `text`, each read by its Content-Length (1xx: none); throws on anything else. */
function answers(text: string): Answer[] {
  const out: Answer[] = []
  let rest = text
  while (rest.length > 0) {
    const end = rest.indexOf('\r\n\r\n')
    const m = /^HTTP\/1\.1 (\d{3}) [^\r\n]*\r\n/.exec(rest)
    if (end < 0 || !m) throw new Error(`not a response: ${JSON.stringify(rest)} (in ${JSON.stringify(text)})`)
    const status = Number(m[1])
    const head = rest.slice(0, end)
    const length = status < 200 ? 0 : Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? NaN)
    if (!Number.isInteger(length) || rest.length < end + 4 + length) throw new Error(`an incomplete response: ${JSON.stringify(rest)}`)
    out.push({status, body: rest.slice(end + 4, end + 4 + length)})
    rest = rest.slice(end + 4 + length)
  }
  return out
}

/** A client connection that collects what it reads and knows when the proxy closed it. */
class Client {
  readonly sock: net.Socket
  got = ''
  readonly closed: Promise<string>

  constructor(port: number) {
    this.sock = net.connect(port, '127.0.0.1')
    this.sock.setEncoding('latin1')
    this.sock.on('error', () => {})
    this.sock.on('data', (d: string) => (this.got += d))
    this.closed = new Promise((resolve) => this.sock.once('close', () => resolve(this.got)))
  }
}

/** The slow-head pairs' header read timeout: short, so a test waits little for the 408 (how soon it comes is not asserted). */
const HEAD_TIMEOUT_MS = 300

const ENTRIES = ['outbound', 'inbound'] as const
type Entry = typeof ENTRIES[number]
const CODECS = ['node', 'raw'] as const
type Codec = typeof CODECS[number]

describe('bytes after a request already forwarded', () => {
  let app: App & {port: number}
  const pairs: Partial<Record<Codec, Pair>> = {}
  /** Pairs whose header read timeout is short (HEAD_TIMEOUT_MS), for the slow heads. */
  const slowHeadPairs: Partial<Record<Codec, Pair>> = {}
  /** Each pair's proxies' metrics (client, server): what /metrics shows. */
  const metrics: Partial<Record<Codec, [ProxyMetrics, ProxyMetrics]>> = {}

  beforeAll(async () => {
    app = await startApp()
    for (const codec of CODECS) {
      const m = metrics[codec] = [createProxyMetrics(), createProxyMetrics()]
      pairs[codec] = await withCodec(codec, () => startPair('web.local:80', app.port, undefined, {client: {observers: [m[0].observer]}, server: {observers: [m[1].observer]}}))
      slowHeadPairs[codec] = await withCodec(codec, () => startPair('web.local:80', app.port, (c) => { c.limits.headerReadTimeoutMs = HEAD_TIMEOUT_MS }))
    }
  })
  afterAll(async () => {
    for (const p of [...Object.values(pairs), ...Object.values(slowHeadPairs)]) await p.close()
    await closeServer(app?.server)
  })

  const portOf = (codec: Codec, entry: Entry, of = pairs): number => entry === 'outbound' ? of[codec]!.client.ports.outbound : of[codec]!.server.ports.inbound
  /** Refusals counted by both proxies of a pair, by reason. */
  const refused = (codec: Codec, of = pairs): Record<string, number> => {
    const p = of[codec]!
    const sum: Record<string, number> = {}
    for (const [k, v] of Object.entries(p.client.stats.refused)) sum[k] = v + p.server.stats.refused[k as keyof typeof p.server.stats.refused]
    return sum
  }
  /** mesh_proxy_ignored_bytes_total of both proxies of a pair, by `direction/reason`. */
  const ignored = (codec: Codec): Record<string, number> => {
    const sum: Record<string, number> = {}
    for (const m of metrics[codec]!) {
      for (const s of parseMetrics(m.registry.metrics()).get('mesh_proxy_ignored_bytes_total')?.samples ?? []) {
        const k = `${s.labels.direction}/${s.labels.reason}`
        sum[k] = (sum[k] ?? 0) + s.value
      }
    }
    return sum
  }
  /** `ignored` after minus before: only the series that changed. */
  const grown = (codec: Codec, before: Record<string, number>): Record<string, number> =>
    Object.fromEntries(Object.entries(ignored(codec)).filter(([k, v]) => v !== before[k]).map(([k, v]) => [k, v - (before[k] ?? 0)]))
  /** What the app saw of the requests tagged `tag`. */
  const seenOf = (tag: string): string[] => app.seen.filter((s) => s.endsWith(`?${tag}`)).map((s) => s.slice(0, -tag.length - 1))

  /** What follows a closing request: another request, junk, a lone byte. */
  const TRAILERS: Record<string, (tag: string) => string> = {
    'another request': (tag) => `GET /b?${tag} HTTP/1.1\r\nHost: web.local\r\n\r\n`,
    'junk': () => 'JUNK\r\n\r\n',
    'one byte': () => 'X',
  }

  /** Requests that close the connection, each with the answers the client must read (and nothing else). */
  const CLOSING: Record<string, {request: (tag: string) => string, expect: (tag: string) => Answer[], seen: string[]}> = {
    'HTTP/1.1 with Connection: close': {
      request: (tag) => `GET /a?${tag} HTTP/1.1\r\nHost: web.local\r\nConnection: close\r\n\r\n`,
      expect: (tag) => [{status: 200, body: `ok /a?${tag}\n`}],
      seen: ['GET /a'],
    },
    // The raw codec hands these to Node's server, with the bytes after them.
    'HTTP/1.0 (no keep-alive)': {
      request: (tag) => `GET /a?${tag} HTTP/1.0\r\nHost: web.local\r\n\r\n`,
      expect: (tag) => [{status: 200, body: `ok /a?${tag}\n`}],
      seen: ['GET /a'],
    },
    'HTTP/1.0 with Connection: close': {
      request: (tag) => `GET /a?${tag} HTTP/1.0\r\nHost: web.local\r\nConnection: close\r\n\r\n`,
      expect: (tag) => [{status: 200, body: `ok /a?${tag}\n`}],
      seen: ['GET /a'],
    },
    'Expect: 100-continue with a body and Connection: close': {
      request: (tag) => `POST /a?${tag} HTTP/1.1\r\nHost: web.local\r\nExpect: 100-continue\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi`,
      expect: (tag) => [{status: 100, body: ''}, {status: 200, body: `ok /a?${tag}\n`}],
      seen: ['POST /a'],
    },
    'absolute-form with Connection: close': {
      request: (tag) => `GET http://web.local/a?${tag} HTTP/1.1\r\nHost: web.local\r\nConnection: close\r\n\r\n`,
      expect: (tag) => [{status: 200, body: `ok /a?${tag}\n`}],
      seen: ['GET /a'],
    },
    'a keep-alive request, then one with Connection: close': {
      request: (tag) => `GET /k?${tag} HTTP/1.1\r\nHost: web.local\r\n\r\nGET /a?${tag} HTTP/1.1\r\nHost: web.local\r\nConnection: close\r\n\r\n`,
      expect: (tag) => [{status: 200, body: `ok /k?${tag}\n`}, {status: 200, body: `ok /a?${tag}\n`}],
      seen: ['GET /k', 'GET /a'],
    },
  }

  let n = 0
  const cases = CODECS.flatMap((codec) => ENTRIES.map((entry) => [codec, entry] as const))
  for (const [name, closing] of Object.entries(CLOSING)) {
    for (const [trailer, more] of Object.entries(TRAILERS)) {
      it.each(cases)(`${name}, then ${trailer} in the same write (%s codec, %s): answered whole, the rest ignored, closed`, async (codec, entry) => {
        const tag = `t${n++}`
        const before = refused(codec)
        const ignoredBefore = ignored(codec)
        const client = new Client(portOf(codec, entry))
        client.sock.write(closing.request(tag) + more(tag))
        expect(answers(await client.closed)).toEqual(closing.expect(tag))
        expect(seenOf(tag)).toEqual(closing.seen)
        // Ignored bytes are no refusal; they are counted, every one, on the side that read them.
        expect(refused(codec)).toEqual(before)
        expect(grown(codec, ignoredBefore)).toEqual({[`${entry}/after_close`]: Buffer.byteLength(more(tag))})
      })
    }
  }

  // The issue-19 shape: the bytes come once the app holds the request, in a later read of the proxy.
  it.each(cases.flatMap(([codec, entry]) => ['HTTP/1.1 with Connection: close', 'HTTP/1.0 (no keep-alive)'].map((name) => [codec, entry, name] as const)))('%s codec, %s: %s held by the app, then a byte: the app\'s answer, whole, and nothing else', async (codec, entry, name) => {
    const tag = `h${n++}`
    const before = refused(codec)
    const ignoredBefore = ignored(codec)
    const client = new Client(portOf(codec, entry))
    client.sock.write(CLOSING[name]!.request(tag).replace('/a?', '/hold/a?'))
    await app.arrived(`/hold/a?${tag}`)
    client.sock.write('X')
    // The proxy has read the byte before the app answers (the order the crash of issue 19 needed).
    await readByPeer(client.sock)
    app.release(`/hold/a?${tag}`)
    expect(answers(await client.closed)).toEqual([{status: 200, body: `ok /hold/a?${tag}\n`}])
    expect(seenOf(tag)).toEqual(['GET /hold/a'])
    expect(refused(codec)).toEqual(before)
    expect(grown(codec, ignoredBefore)).toEqual({[`${entry}/after_close`]: 1})
  })

  // Bytes that come after the answer, before the client closes its half: the raw codec closes its
  // half and reads on (as nginx's lingering close; the idle timeout bounds it), ignoring and
  // counting them. (Node's server destroys the socket once a closing answer is written: a later
  // byte is counted if Node read it before that, else the kernel answers it with a reset.)
  it.each(cases.filter(([codec]) => codec === 'raw'))('%s codec, %s: a Connection: close request answered, then bytes from the client before it closes its half: ignored, counted', async (codec, entry) => {
    const tag = `l${n++}`
    const before = refused(codec)
    const ignoredBefore = ignored(codec)
    const sock = net.connect({port: portOf(codec, entry), host: '127.0.0.1', allowHalfOpen: true})
    sock.on('error', () => {})
    let got = ''
    sock.setEncoding('latin1').on('data', (d: string) => (got += d))
    const ended = new Promise<void>((resolve) => sock.once('end', resolve))
    sock.write(CLOSING['HTTP/1.1 with Connection: close']!.request(tag))
    // The proxy's half is closed after the whole answer; the client's is still open.
    await ended
    expect(answers(got)).toEqual([{status: 200, body: `ok /a?${tag}\n`}])
    sock.write('late bytes')
    await readByPeer(sock)
    await eventually('the late bytes to be counted', () => (grown(codec, ignoredBefore)[`${entry}/after_close`] === 10 ? true : undefined), {intervalMs: 10, timeoutMs: 10_000})
    const closed = new Promise((resolve) => sock.once('close', resolve))
    sock.end()
    await closed
    expect(got).toBe(`HTTP/1.1 200 OK${got.slice(15)}`)
    expect(answers(got)).toHaveLength(1)
    expect(grown(codec, ignoredBefore)).toEqual({[`${entry}/after_close`]: 10})
    expect(refused(codec)).toEqual(before)
  })

  it.each(CODECS)('%s codec: every direction and reason of mesh_proxy_ignored_bytes_total is on /metrics from the start', (codec) => {
    const fresh = createProxyMetrics()
    const keys = ['inbound', 'outbound'].flatMap((d) => IGNORED_REASON_NAMES.map((r) => `${d}/${r}`)).sort()
    const at0 = parseMetrics(fresh.registry.metrics()).get('mesh_proxy_ignored_bytes_total')
    expect(at0?.type).toBe('counter')
    expect(at0?.samples.map((s) => [`${s.labels.direction}/${s.labels.reason}`, s.value]).sort()).toEqual(keys.map((k) => [k, 0]))
    expect(Object.keys(ignored(codec)).sort()).toEqual(keys)
  })

  // Not after a closing request: the bytes are a request that does not parse. Its 400 (counted)
  // comes after the answer to the request before it, as nginx does.
  const MALFORMED: Record<string, string> = {
    'junk': 'JUNK\r\n\r\n',
    'a head with a bad header line': 'GET /b HTTP/1.1\r\nHost: web.local\r\nBad Header\r\n\r\n',
  }
  it.each(cases.flatMap(([codec, entry]) => Object.keys(MALFORMED).map((m) => [codec, entry, m] as const)))('%s codec, %s: a keep-alive request, then %s in the same write: the answer, then the 400 (counted), closed', async (codec, entry, m) => {
    const tag = `m${n++}`
    const before = refused(codec)
    const client = new Client(portOf(codec, entry))
    client.sock.write(`GET /k?${tag} HTTP/1.1\r\nHost: web.local\r\n\r\n${MALFORMED[m]!}`)
    const got = answers(await client.closed)
    expect(got.map((a) => a.status)).toEqual([200, 400])
    expect(got[0]!.body).toBe(`ok /k?${tag}\n`)
    expect(seenOf(tag)).toEqual(['GET /k'])
    expect(refused(codec).malformed_request - before.malformed_request!).toBe(1)
  })

  // An oversized head after a keep-alive request: its 431 (counted) is its own turn, after the answer.
  it.each(cases)('%s codec, %s: a keep-alive request, then a head larger than the limit in the same write: the answer, then the 431 (counted), closed', async (codec, entry) => {
    const tag = `o${n++}`
    const before = refused(codec)
    const client = new Client(portOf(codec, entry))
    client.sock.write(`GET /k?${tag} HTTP/1.1\r\nHost: web.local\r\n\r\nGET /b HTTP/1.1\r\nHost: web.local\r\nX-Big: ${'a'.repeat(40_000)}\r\n\r\n`)
    const got = answers(await client.closed)
    expect(got.map((a) => a.status)).toEqual([200, 431])
    expect(got[0]!.body).toBe(`ok /k?${tag}\n`)
    expect(seenOf(tag)).toEqual(['GET /k'])
    expect(refused(codec).malformed_request - before.malformed_request!).toBe(1)
  })

  // A slow head after a keep-alive request: its 408 (counted) is its own turn too, after the answer,
  // whether the head came in the same write or once the answer was read.
  const SLOW_HEAD = 'GET /b HTTP/1.1\r\nHost: web.local\r\nX-Slow: '
  const SLOW_WHEN = {'in the same write': false, 'once the answer was read': true}
  it.each(cases.flatMap(([codec, entry]) => Object.keys(SLOW_WHEN).map((when) => [codec, entry, when] as const)))('%s codec, %s: a keep-alive request, then the start of a head that never ends %s: the answer, then the 408 (counted), closed', async (codec, entry, when) => {
    const tag = `s${n++}`
    const before = refused(codec, slowHeadPairs)
    const client = new Client(portOf(codec, entry, slowHeadPairs))
    const first = `GET /k?${tag} HTTP/1.1\r\nHost: web.local\r\n\r\n`
    if (SLOW_WHEN[when as keyof typeof SLOW_WHEN]) {
      client.sock.write(first)
      await eventually('the first answer', () => (client.got.endsWith(`ok /k?${tag}\n`) ? true : undefined), {intervalMs: 5, timeoutMs: 10_000})
      client.sock.write(SLOW_HEAD)
    } else client.sock.write(first + SLOW_HEAD)
    const got = answers(await client.closed)
    expect(got.map((a) => a.status)).toEqual([200, 408])
    expect(got[0]!.body).toBe(`ok /k?${tag}\n`)
    expect(seenOf(tag)).toEqual(['GET /k'])
    expect(refused(codec, slowHeadPairs).header_timeout - before.header_timeout!).toBe(1)
    expect({...refused(codec, slowHeadPairs), header_timeout: 0}).toEqual({...before, header_timeout: 0})
  })

  // The node codec times a head from its first byte: the timeout can fire while the request before
  // is still with the app; its 408 still waits for that answer. (The raw codec starts the timer
  // once the answer is written: the head waits in its buffer until then.)
  it.each(cases)('%s codec, %s: a request the app holds, then the start of a head that never ends: the app\'s answer, then the 408 (counted), closed', async (codec, entry) => {
    const tag = `H${n++}`
    const before = refused(codec, slowHeadPairs)
    const client = new Client(portOf(codec, entry, slowHeadPairs))
    client.sock.write(`GET /hold/k?${tag} HTTP/1.1\r\nHost: web.local\r\n\r\n`)
    await app.arrived(`/hold/k?${tag}`)
    client.sock.write(SLOW_HEAD)
    await readByPeer(client.sock)
    if (codec === 'node') await eventually('the 408 to be counted', () => (refused(codec, slowHeadPairs).header_timeout! > before.header_timeout! ? true : undefined), {intervalMs: 10, timeoutMs: 10_000})
    expect(client.got).toBe('')
    app.release(`/hold/k?${tag}`)
    const got = answers(await client.closed)
    expect(got.map((a) => a.status)).toEqual([200, 408])
    expect(got[0]!.body).toBe(`ok /hold/k?${tag}\n`)
    expect(seenOf(tag)).toEqual(['GET /hold/k'])
    expect(refused(codec, slowHeadPairs).header_timeout - before.header_timeout!).toBe(1)
  })

  // A pipelined request whose body breaks while the one before it is still being answered: the
  // 400 is its own, after that answer; it never reaches the app.
  it.each(cases)('%s codec, %s: a keep-alive request, then a chunked request with a bad chunk in the same write: the answer, then the 400 (counted), closed', async (codec, entry) => {
    const tag = `c${n++}`
    const before = refused(codec)
    const client = new Client(portOf(codec, entry))
    client.sock.write(`GET /k?${tag} HTTP/1.1\r\nHost: web.local\r\n\r\nPOST /p?${tag} HTTP/1.1\r\nHost: web.local\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\nzz\r\n`)
    const got = answers(await client.closed)
    expect(got.map((a) => a.status)).toEqual([200, 400])
    expect(got[0]!.body).toBe(`ok /k?${tag}\n`)
    // The node codec reads the whole pipeline first: the broken request never goes on. The raw
    // codec reads it at its turn and streams a chunked body: its head reaches the app before the
    // bad chunk, and the app sees the body cut (as for any body that breaks while forwarded).
    expect(seenOf(tag)).toEqual(codec === 'node' ? ['GET /k'] : ['GET /k', 'POST /p'])
    expect(refused(codec).malformed_request - before.malformed_request!).toBe(1)
  })
})
