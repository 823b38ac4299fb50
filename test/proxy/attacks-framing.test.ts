// Framing is sacred (issue 19): the proxy forwards exactly the messages it parsed. A Connection
// header naming Content-Length or Host must not make the proxy drop it while forwarding the body
// (that smuggled a request inside another's body), inbound, outbound and over mTLS, for requests
// and responses; and an app behind a pair sees exactly the requests a client sent, pipelined,
// with bodies of both framings. Runs on the codec MESH_PROXY_HTTP1_CODEC selects (npm test: raw;
// npm run test:node-codec: node).
import http from 'node:http'
import net from 'node:net'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import type {EndpointSet} from '../../src/proxy/core/contracts.js'
import {startProxy, type RunningProxy} from '../../src/proxy/server.js'
import {RawClient} from './attacks.js'
import {closeServer, fixedDiscovery, listenOn, quietLog, startPair, testConfig, type Pair} from './helpers.js'
import {makePki, nameOf, type TestPki} from './test-identity.js'

interface Seen {
  method: string
  url: string
  host: string | undefined
  contentLength: string | undefined
  body: string
}

/** An app (Node's own server, llhttp) that records every request it parses. */
async function recordingApp(): Promise<{server: http.Server, port: number, seen: Seen[]}> {
  const seen: Seen[] = []
  const server = http.createServer((req, res) => {
    let body = ''
    req.setEncoding('latin1')
    req.on('data', (c: string) => (body += c))
    req.on('end', () => {
      seen.push({method: req.method ?? '', url: req.url ?? '', host: req.headers.host, contentLength: req.headers['content-length'], body})
      const text = `seen ${req.url}\n`
      res.writeHead(200, {'content-type': 'text/plain', 'content-length': String(Buffer.byteLength(text))})
      res.end(text)
    })
  })
  return {server, port: await listenOn(server), seen}
}

/** Responses in a client's bytes: status lines in order. */
const statuses = (text: string): string[] => [...text.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => m[1])

const SMUGGLED = 'GET /smuggled HTTP/1.1\r\nHost: web.local\r\n\r\n'

interface Route {
  name: string
  port: () => number
}

describe('Connection naming framing headers', () => {
  let app: Awaited<ReturnType<typeof recordingApp>>
  let pair: Pair
  let pki: TestPki
  let mtlsServer: RunningProxy
  let mtlsClient: RunningProxy
  beforeAll(async () => {
    app = await recordingApp()
    pair = await startPair('web.local:80', app.port)
    pki = makePki()
    mtlsServer = await startProxy(testConfig({inboundForward: {host: '127.0.0.1', port: app.port}}), {log: quietLog(), originalDst: null, identity: pki.identity('web')})
    const ep: EndpointSet = {endpoints: [{host: '127.0.0.1', port: mtlsServer.ports.inbound, identity: nameOf('web'), labels: {}}]}
    mtlsClient = await startProxy(testConfig(), {log: quietLog(), originalDst: null, identity: pki.identity('client'), discovery: fixedDiscovery({'web.local:80': ep})})
  })
  afterAll(async () => {
    await Promise.all([pair?.close(), mtlsClient?.close(100), mtlsServer?.close(100)])
    await closeServer(app?.server)
    pki?.cleanup()
  })

  const routes: Route[] = [
    {name: 'inbound', port: () => pair.server.ports.inbound},
    {name: 'outbound, through the pair', port: () => pair.client.ports.outbound},
    {name: 'outbound, through an mTLS pair', port: () => mtlsClient.ports.outbound},
  ]

  for (const route of routes) {
    it(`keeps Content-Length when Connection names it (${route.name}): one request, not two`, async () => {
      app.seen.length = 0
      const c = new RawClient(route.port())
      c.write(`POST /one HTTP/1.1\r\nHost: web.local\r\nContent-Length: ${SMUGGLED.length}\r\nConnection: content-length\r\n\r\n${SMUGGLED}`)
      const got = await c.until(/seen \/one/)
      c.destroy()
      expect(statuses(got)).toEqual(['200'])
      expect(app.seen).toEqual([{method: 'POST', url: '/one', host: 'web.local', contentLength: String(SMUGGLED.length), body: SMUGGLED}])
    })

    it(`keeps Host when Connection names it, and frames a chunked body named there (${route.name})`, async () => {
      app.seen.length = 0
      const c = new RawClient(route.port())
      c.write('GET /host HTTP/1.1\r\nHost: web.local\r\nConnection: host, keep-alive\r\n\r\n')
      await c.until(/seen \/host/)
      c.write(`POST /te HTTP/1.1\r\nHost: web.local\r\nTransfer-Encoding: chunked\r\nConnection: transfer-encoding\r\n\r\n${SMUGGLED.length.toString(16)}\r\n${SMUGGLED}\r\n0\r\n\r\n`)
      const got = await c.until(/seen \/te/)
      c.destroy()
      expect(statuses(got)).toEqual(['200', '200'])
      expect(app.seen.map((s) => [s.method, s.url, s.host, s.body])).toEqual([['GET', '/host', 'web.local', ''], ['POST', '/te', 'web.local', SMUGGLED]])
    })
  }

  it('keeps a response\'s Content-Length when its Connection names it: the next response on the connection is its own', async () => {
    // An app answering on a raw socket: each response names its own Content-Length in Connection.
    const raw = net.createServer((s) => {
      let buf = ''
      let n = 0
      s.on('data', (c: Buffer) => {
        buf += c.toString('latin1')
        for (let i = buf.indexOf('\r\n\r\n'); i >= 0; i = buf.indexOf('\r\n\r\n')) {
          buf = buf.slice(i + 4)
          const body = `response ${++n} ${'x'.repeat(n)}`
          s.write(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\nConnection: content-length\r\n\r\n${body}`)
        }
      })
    })
    const port = await listenOn(raw)
    const p = await startPair('raw.local:80', port)
    try {
      const agent = new http.Agent({keepAlive: true, maxSockets: 1})
      const get = (path: string): Promise<string> => new Promise((resolve, reject) => {
        http.get({host: '127.0.0.1', port: p.client.ports.outbound, path, headers: {host: 'raw.local'}, agent}, (res) => {
          let b = ''
          res.setEncoding('latin1').on('data', (c: string) => (b += c)).on('end', () => resolve(b))
        }).on('error', reject)
      })
      expect(await get('/1')).toBe('response 1 x')
      expect(await get('/2')).toBe('response 2 xx')
      expect(await get('/3')).toBe('response 3 xxx')
      agent.destroy()
    } finally {
      await p.close()
      await closeServer(raw)
    }
  })
})

describe('an app behind the pair sees exactly the requests the client sent', () => {
  let app: Awaited<ReturnType<typeof recordingApp>>
  let pair: Pair
  beforeAll(async () => {
    app = await recordingApp()
    pair = await startPair('web.local:80', app.port)
  })
  afterAll(async () => {
    await pair?.close()
    await closeServer(app?.server)
  })

  it('pipelined requests of every framing arrive one for one, with their bodies, answered in order', async () => {
    const sent: [string, string, string][] = [
      ['GET', '/a?x=1', ''],
      ['POST', '/b', 'hello'],
      ['PUT', '/c', 'chunked body, two chunks'],
      ['DELETE', '/d', ''],
      ['POST', '/e', SMUGGLED],
      ['PATCH', '/f', 'zero-padded length'],
      ['OPTIONS', '/g', ''],
      ['POST', '/h', ''],
    ]
    const bytes = sent.map(([m, u, b], i) => {
      if (i === 2) return `${m} ${u} HTTP/1.1\r\nHost: web.local\r\nTransfer-Encoding: chunked\r\n\r\n${(8).toString(16)}\r\n${b.slice(0, 8)}\r\n${(b.length - 8).toString(16)};ext=1\r\n${b.slice(8)}\r\n0\r\nX-Trailer: t\r\n\r\n`
      if (i === 5) return `${m} ${u} HTTP/1.1\r\nHost: web.local\r\nContent-Length: 00${b.length}\r\n\r\n${b}`
      if (i === 7) return `${m} ${u} HTTP/1.1\r\nHost: web.local\r\nContent-Length: 0\r\n\r\n`
      return `${m} ${u} HTTP/1.1\r\nHost: web.local\r\n${b ? `Content-Length: ${b.length}\r\n` : ''}\r\n${b}`
    }).join('')
    app.seen.length = 0
    for (const port of [pair.client.ports.outbound, pair.server.ports.inbound]) {
      app.seen.length = 0
      const c = new RawClient(port)
      c.write(bytes)
      const got = await c.until(/seen \/h/)
      c.destroy()
      expect(statuses(got)).toEqual(sent.map(() => '200'))
      // The responses came back in order (each names its request); the node codec forwards
      // pipelined requests at once (Node's server dispatches them all), so the app may see
      // them in another order: exactly these requests, each once.
      expect([...got.matchAll(/seen (\S+)/g)].map((m) => m[1])).toEqual(sent.map(([, u]) => u))
      const key = (r: [string, string, string]): string => r.join(' ')
      expect(app.seen.map((s): [string, string, string] => [s.method, s.url, s.body]).map(key).sort()).toEqual(sent.map(key).sort())
    }
  })
})
