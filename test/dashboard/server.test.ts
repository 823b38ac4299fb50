// The dashboard's server at its edges, on real sockets: the key, Host (DNS rebinding), the
// WebSocket's Origin, and every bound (method, body, URL and header size, slow headers,
// connections, streams, messages from the page), each refusal counted on /metrics by reason.
// The source of its data is a stand-in here (the browser suite runs it against a real demo).
import {existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import net from 'node:net'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import WebSocket from 'ws'
import {LIMITS, startDashboardServer, type DashboardServer} from '../../src/dashboard/server.js'
import type {DashboardSource} from '../../src/dashboard/source.js'
import type {Snapshot, WorkloadRoutes} from '../../src/dashboard/types.js'
import {UsageError} from '../../src/lib/errors.js'
import {assetsDir} from '../../src/dashboard/run.js'
import {startDashboardProcess} from '../helpers/dashboard.js'
import {eventually} from '../helpers/eventually.js'
import {kubeconfigYaml} from '../helpers/kubeconfig.js'
import {spawnMesh} from '../helpers/run.js'

const snapshot: Snapshot = {time: Date.now(), window: '1m', namespace: 'demo', allNamespaces: false, source: 'a stand-in', namespaces: [], workloads: [], edges: [], graph: [], podErrors: []}
const openTaps: Array<() => void> = []
const routeCalls: string[] = []
const source = {
  snapshot: async () => ({...snapshot, time: Date.now()}),
  routes: async (namespace: string, resource: string): Promise<WorkloadRoutes> => {
    routeCalls.push(`${namespace} ${resource}`)
    return {time: Date.now(), window: '1m', namespace, resource, services: [], other: [], omitted: 0, served: [], servedOmitted: 0, podErrors: []}
  },
  check: async () => ({success: true, categories: []}),
  tap: (_resource: string, filters: {path?: string}) => {
    if (filters.path !== undefined && !filters.path.startsWith('/')) throw new UsageError('invalid --path "x": a path prefix starts with /')
    let end!: () => void
    const done = new Promise<void>((resolve) => (end = resolve))
    openTaps.push(end)
    return {done, close: end}
  },
} as unknown as DashboardSource

let server: DashboardServer
let cookie: string
let port: number

/** One raw HTTP exchange: what the server answers to exactly these bytes. */
function raw(bytes: string | Buffer, opts: {half?: boolean} = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => (opts.half ? s.write(bytes) : s.end(bytes)))
    let out = ''
    s.setEncoding('latin1').on('data', (d: string) => (out += d))
    s.on('close', () => resolve(out))
    s.on('error', reject)
    s.setTimeout(30_000, () => s.destroy(new Error('no answer in 30 s')))
  })
}

const get = (path: string, headers: Record<string, string> = {}): Promise<Response> => fetch(`http://127.0.0.1:${port}${path}`, {headers: {cookie, ...headers}, redirect: 'manual'})

async function refusals(): Promise<Record<string, number>> {
  const text = await (await get('/metrics')).text()
  return Object.fromEntries([...text.matchAll(/^mesh_dashboard_refused_total\{reason="([^"]+)"\} (\d+)$/gm)].map((m) => [m[1]!, Number(m[2])]))
}

interface Opened {
  status?: number
  socket?: WebSocket
  body?: string
  /** The next message (kept from the start: one may come with the handshake). */
  next: () => Promise<string>
}

function ws(path: string, headers: Record<string, string>): Promise<Opened> {
  return new Promise((resolve) => {
    const socket = new WebSocket(`ws://127.0.0.1:${port}${path}`, {headers})
    const messages: string[] = []
    const waiting: Array<(m: string) => void> = []
    socket.on('message', (d) => (waiting.length > 0 ? waiting.shift()!(String(d)) : messages.push(String(d))))
    const next = (): Promise<string> => (messages.length > 0 ? Promise.resolve(messages.shift()!) : new Promise((r) => waiting.push(r)))
    socket.on('open', () => resolve({socket, next}))
    socket.on('unexpected-response', (_req, res) => {
      let body = ''
      res.on('data', (c: Buffer) => (body += c))
      res.on('end', () => resolve({status: res.statusCode, body, next}))
    })
    socket.on('error', () => {})
  })
}

beforeAll(async () => {
  server = await startDashboardServer({source, assetsDir: assetsDir(), refreshMs: 200})
  port = Number(new URL(server.origin).port)
  const res = await fetch(server.url, {redirect: 'manual'})
  expect(res.status).toBe(303)
  cookie = res.headers.get('set-cookie')!.split(';')[0]!
})
afterAll(() => server?.close())

describe('the dashboard server', () => {
  it('listens on 127.0.0.1 and trades the key of its address for an HttpOnly, SameSite=Strict cookie', async () => {
    expect(server.origin).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    const res = await fetch(server.url, {redirect: 'manual'})
    expect(res.headers.get('location')).toBe('/')
    expect(res.headers.get('set-cookie')).toMatch(/^mesh-dashboard-\d+=[\w-]{32}; HttpOnly; SameSite=Strict; Path=\/$/)
    const page = await get('/')
    expect(page.status).toBe(200)
    expect(page.headers.get('content-security-policy')).toContain("default-src 'none'")
    expect(await page.text()).toContain('<script type="module" src="/app.js">')
    expect((await get('/app.js')).headers.get('content-type')).toBe('text/javascript; charset=utf-8')
  })

  it('without the key, or with another, nothing is served', async () => {
    for (const path of ['/', '/app.js', '/api/snapshot', '/api/check']) expect((await get(path, {cookie: ''})).status, path).toBe(401)
    expect((await get('/', {cookie: cookie.replace(/=.*/, '=wrong')})).status).toBe(401)
    expect((await fetch(server.url.replace(/key=.*/, 'key=wrong'), {redirect: 'manual'})).status).toBe(401)
    expect((await ws('/api/live', {origin: server.origin})).status).toBe(401)
  })

  it('answers only to its own name in Host: a rebinding page gets nothing, even with the cookie', async () => {
    const answer = await raw(`GET /api/snapshot HTTP/1.1\r\nhost: attacker.example:${port}\r\ncookie: ${cookie}\r\nconnection: close\r\n\r\n`)
    expect(answer).toMatch(/^HTTP\/1\.1 403 /)
    expect(answer).not.toContain('"workloads"')
    expect((await get('/api/snapshot', {host: `localhost:${port}`})).status).toBe(200)
  })

  it('WebSockets only from its own origin', async () => {
    expect((await ws('/api/live', {cookie})).status).toBe(403)
    expect((await ws('/api/live', {cookie, origin: 'http://attacker.example'})).status).toBe(403)
    const {socket, next} = await ws('/api/live', {cookie, origin: server.origin})
    const first = await next()
    expect(JSON.parse(first)).toMatchObject({type: 'snapshot', snapshot: {source: 'a stand-in'}})
    // The page sends nothing: a message closes the stream.
    const closed = new Promise<number>((resolve) => socket!.once('close', (code) => resolve(code)))
    socket!.send('hello')
    expect(await closed).toBe(1008)
  })

  it('refuses other methods, bodies, long URLs and oversized headers', async () => {
    const head = `host: 127.0.0.1:${port}\r\ncookie: ${cookie}\r\nconnection: close`
    expect(await raw(`POST /api/check HTTP/1.1\r\n${head}\r\ncontent-length: 0\r\n\r\n`)).toMatch(/^HTTP\/1\.1 405 /)
    expect(await raw(`GET / HTTP/1.1\r\n${head}\r\ncontent-length: 5\r\n\r\nhello`)).toMatch(/^HTTP\/1\.1 413 /)
    expect(await raw(`GET / HTTP/1.1\r\n${head}\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n`)).toMatch(/^HTTP\/1\.1 413 /)
    expect(await raw(`GET /?${'a'.repeat(LIMITS.maxUrlBytes)} HTTP/1.1\r\n${head}\r\n\r\n`)).toMatch(/^HTTP\/1\.1 414 /)
    expect(await raw(`GET / HTTP/1.1\r\n${head}\r\nx-big: ${'b'.repeat(LIMITS.maxHeaderBytes)}\r\n\r\n`)).toMatch(/^HTTP\/1\.1 431 /)
    expect(await raw('NOT HTTP AT ALL\r\n\r\n')).toMatch(/^HTTP\/1\.1 400 /)
    const r = await refusals()
    for (const reason of ['method', 'body', 'url_size', 'header_size', 'malformed', 'host', 'origin', 'no_key', 'bad_key', 'ws_message']) expect(r[reason], reason).toBeGreaterThan(0)
  })

  it('cuts a request whose headers never finish', async () => {
    const answer = await raw(`GET / HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\nx-slow: `, {half: true})
    expect(answer).toMatch(/^HTTP\/1\.1 408 /)
    expect((await refusals()).timeout).toBeGreaterThan(0)
  }, 60_000)

  it(`holds at most ${LIMITS.tapStreams} tap streams and refuses a bad filter as mesh tap does`, async () => {
    const bad = await ws('/api/tap?resource=deploy/web&path=x', {cookie, origin: server.origin})
    const msg = await bad.next()
    expect(JSON.parse(msg)).toEqual({type: 'error', error: {message: 'invalid --path "x": a path prefix starts with /', suggestions: []}})
    const open: WebSocket[] = []
    for (let i = 0; i < LIMITS.tapStreams; i++) open.push((await ws('/api/tap?resource=deploy/web', {cookie, origin: server.origin})).socket!)
    expect(open.every((s) => s.readyState === WebSocket.OPEN)).toBe(true)
    const over = await ws('/api/tap?resource=deploy/web', {cookie, origin: server.origin})
    expect(over.status).toBe(503)
    expect(over.body).toContain(`more than ${LIMITS.tapStreams} tap streams`)
    // Closing a page's stream closes its tap stream, and frees the place.
    const closed = new Promise((resolve) => open[0]!.once('close', resolve))
    openTaps.shift()!()
    await closed
    const again = await ws('/api/tap?resource=deploy/web', {cookie, origin: server.origin})
    expect(again.socket?.readyState).toBe(WebSocket.OPEN)
    for (const s of [...open, again.socket!]) s.terminate()
    for (const end of openTaps.splice(0)) end()
  })

  it(`holds at most ${LIMITS.connections} connections`, async () => {
    const sockets: net.Socket[] = []
    for (let i = 0; i < LIMITS.connections; i++) {
      sockets.push(await new Promise<net.Socket>((resolve) => {
        const s = net.connect(port, '127.0.0.1', () => resolve(s))
        s.on('error', () => {})
      }))
    }
    const extra = await raw(`GET /metrics HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\nconnection: close\r\n\r\n`)
    expect(extra).toBe('')
    for (const s of sockets) s.destroy()
    await eventually('the connection bound counted', async () => ((await refusals()).connections ?? 0) > 0 || undefined)
  })
})

describe('the dashboard server, with a short ping interval and a long refresh', () => {
  let quick: DashboardServer
  let quickCookie: string
  let quickPort: number
  beforeAll(async () => {
    // The ping interval is an option for tests: the real one is 30 s. 3 s, not less: the page
    // that answers must have its pong read before the next ping, and this process (both ends)
    // may stall on a loaded machine.
    quick = await startDashboardServer({source, assetsDir: assetsDir(), refreshMs: 60_000, pingMs: 3000})
    quickPort = Number(new URL(quick.origin).port)
    quickCookie = (await fetch(quick.url, {redirect: 'manual'})).headers.get('set-cookie')!.split(';')[0]!
  })
  afterAll(() => quick?.close())

  const connect = (autoPong: boolean): Promise<{socket: WebSocket; pings: () => number; closed: Promise<number>}> =>
    new Promise((resolve, reject) => {
      const socket = new WebSocket(`ws://127.0.0.1:${quickPort}/api/live`, {headers: {cookie: quickCookie, origin: quick.origin}, autoPong})
      let pings = 0
      socket.on('ping', () => pings++)
      const closed = new Promise<number>((r) => socket.once('close', (code) => r(code)))
      socket.once('open', () => resolve({socket, pings: () => pings, closed}))
      socket.once('error', reject)
    })

  it('cuts a page that went away without closing at the next ping (counted as ws_silent), and keeps one that answers', async () => {
    const before = (await (await fetch(`${quick.origin}/metrics`)).text()).match(/reason="ws_silent"\} (\d+)/)?.[1] ?? '0'
    expect(before).toBe('0')
    // A suspended laptop: the connection stays, nothing answers the pings.
    const silent = await connect(false)
    const alive = await connect(true)
    // Cut by the server (no close frame: 1006), after the one ping it did not answer.
    expect(await silent.closed).toBe(1006)
    expect(silent.pings()).toBeGreaterThanOrEqual(1)
    // The page that answers is pinged on and stays.
    const seen = alive.pings()
    await eventually('two more pings to the page that answers', () => (alive.pings() >= seen + 2 ? true : undefined), {timeoutMs: 60_000, intervalMs: 50})
    expect(alive.socket.readyState).toBe(WebSocket.OPEN)
    const metrics = await (await fetch(`${quick.origin}/metrics`)).text()
    expect(metrics).toMatch(/^mesh_dashboard_refused_total\{reason="ws_silent"\} 1$/m)
    alive.socket.close()
    expect(await alive.closed).toBe(1005)
  }, 60_000)

  it('reads a workload page\'s routes once per refresh, however many pages ask', async () => {
    routeCalls.length = 0
    const ask = async (q: string): Promise<WorkloadRoutes> => {
      const res = await fetch(`${quick.origin}/api/routes?${q}`, {headers: {cookie: quickCookie}})
      expect(res.status).toBe(200)
      return (await res.json()) as WorkloadRoutes
    }
    const answers = await Promise.all([ask('namespace=demo&resource=deploy/web'), ask('namespace=demo&resource=deploy/web'), ask('resource=deploy/web&namespace=demo')])
    expect(answers.map((a) => [a.namespace, a.resource])).toEqual([['demo', 'deploy/web'], ['demo', 'deploy/web'], ['demo', 'deploy/web']])
    expect(await ask('namespace=other&resource=sts/db')).toMatchObject({namespace: 'other', resource: 'sts/db'})
    expect(routeCalls).toEqual(['demo deploy/web', 'other sts/db'])
    expect((await fetch(`${quick.origin}/api/routes?namespace=demo&resource=deploy/web`)).status).toBe(401)
  })
})

describe('mesh dashboard, the command', () => {
  const env = {MESH_HOME: '/nonexistent/mesh-home', KUBECONFIG: '/nonexistent/kubeconfig'}
  it('warns that a non-loopback --address lets others in, and says why it cannot start without a control plane', async () => {
    const r = await spawnMesh(['dashboard', '--no-open', '--address', '0.0.0.0'], {env, compiled: true})
    expect(r.stderr).toContain('--address 0.0.0.0 is not a loopback address')
    expect(r.stderr).toContain('no kubeconfig at /nonexistent/kubeconfig')
    expect(r.stdout).toBe('')
    expect(r.exitCode).toBe(1)
  })

  it('opens the browser on a file only the user can read, never with the key on a command line', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'mesh-dashboard-open-'))
    try {
      // A browser opener that records what it was given (other users can read a process's arguments).
      writeFileSync(path.join(dir, 'xdg-open'), `#!/bin/sh\nprintf '%s\\n' "$@" > ${dir}/args\nstat -c %a "$1" > ${dir}/mode\ncp "$1" ${dir}/page.html\n`, {mode: 0o755})
      writeFileSync(path.join(dir, 'kubeconfig'), kubeconfigYaml('https://127.0.0.1:1'))
      const d = await startDashboardProcess(['--open', '--kubeconfig', path.join(dir, 'kubeconfig')], {...env, PATH: `${dir}:${process.env.PATH}`})
      try {
        const key = new URL(d.url).searchParams.get('key')!
        await eventually('the browser opener to run', () => (existsSync(path.join(dir, 'page.html')) ? true : undefined))
        const args = readFileSync(path.join(dir, 'args'), 'utf8')
        expect(args).not.toContain(key)
        expect(readFileSync(path.join(dir, 'mode'), 'utf8').trim()).toBe('600')
        expect(readFileSync(path.join(dir, 'page.html'), 'utf8')).toContain(`<meta http-equiv="refresh" content="0;url=${d.url}">`)
      } finally {
        await d.stop()
      }
      // Gone once the dashboard stops.
      expect(existsSync(readFileSync(path.join(dir, 'args'), 'utf8').trim())).toBe(false)
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  })

  it('bad flags are usage errors (exit 2)', async () => {
    for (const args of [['--window', '2h'], ['--port', '70000'], ['--window', 'soon']]) {
      const r = await spawnMesh(['dashboard', '--no-open', ...args], {env, compiled: true})
      expect(r.exitCode, `${args.join(' ')}: ${r.stderr}`).toBe(2)
      expect(r.stderr).not.toMatch(/\n\s+at /)
    }
  })
})
