// Benchmark: what a meshed proxy costs as pods run it: mTLS with certificates from the identity
// service, discovery from the destination service, tap and metrics on, the injected runtime
// tuning, started through `mesh proxy` (bin/run.js). It runs `mesh demo -d` (compiled dist/,
// so `npm run build` first) with its load generator at a fixed rate, samples every proxy's RSS
// (and its anonymous part) and CPU from /proc while the demo runs, prints a table, writes JSON
// to bench/results/demo-footprint.json and stops the demo.
//   npx tsx bench/proxy/demo-footprint.ts [seconds=60] [rps=50]
// The demo's traffic: web -> books (HTTP/1) -> authors (gRPC) and stock (opaque TCP, one
// connection per request, so one mTLS connection per request between those proxies).
import {execFileSync, spawnSync} from 'node:child_process'
import {mkdirSync, writeFileSync} from 'node:fs'
import {cpus, loadavg} from 'node:os'
import {fileURLToPath} from 'node:url'
import {anonMB, cpuMicros, rssMB} from './procs.js'

const SECONDS = Number(process.argv[2] ?? 60)
const RPS = Number(process.argv[3] ?? 50)
const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const MESH = [process.execPath, `${ROOT}bin/run.js`]

interface Proc { key: string, pid: number }
interface Sample { rss: number, anon: number }

function mesh(args: string[]): string {
  return execFileSync(MESH[0]!, [...MESH.slice(1), ...args], {encoding: 'utf8', env: {...process.env, NO_COLOR: '1'}, timeout: 240_000})
}

const fmt = (n: number, d = 1): string => (Number.isFinite(n) ? n.toFixed(d) : '-')

async function main(): Promise<void> {
  const load0 = loadavg()
  if (spawnSync(MESH[0]!, [...MESH.slice(1), 'demo', 'status'], {encoding: 'utf8'}).stdout.includes('running')) {
    throw new Error('a mesh demo is already running: stop it with `mesh demo stop` first')
  }
  process.stderr.write(`starting mesh demo at ${RPS} rps...\n`)
  mesh(['demo', '-d', '--rps', String(RPS)])
  try {
    const status = JSON.parse(mesh(['demo', 'status', '-o', 'json'])) as {processes: Proc[]}
    const proxies = status.processes.filter((p) => p.key.startsWith('proxy/'))
    // Warm-up: certificates issued, discovery answered, JIT settled.
    await new Promise((r) => setTimeout(r, 10_000))
    const samples = new Map<string, Sample[]>(proxies.map((p) => [p.key, []]))
    const cpu0 = proxies.map((p) => cpuMicros(p.pid))
    const t0 = performance.now()
    const end = t0 + SECONDS * 1000
    while (performance.now() < end) {
      for (const p of proxies) samples.get(p.key)!.push({rss: rssMB(p.pid), anon: anonMB(p.pid)})
      await new Promise((r) => setTimeout(r, 2000))
    }
    const secs = (performance.now() - t0) / 1000
    const cpu1 = proxies.map((p) => cpuMicros(p.pid))
    const rows = proxies.map((p, i) => {
      const s = samples.get(p.key)!
      const rss = s.map((x) => x.rss)
      const anon = s.map((x) => x.anon)
      return {proxy: p.key, rssMinMB: Math.min(...rss), rssMaxMB: Math.max(...rss), rssLastMB: rss.at(-1)!, anonMaxMB: Math.max(...anon), cpuPercent: (cpu1[i]! - cpu0[i]!) / 1e4 / secs}
    })
    const lines = [`meshed proxies as pods run them (mesh demo, ${RPS} rps into web, ${fmt(secs, 0)} s sampled every 2 s after 10 s of warm-up; load average at start ${load0.map((l) => l.toFixed(1)).join(' ')}, at end ${loadavg().map((l) => l.toFixed(1)).join(' ')} on ${cpus().length} CPUs)`, '',
      'proxy            RSS MB min / max / last   anonymous max MB   CPU % of a core']
    for (const r of rows) lines.push(`${r.proxy.padEnd(15)}  ${`${fmt(r.rssMinMB)} / ${fmt(r.rssMaxMB)} / ${fmt(r.rssLastMB)}`.padStart(22)}   ${fmt(r.anonMaxMB).padStart(16)}   ${fmt(r.cpuPercent).padStart(15)}`)
    process.stdout.write(lines.join('\n') + '\n')
    const dir = fileURLToPath(new URL('../results/', import.meta.url))
    mkdirSync(dir, {recursive: true})
    writeFileSync(`${dir}demo-footprint.json`, JSON.stringify({date: new Date().toISOString(), node: process.version, seconds: secs, rps: RPS, loadAverageAtStart: load0, loadAverage: loadavg(), cpus: cpus().length, proxies: rows}, null, 2) + '\n')
    process.stderr.write(`wrote ${dir}demo-footprint.json\n`)
  } finally {
    mesh(['demo', 'stop'])
  }
}

await main()
