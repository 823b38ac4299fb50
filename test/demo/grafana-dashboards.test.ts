// Linkerd's Grafana dashboards work unchanged on mesh's metrics (issue 27): a real `mesh demo`
// (the compiled binary: controller, four services behind their own proxies with mTLS, load),
// the HTTPRoutes and GRPCRoutes the demo ships, a real Prometheus (Debian's) scraping
// the proxies with the README's scrape configuration, and, for every panel of the six dashboards
// (test/metrics/linkerd-dashboards.ts: the same families, labels and groupings), a query of the
// same shape evaluated by that Prometheus over every value its variables can take. Every panel
// returns data for some value, except those docs/architecture/proxy-observability.md says are
// empty by design, which must be empty. Connections that end in a reset (sent by the test, as a
// failing client would) give the connection-failure panels their data.
import {spawnSync} from 'node:child_process'
import {existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import net from 'node:net'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {parse} from 'yaml'
import type {DemoState} from '../../src/demo/state.js'
import {eventually} from '../helpers/eventually.js'
import {PATH_WITHOUT_MESH, ROOT, spawnMesh, type RunResult} from '../helpers/run.js'
import {PANELS, VARIABLES, WHY_NO_PLAINTEXT_OUTBOUND, WHY_ROUTES_INBOUND, type Dashboard, type Panel, type Var, type Vars} from '../metrics/linkerd-dashboards.js'
import {startPrometheus, type PrometheusServer} from '../stat/prometheus-server.js'

const home = mkdtempSync(path.join(tmpdir(), 'mesh-dashboards-'))
const env = {MESH_HOME: home, MESH_DEMO_DIR: path.join(home, 'demo'), KUBECONFIG: path.join(home, 'no-kubeconfig'), PATH: PATH_WITHOUT_MESH}
const mesh = (args: string[], timeoutMs = 120_000): Promise<RunResult> => spawnMesh(args, {env, compiled: true, timeoutMs})

let demo: DemoState
let prom: PrometheusServer
let scrapeConfig: string[]
/** The route names the demo's registry holds (the HTTPRoutes and GRPCRoutes it ships). */
let routeNames: string[] = []

/** The README's scrape configuration, as written (between its markers). */
function readmeScrapeConfig(): string {
  const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8')
  const m = /<!-- prometheus-scrape-config -->\n```yaml\n([\s\S]*?)```\n<!-- \/prometheus-scrape-config -->/.exec(readme)
  if (!m) throw new Error('README.md has no prometheus-scrape-config block')
  return m[1]!
}

interface PromResult {
  metric: Record<string, string>
  value: [number, string]
}

async function query(q: string): Promise<PromResult[]> {
  const res = await fetch(`${prom.url}/api/v1/query?query=${encodeURIComponent(q)}`, {signal: AbortSignal.timeout(10_000)})
  const body = (await res.json()) as {status: string; error?: string; data?: {resultType: string; result: PromResult[]}}
  if (body.status !== 'success') throw new Error(`${q}: ${body.error}`)
  if (body.data!.resultType !== 'vector') throw new Error(`${q}: a ${body.data!.resultType}, not a vector`)
  return body.data!.result
}

const hasData = (r: PromResult[]): boolean => r.some((x) => Number.isFinite(Number(x.value[1])))

/** A variable's values, as Grafana's label_values() would offer them. */
async function labelValues(label: string, seriesSelector: string): Promise<string[]> {
  const r = await query(`count by (${label}) (${seriesSelector})`)
  return r.map((x) => x.metric[label] ?? '').filter((v) => v !== '').sort()
}

/** Every assignment of a dashboard's variables that `need` depends on, in the dashboard's order. */
async function bindings(dashboard: Dashboard, need: Var[]): Promise<Vars[]> {
  const defs = VARIABLES.filter((d) => d.dashboard === dashboard)
  const needed = new Set(need)
  for (const d of [...defs].reverse()) if (needed.has(d.variable)) for (const x of d.vars) needed.add(x)
  let out: Vars[] = [{}]
  for (const d of defs) {
    if (!needed.has(d.variable)) continue
    const next: Vars[] = []
    for (const b of out) for (const value of await labelValues(d.label, d.series(b))) next.push({...b, [d.variable]: value})
    out = next
  }
  return out
}

/** The first assignment of the panel's variables under which its query returns data. */
async function dataFor(p: Panel): Promise<{vars: Vars; query: string} | undefined> {
  for (const vars of await bindings(p.dashboard, p.vars)) {
    const q = p.query(vars)
    if (hasData(await query(q))) return {vars, query: q}
  }
  return undefined
}

/** The variables as themselves, to print a panel's query as a template. */
const TEMPLATE: Vars = Object.fromEntries((['namespace', 'deployment', 'pod', 'authority', 'rt_route', 'inbound', 'outbound'] as const).map((v) => [v, `$${v}`]))

/** Sends one request head on a new connection, and resets the connection once the answer starts. */
function exchangeThenReset(port: number, head: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = net.connect({host: '127.0.0.1', port})
    s.setTimeout(20_000, () => s.destroy(new Error(`no answer on 127.0.0.1:${port}`)))
    s.once('data', () => {
      s.resetAndDestroy()
      resolve()
    })
    s.once('error', reject)
    s.write(head)
  })
}

beforeAll(async () => {
  const started = await mesh(['demo', '--detach', '--rps', '20', '--ready-timeout', '240'], 300_000)
  expect(started.exitCode, started.stderr).toBe(0)
  const dir = path.join(home, 'demo')
  demo = JSON.parse(readFileSync(path.join(dir, 'demo.json'), 'utf8')) as DemoState

  // The routes the demo ships (its controller's registry): the route dashboard must show them.
  const registry = parse(readFileSync(path.join(dir, 'registry.yaml'), 'utf8')) as {routes?: Array<{metadata: {name: string}}>}
  routeNames = (registry.routes ?? []).map((r) => r.metadata.name)
  expect(routeNames.length).toBeGreaterThan(0)

  // Debian's Prometheus has no kubernetes_sd: file_sd hands it the targets the pod role would
  // find (one per container port, with the same meta labels; the proxy is a native sidecar, an
  // init container), and the README's relabelling must keep only the proxies' admin ports.
  const meta = (s: DemoState['plan']['services'][number], container: string, portName: string, port: number, phase = 'Running') => ({
    targets: [`127.0.0.1:${port}`],
    labels: {
      __meta_kubernetes_namespace: demo.plan.namespace,
      __meta_kubernetes_pod_name: s.pod,
      __meta_kubernetes_pod_phase: phase,
      __meta_kubernetes_pod_container_name: container,
      __meta_kubernetes_pod_container_init: String(container === 'mesh-proxy'),
      __meta_kubernetes_pod_container_port_name: portName,
      __meta_kubernetes_pod_label_app: s.name,
      __meta_kubernetes_pod_label_mesh_dev_control_plane_ns: 'mesh-system',
      __meta_kubernetes_pod_label_mesh_dev_workload_ns: demo.plan.namespace,
      __meta_kubernetes_pod_label_mesh_dev_proxy_deployment: s.name,
    },
  })
  const targets = demo.plan.services.flatMap((s) => [
    meta(s, 'mesh-proxy', 'mesh-admin', s.proxy.admin),
    meta(s, 'mesh-proxy', 'mesh-proxy', s.proxy.inbound),
    meta(s, 'app', 'http', s.appPort),
  ])
  // A pod that has finished (a Job's, say): its admin port is not scraped.
  targets.push({...meta(demo.plan.services[0]!, 'mesh-proxy', 'mesh-admin', demo.plan.services[0]!.proxy.tap, 'Succeeded')})
  const sd = path.join(home, 'targets.json')
  writeFileSync(sd, JSON.stringify(targets))
  const readme = readmeScrapeConfig()
  const k8sSd = '    kubernetes_sd_configs: [{role: pod}]\n'
  expect(readme.split(k8sSd)).toHaveLength(2)
  const lines = readme.replace(k8sSd, `    file_sd_configs: [{files: [${JSON.stringify(sd)}]}]\n`).trimEnd().split('\n')
  expect(lines[0]).toBe('scrape_configs:')
  scrapeConfig = lines.slice(1)
  prom = await startPrometheus({scrapeConfig, targets: demo.plan.services.length})

  // Connections that end in a reset, on web's inbound (as the load's, plaintext) and outbound.
  const web = demo.plan.services.find((s) => s.name === 'web')!
  const books = demo.plan.services.find((s) => s.name === 'books')!
  await exchangeThenReset(web.proxy.inbound, `GET /api/books HTTP/1.1\r\nhost: ${web.authority}\r\n\r\n`)
  await exchangeThenReset(web.proxy.outbound, `GET /books HTTP/1.1\r\nhost: ${books.authority}\r\n\r\n`)
  await prom.waitForScrapes(2)
}, 420_000)

afterAll(async () => {
  await prom?.stop()
  if (existsSync(path.join(home, 'demo', 'demo.pid'))) await mesh(['demo', 'stop'])
  rmSync(home, {recursive: true, force: true})
}, 120_000)

describe('Linkerd\'s Grafana dashboards on mesh demo, through a real Prometheus', {timeout: 300_000}, () => {
  it('the README\'s scrape configuration passes promtool, keeps only the proxies\' admin ports and labels them namespace, pod and deployment', async () => {
    // As written, Debian's promtool refuses only the Kubernetes discovery it was built without.
    const raw = path.join(home, 'readme-prometheus.yml')
    writeFileSync(raw, readmeScrapeConfig())
    const asWritten = spawnSync('promtool', ['check', 'config', raw], {encoding: 'utf8', timeout: 30_000})
    expect(asWritten.error).toBeUndefined()
    expect(`${asWritten.stdout}${asWritten.stderr}`).toMatch(/field kubernetes_sd_configs not found/)
    const checked = spawnSync('promtool', ['check', 'config', path.join(prom.dir, 'prometheus.yml')], {encoding: 'utf8', timeout: 30_000})
    expect(checked.status, `${checked.stdout}${checked.stderr}`).toBe(0)

    const targets = await prom.targets()
    expect(targets.map((t) => t.labels).sort((a, b) => a.pod!.localeCompare(b.pod!))).toEqual(
      [...demo.plan.services].sort((a, b) => a.pod.localeCompare(b.pod)).map((s) => ({
        namespace: 'demo', pod: s.pod, deployment: s.name, job: 'mesh-proxy', instance: `127.0.0.1:${s.proxy.admin}`,
      })),
    )
    expect(targets.every((t) => t.health === 'up')).toBe(true)
    // process_* carry no labels of the proxy's own: Prometheus gives them the pod's.
    expect(await labelValues('deployment', 'process_start_time_seconds{namespace="demo"}')).toEqual(['authors', 'books', 'stock', 'web'])
  })

  it('every variable of the six dashboards offers values', async () => {
    const empty: string[] = []
    for (const d of VARIABLES) {
      const values = (await bindings(d.dashboard, [d.variable])).map((b) => b[d.variable])
      if (values.length === 0) empty.push(`${d.dashboard}: $${d.variable}`)
    }
    expect(empty).toEqual([])
  })

  it('the route families carry the HTTPRoutes of the registry as rt_route, on the client\'s proxy', async () => {
    const values = await eventually('rt_route series in Prometheus', async () => {
      const v = await labelValues('rt_route', 'route_request_total{namespace="demo",direction="outbound"}')
      // Every route the demo's load takes (web calls books' list and one book) shows up.
      return ['books-list', 'books-by-id'].every((x) => v.includes(x)) ? v : undefined
    }, {timeoutMs: 180_000, intervalMs: 1_000, context: () => prom.log()})
    for (const v of values) expect(routeNames).toContain(v)
    const byRoute = await query('sum by (deployment, dst, rt_route, tls) (route_request_total{namespace="demo"})')
    for (const r of byRoute) {
      expect(r.metric).toMatchObject({deployment: expect.any(String), dst: expect.stringMatching(/\.demo\.svc\.cluster\.local:\d+$/), tls: 'true'})
    }
    expect(await query('route_request_total{direction="inbound"}')).toEqual([])
  })

  for (const dashboard of ['top-line', 'namespace', 'deployment', 'pod', 'authority', 'route'] as const) {
    it(`${dashboard}: every panel returns data, except those empty by design (which are empty)`, async () => {
      const panels = PANELS.filter((p) => p.dashboard === dashboard)
      const expected = panels.filter((p) => !p.emptyByDesign)
      // Series appear as the traffic and the route policy reach the proxies: wait until every
      // panel that should show data does.
      let without: string[] = []
      const missing = async (): Promise<string[]> => {
        const r = await Promise.all(expected.map(async (p) => ((await dataFor(p)) ? undefined : `${p.title}: ${p.query(TEMPLATE)}`)))
        return (without = r.filter((x): x is string => x !== undefined))
      }
      await eventually(`data in every panel of the ${dashboard} dashboard`, async () => ((await missing()).length === 0 ? true : undefined), {
        timeoutMs: 180_000, intervalMs: 2_000, context: () => `without data:\n${without.join('\n')}`,
      })
      for (const p of panels.filter((x) => x.emptyByDesign)) {
        expect(await dataFor(p), `${p.title} (empty by design: ${p.emptyByDesign})`).toBeUndefined()
      }
    })
  }

  it('the panels empty by design are those proxy-observability.md names, for the reasons it gives', () => {
    const doc = readFileSync(path.join(ROOT, 'docs/architecture/proxy-observability.md'), 'utf8')
    const empty = PANELS.filter((p) => p.emptyByDesign)
    expect(new Set(empty.map((p) => p.emptyByDesign))).toEqual(new Set([WHY_ROUTES_INBOUND, WHY_NO_PLAINTEXT_OUTBOUND]))
    expect(doc).toContain(`${empty.length} of the ${PANELS.length} queries`)
  })
})
