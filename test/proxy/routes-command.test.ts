// `mesh proxy --routes` / MESH_PROXY_ROUTES on the real binary: a route's timeout applies to
// real HTTP/2 traffic, and a bad rule exits 1 naming the flag or variable, the entry and the
// fix, with nothing on stdout and no stack trace.
import {spawn} from 'node:child_process'
import http2 from 'node:http2'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {ROOT, spawnMesh} from '../helpers/run.js'
import {closeServer, listenOn} from './helpers.js'

function h2Get(port: number, path: string): Promise<http2.IncomingHttpHeaders> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${port}`)
    session.on('error', reject)
    const req = session.request({':path': path, ':authority': 'web.local'})
    req.on('response', (h) => { req.resume(); req.on('end', () => { session.close(); resolve(h) }) })
    req.on('error', reject)
  })
}

describe('mesh proxy --routes (the real binary)', () => {
  let app: http2.Http2Server
  let child: ReturnType<typeof spawn>
  let outbound: number
  beforeAll(async () => {
    app = http2.createServer()
    app.on('stream', (stream, headers) => {
      stream.on('error', () => {})
      const delay = String(headers[':path']).startsWith('/slow') ? 1500 : 0
      setTimeout(() => { if (!stream.destroyed) { stream.respond({':status': 200}); stream.end('ok') } }, delay)
    })
    const appPort = await listenOn(app)
    child = spawn(process.execPath, ['--import', 'tsx', '--no-warnings', 'bin/dev.js', 'proxy',
      '--inbound-listen-addr', '127.0.0.1:0', '--outbound-listen-addr', '127.0.0.1:0', '--admin-listen-addr', '127.0.0.1:0',
      '--static-routes', `web.local:80=127.0.0.1:${appPort}`, '--routes', 'web.local GET /slow=timeout:200ms'],
    {cwd: ROOT, env: {...process.env, NO_COLOR: '1', MESH_PROXY_TAP_LISTEN_ADDR: '127.0.0.1:0'}, stdio: ['ignore', 'pipe', 'pipe']})
    outbound = await new Promise<number>((resolve, reject) => {
      let err = ''
      child.stderr!.setEncoding('utf8').on('data', (d: string) => {
        err += d
        const m = /outbound listening addr=[\d.]+:(\d+)/.exec(err)
        if (m) resolve(Number(m[1]))
      })
      child.on('exit', (code) => reject(new Error(`mesh proxy exited ${code}: ${err}`)))
      setTimeout(() => reject(new Error(`mesh proxy did not start: ${err}`)), 20_000)
    })
  }, 30_000)
  afterAll(async () => {
    child.kill('SIGKILL')
    await closeServer(app)
  })

  it('times out the route it names and leaves the others alone', async () => {
    const t0 = performance.now()
    const slow = await h2Get(outbound, '/slow/1')
    expect(slow[':status']).toBe(504)
    expect(slow['mesh-proxy-error']).toMatch(/within 200ms/)
    // The route's own timeout answered (the header says which), not the app: no bound on the
    // machine's speed, only that it cannot answer before the timeout.
    expect(performance.now() - t0).toBeGreaterThanOrEqual(195)
    expect((await h2Get(outbound, '/fast'))[':status']).toBe(200)
  })
})

describe('mesh proxy with bad routes', () => {
  it('names the flag, the entry and the fix; exits 1; nothing on stdout', async () => {
    const r = await spawnMesh(['proxy', '--routes', 'web:80 GET /api=timeout:2'])
    expect(r.exitCode).toBe(1)
    expect(r.stdout).toBe('')
    expect(r.stderr).toMatch(/^Error: --routes: entry "web:80 GET \/api=timeout:2" has timeout "2", which is not a duration/)
    expect(r.stderr).toMatch(/Try this: Write the timeout as 500ms, 2s or 1m/)
    expect(r.stderr).not.toMatch(/\n\s+at /)
  })

  it('names MESH_PROXY_ROUTES when the bad rule comes from the environment', async () => {
    const r = await spawnMesh(['proxy'], {env: {MESH_PROXY_ROUTES: 'web:80=retries:many'}})
    expect(r.exitCode).toBe(1)
    expect(r.stdout).toBe('')
    expect(r.stderr).toMatch(/MESH_PROXY_ROUTES: entry "web:80=retries:many" has retries "many", which is not a number from 0 to 10/)
  })
})
