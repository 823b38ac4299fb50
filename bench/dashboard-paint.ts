// How fast `mesh dashboard` shows the mesh: Debian's Chromium (headless, through playwright-core)
// opens the page of a `mesh dashboard` serving a running `mesh demo`, in a fresh browser context
// each time (no cache), and reads first contentful paint (the browser's own entry) and the time
// until the workloads table is on screen (the first snapshot read from the demo included).
// Also prints the size of what the page loads. Run after `npm run build`:
//   npx tsx bench/dashboard-paint.ts [runs]
import {mkdtempSync, rmSync, statSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {gzipSync} from 'node:zlib'
import {readFileSync} from 'node:fs'
import {launchChromium} from '../test/helpers/chromium.js'
import {startDashboardProcess} from '../test/helpers/dashboard.js'
import {PATH_WITHOUT_MESH, ROOT, spawnMesh} from '../test/helpers/run.js'

const runs = Number(process.argv[2] ?? 10)
const home = mkdtempSync(path.join(tmpdir(), 'mesh-bench-dashboard-'))
const env = {MESH_HOME: home, MESH_DEMO_DIR: path.join(home, 'demo'), KUBECONFIG: path.join(home, 'none'), PATH: PATH_WITHOUT_MESH}
const mesh = (args: string[]) => spawnMesh(args, {env, compiled: true, timeoutMs: 300_000})

const stats = (xs: number[]): string => {
  const s = [...xs].sort((a, b) => a - b)
  return `median ${s[Math.floor(s.length / 2)]!.toFixed(0)} ms, min ${s[0]!.toFixed(0)}, max ${s.at(-1)!.toFixed(0)}`
}

const web = path.join(ROOT, 'dist/dashboard/web')
for (const f of ['index.html', 'app.js', 'app.css']) {
  const body = readFileSync(path.join(web, f))
  console.log(`${f}: ${statSync(path.join(web, f)).size} bytes (${gzipSync(body).length} gzipped; served as is)`)
}

const started = await mesh(['demo', '--detach'])
if (started.exitCode !== 0) throw new Error(started.stderr)
const dashboard = await startDashboardProcess([], env)
const browser = await launchChromium()
try {
  const fcp: number[] = []
  const table: number[] = []
  for (let i = 0; i < runs; i++) {
    const context = await browser.newContext()
    const page = await context.newPage()
    await page.goto(dashboard.url)
    await page.getByRole('table', {name: 'workloads'}).waitFor()
    const t = await page.evaluate(() => ({
      fcp: performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? NaN,
      now: performance.now(),
    }))
    fcp.push(t.fcp)
    table.push(t.now)
    await context.close()
  }
  console.log(`first contentful paint, ${runs} cold loads: ${stats(fcp)}`)
  console.log(`workloads table on screen (first snapshot included): ${stats(table)}`)
  console.log(`load average: ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`)
} finally {
  await browser.close()
  await dashboard.stop()
  await mesh(['demo', 'stop'])
  rmSync(home, {recursive: true, force: true})
}
