// What `mesh stat/top/tap/edges` and the demo's banner say about the demo is true (issue 20,
// rule 4), through the compiled binary against a real demo: routes are routes (the routes the
// demo ships, else templates learnt from the paths; mesh routes, stat --routes, top --routes), tap shows the mTLS identities in text, `edges
// po` names pods and hides each app's hop into its own proxy, the TCP-only service shows its
// connections and bytes, tapping it says why no event comes, and the banner's commands are
// those a clone's user can type, as README says.
import {spawn} from 'node:child_process'
import {existsSync, mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import type {EdgesReport, RouteStatReport, StatReport} from '../../src/stat/types.js'
import type {TopSnapshot} from '../../src/tapclient/top-aggregate.js'
import {eventually} from '../helpers/eventually.js'
import {PATH_WITHOUT_MESH, ROOT, spawnMesh, type RunResult} from '../helpers/run.js'

const home = mkdtempSync(path.join(tmpdir(), 'mesh-demo-truth-'))
const env = {MESH_HOME: home, MESH_DEMO_DIR: path.join(home, 'demo'), KUBECONFIG: path.join(home, 'no-kubeconfig'), PATH: PATH_WITHOUT_MESH}
const mesh = (args: string[], timeoutMs = 120_000): Promise<RunResult> => spawnMesh(args, {env, compiled: true, timeoutMs})
const id = (sa: string): string => `${sa}.demo.serviceaccount.identity.mesh-system.cluster.local`

let started: RunResult

beforeAll(async () => {
  started = await mesh(['demo', '--detach', '--rps', '20', '--ready-timeout', '240'], 300_000)
}, 320_000)

afterAll(async () => {
  if (existsSync(path.join(home, 'demo', 'demo.pid'))) await mesh(['demo', 'stop'])
  rmSync(home, {recursive: true, force: true})
}, 120_000)

/** The banner's "try" lines: from the first command line to the curl line. */
function bannerSteps(stdout: string): string[] {
  const lines = stdout.split('\n')
  const from = lines.findIndex((l) => l.startsWith('try, in another shell'))
  return lines.slice(from + 1).filter((l) => l.startsWith('  ') && !l.includes('curl '))
}

describe('the demo tells the truth', {timeout: 300_000}, () => {
  it('the banner writes the commands as a clone\'s user can type them, says how to get `mesh`, and README shows the same', () => {
    expect(started.exitCode, started.stderr).toBe(0)
    expect(started.stdout).toContain('(`mesh` is not on your PATH: run `npm link` in ')
    const steps = bannerSteps(started.stdout)
    expect(steps[0]).toMatch(/^ {2}\.\/bin\/run\.js stat deploy\s+success rate/)
    expect(started.stdout).toContain('stop it with `./bin/run.js demo stop`')
    const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8')
    const block = /<!-- demo-next-steps -->\n```\n([\s\S]*?)\n```\n<!-- \/demo-next-steps -->/.exec(readme)
    expect(block, 'README has the demo-next-steps block').not.toBeNull()
    expect(block![1]!.split('\n')).toEqual(steps)
  })

  it('`mesh top deploy/web -o json` groups by route: the route the proxy took (books-by-id), else a learnt template (/api/books/{id})', async () => {
    const top = await eventually('top rows for the route and the template', async () => {
      const r = await mesh(['top', 'deploy/web', '--duration', '6s', '--interval', '3s', '-o', 'json'])
      expect(r.exitCode, r.stderr).toBe(0)
      const rows = (JSON.parse(r.stdout.trim().split('\n').at(-1)!) as TopSnapshot).rows
      const has = (route: string, kind: string): boolean => rows.some((x) => x.route === route && x.routeKind === kind)
      return has('books-by-id', 'rule') && has('/api/books/{id}', 'template') ? rows : undefined
    }, 120_000)
    expect(top.find((x) => x.route === 'books-by-id')).toMatchObject({source: 'web-0', destination: 'books-0', method: 'GET'})
    // No row per id: b1..b5 are one route.
    expect(top.filter((x) => /\/b\d$/.test(x.route))).toEqual([])
  })

  it('the demo ships routes: `mesh routes svc/books`, `mesh stat svc/books --routes`, `mesh top deploy/web --routes` show them, /books/{id} one route', async () => {
    const routes = await mesh(['routes', 'svc/books'])
    expect(routes.exitCode, routes.stderr).toBe(0)
    expect(routes.stdout).toMatch(/^HTTPRoute\s+books-by-id\s+\d+\s+yes \(Accepted\)\s+yes \(ResolvedRefs\)/m)
    expect(routes.stdout).toMatch(/^HTTPRoute\s+books-list\s+/m)
    expect(routes.stdout).toMatch(/^\d\s+GET ~ \/books\/\[a-z0-9\]\+\s+http books-by-id#0\s+books:80\s+request 2s/m)
    const stat = await eventually('books-by-id and books-list with traffic in mesh stat --routes', async () => {
      const r = await mesh(['stat', 'svc/books', '--routes', '-o', 'json'])
      expect(r.exitCode, r.stderr).toBe(0)
      const rows = (JSON.parse(r.stdout) as RouteStatReport).rows
      const byId = rows.find((x) => x.route === 'books-by-id')
      return byId && byId.requests > 0 && rows.find((x) => x.route === 'books-list')!.requests > 0 ? rows : undefined
    }, 120_000)
    expect(stat.map((x) => [x.routeKind, x.route])).toEqual([['HTTPRoute', 'books-by-id'], ['HTTPRoute', 'books-list'], ['default', 'default']])
    const byId = stat[0]!
    // books fails every 10th request: some of the item route's answers are 500s.
    expect(byId.successRate!).toBeLessThan(1)
    expect(byId.backends.map((b) => b.backend)).toEqual(['demo/books:80'])
    const authors = await mesh(['stat', 'svc/authors', '--routes', '-o', 'json'])
    expect((JSON.parse(authors.stdout) as RouteStatReport).rows.map((x) => [x.routeKind, x.route])).toEqual([['GRPCRoute', 'authors-get'], ['GRPCRoute', 'authors-list'], ['default', 'default']])
    const top = await mesh(['top', 'deploy/web', '--routes', '--duration', '6s', '--interval', '3s', '-o', 'json'])
    expect(top.exitCode, top.stderr).toBe(0)
    const rows = (JSON.parse(top.stdout.trim().split('\n').at(-1)!) as TopSnapshot).rows
    expect(rows.find((x) => x.route === 'books-by-id')).toMatchObject({source: 'web-0', destination: 'books.demo:80', routeKind: 'HTTPRoute', backend: 'demo/books:80'})
    expect(rows.filter((x) => x.routeKind !== 'HTTPRoute' && x.count > 0)).toEqual([])
  })

  it('`mesh tap deploy/web` shows the client and server identities in text and in full with -o wide', async () => {
    const text = await mesh(['tap', 'deploy/web', '--to', 'deploy/books', '--max-events', '9'])
    expect(text.exitCode, text.stderr).toBe(0)
    const lines = text.stdout.trim().split('\n')
    expect(lines).toHaveLength(9)
    for (const l of lines) expect(l).toMatch(/ proxy=out .* tls=true client=web\.demo server=books\.demo /)
    const wide = await mesh(['tap', 'deploy/web', '--to', 'deploy/books', '--max-events', '3', '-o', 'wide'])
    expect(wide.exitCode, wide.stderr).toBe(0)
    for (const l of wide.stdout.trim().split('\n')) expect(l).toContain(`tls=true client_id=${id('web')} server_id=${id('books')} `)
  })

  it('`mesh edges po` and `edges po/web-0` name pods, and no app\'s hop into its own proxy shows as an edge', async () => {
    const edges = async (args: string[]): Promise<EdgesReport['edges']> => {
      const r = await mesh(['edges', ...args, '-o', 'json'])
      expect(r.exitCode, r.stderr).toBe(0)
      return (JSON.parse(r.stdout) as EdgesReport).edges
    }
    const pods = await edges(['po'])
    for (const [src, dst] of [['web-0', 'books-0'], ['books-0', 'authors-0'], ['books-0', 'stock-0']]) {
      expect(pods).toContainEqual(expect.objectContaining({src: `po/${src}`, dst: `po/${dst}`, secured: true, clientId: id(src!.split('-')[0]!), serverId: id(dst!.split('-')[0]!)}))
    }
    expect(pods.filter((e) => e.src.startsWith('deploy/') || e.dst.startsWith('deploy/'))).toEqual([])
    const one = await edges(['po/web-0'])
    expect(one).toContainEqual(expect.objectContaining({src: 'po/web-0', dst: 'po/books-0', secured: true}))
    const all = [...pods, ...one, ...(await edges(['deploy']))]
    expect(all.filter((e) => e.noTlsReason === 'loopback' || /^127\.0\.0\.1:/.test(e.dst))).toEqual([])
    const table = await mesh(['edges', 'po'])
    expect(table.stdout).toMatch(/^po\/web-0\s+po\/books-0\s+demo\s+demo\s+√\s+web\.demo -> books\.demo$/m)
  })

  it('`mesh stat` shows the TCP-only service\'s connection rate and bytes/s (-o wide: READ_BYTES/SEC, WRITE_BYTES/SEC)', async () => {
    const stock = await eventually('stock\'s TCP traffic in mesh stat', async () => {
      const r = await mesh(['stat', 'deploy/stock', '-o', 'json'])
      expect(r.exitCode, r.stderr).toBe(0)
      const row = (JSON.parse(r.stdout) as StatReport).rows[0]
      return row && row.tcpConnectionsPerSecond! > 0 && row.readBytesPerSecond! > 0 && row.writeBytesPerSecond! > 0 ? row : undefined
    }, 120_000)
    expect(stock).toMatchObject({name: 'stock', requests: 0, successRate: null})
    const wide = await mesh(['stat', 'deploy', '-o', 'wide'])
    const lines = wide.stdout.trimEnd().split('\n')
    expect(lines[0]!.split(/\s+/)).toEqual(['NAME', 'MESHED', 'SUCCESS', 'RPS', 'LATENCY_P50', 'LATENCY_P95', 'LATENCY_P99', 'TCP_CONN', 'TCP_CONN/S', 'READ_BYTES/SEC', 'WRITE_BYTES/SEC', 'REQUESTS', 'WINDOW'])
    const row = lines.find((l) => l.startsWith('deploy/stock'))!.split(/\s+/)
    expect(row[8]).toMatch(/^\d+\.\d\/s$/)
    expect(row[8]).not.toBe('0.0/s')
    expect(row[9]).toMatch(/^\d+(\.\d)?(B|KiB|MiB)\/s$/)
    expect(row[10]).toMatch(/^\d+(\.\d)?(B|KiB|MiB)\/s$/)
  })

  it('`mesh tap deploy/stock` (TCP only) says on stderr that tap sees HTTP and gRPC, and Ctrl-C still ends it (exit 0)', async () => {
    const child = spawn(process.execPath, ['bin/run.js', 'tap', 'deploy/stock'], {cwd: ROOT, env: {...process.env, ...env, NO_COLOR: '1', NODE_ENV: 'production'}, stdio: ['ignore', 'pipe', 'pipe']})
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d))
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d))
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)))
    try {
      await eventually('the TCP-only notice on stderr', () => (stderr.includes('tap shows HTTP and gRPC requests only') ? true : undefined), {timeoutMs: 60_000, context: () => stderr})
      expect(stderr).toMatch(/deploy\/stock: its proxies have carried \d+ TCP connections? and no HTTP or gRPC request/)
      expect(stderr).toContain('mesh stat deploy/stock -o wide')
      child.kill('SIGINT')
      expect(await exited).toBe(0)
      expect(stdout).toBe('')
    } finally {
      child.kill('SIGKILL')
    }
  })
})
