// node:http2 is loaded by the proxy only when HTTP/2 traffic first arrives (src/proxy/accept/lazy-h2.ts):
// the sidecar runs from sources in a child process with a hook that reports every module it
// loads (test/unit/fixtures/report-loads.mjs) and, on request, Node's own list of loaded
// builtins; HTTP/1 traffic through both listeners loads neither node:http2 nor
// src/proxy/http/http2/*, the first HTTP/2 (h2c) requests load them and are served, and shutdown
// still sends open HTTP/2 sessions a GOAWAY.
import {spawn, type ChildProcess} from 'node:child_process'
import {once} from 'node:events'
import http from 'node:http'
import http2 from 'node:http2'
import net from 'node:net'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {LazyH2Server, type H2Module} from '../../src/proxy/accept/lazy-h2.js'
import {Logger} from '../../src/proxy/core/log.js'
import type {Side} from '../../src/proxy/route/side.js'
import {freePort} from '../helpers/ports.js'
import {eventually} from '../helpers/eventually.js'
import {ROOT} from '../helpers/run.js'
import {closeServer, listenOn} from './helpers.js'

const HOOK = join(ROOT, 'test/unit/fixtures/report-loads.mjs')
// Starts the sidecar as `mesh proxy` does; a line on stdin asks for Node's list of loaded builtins.
const SIDECAR = [
  `import {serveProxyFromEnv} from './src/proxy/main.ts'`,
  `process.stdin.setEncoding('utf8').on('data', () => process.stderr.write('BUILTINS ' + JSON.stringify(process.moduleLoadList.filter((m) => m.startsWith('NativeModule '))) + '\\n'))`,
  `await serveProxyFromEnv()`,
  `process.stdin.destroy()`,
].join('\n')

/** The application: HTTP/1 and h2c (prior knowledge) on one port, telling which it served. */
function startApp(): Promise<number> {
  const h1 = http.createServer((req, res) => res.end(`h1 ${req.url}`))
  const h2 = http2.createServer()
  h2.on('stream', (stream, headers) => {
    stream.respond({':status': 200, 'content-type': 'text/plain'})
    stream.end(`h2 ${headers[':path']}`)
  })
  app = net.createServer((socket) => {
    socket.once('data', (chunk: Buffer) => {
      socket.pause()
      socket.unshift(chunk)
      if (chunk.toString('latin1', 0, 3) === 'PRI') return void h2.emit('connection', socket)
      h1.emit('connection', socket)
      socket.resume()
    })
  })
  return listenOn(app)
}

function h1Get(port: number, path: string, host: string): Promise<{status: number, body: string}> {
  return new Promise((resolve, reject) => {
    http.get({host: '127.0.0.1', port, path, headers: {host}, agent: false}, (res) => {
      let body = ''
      res.setEncoding('utf8').on('data', (c: string) => (body += c))
      res.on('end', () => resolve({status: res.statusCode ?? 0, body}))
    }).on('error', reject)
  })
}

function h2Get(session: http2.ClientHttp2Session, path: string, authority: string): Promise<{status: number, body: string}> {
  return new Promise((resolve, reject) => {
    const req = session.request({':path': path, ':authority': authority})
    let status = 0
    let body = ''
    req.on('response', (h) => (status = Number(h[':status'])))
    req.setEncoding('utf8').on('data', (c: string) => (body += c))
    req.on('end', () => resolve({status, body}))
    req.on('error', reject)
  })
}

let app: net.Server | undefined
let child: ChildProcess | undefined
let stderr = ''
const ports = {inbound: 0, outbound: 0, admin: 0}

const loaded = (): string[] => stderr.split('\n').filter((l) => l.startsWith('LOADED ')).map((l) => l.slice(7))
const h2Loaded = (): string[] => loaded().filter((u) => u === 'node:http2' || u.includes('/src/proxy/http/http2/') || u.endsWith('/src/proxy/endpoint/h2-session.ts'))

/** Node's own list of the builtins the child has loaded (catches require() too). */
async function builtins(): Promise<string[]> {
  const before = stderr.length
  child!.stdin!.write('list\n')
  const m = await eventually('the sidecar to list its builtins', () => /^BUILTINS (.*)$/m.exec(stderr.slice(before)) ?? undefined, {intervalMs: 20})
  return JSON.parse(m[1]!) as string[]
}

async function ready(): Promise<void> {
  const state = await eventually('the sidecar to be ready (or to exit)', async () => {
    if (child!.exitCode !== null) return 'exited'
    const status = await new Promise<number>((resolve) => {
      http.get({host: '127.0.0.1', port: ports.admin, path: '/ready', agent: false}, (res) => { res.resume(); resolve(res.statusCode ?? 0) }).on('error', () => resolve(0))
    })
    return status === 200 ? 'ready' : undefined
  }, {intervalMs: 50, context: () => stderr})
  if (state !== 'ready') throw new Error(`the sidecar exited ${child!.exitCode}:\n${stderr}`)
}

describe('the sidecar loads HTTP/2 on first use', () => {
  beforeAll(async () => {
    const appPort = await startApp()
    const [inbound, outbound, admin, tap] = await Promise.all([freePort(), freePort(), freePort(), freePort()])
    Object.assign(ports, {inbound, outbound, admin})
    const env = {
      ...process.env,
      MESH_PROXY_INBOUND_LISTEN_ADDR: `127.0.0.1:${inbound}`, MESH_PROXY_OUTBOUND_LISTEN_ADDR: `127.0.0.1:${outbound}`,
      MESH_PROXY_ADMIN_LISTEN_ADDR: `127.0.0.1:${admin}`, MESH_PROXY_TAP_LISTEN_ADDR: `127.0.0.1:${tap}`,
      MESH_PROXY_INBOUND_FORWARD_ADDR: `127.0.0.1:${appPort}`,
      MESH_PROXY_STATIC_ROUTES: `web.test:80=127.0.0.1:${inbound}`,
      MESH_PROXY_LOG_LEVEL: 'info',
    }
    child = spawn(process.execPath, ['--import', 'tsx', '--import', HOOK, '--input-type=module', '-e', SIDECAR], {cwd: ROOT, env, stdio: ['pipe', 'ignore', 'pipe']})
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d))
    await ready()
  })

  afterAll(async () => {
    if (child && child.exitCode === null) child.kill('SIGKILL')
    await closeServer(app)
  })

  it('serves HTTP/1 through both listeners without loading node:http2 or src/proxy/http/http2/*', async () => {
    expect(await h1Get(ports.outbound, '/out', 'web.test')).toEqual({status: 200, body: 'h1 /out'})
    expect(await h1Get(ports.inbound, '/in', 'anything.test')).toEqual({status: 200, body: 'h1 /in'})
    expect(h2Loaded()).toEqual([])
    expect(await builtins()).not.toContain('NativeModule http2')
    // The hook does see the proxy's modules (so the absence above means something).
    expect(loaded().some((u) => u.endsWith('/src/proxy/inbound/inbound.ts'))).toBe(true)
  })

  it('loads HTTP/2 for the first h2c connections (several at once, both sides) and serves them', async () => {
    const sessions = [ports.outbound, ports.outbound, ports.inbound, ports.inbound].map((p) => http2.connect(`http://127.0.0.1:${p}`))
    try {
      const got = await Promise.all(sessions.map((s, i) => h2Get(s, `/first-${i}`, 'web.test')))
      expect(got).toEqual([0, 1, 2, 3].map((i) => ({status: 200, body: `h2 /first-${i}`})))
      // Served on the now-loaded server: a second stream, and a new connection.
      expect(await h2Get(sessions[0], '/again', 'web.test')).toEqual({status: 200, body: 'h2 /again'})
    } finally {
      for (const s of sessions) s.close()
    }
    const later = http2.connect(`http://127.0.0.1:${ports.outbound}`)
    try {
      expect(await h2Get(later, '/later', 'web.test')).toEqual({status: 200, body: 'h2 /later'})
    } finally {
      later.close()
    }
    expect(await builtins()).toContain('NativeModule http2')
    expect(h2Loaded()).toContain('node:http2')
    expect(h2Loaded().some((u) => u.endsWith('/src/proxy/http/http2/server.ts'))).toBe(true)
    expect(h2Loaded().filter((u) => u === 'node:http2')).toHaveLength(1)
    expect(await h1Get(ports.outbound, '/still', 'web.test')).toEqual({status: 200, body: 'h1 /still'})
  })

  it('sends open HTTP/2 sessions a GOAWAY on SIGTERM and exits 0 well within the grace period', async () => {
    const session = http2.connect(`http://127.0.0.1:${ports.outbound}`)
    const goaway = once(session, 'goaway')
    session.on('error', () => {})
    expect(await h2Get(session, '/open', 'web.test')).toEqual({status: 200, body: 'h2 /open'})
    child!.kill('SIGTERM')
    await goaway
    const [code] = await once(child!, 'exit') as [number | null]
    expect(code).toBe(0)
    // Within the grace period: nothing was cut (forced=0), whatever the machine's speed.
    expect(stderr).toMatch(/proxy stopped forced=0/)
  })
})

describe('LazyH2Server', () => {
  const side = (lines: string[]): Side => ({log: new Logger('info', 'plain', (l) => lines.push(l))} as unknown as Side)

  /** A connected socket pair on 127.0.0.1; returns the accepted (server) end and the client. */
  async function socketPair(): Promise<{server: net.Socket, client: net.Socket, close(): Promise<void>}> {
    const srv = net.createServer()
    const port = await listenOn(srv)
    const accepted = once(srv, 'connection') as Promise<[net.Socket]>
    const client = net.connect(port, '127.0.0.1')
    const [server] = await accepted
    return {server, client, close: () => closeServer(srv)}
  }

  it('logs a failed load and closes the connection instead of crashing', async () => {
    const lines: string[] = []
    const lazy = new LazyH2Server(side(lines), () => Promise.reject(new Error('no nghttp2 here')))
    const pair = await socketPair()
    try {
      const closed = once(pair.client, 'close')
      pair.server.pause()
      lazy.serve(pair.server, Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'))
      await closed
      expect(pair.server.destroyed).toBe(true)
      expect(lines.join('')).toMatch(/cannot load HTTP\/2 support.*no nghttp2 here/)
      expect(lazy.current).toBeUndefined()
      expect([...lazy.sessions()]).toEqual([])
    } finally {
      pair.client.destroy()
      await pair.close()
    }
  })

  it('shares one load between connections and skips those closed while it loads', async () => {
    let loads = 0
    let release!: () => void
    const gate = new Promise<void>((r) => (release = r))
    const served: net.Socket[] = []
    const mod = {
      createH2Server: () => ({}) as http2.Http2Server,
      serveH2: (_srv: http2.Http2Server, socket: net.Socket) => void served.push(socket),
      sessionsOf: () => new Set(),
    } as unknown as H2Module
    const lazy = new LazyH2Server(side([]), async () => { loads++; await gate; return mod })
    const a = await socketPair()
    const b = await socketPair()
    try {
      lazy.serve(a.server, Buffer.alloc(0))
      lazy.serve(b.server, Buffer.alloc(0))
      b.server.destroy()
      release()
      await eventually('HTTP/2 to be loaded', () => lazy.current)
      expect(served).toEqual([a.server])
      expect(lazy.current).toBeDefined()
      lazy.serve(b.client, Buffer.alloc(0))
      expect(served).toEqual([a.server, b.client])
      expect(loads).toBe(1)
    } finally {
      for (const p of [a, b]) { p.client.destroy(); p.server.destroy(); await p.close() }
    }
  })
})
