// `mesh proxy` as a real process: configured by flags and env, serving both sides, admin
// /ready and /metrics fed by the data path, SIGTERM -> drain -> exit 0; bad settings exit 1
// with the setting named and nothing on stdout.
import {spawn, type ChildProcess} from 'node:child_process'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {ROOT, spawnMesh} from '../helpers/run.js'
import {closeServer, request, startEchoApp, type EchoApp} from './helpers.js'

function startMeshProxy(args: string[], env: NodeJS.ProcessEnv): {child: ChildProcess, stderr: () => string, ports: Promise<Record<string, number>>} {
  const child = spawn(process.execPath, ['--import', 'tsx', '--no-warnings', 'bin/dev.js', 'proxy', ...args], {cwd: ROOT, env: {...process.env, NO_COLOR: '1', ...env}, stdio: ['ignore', 'pipe', 'pipe']})
  let stderr = ''
  const ports = new Promise<Record<string, number>>((resolve, reject) => {
    const found: Record<string, number> = {}
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      stderr += d
      for (const m of d.matchAll(/(inbound|outbound|admin|tap) listening addr=[\d.]+:(\d+)/g)) found[m[1]] = Number(m[2])
      if (Object.keys(found).length === 4) resolve(found)
    })
    child.on('exit', (code) => reject(new Error(`mesh proxy exited ${code}: ${stderr}`)))
    setTimeout(() => reject(new Error(`mesh proxy did not start: ${stderr}`)), 20_000)
  })
  return {child, stderr: () => stderr, ports}
}

describe('mesh proxy (the real binary)', () => {
  let app: EchoApp
  let proc: ReturnType<typeof startMeshProxy>
  let ports: Record<string, number>
  beforeAll(async () => {
    app = await startEchoApp()
    proc = startMeshProxy([
      '--inbound-listen-addr', '127.0.0.1:0', '--outbound-listen-addr', '127.0.0.1:0', '--admin-listen-addr', '127.0.0.1:0',
      '--static-routes', `web.local:80=127.0.0.1:${app.port}`,
    ], {MESH_PROXY_TAP_LISTEN_ADDR: '127.0.0.1:0', MESH_PROXY_INBOUND_FORWARD_ADDR: `127.0.0.1:${app.port}`, MESH_PROXY_SHUTDOWN_GRACE_PERIOD: '5'})
    ports = await proc.ports
  }, 30_000)
  afterAll(async () => {
    proc.child.kill('SIGKILL')
    await closeServer(app.server)
  })

  it('serves outbound and inbound, is ready, and counts requests in /metrics', async () => {
    const out = await request(ports.outbound, {path: '/o', headers: {host: 'web.local'}})
    expect(JSON.parse(out.body).url).toBe('/o')
    const inb = await request(ports.inbound, {path: '/i', headers: {host: 'web.local'}})
    expect(JSON.parse(inb.body).url).toBe('/i')
    expect((await request(ports.admin, {path: '/ready'})).status).toBe(200)
    const metrics = (await request(ports.admin, {path: '/metrics'})).body
    expect(metrics).toMatch(/request_total\{[^}]*direction="outbound"[^}]*authority="web\.local:80"[^}]*\} 1/)
    expect(metrics).toMatch(/response_total\{[^}]*direction="inbound"[^}]*status_code="200"[^}]*\} 1/)
    expect(metrics).toMatch(/tcp_open_total\{[^}]*direction="inbound"/)
  })

  it('drains on SIGTERM and exits 0', async () => {
    const exited = new Promise<number | null>((resolve) => proc.child.once('exit', resolve))
    proc.child.kill('SIGTERM')
    expect(await exited).toBe(0)
    expect(proc.stderr()).toMatch(/draining reason=SIGTERM/)
    expect(proc.stderr()).toMatch(/proxy stopped forced=0/)
  })
})

describe('mesh proxy with bad settings', () => {
  it('names the bad flag, exits 1, prints nothing on stdout', async () => {
    const r = await spawnMesh(['proxy', '--static-routes', 'nonsense'])
    expect(r.exitCode).toBe(1)
    expect(r.stdout).toBe('')
    expect(r.stderr).toMatch(/^Error: --static-routes: "nonsense" is not authority=addr\[,addr\]/)
    expect(r.stderr).toContain('Try this:')
    expect(r.stderr).not.toMatch(/\n\s+at /)
  })

  it('names the bad environment variable', async () => {
    const r = await spawnMesh(['proxy'], {env: {MESH_PROXY_OUTBOUND_LISTEN_ADDR: 'localhost'}})
    expect(r.exitCode).toBe(1)
    expect(r.stderr).toMatch(/MESH_PROXY_OUTBOUND_LISTEN_ADDR="localhost" is not a host:port address/)
  })
})
