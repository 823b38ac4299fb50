// A dead upstream HTTP/2 session is never reused: a backend or peer proxy killed with SIGKILL (no
// GOAWAY) and started again on its port is reached again at once, for HTTP/2 and gRPC; a peer
// that stops answering on an open connection (a relay that blackholes it) is found by PING and
// dropped, its idempotent requests retried on a new session and the others answered 502, never
// left hanging. Before, `ep.h2` was reused until something marked it closed, which nothing did.
// An upstream that floods the session (nghttp2's bounds end it) gets the same: 502, a new session.
import http2 from 'node:http2'
import net from 'node:net'
import {fileURLToPath} from 'node:url'
import * as grpc from '@grpc/grpc-js'
import * as protoLoader from '@grpc/proto-loader'
import {afterEach, describe, expect, it} from 'vitest'
import type {ProxyConfig} from '../../src/proxy/config/config.js'
import {startProxy, type RunningProxy} from '../../src/proxy/server.js'
import {CONTINUATION, frame, HEADERS, PING, SETTINGS} from './h2-frames.js'
import {closeServer, listenOn, quietLog, testConfig} from './helpers.js'
import {startBackend, startSidecar, type Proc} from './processes.js'

interface H2Result { status: number, body: string }

/** One request on a new client connection; rejects after `guardMs` (a hang is a failure, not a timeout of the test). */
function h2(port: number, method = 'GET', guardMs = 15_000): Promise<H2Result> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${port}`)
    const guard = setTimeout(() => { session.destroy(); reject(new Error(`no answer within ${guardMs} ms: the request hung`)) }, guardMs)
    session.on('error', (e) => { clearTimeout(guard); reject(e) })
    const req = session.request({':authority': 'h2.local', ':method': method, ':path': '/'}, {endStream: method === 'GET'})
    if (method !== 'GET') req.end('body')
    let status = 0
    let body = ''
    req.on('response', (h) => (status = Number(h[':status'])))
    req.setEncoding('utf8')
    req.on('data', (c: string) => (body += c))
    req.on('end', () => { clearTimeout(guard); session.close(); resolve({status, body}) })
    req.on('error', (e) => { clearTimeout(guard); session.destroy(); reject(e) })
  })
}

const procs: Proc[] = []
const proxies: RunningProxy[] = []
const servers: net.Server[] = []

afterEach(async () => {
  await Promise.all(procs.splice(0).map((p) => p.kill()))
  await Promise.all(proxies.splice(0).map((p) => p.close(100)))
  await Promise.all(servers.splice(0).map((s) => closeServer(s)))
})

async function outbound(route: string, tweak: (c: ProxyConfig) => void = () => {}): Promise<RunningProxy> {
  const cfg = testConfig({}, route)
  tweak(cfg)
  const p = await startProxy(cfg, {log: quietLog(), originalDst: null})
  proxies.push(p)
  return p
}

async function backend(mode: 'h2' | 'grpc', port = 0): Promise<Proc> {
  const b = await startBackend(mode, port)
  procs.push(b)
  return b
}

describe('dead HTTP/2 sessions', () => {
  it('a backend killed with SIGKILL and started again on its port is reached again (HTTP/2)', async () => {
    const first = await backend('h2')
    const proxy = await outbound(`h2.local:80=127.0.0.1:${first.port}`)
    expect(await h2(proxy.ports.outbound)).toEqual({status: 200, body: String(first.child.pid)})
    await first.kill()
    // Nothing listens: an answer (502), not a hang.
    expect((await h2(proxy.ports.outbound)).status).toBe(502)
    const second = await backend('h2', first.port)
    expect(await h2(proxy.ports.outbound)).toEqual({status: 200, body: String(second.child.pid)})
    expect(await h2(proxy.ports.outbound, 'POST')).toEqual({status: 200, body: String(second.child.pid)})
  })

  it('a gRPC backend killed with SIGKILL and started again is called again (@grpc/grpc-js through the proxy)', async () => {
    const def = protoLoader.loadSync(fileURLToPath(new URL('./fixtures/echo.proto', import.meta.url)))
    const pkg = grpc.loadPackageDefinition(def) as unknown as {meshtest: {Echo: grpc.ServiceClientConstructor}}
    const first = await backend('grpc')
    const proxy = await outbound(`grpc.local:80=127.0.0.1:${first.port}`)
    const client = new pkg.meshtest.Echo(`127.0.0.1:${proxy.ports.outbound}`, grpc.credentials.createInsecure(), {'grpc.default_authority': 'grpc.local'}) as unknown as grpc.Client & {Unary: (m: unknown, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r: {text: string}) => void) => void}
    const call = (): Promise<{text?: string, code?: number}> => new Promise((resolve) => {
      client.Unary({text: 'hi', n: 1}, {deadline: Date.now() + 15_000}, (e, r) => resolve(e ? {code: e.code} : {text: r.text}))
    })
    try {
      expect(await call()).toEqual({text: String(first.child.pid)})
      await first.kill()
      const down = await call()
      expect(down.code).not.toBe(grpc.status.DEADLINE_EXCEEDED)
      expect(down.code).toBe(grpc.status.UNAVAILABLE)
      const second = await backend('grpc', first.port)
      expect(await call()).toEqual({text: String(second.child.pid)})
    } finally {
      client.close()
    }
  })

  it('a peer proxy killed with SIGKILL and started again on its port is reached again', async () => {
    const app = http2.createServer()
    app.on('stream', (s) => { s.respond({':status': 200}); s.end('app') })
    servers.push(app)
    const appPort = await listenOn(app)
    const env = {MESH_PROXY_INBOUND_FORWARD_ADDR: `127.0.0.1:${appPort}`}
    const peer = await startSidecar(env)
    procs.push(peer)
    const client = await outbound(`h2.local:80=127.0.0.1:${peer.ports.inbound}`)
    expect(await h2(client.ports.outbound)).toEqual({status: 200, body: 'app'})
    await peer.kill()
    expect((await h2(client.ports.outbound)).status).toBe(502)
    const again = await startSidecar({...env, MESH_PROXY_INBOUND_LISTEN_ADDR: `127.0.0.1:${peer.ports.inbound}`})
    procs.push(again)
    expect(await h2(client.ports.outbound)).toEqual({status: 200, body: 'app'})
  })

  it('a peer that stops answering on an open connection is found by PING: a GET is retried on a new session, a POST answered 502; neither hangs', async () => {
    const b = await backend('h2')
    const relay = blackholingRelay(b.port)
    servers.push(relay.server)
    const relayPort = await listenOn(relay.server)
    const proxy = await outbound(`h2.local:80=127.0.0.1:${relayPort}`, (c) => {
      c.limits.h2KeepAliveIntervalMs = 200
      c.limits.h2KeepAliveTimeoutMs = 300
    })
    expect((await h2(proxy.ports.outbound)).status).toBe(200)
    expect(relay.connections()).toBe(1)
    relay.blackhole()
    // The session's connection now swallows everything; new connections work.
    expect(await h2(proxy.ports.outbound)).toEqual({status: 200, body: String(b.child.pid)})
    expect(relay.connections()).toBe(2)
    relay.blackhole()
    expect((await h2(proxy.ports.outbound, 'POST')).status).toBe(502)
    // And the next one goes on a new session.
    expect((await h2(proxy.ports.outbound, 'POST')).status).toBe(200)
  })

  it('an upstream that floods the proxy\'s session (PING past nghttp2\'s bound, CONTINUATION past 8) has it ended: the request is answered 502, never hangs; the next one goes on a new session', async () => {
    const b = await backend('h2')
    let flood: 'ping' | 'continuation' | undefined
    let count = 0
    // Each connection: while `flood` is set, the server's SETTINGS then the flood; else relayed to the backend.
    const server = net.createServer((client) => {
      count++
      client.on('error', () => {})
      if (flood === undefined) {
        const up = net.connect(b.port, '127.0.0.1')
        up.on('error', () => client.destroy())
        client.on('close', () => up.destroy())
        client.pipe(up).pipe(client)
        return
      }
      const kind = flood
      client.once('data', () => {
        client.write(frame(SETTINGS, 0, 0))
        if (kind === 'ping') for (let i = 0; i < 20; i++) client.write(Buffer.concat(Array.from({length: 4000}, () => frame(PING, 0, 0, Buffer.alloc(8)))))
        // (a response header block on stream 1, :status 200, then fragments of it)
        else client.write(Buffer.concat([frame(HEADERS, 0, 1, Buffer.from([0x88])), ...Array.from({length: 20}, () => frame(CONTINUATION, 0, 1, Buffer.from([0x40, 1, 0x61, 1, 0x62])))]))
      })
      client.resume()
    })
    servers.push(server)
    const port = await listenOn(server)
    for (const kind of ['ping', 'continuation'] as const) {
      // (a proxy of its own each: no session to the upstream yet)
      const proxy = await outbound(`h2.local:80=127.0.0.1:${port}`)
      flood = kind
      const before = count
      expect((await h2(proxy.ports.outbound)).status, kind).toBe(502)
      flood = undefined
      expect(await h2(proxy.ports.outbound), kind).toEqual({status: 200, body: String(b.child.pid)})
      // (the flooded sessions were not reused: the answer came on a connection of its own)
      expect(count - before, kind).toBeGreaterThanOrEqual(2)
    }
  })

  it('an idle session to a peer that stopped answering is dropped by PING before any request needs it', async () => {
    const b = await backend('h2')
    const relay = blackholingRelay(b.port)
    servers.push(relay.server)
    const relayPort = await listenOn(relay.server)
    const proxy = await outbound(`h2.local:80=127.0.0.1:${relayPort}`, (c) => {
      c.limits.h2KeepAliveIntervalMs = 100
      c.limits.h2KeepAliveTimeoutMs = 200
    })
    expect((await h2(proxy.ports.outbound, 'POST')).status).toBe(200)
    relay.blackhole()
    await relay.closed()
    expect(await h2(proxy.ports.outbound, 'POST')).toEqual({status: 200, body: String(b.child.pid)})
  })
})

/** A TCP relay to `port`; blackhole() makes its current connections swallow everything, both ways, and stay open. */
function blackholingRelay(port: number): {server: net.Server, connections(): number, blackhole(): void, closed(): Promise<void>} {
  const live = new Set<{client: net.Socket, up: net.Socket, dead: boolean}>()
  let count = 0
  let onClose: (() => void) | undefined
  const server = net.createServer((client) => {
    count++
    const up = net.connect(port, '127.0.0.1')
    const c = {client, up, dead: false}
    live.add(c)
    client.on('data', (d) => { if (!c.dead) up.write(d) })
    up.on('data', (d) => { if (!c.dead) client.write(d) })
    const close = (): void => {
      client.destroy()
      up.destroy()
      if (live.delete(c) && c.dead) onClose?.()
    }
    for (const s of [client, up]) {
      s.on('error', close)
      s.on('close', close)
    }
  })
  return {
    server,
    connections: () => count,
    blackhole: () => { for (const c of live) c.dead = true },
    /** Resolves when the proxy closed a blackholed connection. */
    closed: () => new Promise((resolve) => { onClose = resolve }),
  }
}
