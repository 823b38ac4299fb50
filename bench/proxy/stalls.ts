// What the slow requests at a fixed rate are made of: each pair (mesh, node relay, nginx) runs
// `seconds` at `rate` in an open loop after a warm-up, and the run's slow requests (over
// `--slow=MS`, default 2) are set against what the processes did meanwhile:
//   - the GC pauses of the two proxies (Node pairs: pauses.mjs, every pause with its start): how
//     many slow requests were in flight during a pause, and the pauses by kind;
//   - each process's wait on the CPU's run queue (/proc/<pid>/schedstat: time runnable but not
//     running, i.e. the machine's other work ahead of it), per request, for the proxies, the
//     application and the load generator itself; and its CPU per request.
// A slow request no pause overlaps is a wait somewhere else: the run queue (another process on
// the CPU), or the kernel.
// Run: npx tsx bench/proxy/stalls.ts [seconds, default 20] [--rate=1000] [--slow=2] [--rounds=1]
import {mkdtempSync, readFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {PROXY_RUNTIME_ENV} from '../../src/protocol/proxy-env.js'
import {openLoopClient, openLoopRun} from './load.js'
import {cpuMicros, freePort, start, stop, waitHttp} from './procs.js'
import {buildDist, HOST, meshPair, nginxPair, nodeRelayPair, type Setup} from './setups.js'

const SECONDS = Number(process.argv.slice(2).find((a) => /^\d/.test(a)) ?? 20)
const flag = (name: string, dflt: number): number => Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? dflt)
const RATE = flag('rate', 1000)
const SLOW_MS = flag('slow', 2)
const ROUNDS = flag('rounds', 1)
const WARMUP_S = 3

/** Time runnable but waiting for a CPU, and time on a CPU, in µs (the kernel's schedstat). */
function schedstat(pid: number): {wait: number, run: number} {
  try {
    const [run, wait] = readFileSync(`/proc/${pid}/schedstat`, 'utf8').trim().split(/\s+/).map(Number)
    return {wait: wait / 1000, run: run / 1000}
  } catch {
    return {wait: NaN, run: NaN}
  }
}

type Pause = [start: number, ms: number, kind: string]

function readPauses(file: string): Map<number, Pause[]> {
  const out = new Map<number, Pause[]>()
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch {
    return out
  }
  for (const line of text.split('\n').filter(Boolean)) {
    const r = JSON.parse(line) as {pid: number, pauses: Pause[]}
    out.set(r.pid, r.pauses)
  }
  return out
}

function pct(sorted: Float64Array, q: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]
}

async function measure(name: string, make: () => Promise<Setup>, others: Array<{label: string, pid: number}>): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), 'mesh-stalls-'))
  const file = join(dir, 'pauses.jsonl')
  process.env.MESH_BENCH_PAUSES = file
  const setup = await make()
  delete process.env.MESH_BENCH_PAUSES
  const client = openLoopClient(setup.port, HOST)
  const lines: string[] = []
  const procs = [...setup.procs, ...others, {label: 'load generator', pid: process.pid}]
  try {
    await openLoopRun(client, RATE, WARMUP_S)
    for (let round = 1; round <= ROUNDS; round++) {
      const before = procs.map((p) => ({...schedstat(p.pid), cpu: cpuMicros(p.pid)}))
      const run = await openLoopRun(client, RATE, SECONDS)
      const after = procs.map((p) => ({...schedstat(p.pid), cpu: cpuMicros(p.pid)}))
      const n = run.lat.length
      const interval = 1000 / RATE
      const sorted = Float64Array.from(run.lat).sort()
      const slow: Array<[number, number]> = []
      for (let i = 0; i < n; i++) if (run.lat[i] > SLOW_MS) slow.push([run.start + i * interval, run.start + i * interval + run.lat[i]])
      lines.push(`${name}, round ${round}: ${n} requests at ${RATE} rps, p50 ${pct(sorted, 0.5).toFixed(2)} ms, p99 ${pct(sorted, 0.99).toFixed(2)} ms, max ${sorted[n - 1].toFixed(1)} ms, ${run.ok} ok; ${slow.length} over ${SLOW_MS} ms`)
      for (let i = 0; i < procs.length; i++) {
        const wait = (after[i].wait - before[i].wait) / n
        const cpu = (after[i].cpu - before[i].cpu) / n
        lines.push(`  ${procs[i].label.padEnd(15)} CPU ${cpu.toFixed(0).padStart(4)} us/request, run-queue wait ${wait.toFixed(1).padStart(6)} us/request`)
      }
      // (the pauses are written when the proxies stop: read after close, below)
      pendingRounds.push({slow, from: run.start, to: run.start + n * interval + sorted[n - 1]})
    }
  } finally {
    client.close()
    await setup.close()
  }
  const pauses = readPauses(file)
  if (pauses.size > 0) {
    for (const [r, span] of pendingRounds.entries()) {
      const inRound = [...pauses.entries()].map(([pid, ps]) => ({pid, ps: ps.filter(([s]) => s >= span.from && s <= span.to)}))
      const overlapped = span.slow.filter(([a, b]) => inRound.some(({ps}) => ps.some(([s, ms]) => s < b && s + ms > a))).length
      lines.push(`  round ${r + 1}: slow requests in flight during a GC pause of a proxy: ${overlapped} of ${span.slow.length}`)
      for (const {pid, ps} of inRound) {
        const label = setup.procs.find((p) => p.pid === pid)?.label ?? String(pid)
        const byKind = new Map<string, number[]>()
        for (const [, ms, kind] of ps) byKind.set(kind, [...(byKind.get(kind) ?? []), ms])
        const parts = [...byKind].map(([kind, ms]) => `${kind} ${ms.length} (${(ms.reduce((a, b) => a + b, 0) / ms.length).toFixed(2)} ms mean, ${Math.max(...ms).toFixed(2)} max)`)
        lines.push(`    ${label}: GC pauses ${parts.join(', ') || 'none'}`)
      }
    }
  } else if (setup.name !== 'nginx pair') lines.push('  (no GC pauses recorded)')
  pendingRounds.length = 0
  return lines
}
const pendingRounds: Array<{slow: Array<[number, number]>, from: number, to: number}> = []

const dist = buildDist()
const backendPort = await freePort()
const backend = start(process.execPath, [fileURLToPath(new URL('./backend.mjs', import.meta.url)), String(backendPort)])
await waitHttp(backendPort, HOST)
const others = [{label: 'application', pid: backend.pid!}]
try {
  const out: string[] = []
  out.push(...await measure('mesh pair', () => meshPair(backendPort, dist, {...PROXY_RUNTIME_ENV}), others))
  out.push(...await measure('node relay pair', () => nodeRelayPair(backendPort), others))
  out.push(...await measure('nginx pair', () => nginxPair(backendPort), others))
  process.stdout.write(out.join('\n') + '\n')
} finally {
  await stop([backend])
}
