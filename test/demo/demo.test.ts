// `mesh demo` as a user runs it: the real binary, in a temporary MESH_HOME, then the real
// commands against it (stat, tap, check --proxy, demo status), a crashed service coming back,
// and `mesh demo stop` leaving no process and no file behind.
import {spawn} from 'node:child_process'
import {existsSync, mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {eventually} from '../helpers/eventually.js'
import {PATH_WITHOUT_MESH, ROOT, spawnMesh, type RunResult} from '../helpers/run.js'

const home = mkdtempSync(path.join(tmpdir(), 'mesh-demo-test-'))
const env = {MESH_HOME: home, MESH_DEMO_DIR: path.join(home, 'demo'), KUBECONFIG: path.join(home, 'no-kubeconfig'), PATH: PATH_WITHOUT_MESH}
const mesh = (args: string[], timeoutMs = 120_000): Promise<RunResult> => spawnMesh(args, {env, timeoutMs})

interface DemoJson {
  pid: number
  processes: Array<{key: string; pid?: number}>
}
const demoJson = (): DemoJson => JSON.parse(readFileSync(path.join(home, 'demo', 'demo.json'), 'utf8')) as DemoJson

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** Every object in a JSON-lines output, and nested objects in each. */
function objects(text: string): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = []
  const walk = (v: unknown): void => {
    if (v && typeof v === 'object') {
      if (!Array.isArray(v)) out.push(v as Record<string, unknown>)
      for (const x of Object.values(v)) walk(x)
    }
  }
  for (const line of text.split('\n')) {
    if (!line.trim().startsWith('{')) continue
    walk(JSON.parse(line))
  }
  return out
}

describe('mesh demo', {timeout: 600_000}, () => {
  let started: RunResult
  let pids: number[] = []

  beforeAll(async () => {
    started = await mesh(['demo', '--detach', '--rps', '20', '--ready-timeout', '240'], 300_000)
    if (existsSync(path.join(home, 'demo', 'demo.json'))) {
      const d = demoJson()
      pids = [d.pid, ...d.processes.map((p) => p.pid).filter((p): p is number => p !== undefined)]
    }
  }, 320_000)

  afterAll(async () => {
    // Only if a test failed half-way: do not leave a demo running.
    if (existsSync(path.join(home, 'demo', 'demo.pid'))) await mesh(['demo', 'stop'])
    for (const pid of pids) if (alive(pid)) process.kill(pid, 'SIGKILL')
    rmSync(home, {recursive: true, force: true})
  }, 120_000)

  it('starts in the background and prints where things run, the identities and what to try', () => {
    expect(started.stderr).not.toMatch(/Error/)
    expect(started.exitCode).toBe(0)
    for (const svc of ['web', 'books', 'authors', 'stock']) expect(started.stdout).toContain(`${svc}.demo.serviceaccount.identity.mesh-system.cluster.local`)
    // Run as bin/dev.js with no `mesh` on the PATH: the commands to try are written as typed here.
    expect(started.stdout).toContain('./bin/dev.js stat deploy')
    expect(started.stdout).toContain('./bin/dev.js demo stop')
    expect(pids.length).toBe(11)
  })

  it('refuses a second demo while one runs (exit 1, says so)', async () => {
    const second = await mesh(['demo'])
    expect(second.exitCode).toBe(1)
    expect(second.stderr).toMatch(/a mesh demo is already running \(pid \d+/)
    expect(second.stdout).toBe('')
  })

  it('`mesh demo status -o json` shows every process up', async () => {
    const r = await mesh(['demo', 'status', '-o', 'json'])
    expect(r.exitCode).toBe(0)
    const s = JSON.parse(r.stdout) as {running: boolean; status: string; processes: Array<{key: string; status: string; ready?: boolean}>}
    expect(s.running).toBe(true)
    expect(s.status).toBe('ready')
    expect(s.processes.map((p) => p.key).sort()).toEqual(['app/authors', 'app/books', 'app/stock', 'app/web', 'controller', 'load', 'proxy/authors', 'proxy/books', 'proxy/stock', 'proxy/web'])
    for (const p of s.processes) if (p.key !== 'load') expect(p.ready, p.key).toBe(true)
  })

  it('`mesh stat deploy` (no flags) shows all four meshed, books and web failing 1 in 10', async () => {
    type Row = {name: string; meshedPods: number; totalPods: number; requests: number | null; successRate: number | null}
    const rows = await eventually('200 requests at books in mesh stat', async () => {
      const r = await mesh(['stat', 'deploy', '-o', 'json'])
      expect(r.exitCode, r.stderr).toBe(0)
      const all = (JSON.parse(r.stdout) as {rows: Row[]}).rows
      return (all.find((x) => x.name === 'books')?.requests ?? 0) >= 200 ? all : undefined
    }, {timeoutMs: 180_000, intervalMs: 1000})
    const by = Object.fromEntries(rows.map((x) => [x.name, x]))
    expect(Object.keys(by).sort()).toEqual(['authors', 'books', 'stock', 'web'])
    for (const x of rows) expect([x.name, x.meshedPods, x.totalPods]).toEqual([x.name, 1, 1])
    expect(by.books!.requests).toBeGreaterThanOrEqual(200)
    expect(by.books!.successRate).toBeGreaterThan(0.85)
    expect(by.books!.successRate).toBeLessThan(0.95)
    expect(by.web!.successRate).toBeGreaterThan(0.85)
    expect(by.web!.successRate).toBeLessThan(0.95)
    expect(by.authors!.successRate).toBe(1)
  })

  it('`mesh tap deploy/web` shows mTLS from web to books with the demo identities', async () => {
    const r = await mesh(['tap', 'deploy/web', '--max-events', '30', '-o', 'json'])
    expect(r.exitCode, r.stderr).toBe(0)
    const tls = objects(r.stdout).filter((o) => o.tls === true && typeof o.clientId === 'string')
    expect(tls.length).toBeGreaterThan(0)
    expect(tls).toContainEqual(expect.objectContaining({
      clientId: 'web.demo.serviceaccount.identity.mesh-system.cluster.local',
      serverId: 'books.demo.serviceaccount.identity.mesh-system.cluster.local',
    }))
  })

  it('`mesh edges deploy` shows web -> books, books -> authors and books -> stock over mTLS', async () => {
    const r = await mesh(['edges', 'deploy', '-o', 'json'])
    expect(r.exitCode, r.stderr).toBe(0)
    const edges = (JSON.parse(r.stdout) as {edges: Array<{src: string; dst: string; secured: boolean; clientId: string; serverId: string}>}).edges
    const id = (sa: string): string => `${sa}.demo.serviceaccount.identity.mesh-system.cluster.local`
    for (const [src, dst] of [['web', 'books'], ['books', 'authors'], ['books', 'stock']]) {
      expect(edges).toContainEqual(expect.objectContaining({src: `deploy/${src}`, dst: `deploy/${dst}`, secured: true, clientId: id(src!), serverId: id(dst!)}))
    }
  })

  it('`mesh top deploy/web` (not a TTY, -o json) prints snapshots of the live routes', async () => {
    const r = await mesh(['top', 'deploy/web', '--duration', '8s', '--interval', '2s', '-o', 'json'])
    expect(r.exitCode, r.stderr).toBe(0)
    const snapshots = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as {rows: Array<{route: string; count: number}>})
    expect(snapshots.length).toBeGreaterThanOrEqual(2)
    const rows = snapshots.at(-1)!.rows
    expect(rows.some((x) => x.route.startsWith('/api/books') && x.count > 0)).toBe(true)
  })

  it('`mesh check --proxy` (no flags) passes against the demo\'s proxies', async () => {
    const r = await mesh(['check', '--proxy', '-o', 'json'])
    expect(r.exitCode, r.stdout + r.stderr).toBe(0)
    const report = JSON.parse(r.stdout) as {success: boolean; categories: Array<{categoryName: string; checks: Array<{result: string}>}>}
    expect(report.success).toBe(true)
    expect(report.categories.map((c) => c.categoryName)).toEqual(['mesh-data-plane'])
    expect(report.categories[0]!.checks.every((c) => c.result === 'success')).toBe(true)
  })

  it('a crashed service is shown and restarted', async () => {
    const books = demoJson().processes.find((p) => p.key === 'app/books')!
    process.kill(books.pid!, 'SIGKILL')
    type Proc = {key: string; restarts: number; lastExit?: string; ready?: boolean; pid?: number}
    const seen = await eventually('app/books restarted and ready', async () => {
      const s = JSON.parse((await mesh(['demo', 'status', '-o', 'json'])).stdout) as {processes: Proc[]}
      const p = s.processes.find((x) => x.key === 'app/books')
      return p?.ready && p.restarts >= 1 ? p : undefined
    }, {timeoutMs: 120_000, intervalMs: 1000})
    expect(seen).toMatchObject({restarts: 1, lastExit: 'signal SIGKILL', ready: true})
    expect(seen!.pid).not.toBe(books.pid)
    pids.push(seen!.pid!)
  })

  it('`mesh demo stop` leaves no process and no file behind', async () => {
    const now = demoJson()
    pids.push(...now.processes.map((p) => p.pid).filter((p): p is number => p !== undefined))
    const r = await mesh(['demo', 'stop'])
    expect(r.exitCode, r.stderr).toBe(0)
    expect(r.stderr).toMatch(/stopped the demo/)
    for (const pid of pids) expect(alive(pid), `pid ${pid}`).toBe(false)
    expect(existsSync(path.join(home, 'demo'))).toBe(false)
    expect(existsSync(path.join(home, 'local.json'))).toBe(false)
    const status = await mesh(['demo', 'status'])
    expect(status.exitCode).toBe(1)
    expect(status.stderr).toMatch(/no mesh demo is running/)
  })
})

describe('mesh demo in the foreground', {timeout: 400_000}, () => {
  it('runs on --port-base ports until Ctrl-C (SIGINT), then stops everything and removes its files', async () => {
    const fhome = mkdtempSync(path.join(tmpdir(), 'mesh-demo-fg-'))
    const fenv = {...process.env, NO_COLOR: '1', MESH_HOME: fhome, MESH_DEMO_DIR: path.join(fhome, 'demo')}
    // A base below the ephemeral range whose ports are all free now (other tests use ports too).
    const {allocatePorts} = await import('../../src/demo/ports.js')
    const {PORTS_NEEDED} = await import('../../src/demo/plan.js')
    let base = 0
    for (let i = 0; i < 50 && base === 0; i++) {
      const candidate = 12_000 + Math.floor(Math.random() * 18_000)
      base = await allocatePorts(PORTS_NEEDED, candidate).then(() => candidate, () => 0)
    }
    expect(base).toBeGreaterThan(0)
    const child = spawn(process.execPath, ['--import', 'tsx', '--no-warnings', 'bin/dev.js', 'demo', '--port-base', String(base), '--ready-timeout', '240'], {cwd: ROOT, env: fenv, stdio: ['ignore', 'pipe', 'pipe']})
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d))
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d))
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
    let pids: number[] = []
    try {
      const up = await eventually('the banner (or the demo\'s exit)', () => (stdout.includes('press Ctrl-C') ? 'up' : child.exitCode !== null ? 'exited' : undefined), {timeoutMs: 300_000, intervalMs: 250})
      expect(up, stderr).toBe('up')
      // Consecutive ports from the base: identity, destination, the two tap servers, then web's app port.
      expect(stdout).toContain(`controller (local mode): identity https://127.0.0.1:${base}, destination wss://127.0.0.1:${base + 1}`)
      expect(stdout).toMatch(new RegExp(`deploy/web\\s+HTTP/1.1\\s+127\\.0\\.0\\.1:${base + 4}\\s`))
      const d = JSON.parse(readFileSync(path.join(fhome, 'demo', 'demo.json'), 'utf8')) as DemoJson
      pids = d.processes.map((p) => p.pid).filter((p): p is number => p !== undefined)
      expect(pids).toHaveLength(10)
      expect(existsSync(path.join(fhome, 'local.json'))).toBe(true)
      child.kill('SIGINT')
      // (the test's timeout guards against a hang)
      const code = await exited
      expect(code, stderr).toBe(0)
      expect(stderr).toContain('SIGINT: stopping the demo')
      expect(stderr).toContain('demo stopped')
      for (const pid of pids) expect(alive(pid), `pid ${pid}`).toBe(false)
      expect(existsSync(path.join(fhome, 'demo'))).toBe(false)
      expect(existsSync(path.join(fhome, 'local.json'))).toBe(false)
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL')
      for (const pid of pids) if (alive(pid)) process.kill(pid, 'SIGKILL')
      rmSync(fhome, {recursive: true, force: true})
    }
  })
})
