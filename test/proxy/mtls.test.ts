// mTLS between proxies with a test identity (openssl-made certificates): the outbound side
// originates TLS to endpoints that have an identity and verifies the server's name; the inbound
// side detects the ClientHello, terminates, records the client identity, and still serves
// plaintext clients (tls=false with a reason). HTTP/1, HTTP/2 and CONNECT tunnels all ride it.
// The inbound policy (MESH_PROXY_INBOUND_POLICY): a client certificate from a foreign root is
// always refused; `identities:` refuses other identities; `all-authenticated` refuses plaintext.
import {execFile} from 'node:child_process'
import http2 from 'node:http2'
import net from 'node:net'
import tls from 'node:tls'
import {promisify} from 'node:util'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import type {EndpointSet} from '../../src/proxy/core/contracts.js'
import type {ConnMeta, Observer, RequestMeta} from '../../src/proxy/core/observe.js'
import {startProxy, type RunningProxy} from '../../src/proxy/server.js'
import {startInbound, type InboundSide$} from '../../src/proxy/inbound/inbound.js'
import {parseInboundPolicy, type InboundPolicy} from '../../src/proxy/config/inbound-policy.js'
import {newStats} from '../../src/proxy/core/stats.js'
import {closeServer, fixedDiscovery, quietLog, request, startEchoApp, testConfig, type EchoApp} from './helpers.js'
import {makePki, nameOf, type TestPki} from './test-identity.js'

const exec = promisify(execFile)

function recorder(): Observer & {requests: RequestMeta[], conns: ConnMeta[]} {
  const requests: RequestMeta[] = []
  const conns: ConnMeta[] = []
  return {
    requests, conns,
    requestInit: (r) => requests.push({...r, tls: {...r.tls}}),
    responseInit: () => {},
    responseEnd: () => {},
    tcpOpen: (c) => conns.push({...c, tls: {...c.tls}}),
    tcpClose: () => {},
  }
}

describe('mTLS between a proxy pair', () => {
  let pki: TestPki
  let app: EchoApp
  let h2app: http2.Http2Server
  let server: RunningProxy
  let client: RunningProxy
  const serverObs = recorder()
  let impostor: tls.Server
  let impostorGotData = 0
  const clientObs = recorder()

  beforeAll(async () => {
    pki = makePki()
    app = await startEchoApp()
    h2app = http2.createServer()
    h2app.on('stream', (s, h) => { s.respond({':status': 200}); s.end(`h2:${h[':path']}`) })
    await new Promise<void>((r) => h2app.listen(0, '127.0.0.1', r))
    server = await startProxy(testConfig({inboundForward: {host: '127.0.0.1', port: app.port}}), {log: quietLog(), originalDst: null, identity: pki.identity('web'), observers: [serverObs]})
    // A TLS server that presents web's certificate whatever name is asked for.
    const webCtx = pki.identity('web').serverContext()
    impostor = tls.createServer({SNICallback: (_n, cb) => cb(null, webCtx)}, (s) => s.on('data', () => impostorGotData++))
    await new Promise<void>((r) => impostor.listen(0, '127.0.0.1', r))
    const impostorPort = (impostor.address() as {port: number}).port
    const h2server = await startProxy(testConfig({inboundForward: {host: '127.0.0.1', port: (h2app.address() as {port: number}).port}}), {log: quietLog(), originalDst: null, identity: pki.identity('grpc')})
    const ep = (port: number, sa: string): EndpointSet => ({endpoints: [{host: '127.0.0.1', port, identity: nameOf(sa), labels: {namespace: 'default', serviceaccount: sa}}]})
    client = await startProxy(testConfig(), {
      log: quietLog(), originalDst: null, identity: pki.identity('client'), observers: [clientObs],
      discovery: fixedDiscovery({
        'web.local:80': ep(server.ports.inbound, 'web'),
        'h2.local:80': ep(h2server.ports.inbound, 'grpc'),
        'impostor.local:80': ep(impostorPort, 'someone-else'),
      }),
    })
    closers.push(() => h2server.close(100))
  })
  const closers: (() => Promise<unknown>)[] = []
  afterAll(async () => {
    await Promise.all([client.close(100), server.close(100), ...closers.map((c) => c())])
    await closeServer(app.server)
    await new Promise((r) => h2app.close(r))
    await new Promise((r) => impostor.close(r))
    pki.cleanup()
  })

  it('HTTP/1: the client proxy originates mTLS and the server proxy names the client', async () => {
    const r = await request(client.ports.outbound, {path: '/secure', headers: {host: 'web.local'}})
    expect(r.status).toBe(200)
    expect(JSON.parse(r.body).url).toBe('/secure')
    const out = clientObs.requests.at(-1)!
    expect(out.tls).toEqual({tls: true, clientId: nameOf('client'), serverId: nameOf('web')})
    expect(out.dstLabels).toEqual({namespace: 'default', serviceaccount: 'web'})
    const inb = serverObs.requests.at(-1)!
    expect(inb.direction).toBe('inbound')
    expect(inb.tls).toEqual({tls: true, clientId: nameOf('client'), serverId: nameOf('web')})
  })

  it('HTTP/2 rides mTLS too', async () => {
    const session = http2.connect(`http://127.0.0.1:${client.ports.outbound}`)
    const body = await new Promise<string>((resolve, reject) => {
      const req = session.request({':path': '/over-tls', ':authority': 'h2.local'})
      let b = ''
      req.setEncoding('utf8')
      req.on('data', (c: string) => (b += c))
      req.on('end', () => resolve(b))
      req.on('error', reject)
    })
    session.close()
    expect(body).toBe('h2:/over-tls')
  })

  it('a CONNECT tunnel to a meshed endpoint is carried over mTLS', async () => {
    const before = serverObs.conns.length
    const {stdout} = await exec('curl', ['-sS', '--max-time', '5', '-p', '-x', `http://127.0.0.1:${client.ports.outbound}`, 'http://web.local:80/tunnel'])
    expect(JSON.parse(stdout).url).toBe('/tunnel')
    expect(serverObs.conns.slice(before).some((c) => c.tls.tls && c.tls.clientId === nameOf('client'))).toBe(true)
  })

  it('refuses a server whose certificate names another identity (502, nothing sent)', async () => {
    const r = await request(client.ports.outbound, {path: '/x', headers: {host: 'impostor.local'}})
    expect(r.status).toBe(502)
    expect(r.headers['mesh-proxy-error']).toMatch(/someone-else/)
    expect(impostorGotData).toBe(0)
  })

  it("passes an application's own TLS through (SNI is not this proxy's identity)", async () => {
    const appCert = pki.identity('tlsapp')
    const tlsApp = tls.createServer({SNICallback: (_n, cb) => cb(null, appCert.serverContext())}, (s) => s.end('from-tls-app'))
    await new Promise<void>((r) => tlsApp.listen(0, '127.0.0.1', r))
    const p = await startProxy(testConfig({inboundForward: {host: '127.0.0.1', port: (tlsApp.address() as {port: number}).port}}), {log: quietLog(), originalDst: null, identity: pki.identity('front')})
    try {
      const got = await new Promise<{text: string, peer: string | undefined}>((resolve, reject) => {
        const c = tls.connect({host: '127.0.0.1', port: p.ports.inbound, servername: 'shop.example', ca: pki.ca, checkServerIdentity: () => undefined})
        let text = ''
        c.on('data', (d: Buffer) => (text += d))
        c.on('end', () => resolve({text, peer: c.getPeerCertificate().subjectaltname}))
        c.on('error', reject)
      })
      expect(got).toEqual({text: 'from-tls-app', peer: `DNS:${nameOf('tlsapp')}`})
    } finally {
      await p.close(100)
      await new Promise((r) => tlsApp.close(r))
    }
  })

  it('still serves plaintext clients on the inbound port, reported as not TLS', async () => {
    const r = await request(server.ports.inbound, {path: '/plain', headers: {host: 'web.local'}})
    expect(r.status).toBe(200)
    expect(serverObs.requests.at(-1)!.tls).toEqual({tls: false, noTlsReason: 'not_provided_by_remote'})
  })
})

/** What a raw client saw: the bytes before the server closed, or an error. */
interface Seen {
  out: string
  error?: string
}

function collect(s: net.Socket, timeoutMs = 5000): Promise<Seen> {
  return new Promise((resolve) => {
    let out = ''
    let error: string | undefined
    s.setTimeout(timeoutMs, () => s.destroy(new Error('timeout: still open')))
    s.on('data', (c: Buffer) => (out += c.toString()))
    s.on('error', (e) => (error = e.message))
    s.on('close', () => resolve({out, error}))
  })
}

const GET = 'GET /policy HTTP/1.1\r\nhost: web.local\r\nconnection: close\r\n\r\n'

describe('inbound policy', () => {
  let pki: TestPki
  let foreign: TestPki
  let app: EchoApp
  const sides: InboundSide$[] = []
  const proxies: RunningProxy[] = []

  beforeAll(async () => {
    pki = makePki()
    foreign = makePki()
    app = await startEchoApp()
  })
  afterAll(async () => {
    await Promise.all(proxies.map((p) => p.close(100)))
    for (const s of sides) {
      s.close()
      s.listener.tracker.destroyAll()
      await new Promise((r) => s.listener.server.close(r))
    }
    await closeServer(app.server)
    pki.cleanup()
    foreign.cleanup()
  })

  /** web's inbound side under `policy`, forwarding to the echo app. */
  async function webInbound(policy: InboundPolicy): Promise<InboundSide$> {
    const side = await startInbound({config: testConfig({inboundForward: {host: '127.0.0.1', port: app.port}}), log: quietLog(), identity: pki.identity('web'), stats: newStats(), policy})
    sides.push(side)
    return side
  }

  /** A meshed client: `sa`'s outbound proxy with web.local -> the inbound port. */
  async function meshedClient(sa: string, inboundPort: number): Promise<RunningProxy> {
    const p = await startProxy(testConfig(), {
      log: quietLog(), originalDst: null, identity: pki.identity(sa),
      discovery: fixedDiscovery({'web.local:80': {endpoints: [{host: '127.0.0.1', port: inboundPort, identity: nameOf('web'), labels: {}}]}}),
    })
    proxies.push(p)
    return p
  }

  /** TLS to the inbound port as a proxy would (SNI = web's identity), with `cert` or none. */
  function tlsClient(port: number, ctx: tls.SecureContext | undefined): net.Socket {
    const s = tls.connect({host: '127.0.0.1', port, servername: nameOf('web'), ...(ctx ? {secureContext: ctx} : {}), rejectUnauthorized: false, ALPNProtocols: ['http/1.1']}, () => s.write(GET))
    return s
  }

  it('default: a client certificate from a foreign trust root is refused, counted, and nothing reaches the app', async () => {
    const side = await webInbound(parseInboundPolicy(undefined))
    const before = app.requests
    const seen = await collect(tlsClient(side.listener.port(), foreign.identity('client').clientContext()))
    expect(seen.out).toBe('')
    expect(seen.error ?? '').not.toMatch(/timeout/)
    expect(app.requests).toBe(before)
    expect(side.authz!.refused.untrusted_certificate).toBe(1)
    // A meshed client, a TLS client without a certificate and plaintext are all served.
    const client = await meshedClient('client', side.listener.port())
    expect((await request(client.ports.outbound, {path: '/m', headers: {host: 'web.local'}})).status).toBe(200)
    expect((await collect(tlsClient(side.listener.port(), undefined))).out).toMatch(/^HTTP\/1.1 200/)
    expect((await request(side.listener.port(), {path: '/p', headers: {host: 'web.local'}})).status).toBe(200)
    expect(side.authz!.refused).toEqual({untrusted_certificate: 1, unauthenticated: 0, no_client_certificate: 0, identity_not_allowed: 0})
  })

  it('identities: the listed identity is served, another valid identity gets 403 naming it', async () => {
    const side = await webInbound(parseInboundPolicy(`identities:${nameOf('client')}`))
    const ok = await meshedClient('client', side.listener.port())
    expect((await request(ok.ports.outbound, {path: '/ok', headers: {host: 'web.local'}})).status).toBe(200)
    const before = app.requests
    const other = await meshedClient('other', side.listener.port())
    const r = await request(other.ports.outbound, {path: '/no', headers: {host: 'web.local'}})
    expect(r.status).toBe(403)
    expect(r.headers['mesh-proxy-error']).toContain(nameOf('other'))
    expect(app.requests).toBe(before)
    expect(side.authz!.refused.identity_not_allowed).toBe(1)
    // Plaintext is not on the list either.
    expect((await request(side.listener.port(), {path: '/p', headers: {host: 'web.local'}})).status).toBe(403)
  })

  it('all-authenticated: plaintext HTTP gets 403, plaintext TCP and TLS without a certificate are closed, meshed clients are served', async () => {
    const side = await webInbound(parseInboundPolicy('all-authenticated'))
    const before = app.requests
    const plain = await request(side.listener.port(), {path: '/p', headers: {host: 'web.local'}})
    expect(plain.status).toBe(403)
    expect(plain.headers['mesh-proxy-error']).toMatch(/plaintext is not allowed by the inbound policy all-authenticated/)
    const tcp = net.connect(side.listener.port(), '127.0.0.1', () => tcp.write('\x00\x01binary'))
    expect(await collect(tcp)).toEqual({out: ''})
    const noCert = await collect(tlsClient(side.listener.port(), undefined))
    expect(noCert.out).toMatch(/^HTTP\/1.1 403/)
    expect(app.requests).toBe(before)
    expect(side.authz!.refused).toEqual({untrusted_certificate: 0, unauthenticated: 2, no_client_certificate: 1, identity_not_allowed: 0})
    const client = await meshedClient('client', side.listener.port())
    expect((await request(client.ports.outbound, {path: '/m', headers: {host: 'web.local'}})).status).toBe(200)
  })

  it('MESH_PROXY_INBOUND_POLICY is read at start; bad values and a policy without identity fail naming the variable', async () => {
    expect(() => parseInboundPolicy('everyone')).toThrow('MESH_PROXY_INBOUND_POLICY="everyone" is not an inbound policy')
    expect(() => parseInboundPolicy('identities:')).toThrow('lists no identities')
    expect(() => parseInboundPolicy('identities:web,Bad Name')).toThrow('"bad name" is not an identity name')
    expect(parseInboundPolicy(' all-unauthenticated ')).toEqual({kind: 'all-unauthenticated'})
    await expect(startInbound({config: testConfig(), log: quietLog(), stats: newStats(), policy: {kind: 'all-authenticated'}})).rejects.toThrow(/needs a mesh identity/)
    const saved = process.env.MESH_PROXY_INBOUND_POLICY
    process.env.MESH_PROXY_INBOUND_POLICY = 'all-authenticated'
    try {
      const p = await startProxy(testConfig({inboundForward: {host: '127.0.0.1', port: app.port}}), {log: quietLog(), originalDst: null, identity: pki.identity('web')})
      proxies.push(p)
      expect((await request(p.ports.inbound, {path: '/env', headers: {host: 'web.local'}})).status).toBe(403)
      process.env.MESH_PROXY_INBOUND_POLICY = 'nobody'
      await expect(startProxy(testConfig(), {log: quietLog(), originalDst: null, identity: pki.identity('web')})).rejects.toThrow(/MESH_PROXY_INBOUND_POLICY="nobody"/)
    } finally {
      if (saved === undefined) delete process.env.MESH_PROXY_INBOUND_POLICY
      else process.env.MESH_PROXY_INBOUND_POLICY = saved
    }
  })
})
