// Benchmark: client -> outbound proxy -> inbound proxy -> app, against the direct path and an
// nginx pair in the same slots, in one run. Per path: open loop at 1,000 rps and at 50 % of the
// mesh pair's maximum (latency from the intended send time), closed-loop maximum throughput,
// CPU microseconds per request per proxy (/proc utime+stime), RSS idle and under load.
// Prints a table and writes JSON to bench/results/proxy.json.
// Run: npx tsx bench/proxy/proxy-bench.ts [seconds per phase, default 8] [--dev] [--node-max]
//        [--proxy-env=K=V,...] [--no-runtime-env]
// The mesh proxies run with the runtime tuning injected pods get (PROXY_RUNTIME_ENV of
// src/protocol/proxy-env.ts: NODE_OPTIONS, MALLOC_ARENA_MAX) unless --no-runtime-env; --proxy-env
// adds or overrides variables of the mesh proxies only (e.g. MESH_PROXY_HTTP1_CODEC=node).
// The proxies run compiled (built into node_modules/.cache/mesh-bench first); --dev runs
// `mesh proxy` through tsx and oclif instead (more memory, same data path).
// Every path gets the same warm-up (1 s closed loop, then 2 s at 1,000 rps, discarded) before
// its measured fixed-rate phase. The closed-loop maximum uses h2load (a C generator, so the
// generator does not eat the CPUs the path needs; --node-max uses the Node generator); the
// CPU the generator and the app spend per request is printed, so the split is visible.
// Needs: nginx (apt-get install -y nginx), h2load (nghttp2-client). 1 KiB responses, HTTP/1.1.
// The pair above is plaintext; the cost mTLS adds per connection between two proxies is the
// handshake, measured at the end by bench/tls-handshake.ts (RSA 2048 as certify issues, with
// and without session resumption) and printed and recorded with the rest (--no-handshake skips it).
import {spawnSync} from 'node:child_process'
import {mkdirSync, writeFileSync} from 'node:fs'
import {cpus, loadavg} from 'node:os'
import {fileURLToPath} from 'node:url'
import {PROXY_RUNTIME_ENV} from '../../src/protocol/proxy-env.js'
import {h2loadClosedLoop, hasH2load} from './h2load.js'
import {closedLoop, openLoop, type LoadResult} from './load.js'
import {cpuMicros, freePort, privateMB, rssMB, selfCpuMicros, start, stop, waitHttp} from './procs.js'
import {buildDist, direct, HOST, meshPair, nginxPair, type Setup} from './setups.js'

const SECONDS = Number(process.argv.slice(2).find((a) => /^\d/.test(a)) ?? 8)
const DEV = process.argv.includes('--dev')
const WORKERS = 32
const H2LOAD = !process.argv.includes('--node-max') && hasH2load()
/** Environment of the mesh proxies only: the injected runtime tuning, then --proxy-env. */
const PROXY_ENV: Record<string, string> = {
  ...(process.argv.includes('--no-runtime-env') ? {} : PROXY_RUNTIME_ENV),
  ...Object.fromEntries((process.argv.find((a) => a.startsWith('--proxy-env='))?.slice(12).split(',') ?? [])
  .filter((kv) => kv.includes('=')).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)])),
}
/** The machine's load before the bench adds its own. */
const LOAD_AT_START = loadavg()
const fmt = (n: number, d = 2): string => (Number.isFinite(n) ? n.toFixed(d) : '-')

interface PathResult {
  name: string
  fixed1000: LoadResult
  max: LoadResult
  half?: LoadResult
  /** CPU µs per request of the load generator and of the app, at 1,000 rps and at max. */
  generatorUsPerReq: {at1000: number, atMax: number}
  appUsPerReq: {at1000: number, atMax: number}
  procs: {label: string, rssIdleMB: number, rssLoadMB: number, privateLoadMB: number, cpuUsPerReq1000: number, cpuUsPerReqMax: number}[]
}

async function measure(setup: Setup, backendPid: number): Promise<PathResult> {
  // RSS idle: started and answered the readiness probe, before any load.
  const procs = setup.procs.map((p) => ({label: p.label, rssIdleMB: rssMB(p.pid), rssLoadMB: 0, privateLoadMB: 0, cpuUsPerReq1000: 0, cpuUsPerReqMax: 0}))
  // Warm-up (JIT, pools, connection setup), discarded: the first phase used to pay for it.
  await closedLoop(setup.port, HOST, 8, 1)
  await openLoop(setup.port, HOST, 1000, 2)
  const pids = [...setup.procs.map((p) => p.pid), backendPid]
  let cpu0 = pids.map(cpuMicros)
  let gen0 = selfCpuMicros()
  const fixed1000 = await openLoop(setup.port, HOST, 1000, SECONDS)
  let gen1 = selfCpuMicros()
  let cpu1 = pids.map(cpuMicros)
  setup.procs.forEach((_, i) => { procs[i].cpuUsPerReq1000 = (cpu1[i] - cpu0[i]) / fixed1000.sent })
  const generatorUsPerReq = {at1000: (gen1.own - gen0.own) / fixed1000.sent, atMax: 0}
  const appUsPerReq = {at1000: (cpu1[pids.length - 1] - cpu0[pids.length - 1]) / fixed1000.sent, atMax: 0}
  cpu0 = pids.map(cpuMicros)
  gen0 = selfCpuMicros()
  const max = H2LOAD ? await h2loadClosedLoop(setup.port, HOST, WORKERS, SECONDS) : await closedLoop(setup.port, HOST, WORKERS, SECONDS)
  gen1 = selfCpuMicros()
  cpu1 = pids.map(cpuMicros)
  setup.procs.forEach((p, i) => {
    procs[i].cpuUsPerReqMax = (cpu1[i] - cpu0[i]) / max.sent
    procs[i].rssLoadMB = rssMB(p.pid)
    procs[i].privateLoadMB = privateMB(p.pid)
  })
  generatorUsPerReq.atMax = (H2LOAD ? gen1.children - gen0.children : gen1.own - gen0.own) / max.sent
  appUsPerReq.atMax = (cpu1[pids.length - 1] - cpu0[pids.length - 1]) / max.sent
  return {name: setup.name, fixed1000, max, generatorUsPerReq, appUsPerReq, procs}
}

async function main(): Promise<void> {
  const backendPort = await freePort()
  const backend = start(process.execPath, [fileURLToPath(new URL('./backend.mjs', import.meta.url)), String(backendPort)])
  await waitHttp(backendPort, HOST)
  const dist = DEV ? undefined : buildDist()
  const setups: Setup[] = [direct(backendPort), await meshPair(backendPort, dist, PROXY_ENV), await nginxPair(backendPort)]
  const results: PathResult[] = []
  try {
    for (const s of setups) {
      process.stderr.write(`measuring ${s.name}...\n`)
      results.push(await measure(s, backend.pid!))
    }
    const halfRate = Math.max(100, Math.round(results[1].max.rps / 2))
    for (const [i, s] of setups.entries()) {
      process.stderr.write(`${s.name} at ${halfRate} rps...\n`)
      await openLoop(s.port, HOST, halfRate, 1) // warm-up at this rate, discarded
      results[i].half = await openLoop(s.port, HOST, halfRate, SECONDS)
    }
    report(results, halfRate, handshakeCost())
  } finally {
    for (const s of setups) await s.close()
    await stop([backend])
  }
}

/** bench/tls-handshake.ts's lines (the mTLS handshake between two proxies), or why there are none. */
function handshakeCost(): string[] {
  if (process.argv.includes('--no-handshake')) return ['skipped (--no-handshake)']
  process.stderr.write('measuring the mTLS handshake...\n')
  const script = fileURLToPath(new URL('../tls-handshake.ts', import.meta.url))
  const r = spawnSync(process.execPath, ['--import', 'tsx', script, '200', '2'], {encoding: 'utf8', timeout: 300_000})
  if (r.status !== 0) return [`bench/tls-handshake.ts failed (exit ${r.status ?? r.signal}): ${(r.stderr || '').trim().split('\n').at(-1) ?? ''}`]
  return r.stdout.trimEnd().split('\n')
}

function report(results: PathResult[], halfRate: number, handshake: string[]): void {
  const [d, mesh, nginx] = results
  const gen = H2LOAD ? `h2load --h1 -c ${WORKERS}` : `Node, ${WORKERS} workers`
  const lines = [`proxy benchmark (${DEV ? 'dev' : 'compiled'}; load average at start ${LOAD_AT_START.map((l) => l.toFixed(1)).join(' ')}, at end ${loadavg().map((l) => l.toFixed(1)).join(' ')} on ${cpus().length} CPUs): ${SECONDS}s per phase after a warm-up, 1 KiB responses, HTTP/1.1 keep-alive, 127.0.0.1; open loop: Node generator, latency from the intended send time; max: ${gen}${Object.keys(PROXY_ENV).length ? `; proxy env ${JSON.stringify(PROXY_ENV)}` : ''}`, '']
  lines.push('path          rate     p50 ms   p90 ms   p99 ms  p99.9 ms   max ms  added p50/p99 vs direct  errors')
  for (const r of results) {
    for (const [label, l, base] of [['1000', r.fixed1000, d.fixed1000], [String(halfRate), r.half!, d.half!]] as const) {
      const added = r === d ? '-' : `${fmt(l.p50 - base.p50, 3)} / ${fmt(l.p99 - base.p99, 3)}`
      lines.push(`${r.name.padEnd(12)} ${label.padStart(5)}  ${fmt(l.p50).padStart(7)}  ${fmt(l.p90).padStart(7)}  ${fmt(l.p99).padStart(7)}  ${fmt(l.p999).padStart(8)}  ${fmt(l.max).padStart(7)}  ${added.padStart(23)}  ${String(l.errors).padStart(6)}`)
    }
  }
  lines.push('', 'path          max rps  generator/app CPU us/req @1000, @max   per proxy: CPU us/req @1000 rps, @max; RSS MB idle, under load (private)')
  for (const r of results) {
    const per = r.procs.map((p) => `${p.label} ${fmt(p.cpuUsPerReq1000, 0)}/${fmt(p.cpuUsPerReqMax, 0)} us, ${fmt(p.rssIdleMB, 1)}/${fmt(p.rssLoadMB, 1)} (${fmt(p.privateLoadMB, 1)}) MB`).join('; ')
    const ga = `${fmt(r.generatorUsPerReq.at1000, 0)}, ${fmt(r.generatorUsPerReq.atMax, 0)} / ${fmt(r.appUsPerReq.at1000, 0)}, ${fmt(r.appUsPerReq.atMax, 0)}`
    lines.push(`${r.name.padEnd(12)} ${fmt(r.max.rps, 0).padStart(8)}  ${ga.padStart(32)}   ${per || '-'}`)
  }
  const addedP50 = mesh.fixed1000.p50 - d.fixed1000.p50
  const addedP99 = mesh.fixed1000.p99 - d.fixed1000.p99
  const maxRss = Math.max(...mesh.procs.map((p) => Math.max(p.rssIdleMB, p.rssLoadMB)))
  const ratio = mesh.max.rps / nginx.max.rps
  const targets = {
    addedP50Ms: {value: addedP50, target: 0.3, met: addedP50 < 0.3},
    addedP99Ms: {value: addedP99, target: 1, met: addedP99 < 1},
    maxRssMB: {value: maxRss, target: 60, met: maxRss < 60},
    throughputVsNginx: {value: ratio, target: 0.5, met: ratio >= 0.5},
  }
  lines.push('', 'targets (mesh pair at 1,000 rps vs direct):')
  lines.push(`  added p50 ${fmt(addedP50, 3)} ms (< 0.3): ${targets.addedP50Ms.met ? 'met' : 'NOT met'}`)
  lines.push(`  added p99 ${fmt(addedP99, 3)} ms (< 1): ${targets.addedP99Ms.met ? 'met' : 'NOT met'}`)
  lines.push(`  RSS per proxy ${fmt(maxRss, 1)} MB (< 60): ${targets.maxRssMB.met ? 'met' : 'NOT met'}`)
  lines.push(`  throughput ${fmt(ratio * 100, 0)} % of the nginx pair (>= 50 %): ${targets.throughputVsNginx.met ? 'met' : 'NOT met'}`)
  lines.push('', 'mTLS between the proxies: handshake cost (bench/tls-handshake.ts, 200 handshakes, concurrency 2):', ...handshake.map((l) => `  ${l}`))
  process.stdout.write(lines.join('\n') + '\n')
  const dir = fileURLToPath(new URL('../results/', import.meta.url))
  mkdirSync(dir, {recursive: true})
  const doc = {date: new Date().toISOString(), node: process.version, mode: DEV ? 'dev (tsx + oclif)' : 'compiled', maxGenerator: H2LOAD ? 'h2load' : 'node', proxyEnv: PROXY_ENV, loadAverageAtStart: LOAD_AT_START, loadAverage: loadavg(), cpus: cpus().length, secondsPerPhase: SECONDS, halfRate, results, targets, handshake}
  writeFileSync(`${dir}proxy.json`, JSON.stringify(doc, null, 2) + '\n')
  process.stderr.write(`wrote ${dir}proxy.json\n`)
}

await main()
