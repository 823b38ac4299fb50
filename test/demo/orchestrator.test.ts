// The orchestrator's parts on real processes, ports and files: port allocation, the lock a
// second demo finds, the supervisor's restarts with backoff, and the registry the plan writes
// read back by the controller's own parser.
import {spawn} from 'node:child_process'
import {mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import net from 'node:net'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'
import {afterEach, describe, expect, it} from 'vitest'
import {parseRegistryDocument} from '../../src/control/destination/local-registry.js'
import {demoPaths} from '../../src/demo/paths.js'
import {buildPlan, PORTS_NEEDED, registryDocument} from '../../src/demo/plan.js'
import {allocatePorts} from '../../src/demo/ports.js'
import {acquireLock, findDemo} from '../../src/demo/state.js'
import {PARENT_WATCH_MODULE, Supervisor} from '../../src/demo/supervisor.js'
import {eventually} from '../helpers/eventually.js'

const dirs: string[] = []
const tmp = (): string => {
  const d = mkdtempSync(path.join(tmpdir(), 'mesh-demo-unit-'))
  dirs.push(d)
  return d
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, {recursive: true, force: true})
})

describe('ports', () => {
  it('hands out distinct free ports', async () => {
    const ports = await allocatePorts(PORTS_NEEDED)
    expect(new Set(ports).size).toBe(PORTS_NEEDED)
  })

  it('--port-base: refuses a base whose range holds a port in use, naming it', async () => {
    // A busy port whose predecessor (the --port-base) is free, so the demo fails on the busy one
    // and not on whatever else this machine runs (another suite once held the base).
    const {busy, port} = await busyAfterFree()
    try {
      // Ours is the third port of the range; another process may hold one of the two before it.
      const err = await allocatePorts(5, port - 2).then(() => undefined, (e: unknown) => e as Error)
      const named = /^port (\d+) \(from --port-base (\d+)\) is already in use/.exec(err?.message ?? '')
      expect(named, err?.message).not.toBeNull()
      expect(Number(named![2])).toBe(port - 2)
      expect(Number(named![1])).toBeGreaterThanOrEqual(port - 2)
      expect(Number(named![1])).toBeLessThanOrEqual(port)
      await expect(allocatePorts(PORTS_NEEDED, 65530)).rejects.toThrow(/leaves no room/)
    } finally {
      busy.close()
    }
  })
})

describe('plan', () => {
  it('writes a registry the controller parses into the demo identities, pointing at the proxies', async () => {
    const plan = buildPlan(Array.from({length: PORTS_NEEDED}, (_, i) => 30000 + i))
    const services = await parseRegistryDocument(registryDocument(plan), 'registry.yaml')
    const books = plan.services.find((s) => s.name === 'books')!
    expect(services.get('demo/books')?.get(80)).toEqual([{
      address: '127.0.0.1', port: books.proxy.inbound, identity: 'books.demo.serviceaccount.identity.mesh-system.cluster.local',
      labels: {dst_namespace: 'demo', dst_service: 'books', dst_pod: 'books-0', dst_deployment: 'books', dst_serviceaccount: 'books'},
    }])
    expect([...services.keys()].sort()).toEqual(['demo/authors', 'demo/books', 'demo/stock', 'demo/web'])
    expect(new Set(plan.services.flatMap((s) => [s.appPort, ...Object.values(s.proxy)])).size).toBe(20)
    const {parseLocalPods} = await import('../../src/control/tap/local-pods.js')
    const pods = await parseLocalPods(registryDocument(plan), 'registry.yaml')
    expect(pods.find((x) => x.name === 'books-0')).toMatchObject({
      namespace: 'demo', owner: {kind: 'deployment', name: 'books'}, identity: 'books.demo.serviceaccount.identity.mesh-system.cluster.local',
      tapAddress: `127.0.0.1:${books.proxy.tap}`, adminAddress: `127.0.0.1:${books.proxy.admin}`, inboundAddress: `127.0.0.1:${books.proxy.inbound}`,
    })
  })
})

describe('the demo\'s routes', () => {
  it('every call the apps make takes a route: /books/{id} is one route (a RegularExpression rule), each gRPC method one; anything else is 404', async () => {
    const plan = buildPlan(Array.from({length: PORTS_NEEDED}, (_, i) => 30000 + i))
    const file = path.join(tmp(), 'registry.yaml')
    writeFileSync(file, registryDocument(plan))
    const [{LocalRegistry}, {RouteState}, {syncLocalRoutes}, {registryServiceView}, {PolicyMatcher}, {BOOKS}] = await Promise.all([
      import('../../src/control/destination/local-registry.js'), import('../../src/control/routes/state.js'), import('../../src/control/routes/local-routes.js'),
      import('../../src/control/routes/view.js'), import('../../src/routes/match.js'), import('../../src/demo/apps/catalog.js'),
    ])
    const registry = new LocalRegistry({file, controlPlaneNamespace: 'mesh-system', trustDomain: 'cluster.local'})
    const state = new RouteState()
    syncLocalRoutes(registry, state)
    await registry.start()
    try {
      const view = registryServiceView(registry, state)
      const route = (svc: string, method: string, target: string, grpc = false): string => {
        const policy = view.routesReport!('demo', svc)!.policies[0]!
        const sel = new PolicyMatcher(policy).select({method, target, grpc, header: () => undefined})
        return sel.kind === 'rule' ? `${sel.rule.route.kind}/${sel.rule.route.name}` : sel.kind
      }
      expect(route('books', 'GET', '/books')).toBe('HTTPRoute/books-list')
      expect(new Set(BOOKS.map((b) => route('books', 'GET', `/books/${b.id}`)))).toEqual(new Set(['HTTPRoute/books-by-id']))
      expect(route('books', 'POST', '/books')).toBe('notFound')
      expect(route('books', 'GET', '/other')).toBe('notFound')
      expect(route('authors', 'POST', '/demo.Authors/GetAuthor', true)).toBe('GRPCRoute/authors-get')
      expect(route('authors', 'POST', '/demo.Authors/ListAuthors', true)).toBe('GRPCRoute/authors-list')
      expect(route('authors', 'POST', '/demo.Authors/Other', true)).toBe('notFound')
      expect(view.routesReport!('demo', 'books')!.routes.map((r) => [r.name, r.conditions.map((c) => `${c.type}=${c.status}`)])).toEqual([
        ['books-by-id', ['Accepted=True', 'ResolvedRefs=True']],
        ['books-list', ['Accepted=True', 'ResolvedRefs=True']],
      ])
      expect(view.routesOf!('demo', 'web')).toEqual([{port: 80, routes: []}])
    } finally {
      await registry.stop()
    }
  })
})

describe('lock', () => {
  it('a live demo holds the lock; a dead one\'s is taken over', async () => {
    const env = {MESH_DEMO_DIR: path.join(tmp(), 'demo')}
    const p = demoPaths(env)
    expect(findDemo(p).state).toBe('none')
    const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], {stdio: 'ignore'})
    try {
      acquireLock(p)
      writeFileSync(p.pid, `${other.pid}\n`)
      expect(findDemo(p)).toMatchObject({state: 'live', pid: other.pid})
      expect(() => acquireLock(p)).toThrow(`a mesh demo is already running (pid ${other.pid}`)
    } finally {
      other.kill('SIGKILL')
    }
    await new Promise((r) => other.once('exit', r))
    expect(findDemo(p).state).toBe('stale')
    acquireLock(p)
    expect(readFileSync(p.pid, 'utf8').trim()).toBe(String(process.pid))
  })
})

describe('supervisor', () => {
  it('reports and restarts a crashing child with growing backoff, and stops a running one with SIGTERM', async () => {
    const dir = tmp()
    const events: string[] = []
    const sup = new Supervisor({command: [process.execPath], backoff: {minMs: 100, maxMs: 400}, onEvent: (line) => events.push(line)})
    sup.start({key: 'app/crash', role: 'app', args: ['-e', 'process.exit(3)'], env: {}, log: path.join(dir, 'crash.log')})
    sup.start({key: 'app/up', role: 'app', args: ['-e', 'process.on("SIGTERM", () => { console.log("bye"); process.exit(0) }); setInterval(() => {}, 1000)'], env: {}, log: path.join(dir, 'up.log')})
    await eventually('three restarts of app/crash', () => ((sup.state('app/crash')?.restarts ?? 0) >= 3 ? true : undefined), {timeoutMs: 20_000, intervalMs: 50})
    expect(sup.state('app/crash')).toMatchObject({lastExit: 'code 3'})
    expect(sup.state('app/crash')!.restarts).toBeGreaterThanOrEqual(3)
    expect(events[0]).toMatch(/^app\/crash exited \(code 3\); restarting in 0\.1s \(restart 1/)
    expect(events[1]).toMatch(/restarting in 0\.2s \(restart 2/)
    expect(events.every((e) => e.startsWith('app/crash'))).toBe(true)
    const upPid = sup.state('app/up')!.pid!
    await sup.stopAll(['app'], 5000)
    expect(sup.state('app/up')).toMatchObject({status: 'stopped', lastExit: 'code 0'})
    expect(() => process.kill(upPid, 0)).toThrow()
    expect(readFileSync(path.join(dir, 'up.log'), 'utf8')).toContain('bye')
    const restarts = sup.state('app/crash')!.restarts
    // Proving a negative (no restart once stopped): nothing happens to await, so this waits
    // longer than the longest backoff (400 ms) and checks that the count did not move.
    await sleep(600)
    expect(sup.state('app/crash')!.restarts).toBe(restarts)
  })

  it('a child with the parent-death watch (parent-watch.ts) stops itself when its supervisor\'s end of the pipe closes', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--import', PARENT_WATCH_MODULE, '-e',
      'process.on("SIGTERM", () => { console.log("graceful stop"); process.exit(0) }); setInterval(() => {}, 1000); console.log("up")'], {
      env: {...process.env, MESH_DEMO_PARENT_FD: '3'}, stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d))
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d))
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)))
    try {
      await eventually('the child to be up', () => (stdout.includes('up') ? true : undefined))
      // What the kernel does to the supervisor's end when the supervisor dies, however it dies.
      ;(child.stdio[3] as net.Socket).destroy()
      expect(await exited).toBe(0)
      expect(stdout).toContain('graceful stop')
      expect(stderr).toMatch(/mesh demo child \d+: its supervisor (closed the watch pipe|is gone); stopping/)
    } finally {
      child.kill('SIGKILL')
    }
  })

  it('the watch is off without MESH_DEMO_PARENT_FD (the module is harmless when imported)', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--import', PARENT_WATCH_MODULE, '-e', 'setTimeout(() => console.log("still here"), 300)'], {stdio: ['ignore', 'pipe', 'pipe', 'pipe']})
    let stdout = ''
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d))
    ;(child.stdio[3] as net.Socket).destroy()
    const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)))
    expect([code, stdout]).toEqual([0, 'still here\n'])
  })
})

/** Listens on a port P whose P-1 was free a moment ago (tried until one is). */
async function busyAfterFree(): Promise<{busy: net.Server, port: number}> {
  const listen = (port: number): Promise<net.Server | undefined> => new Promise((resolve) => {
    const s = net.createServer()
    s.once('error', () => resolve(undefined))
    s.listen(port, '127.0.0.1', () => resolve(s))
  })
  for (let i = 0; i < 50; i++) {
    const busy = (await listen(0))!
    const port = (busy.address() as net.AddressInfo).port
    const before = await listen(port - 1)
    if (before) {
      await new Promise<void>((r) => before.close(() => r()))
      return {busy, port}
    }
    busy.close()
  }
  throw new Error('no port P with P-1 free in 50 tries')
}

describe('mesh demo: bad input', {timeout: 120_000}, () => {
  it('--detach with a --port-base range in use: the background demo\'s error is shown, exit 1, nothing left behind', async () => {
    const {spawnMesh} = await import('../helpers/run.js')
    const home = tmp()
    const env = {MESH_HOME: home, MESH_DEMO_DIR: path.join(home, 'demo')}
    // A busy port whose predecessor (the --port-base) is free, so the demo fails on the busy one
    // and not on whatever else this machine runs (another suite once held the base).
    const {busy, port} = await busyAfterFree()
    try {
      const r = await spawnMesh(['demo', '--detach', '--port-base', String(port - 1)], {env, timeoutMs: 100_000})
      expect(r.exitCode).toBe(1)
      expect(r.stdout).toBe('')
      expect(r.stderr).toContain('the background demo exited (code 1) before it was ready')
      expect(r.stderr).toContain(`port ${port} (from --port-base ${port - 1}) is already in use on 127.0.0.1`)
      expect(readdirSync(home)).toEqual([])
    } finally {
      busy.close()
    }
  })

  it('a --port-base below 1024 is a usage error (exit 2)', async () => {
    const {spawnMesh} = await import('../helpers/run.js')
    const home = tmp()
    const r = await spawnMesh(['demo', '--port-base', '80'], {env: {MESH_HOME: home, MESH_DEMO_DIR: path.join(home, 'demo')}, timeoutMs: 60_000})
    expect(r.exitCode).toBe(2)
    expect(r.stderr).toMatch(/port-base/)
    expect(readdirSync(home)).toEqual([])
  })
})
