// `mesh proxy` as the injector runs it (no flags, settings from MESH_PROXY_*) starts the proxy
// from bin/run.js without loading oclif, from the sidecar's bundle (scripts/build-proxy.mjs);
// anything else, and settings that do not load, go through oclif, which reports problems as
// every command does.
import {spawn, type ChildProcess} from 'node:child_process'
import {once} from 'node:events'
import http from 'node:http'
import http2 from 'node:http2'
import net from 'node:net'
import {join} from 'node:path'
import {afterEach, describe, expect, it} from 'vitest'
import {fastProxy} from '../../bin/fast.js'
import {eventually} from '../helpers/eventually.js'
import {freePort} from '../helpers/ports.js'
import {ROOT, spawnMesh} from '../helpers/run.js'
import {requireNative} from '../helpers/needs.js'

requireNative('test/unit/fast-proxy.test.ts', 'malloc_trim', 'the sidecar\'s fast path trims freed memory with it, which the suite checks')

const HOOK = join(ROOT, 'test/unit/fixtures/report-loads.mjs')


async function proxyEnv(): Promise<{env: NodeJS.ProcessEnv, admin: number, inbound: number}> {
  const [inbound, outbound, admin, tap] = await Promise.all([freePort(), freePort(), freePort(), freePort()])
  return {admin, inbound, env: {
    MESH_PROXY_INBOUND_LISTEN_ADDR: `127.0.0.1:${inbound}`, MESH_PROXY_OUTBOUND_LISTEN_ADDR: `127.0.0.1:${outbound}`,
    MESH_PROXY_ADMIN_LISTEN_ADDR: `127.0.0.1:${admin}`, MESH_PROXY_TAP_LISTEN_ADDR: `127.0.0.1:${tap}`,
    MESH_PROXY_INBOUND_FORWARD_ADDR: '127.0.0.1:9', MESH_PROXY_LOG_LEVEL: 'info',
  }}
}

function get(port: number, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http.get({host: '127.0.0.1', port, path}, (res) => {
      res.resume()
      resolve(res.statusCode ?? 0)
    }).on('error', reject)
  })
}

async function ready(port: number, child: ChildProcess): Promise<void> {
  const state = await eventually('the proxy to be ready (or to exit)', async () => (child.exitCode !== null ? 'exited' : (await get(port, '/ready').catch(() => 0)) === 200 ? 'ready' : undefined), {intervalMs: 50})
  if (state !== 'ready') throw new Error(`the proxy exited ${child.exitCode} before it was ready`)
}

const children: ChildProcess[] = []
afterEach(() => {
  for (const c of children.splice(0)) c.kill('SIGKILL')
})

/** Runs `mesh proxy` compiled, with a hook listing the modules it loads; SIGTERM once ready. */
async function runProxy(extraEnv: NodeJS.ProcessEnv): Promise<{loaded: string[], stderr: string, code: number | null}> {
  const {env, admin} = await proxyEnv()
  const child = spawn(process.execPath, ['--import', HOOK, 'bin/run.js', 'proxy'], {cwd: ROOT, env: {...process.env, ...env, ...extraEnv}, stdio: ['ignore', 'pipe', 'pipe']})
  children.push(child)
  let stderr = ''
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d))
  child.stdout!.resume()
  await ready(admin, child)
  child.kill('SIGTERM')
  const [code] = await once(child, 'exit') as [number | null]
  return {loaded: stderr.split('\n').filter((l) => l.startsWith('LOADED ')).map((l) => l.slice(7)), stderr, code}
}

describe('mesh proxy fast path', () => {
  it('serves without loading oclif, trims freed malloc memory, drains on SIGTERM and exits 0', async () => {
    const r = await runProxy({MESH_PROXY_LOG_LEVEL: 'debug'})
    expect(r.code).toBe(0)
    // (npm run build builds native/build/malloc_trim.node; src/proxy/net/malloc-trim.ts)
    expect(r.stderr).toMatch(/trimming freed malloc memory.*everySeconds=5/)
    // The sidecar's bundle (scripts/build-proxy.mjs) is what runs: none of the modules it is made of.
    expect(r.loaded.some((u) => u.endsWith('/dist/proxy/sidecar.cjs'))).toBe(true)
    expect(r.loaded.filter((u) => (u.includes('/dist/') && !u.endsWith('/dist/proxy/sidecar.cjs')) || u.includes('/src/'))).toEqual([])
    expect(r.loaded.filter((u) => u.includes('@oclif'))).toEqual([])
    // No HTTP/2 connection came: HTTP/2 support is not loaded (src/proxy/accept/lazy-h2.ts): in
    // the bundle its modules run on first use, and node:http2 is required then.
    expect(r.loaded).toContain('node:net')
    expect(r.loaded.filter((u) => u.includes('http2'))).toEqual([])
    expect(r.stderr).toMatch(/draining.*SIGTERM/)
  })

  it('loads HTTP/2 support from the bundle on the first h2c connection and serves it', async () => {
    const app = http2.createServer((req, res) => res.end(`h2 ${req.url}`))
    app.listen(0, '127.0.0.1')
    await once(app, 'listening')
    let session: http2.ClientHttp2Session | undefined
    try {
      const {env, admin, inbound} = await proxyEnv()
      env.MESH_PROXY_INBOUND_FORWARD_ADDR = `127.0.0.1:${(app.address() as net.AddressInfo).port}`
      const child = spawn(process.execPath, ['--import', HOOK, 'bin/run.js', 'proxy'], {cwd: ROOT, env: {...process.env, ...env}, stdio: ['ignore', 'pipe', 'pipe']})
      children.push(child)
      let stderr = ''
      child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d))
      child.stdout!.resume()
      await ready(admin, child)
      expect(stderr).toContain('LOADED node:net\n')
      expect(stderr).not.toContain('LOADED node:http2\n')
      session = http2.connect(`http://127.0.0.1:${inbound}`)
      const answer = await new Promise<{status: number, body: string}>((resolve, reject) => {
        const req = session!.request({':path': '/first', ':authority': 'web.test'})
        let status = 0
        let body = ''
        req.on('response', (h) => (status = Number(h[':status'])))
        req.setEncoding('utf8').on('data', (c: string) => (body += c)).on('end', () => resolve({status, body})).on('error', reject)
      })
      expect(answer).toEqual({status: 200, body: 'h2 /first'})
      expect(stderr).toContain('LOADED node:http2\n')
      expect(stderr.split('\n').filter((l) => l.startsWith('LOADED ') && l.includes('/dist/') && !l.endsWith('/dist/proxy/sidecar.cjs'))).toEqual([])
    } finally {
      session?.close()
      app.close()
    }
  })

  it('goes through oclif with MESH_NO_FAST_PATH=1 (the same proxy, the same exit)', async () => {
    const r = await runProxy({MESH_NO_FAST_PATH: '1'})
    expect(r.code).toBe(0)
    expect(r.loaded.some((u) => u.includes('@oclif/core'))).toBe(true)
    expect(r.stderr).toMatch(/draining.*SIGTERM/)
  })

  it('leaves any other argv to oclif', async () => {
    for (const argv of [['proxy', '--help'], ['proxy', '--log-level', 'debug'], ['version'], []]) {
      expect(await fastProxy(argv, {})).toBe(false)
    }
    expect(await fastProxy(['proxy'], {MESH_NO_FAST_PATH: '1'})).toBe(false)
  })

  it('reports bad settings exactly as oclif does (exit 1, no stack, nothing on stdout)', async () => {
    const bad = {MESH_PROXY_INBOUND_LISTEN_ADDR: 'nowhere', MESH_PROXY_ADMIN_LISTEN_ADDR: '127.0.0.1:0'}
    const fast = await spawnMesh(['proxy'], {compiled: true, env: bad})
    const slow = await spawnMesh(['proxy'], {compiled: true, env: {...bad, MESH_NO_FAST_PATH: '1'}})
    expect(fast.exitCode).not.toBe(0)
    expect(fast).toEqual(slow)
    expect(fast.stderr).toMatch(/^Error: .*MESH_PROXY_INBOUND_LISTEN_ADDR/)
    expect(fast.stderr).not.toMatch(/\n\s+at /)
    expect(fast.stdout).toBe('')
  })

  it('renders a listener that cannot bind as the command would (exit 1, no stack)', async () => {
    const holder = net.createServer().listen(0, '127.0.0.1')
    await once(holder, 'listening')
    const busy = (holder.address() as net.AddressInfo).port
    try {
      const {env} = await proxyEnv()
      const clash = {...env, MESH_PROXY_ADMIN_LISTEN_ADDR: `127.0.0.1:${busy}`}
      const fast = await spawnMesh(['proxy'], {compiled: true, env: clash})
      const slow = await spawnMesh(['proxy'], {compiled: true, env: {...clash, MESH_NO_FAST_PATH: '1'}})
      const rendered = (stderr: string): string[] => stderr.split('\n').filter((l) => /^(Error: | {2}Try this: )/.test(l))
      expect(fast.exitCode).toBe(1)
      expect(rendered(fast.stderr)[0]).toMatch(/^Error: .*EADDRINUSE.*127\.0\.0\.1:\d+/)
      expect(fast.stderr).not.toMatch(/\n\s+at /)
      expect(fast.exitCode).toBe(slow.exitCode)
      expect(rendered(fast.stderr)).toEqual(rendered(slow.stderr))
    } finally {
      holder.close()
    }
  })
})
