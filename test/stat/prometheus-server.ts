// A real Prometheus (Debian's /usr/bin/prometheus) for the stat tests: a temporary TSDB, a free
// loopback port, a 1 s scrape of the given proxies' admin /metrics with the scrape settings
// docs/architecture/tap.md recommends (honor_labels: the proxies label their own series with
// namespace, pod and workload). Stopped and removed by stop().
import {spawn, type ChildProcess} from 'node:child_process'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {freePort} from '../helpers/ports.js'
import {eventually} from '../helpers/eventually.js'

export interface PrometheusServer {
  url: string
  /** Resolves once every target has been scraped at least `n` times since this call. */
  waitForScrapes(n: number, timeoutMs?: number): Promise<void>
  stop(): Promise<void>
  log(): string
  /** Where the config and the TSDB live (removed by stop()). */
  dir: string
  /** The active targets as Prometheus reports them (labels after relabelling, health). */
  targets(): Promise<Array<{labels: Record<string, string>; health: string; scrapeUrl: string; lastError: string}>>
}


const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

async function getJson(url: string): Promise<any> {
  const res = await fetch(url, {signal: AbortSignal.timeout(5_000)})
  return res.json()
}

/**
 * `targets`: scrape these host:port with a static config; or `{scrapeConfig, targets}`: one
 * scrape config as YAML lines (indented under scrape_configs) expected to find `targets` targets.
 */
export async function startPrometheus(spec: string[] | {scrapeConfig: string[]; targets: number}): Promise<PrometheusServer> {
  const dir = mkdtempSync(path.join(tmpdir(), 'mesh-prom-'))
  const targets = Array.isArray(spec) ? spec.length : spec.targets
  const scrape = Array.isArray(spec)
    ? ['  - job_name: mesh-proxy', '    honor_labels: true', `    static_configs: [{targets: [${spec.map((t) => JSON.stringify(t)).join(', ')}]}]`]
    : spec.scrapeConfig
  const config = ['global: {scrape_interval: 1s, evaluation_interval: 1s, scrape_timeout: 900ms}', 'scrape_configs:', ...scrape, ''].join('\n')
  writeFileSync(path.join(dir, 'prometheus.yml'), config)
  const port = await freePort()
  let log = ''
  const child: ChildProcess = spawn('prometheus', [
    `--config.file=${path.join(dir, 'prometheus.yml')}`,
    `--storage.tsdb.path=${path.join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
    '--storage.tsdb.retention.time=1h',
    '--log.level=warn',
  ], {stdio: ['ignore', 'ignore', 'pipe']})
  child.stderr!.setEncoding('utf8')
  child.stderr!.on('data', (c: string) => {
    if (log.length < 64 * 1024) log += c
  })
  const exited = new Promise<void>((r) => child.once('exit', () => r()))
  const url = `http://127.0.0.1:${port}`
  const stop = async () => {
    if (child.exitCode === null) child.kill('SIGTERM')
    await Promise.race([exited, sleep(5_000).then(() => child.kill('SIGKILL'))])
    rmSync(dir, {recursive: true, force: true})
  }
  const state = await eventually('prometheus to be ready (or to exit)', async () => {
    if (child.exitCode !== null) return 'exited'
    return (await fetch(`${url}/-/ready`, {signal: AbortSignal.timeout(2_000)}).then((r) => r.ok, () => false)) ? 'ready' : undefined
  }, {timeoutMs: 60_000, context: () => log}).catch(async (err: Error) => {
    await stop()
    throw err
  })
  if (state !== 'ready') {
    await stop()
    throw new Error(`prometheus exited (${child.exitCode}): ${log}`)
  }
  const lastScrapes = async (): Promise<number[]> => {
    const body = await getJson(`${url}/api/v1/targets?state=active`)
    const active = (body.data?.activeTargets ?? []) as Array<{health: string; lastScrape: string}>
    return active.map((t) => (t.health === 'up' ? Date.parse(t.lastScrape) : 0))
  }
  return {
    url,
    dir,
    targets: async () => (await getJson(`${url}/api/v1/targets?state=active`)).data?.activeTargets ?? [],
    log: () => log,
    stop,
    waitForScrapes: async (n, timeoutMs = 60_000) => {
      const since = Date.now()
      const seen = new Set<number>()
      await eventually(`prometheus to scrape its ${targets} targets ${n} times`, async () => {
        const times = await lastScrapes()
        if (times.length === targets && times.every((t) => t > since)) seen.add(Math.min(...times))
        return seen.size >= n ? true : undefined
      }, {timeoutMs, intervalMs: 250, context: () => log})
    },
  }
}
