// Every command ends: against an API server (and a tap server) that accepts connections and
// never answers, each command that talks to it gives up after --request-timeout, says how long
// it waited, and exits 1. Through the real binary (bin/run.js) and a real TCP server.
import {execFileSync} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import net from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {eventually} from '../helpers/eventually.js'
import {kubeconfigYaml} from '../helpers/kubeconfig.js'
import {ROOT, spawnMesh, type RunResult} from '../helpers/run.js'

/** A server that accepts every connection and never sends a byte. */
async function muteServer(): Promise<{port: number; accepted: () => number; close: () => Promise<void>}> {
  const sockets = new Set<net.Socket>()
  let accepted = 0
  const server = net.createServer((s) => {
    accepted++
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
    s.on('error', () => {})
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as net.AddressInfo).port,
    accepted: () => accepted,
    close: () => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy()
      server.close(() => resolve())
    }),
  }
}

let dir: string
let api: Awaited<ReturnType<typeof muteServer>>
let tap: Awaited<ReturnType<typeof muteServer>>
let kubeconfig: string
let app: string
/** MESH_HOME with no demo: commands go to the kubeconfig's (mute) API server. */
let noDemo: Record<string, string>
/** MESH_HOME whose demo context points at the mute tap server (the demo's pid: this process, alive). */
let muteDemo: Record<string, string>

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mesh-deadlines-'))
  api = await muteServer()
  tap = await muteServer()
  kubeconfig = join(dir, 'kubeconfig')
  writeFileSync(kubeconfig, kubeconfigYaml(`https://127.0.0.1:${api.port}`))
  app = join(dir, 'app.yaml')
  writeFileSync(app, 'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      containers:\n      - name: web\n        image: web:1\n')
  noDemo = {MESH_HOME: join(dir, 'home-none'), KUBECONFIG: kubeconfig}
  const home = join(dir, 'home-demo')
  const {writeLocalContext} = await import('../../src/tapclient/local-context.js')
  writeLocalContext({version: 1, pid: process.pid, tap: `http://127.0.0.1:${tap.port}`, token: 't', namespace: 'default'}, {MESH_HOME: home})
  muteDemo = {MESH_HOME: home, KUBECONFIG: '/nonexistent/kubeconfig'}
})

afterAll(async () => {
  await Promise.all([api?.close(), tap?.close()])
  rmSync(dir, {recursive: true, force: true})
})

/** Runs the real binary; a process still alive after 90 s is killed and fails the test. */
async function timed(args: string[], env: Record<string, string>): Promise<RunResult & {ms: number}> {
  const t0 = Date.now()
  const r = await spawnMesh(args, {compiled: true, env, timeoutMs: 90_000})
  return {...r, ms: Date.now() - t0}
}

function expectGaveUp(r: RunResult & {ms: number}, what: RegExp, seconds: number): void {
  expect(r.exitCode, `${r.stderr}`).toBe(1)
  // (top, off a terminal, prints its empty table every --interval while it waits: no proxy
  // streams yet, so it says it is still connecting, never that there were no requests)
  expect(r.stdout.replace(/^\S+Z\n\(connecting to the proxies\.\.\.\)\n\n/gm, '')).toBe('')
  expect(r.stderr).toMatch(what)
  expect(r.stderr).toContain(`within ${seconds}s (--request-timeout)`)
  expect(r.stderr).not.toMatch(/\n\s+at /)
  // It tells the truth: it did wait that long.
  expect(r.ms).toBeGreaterThanOrEqual(seconds * 1000)
}

describe('an API server that accepts connections and never answers', {timeout: 120_000}, () => {
  const apiTimeout = /no answer from https:\/\/127\.0\.0\.1:\d+ within/

  it('inject, install, uninstall, upgrade, stat, edges, tap, top and routes give up after --request-timeout, exit 1', async () => {
    const t = ['--request-timeout', '2s']
    const runs = await Promise.all([
      timed(['inject', app, ...t], noDemo),
      timed(['install', ...t], noDemo),
      timed(['uninstall', ...t], noDemo),
      timed(['upgrade', ...t], noDemo),
      timed(['stat', 'deploy', ...t], noDemo),
      timed(['edges', 'deploy', ...t], noDemo),
      timed(['tap', 'deploy/web', ...t], noDemo),
      timed(['top', 'deploy/web', ...t], noDemo),
      timed(['check', '--inject', app, ...t], noDemo),
      timed(['routes', 'svc/web', ...t], noDemo),
    ])
    const [inject, install, uninstall, upgrade, stat, edges, tapRun, top, explain, routes] = runs
    expectGaveUp(routes!, apiTimeout, 2)
    // check --inject explains from the file alone when the cluster does not help (exit 0).
    expect(explain.exitCode).toBe(0)
    expect(explain.stderr).toMatch(/^note: cannot read namespace default from https:\/\/127\.0\.0\.1:\d+ \(no answer from https:\/\/127\.0\.0\.1:\d+ within 2s \(--request-timeout\)\): namespace annotations come from the file only\n$/)
    expect(explain.stdout).toMatch(/^KIND\s+NAMESPACE\s+NAME\s+INJECTED\s+REASON\n/)
    expectGaveUp(inject, /^Error: cannot read ConfigMap mesh-system\/mesh-config from https:\/\/127\.0\.0\.1:\d+: no answer from/, 2)
    expectGaveUp(install, apiTimeout, 2)
    expectGaveUp(uninstall, apiTimeout, 2)
    expectGaveUp(upgrade, apiTimeout, 2)
    for (const r of [stat, edges, tapRun, top]) expectGaveUp(r, /no answer(?: to the stream request)? from the tap server via cluster https:\/\/127\.0\.0\.1:\d+/, 2)
    expect(api.accepted()).toBeGreaterThanOrEqual(runs.length)
  })

  it('check reports the timeout as the failed check and exits 1; version says unavailable and exits 0', async () => {
    const [check, pre, version] = await Promise.all([
      timed(['check', '--request-timeout', '1s'], noDemo),
      timed(['check', '--pre', '--request-timeout', '1s'], noDemo),
      timed(['version', '--request-timeout', '1s'], noDemo),
    ])
    for (const r of [check, pre]) {
      expect(r.exitCode).toBe(1)
      expect(r.stdout).toMatch(/× can query the Kubernetes API\n {4}cannot reach the API server at https:\/\/127\.0\.0\.1:\d+: no answer from/)
      expect(r.stdout).toMatch(/no answer from https:\/\/127\.0\.0\.1:\d+ within 1s \(--request-timeout\)/)
    }
    expect(version.exitCode).toBe(0)
    expect(version.stdout).toMatch(/^Client version: .*\nServer version: unavailable\n$/)
    expect(version.stderr).toMatch(/within 1s \(--request-timeout\)/)
  })

  it('without the flag the deadline is 30s, and a slow answer is told on stderr while it waits', async () => {
    // Plain HTTP: the connection is made at once, the answer never comes.
    const plain = join(dir, 'kubeconfig-http')
    writeFileSync(plain, readFileSync(kubeconfig, 'utf8').replace('https://', 'http://'))
    const r = await timed(['inject', app], {...noDemo, KUBECONFIG: plain})
    expectGaveUp(r, /no answer from http:\/\/127\.0\.0\.1:\d+ within 30s/, 30)
    expect(r.stderr).toMatch(/^still waiting for the API server at http:\/\/127\.0\.0\.1:\d+ to answer \(gives up after 30s \(--request-timeout\)\)\n/)
  })

  it('a TLS handshake that never completes is named as such, after the connect timeout (10s)', async () => {
    const r = await timed(['inject', app, '--request-timeout', '1m'], noDemo)
    expect(r.exitCode).toBe(1)
    expect(r.stdout).toBe('')
    expect(r.stderr).toMatch(/Error: cannot read ConfigMap mesh-system\/mesh-config from https:\/\/127\.0\.0\.1:\d+: no connection to https:\/\/127\.0\.0\.1:\d+ within 10s \(it did not complete TCP and TLS\)\n/)
    expect(r.ms).toBeGreaterThanOrEqual(10_000)
  })
})

describe('a local tap server that accepts connections and never answers', {timeout: 120_000}, () => {
  it('stat, edges, tap and top give up after --request-timeout, exit 1', async () => {
    const t = ['--request-timeout', '1500ms']
    const runs = await Promise.all(['stat deploy', 'edges deploy', 'tap deploy/web', 'top deploy/web'].map((c) => timed([...c.split(' '), ...t], muteDemo)))
    for (const r of runs) expectGaveUp(r, /no answer(?: to the stream request)? from the tap server via the local demo/, 1.5)
    expect(tap.accepted()).toBeGreaterThanOrEqual(runs.length)
  })
})

describe('a tap stream whose server goes silent once open', {timeout: 120_000}, () => {
  it('tap and top end with exit 1 after the ping period plus --request-timeout, naming both', async () => {
    const http = await import('node:http')
    const {WebSocketServer} = await import('ws')
    const server = http.createServer()
    // Accepts the stream, then never sends an event nor a ping (a connection lost on the way).
    const wss = new WebSocketServer({server})
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const home = join(dir, 'home-silent')
    const {writeLocalContext} = await import('../../src/tapclient/local-context.js')
    writeLocalContext({version: 1, pid: process.pid, tap: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`, token: 't', namespace: 'default'}, {MESH_HOME: home})
    try {
      const env = {MESH_HOME: home, KUBECONFIG: '/nonexistent/kubeconfig'}
      const [tapRun, top] = await Promise.all([timed(['tap', 'deploy/web', '--request-timeout', '1s'], env), timed(['top', 'deploy/web', '-o', 'json', '--request-timeout', '1s'], env)])
      for (const r of [tapRun, top]) {
        expect(r.exitCode, r.stderr).toBe(1)
        expect(r.stderr).toMatch(/^Error: the tap stream via the local demo \(pid \d+, .*\) went silent: no event and no ping for 31s \(the tap server pings every 30s; --request-timeout 1s\)\n/)
        expect(r.ms).toBeGreaterThanOrEqual(31_000)
      }
      await eventually('the server to see both streams closed', () => (wss.clients.size === 0 ? true : undefined))
    } finally {
      for (const c of wss.clients) c.terminate()
      wss.close()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  })
})

describe('one place gives API clients their deadline', () => {
  it('no command builds a client-node API client itself (src/k8s/client.ts does, with the deadline)', () => {
    const offenders = execFileSync('grep', ['-rln', '--include=*.ts', 'makeApiClient(', 'src'], {cwd: ROOT, encoding: 'utf8'})
      .split('\n').filter((f) => f !== '' && f !== 'src/k8s/client.ts' && !/^src\/(control|proxy)\//.test(f))
    expect(offenders, 'use kube.api(Ctor) from loadKube(): its calls have --request-timeout').toEqual([])
  })
})

describe('--request-timeout', () => {
  it('is a global flag; a value that is not a duration is a usage error (exit 2)', async () => {
    const r = await spawnMesh(['stat', 'deploy', '--request-timeout', 'soon'], {compiled: true, env: noDemo})
    expect(r.exitCode).toBe(2)
    expect(r.stdout).toBe('')
    expect(r.stderr).toBe('Error: --request-timeout "soon" is not a duration\n  Try this: Pass a duration such as 30s, 5m or 1m30s: `mesh stat deploy --request-timeout 10s`.\n')
  })
})
