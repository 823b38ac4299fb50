// The tap server over real sockets on 127.0.0.1: plain WebSocket in local mode, mTLS with
// openssl-made certificates when the proxy has an identity.
import {checkServerIdentity, type PeerCertificate} from 'node:tls'
import {afterAll, afterEach, beforeAll, describe, expect, it} from 'vitest'
import {eventually} from '../helpers/eventually.js'
import WebSocket from 'ws'
import {TapHub, startTapServer, type TapServer} from '../../src/proxy/tap/index.js'
import {CertFactory, pemIdentity, type Pem} from './certs.js'
import {request} from './fixtures.js'

const servers: TapServer[] = []
const clients: WebSocket[] = []
afterEach(async () => {
  for (const c of clients.splice(0)) c.terminate()
  for (const s of servers.splice(0)) await s.close()
})

async function serve(opts: Partial<Parameters<typeof startTapServer>[0]> = {}) {
  const hub = opts.hub ?? new TapHub()
  const server = await startTapServer({listen: '127.0.0.1:0', hub, ...opts})
  servers.push(server)
  return {hub, server}
}

/** Opens a subscriber; resolves with it once open, or rejects with the HTTP status of a refusal. */
function subscribe(url: string, options: WebSocket.ClientOptions = {}): Promise<{ws: WebSocket; events: Record<string, unknown>[]}> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, {handshakeTimeout: 5000, ...options})
    clients.push(ws)
    const events: Record<string, unknown>[] = []
    ws.on('message', (d) => events.push(JSON.parse(String(d)) as Record<string, unknown>))
    ws.once('open', () => resolve({ws, events}))
    ws.once('unexpected-response', (_req, res) => {
      let body = ''
      res.on('data', (c: Buffer) => (body += c.toString()))
      res.on('end', () => reject(Object.assign(new Error(`${res.statusCode} ${body.trim()}`), {status: res.statusCode})))
    })
    ws.once('error', reject)
  })
}

async function until(cond: () => boolean, what: string): Promise<void> {
  await eventually(what, () => (cond() ? true : undefined), {intervalMs: 10})
}

describe('tap server, local mode (no identity)', () => {
  it('streams matching events to a loopback subscriber', async () => {
    const {hub, server} = await serve()
    const {events} = await subscribe(`${server.url}/?path=/api&maxRps=50`)
    await until(() => hub.subscriberCount === 1, 'the subscription')
    const hit = request()
    const miss = request({path: '/health'})
    for (const r of [hit, miss]) {
      hub.requestInit(r)
      hub.responseInit(r, 200)
      hub.responseEnd(r, {status: 200, responseBytes: 3})
    }
    await until(() => events.length === 3, 'three events')
    expect(events.map((e) => [e.type, e.id])).toEqual([['requestInit', hit.id], ['responseInit', hit.id], ['responseEnd', hit.id]])
  })

  it('unsubscribes when the client goes away', async () => {
    const {hub, server} = await serve()
    const {ws} = await subscribe(server.url)
    await until(() => hub.subscriberCount === 1, 'the subscription')
    ws.close()
    await until(() => hub.subscriberCount === 0, 'the unsubscription')
  })

  it('refuses a bad filter with 400 and the reason', async () => {
    const {server} = await serve()
    await expect(subscribe(`${server.url}/?status=abc`)).rejects.toThrow(/^400 invalid status filter "abc"/)
  })

  it('refuses subscribers past the cap with 503', async () => {
    const {hub, server} = await serve({maxSubscribers: 2})
    await subscribe(server.url)
    await subscribe(server.url)
    await expect(subscribe(server.url)).rejects.toThrow(/^503 too many tap subscribers \(at most 2\)/)
    expect(hub.subscriberCount).toBe(2)
  })

  it('answers a plain GET with 426', async () => {
    const {server} = await serve()
    const res = await fetch(server.url.replace('ws:', 'http:'))
    expect(res.status).toBe(426)
  })

  it('drops events for a subscriber that does not read, and keeps the proxy\'s memory bounded', async () => {
    const hub = new TapHub({limits: {maxBufferedBytes: 64 * 1024}})
    const {server} = await serve({hub})
    const {ws} = await subscribe(`${server.url}/?maxRps=10000`)
    await until(() => hub.subscriberCount === 1, 'the subscription')
    // Stop reading: the kernel buffers fill, then ws's own buffer, then the hub drops.
    ;(ws as unknown as {_socket: import('node:net').Socket})._socket.pause()
    const big = 'x'.repeat(4096)
    let dropped = 0
    let sent = 0
    const sub = [...(hub as unknown as {subscribers: Set<import('../../src/proxy/tap/index.js').Subscriber>}).subscribers][0]
    for (let i = 0; i < 20_000 && dropped === 0; i++) {
      const r = request({headers: {'x-pad': big}})
      hub.requestInit(r)
      sent++
      if (i % 200 === 0) await new Promise((res) => setImmediate(res))
      dropped = sub.stats.droppedBuffer
    }
    expect(dropped).toBeGreaterThan(0)
    expect(sent).toBeLessThan(20_000)
    expect(ws.readyState).toBe(WebSocket.OPEN)
  })
})

describe('tap server with identity (mTLS)', () => {
  const TAP = 'mesh-tap.mesh-system.serviceaccount.identity.mesh-system.cluster.local'
  const PROXY = 'web.default.serviceaccount.identity.mesh-system.cluster.local'
  let certs: CertFactory
  let root: Pem
  let proxyLeaf: Pem
  let tapLeaf: Pem
  let otherLeaf: Pem
  let foreignTapLeaf: Pem

  beforeAll(() => {
    certs = new CertFactory()
    root = certs.root('root.mesh')
    proxyLeaf = certs.leaf(PROXY, root)
    tapLeaf = certs.leaf(TAP, root)
    otherLeaf = certs.leaf('evil.default.serviceaccount.identity.mesh-system.cluster.local', root)
    foreignTapLeaf = certs.leaf(TAP, certs.root('another.root'))
  })
  afterAll(() => certs?.cleanup())

  const client = (leaf?: Pem): WebSocket.ClientOptions => ({
    ca: root.cert,
    ...(leaf ? {key: leaf.key, cert: leaf.cert} : {}),
    // ws passes this to tls.connect (its own typing differs): the proxy must present PROXY.
    checkServerIdentity: ((_host: string, cert: PeerCertificate) => checkServerIdentity(PROXY, cert)) as unknown as WebSocket.ClientOptions['checkServerIdentity'],
  })

  async function serveTls() {
    return serve({identity: pemIdentity(PROXY, proxyLeaf, root), tapServiceName: TAP})
  }

  it('lets the tap service identity subscribe and streams to it', async () => {
    const {hub, server} = await serveTls()
    expect(server.url).toMatch(/^wss:/)
    const {events} = await subscribe(server.url, client(tapLeaf))
    await until(() => hub.subscriberCount === 1, 'the subscription')
    const r = request()
    hub.requestInit(r)
    await until(() => events.length === 1, 'an event')
    expect(events[0]).toMatchObject({type: 'requestInit', id: r.id})
  })

  it('refuses another workload\'s identity with 403', async () => {
    const {hub, server} = await serveTls()
    await expect(subscribe(server.url, client(otherLeaf))).rejects.toThrow(/^403 client not allowed to tap: certificate names evil\./)
    expect(hub.subscriberCount).toBe(0)
  })

  it('refuses a client without a certificate with 403', async () => {
    const {server} = await serveTls()
    await expect(subscribe(server.url, client())).rejects.toThrow(/^403 a client certificate is required/)
  })

  it('refuses the right name from a foreign trust anchor', async () => {
    const {server} = await serveTls()
    await expect(subscribe(server.url, client(foreignTapLeaf))).rejects.toThrow(/^403 client not allowed to tap: certificate is not issued by the trust anchor/)
  })

  it('does not speak plaintext on the mTLS port', async () => {
    const {server} = await serveTls()
    await expect(subscribe(server.url.replace('wss:', 'ws:'))).rejects.toThrow()
  })

  it('requires the tap service name when there is an identity', async () => {
    await expect(startTapServer({listen: '127.0.0.1:0', hub: new TapHub(), identity: pemIdentity(PROXY, proxyLeaf, root)})).rejects.toThrow(/MESH_PROXY_TAP_SVC_NAME/)
  })
})
