// Benchmark: client -> outbound proxy -> inbound proxy -> app, against the direct path, an nginx
// pair in the same slots and a pair of minimal Node TCP relays (bench/proxy/relay.mjs: what any
// proxy on this runtime costs at least, here), in one run. The mesh pair runs twice: plaintext
// (static routes), and with mTLS between the proxies as in a mesh (identities and discovery
// from a local-mode controller; setups.ts meshTlsPair). Per path: open loop at 1,000 rps and at 50 % of the
// mesh pair's maximum (latency from the intended send time), closed-loop maximum throughput,
// CPU microseconds per request per proxy (/proc utime+stime), RSS at start, idle (settled: after
// the start-up code pages are dropped and V8's memory reducer ran, procs.ts SETTLE_MS) and under load.
// Prints a table and writes JSON to bench/results/proxy.json.
// Run: npx tsx bench/proxy/proxy-bench.ts [seconds per phase, default 8] [--dev] [--node-max]
//        [--proxy-env=K=V,...] [--no-runtime-env] [--rounds=N] [--soak=N]
// The 1,000 rps phase, whose latencies the targets compare between paths, runs in rounds (3 by
// default; --rounds=1 is one stretch per path as before), the paths in turn within each round,
// so that the machine's drift during the run lands on every path alike.
// The mesh proxies run with the runtime tuning injected pods get (PROXY_RUNTIME_ENV of
// src/protocol/proxy-env.ts: NODE_OPTIONS, MALLOC_ARENA_MAX) unless --no-runtime-env; --proxy-env
// adds or overrides variables of the mesh proxies only (e.g. MESH_PROXY_HTTP1_CODEC=node).
// The proxies run compiled (built into node_modules/.cache/mesh-bench-<checkout> first); --dev runs
// `mesh proxy` through tsx and oclif instead (more memory, same data path).
// The open loop's client is raw-client.ts (MESH_BENCH_GENERATOR=node: Node's http client, which
// takes twice the CPU per request from the machine the paths share).
// Every path gets the same warm-up before its measured fixed-rate phase: 1 s closed loop, then
// 1,000 rps until its JIT has settled (warmUp: its processes' threads other than the main one,
// V8's compilers and GC workers, quiet for two windows in a row, and at least WARM_MIN_S),
// discarded; its length and the CPU per request at its start and end are printed (what a
// proxy's first seconds under load cost); after every path's warm-up, each gets REWARM_S more
// right before the rounds (it idled meanwhile). --warm-up=N warms every path N s once instead
// (2: the bench before the rule). The closed-loop maximum runs in ROUNDS bursts of the phase's length,
// the paths in turn, a path's maximum its median burst; it uses h2load (a C generator, so the
// generator does not eat the CPUs the path needs; --node-max uses the Node generator); the
// CPU the generator and the app spend per request is printed, so the split is visible.
// Needs: nginx (apt-get install -y nginx), h2load (nghttp2-client). 1 KiB responses, HTTP/1.1.
// The mTLS pair keeps its connections; what a new connection between two proxies costs is the
// handshake, measured at the end by bench/tls-handshake.ts (RSA 2048 as certify issues, with
// and without session resumption) and printed and recorded with the rest (--no-handshake skips it).
// The summary ends with issue 25's verdict, ratios within this run: CPU per request per proxy
// at 1,000 rps against the relay pair's and the nginx pair's, at max against nginx's; the pair's
// throughput against nginx's, the mTLS pair's against an nginx pair with TLS between its proxies
// (same certificates: setups.ts nginxTlsPair); added p50 against the relay's, added p99 against
// nginx's on the median of the rounds; private memory and RSS per proxy, idle and under load.
// --soak=N (seconds) then runs the plaintext mesh pair N s more at 1,000 rps and reports its
// heap (after a full GC) and active handles every N/10 s: the heap flat or growing; the handles
// (open sockets, which follow the machine's stalls under load) back at their count before the
// soak once the load stops (within DRAIN_MS), or left open.
import {spawnSync} from 'node:child_process'
import {mkdirSync, mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import {cpus, loadavg, tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {PROXY_RUNTIME_ENV} from '../../src/protocol/proxy-env.js'
import {h2loadClosedLoop, hasH2load} from './h2load.js'
import {closedLoop, OPEN_LOOP_GENERATOR, openLoop, openLoopClient, openLoopRun, summarize, type LoadResult} from './load.js'
import {backgroundCpuMicros, cpuMicros, freePort, privateMB, rssMB, selfCpuMicros, SETTLE_MS, start, stop, waitHttp} from './procs.js'
import {buildDist, direct, HOST, meshPair, meshTlsPair, nginxPair, nginxTlsPair, nodeRelayPair, type Setup} from './setups.js'

const SECONDS = Number(process.argv.slice(2).find((a) => /^\d/.test(a)) ?? 8)
const DEV = process.argv.includes('--dev')
const WORKERS = 32
/** The 1,000 rps phase is split into this many rounds per path, the paths in turn (--rounds=N). */
const ROUNDS = Math.max(1, Number(process.argv.find((a) => a.startsWith('--rounds='))?.slice(9) ?? 3) || 3)
const H2LOAD = !process.argv.includes('--node-max') && hasH2load()
/** --soak=N: N seconds more of the plaintext mesh pair at 1,000 rps, its heap and handles sampled. */
/** The warm-up at 1,000 rps (warmUp): windows of WARM_WINDOW_S; at least WARM_MIN_S, at most WARM_MAX_S; --warm-up=N: N s. */
const WARM_WINDOW_S = 2
const WARM_FIXED_S = Number(process.argv.find((a) => a.startsWith('--warm-up='))?.slice(10) ?? NaN)
/**
 * V8's memory reducer collects ~8 s after the first full GC the load causes, with
 * `--optimize-for-size` under load too, and code that embedded the maps it frees deoptimizes
 * and is compiled again (9-13 s into the load, measured): a quiet stretch before it is not the
 * JIT settled. At 12 s a run once stopped just before it, and the rounds took the compile work.
 */
const WARM_MIN_S = 20
const WARM_MAX_S = 60
/** The second warm-up of each path, right before the rounds. */
const REWARM_S = 4
/** A window is quiet when each process's background threads spent at most this per request. */
const WARM_QUIET_US = 5
const SOAK = Number(process.argv.find((a) => a.startsWith('--soak='))?.slice(7) ?? 0) || 0
const STATS_FILE = SOAK > 0 ? join(mkdtempSync(join(tmpdir(), 'mesh-bench-soak-')), 'stats.jsonl') : undefined
/** Environment of the mesh proxies only: the injected runtime tuning, then --proxy-env. */
const PROXY_ENV: Record<string, string> = {
  ...(process.argv.includes('--no-runtime-env') ? {} : PROXY_RUNTIME_ENV),
  ...Object.fromEntries((process.argv.find((a) => a.startsWith('--proxy-env='))?.slice(12).split(',') ?? [])
  .filter((kv) => kv.includes('=')).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)])),
}
/** The machine's load before the bench adds its own. */
const LOAD_AT_START = loadavg()
/**
 * The runtime floor's process: Node's modules every proxy loads and one listening socket (Node's
 * listen() loads cluster, child_process and dgram and runs net's IPv6 pattern: ~1 MB private any
 * server pays), then nothing (kept alive).
 */
const FLOOR_SCRIPT = "for (const m of ['net', 'tls', 'crypto', 'http']) require('node:' + m); require('node:net').createServer().listen(0, '127.0.0.1'); setInterval(() => {}, 60000)"
let runtimeFloor = {rss: NaN, priv: NaN}
const fmt = (n: number, d = 2): string => (Number.isFinite(n) ? n.toFixed(d) : '-')

interface PathResult {
  name: string
  fixed1000: LoadResult
  /** The 1,000 rps phase round by round (fixed1000 is all rounds together). */
  rounds1000: LoadResult[]
  /** The median of its closed-loop bursts (maxPhase). */
  max: LoadResult
  /** Each burst's requests per second, in order. */
  maxBursts: number[]
  half?: LoadResult
  /** CPU µs per request of the load generator and of the app, at 1,000 rps and at max. */
  generatorUsPerReq: {at1000: number, atMax: number}
  appUsPerReq: {at1000: number, atMax: number}
  procs: {label: string, rssStartMB: number, rssIdleMB: number, privateIdleMB: number, rssLoadMB: number, privateLoadMB: number, cpuUsPerReq1000: number, cpuUsPerReqMax: number, backgroundUsPerReq1000: number}[]
  warmUp: WarmUp
}

/**
 * A path's warm-up at 1,000 rps: how long, whether its JIT settled, and each process's CPU µs per
 * request in its first and last window (all threads; background threads apart); `again`: the same
 * in its second warm-up, right before the rounds (REWARM_S).
 */
interface WarmUp { seconds: number, settled: boolean, first: LoadWindow[], last: LoadWindow[], again?: LoadWindow[] }

/** One process's CPU µs per request over a window of load, and its background threads' part. */
interface LoadWindow { cpu: number, background: number }

/** `seconds` at 1,000 rps through `client`, and each of the path's processes' CPU per request meanwhile. */
async function loadWindow(setup: Setup, client: ReturnType<typeof openLoopClient>, seconds: number): Promise<LoadWindow[]> {
  const pids = setup.procs.map((p) => p.pid)
  const c0 = pids.map(cpuMicros)
  const b0 = pids.map(backgroundCpuMicros)
  const run = await openLoopRun(client, 1000, seconds)
  const n = Math.max(1, run.lat.length)
  return pids.map((pid, i) => ({cpu: (cpuMicros(pid) - c0[i]) / n, background: (backgroundCpuMicros(pid) - b0[i]) / n}))
}

/**
 * Warms a path at 1,000 rps in windows of WARM_WINDOW_S until its JIT has settled: for at least
 * WARM_MIN_S, then until two windows in a row in which every process's background threads (V8's
 * concurrent compilers and GC workers) spent at most WARM_QUIET_US per request; WARM_MAX_S at most.
 */
async function warmUp(setup: Setup): Promise<WarmUp> {
  const client = openLoopClient(setup.port, HOST)
  const windows: LoadWindow[][] = []
  let quietInARow = 0
  let seconds = 0
  try {
    while (true) {
      const span = Number.isFinite(WARM_FIXED_S) ? Math.min(WARM_WINDOW_S, WARM_FIXED_S - seconds) : WARM_WINDOW_S
      const w = await loadWindow(setup, client, span)
      seconds += span
      windows.push(w)
      quietInARow = w.every((x) => x.background <= WARM_QUIET_US) ? quietInARow + 1 : 0
      if (Number.isFinite(WARM_FIXED_S) ? seconds >= WARM_FIXED_S : (seconds >= WARM_MIN_S && quietInARow >= 2) || seconds >= WARM_MAX_S) break
    }
  } finally {
    client.close()
  }
  return {seconds, settled: quietInARow >= 2, first: windows[0], last: windows[windows.length - 1]}
}

/** CPU of the measured processes (the path's proxies, then the app) and of this process. */
function cpuNow(pids: number[]): {procs: number[], gen: {own: number, children: number}} {
  return {procs: pids.map(cpuMicros), gen: selfCpuMicros()}
}

/**
 * The 1,000 rps phase of every path, in ROUNDS rounds with the paths in turn within each round,
 * so that the machine's drift over the run hits every path alike (the targets compare paths);
 * each path's latencies over its rounds make one histogram, its CPU is summed over them.
 */
async function fixedRatePhase(setups: Setup[], backendPid: number): Promise<{fixed1000: LoadResult, rounds: LoadResult[], cpuUs: number[], backgroundUs: number[], genUs: number, appUs: number}[]> {
  const acc = setups.map((s) => ({lat: [] as Float64Array[], rounds: [] as LoadResult[], cpu: s.procs.map(() => 0), background: s.procs.map(() => 0), gen: 0, app: 0, client: openLoopClient(s.port, HOST)}))
  for (let r = 0; r < ROUNDS; r++) {
    for (const [i, s] of setups.entries()) {
      const a = acc[i]
      const pids = [...s.procs.map((p) => p.pid), backendPid]
      const b0 = s.procs.map((p) => backgroundCpuMicros(p.pid))
      const c0 = cpuNow(pids)
      const run = await openLoopRun(a.client, 1000, SECONDS / ROUNDS)
      const c1 = cpuNow(pids)
      s.procs.forEach((p, j) => { a.background[j] += backgroundCpuMicros(p.pid) - b0[j] })
      a.lat.push(run.lat)
      a.rounds.push(summarize(run.lat.slice(), run.lat.length, run.ok, run.lat.length - run.ok, run.seconds))
      s.procs.forEach((_, j) => { a.cpu[j] += c1.procs[j] - c0.procs[j] })
      a.app += c1.procs[pids.length - 1] - c0.procs[pids.length - 1]
      a.gen += c1.gen.own - c0.gen.own
    }
  }
  return acc.map((a) => {
    a.client.close()
    const n = a.lat.reduce((t, l) => t + l.length, 0)
    const all = new Float64Array(n)
    let at = 0
    for (const l of a.lat) {
      all.set(l, at)
      at += l.length
    }
    const ok = a.rounds.reduce((t, r) => t + r.ok, 0)
    const seconds = a.rounds.reduce((t, r) => t + r.seconds, 0)
    return {fixed1000: summarize(all, n, ok, n - ok, seconds), rounds: a.rounds, cpuUs: a.cpu.map((c) => c / n), backgroundUs: a.background.map((c) => c / n), genUs: a.gen / n, appUs: a.app / n}
  })
}

/**
 * The closed-loop maximum of every path, in ROUNDS bursts of SECONDS each with the paths in turn
 * (as the 1,000 rps rounds: the machine's drift and stalls land on every path alike): a path's
 * maximum is its median burst, its CPU per request is over all its bursts, its RSS under load
 * is read after its last burst (`idle`: each proxy's RSS before any load).
 */
async function maxPhase(setups: Setup[], backendPid: number, idle: {rss: number, priv: number, start: number}[][]): Promise<Omit<PathResult, 'fixed1000' | 'rounds1000' | 'warmUp'>[]> {
  const acc = setups.map((s) => ({bursts: [] as LoadResult[], cpu: s.procs.map(() => 0), gen: 0, app: 0}))
  for (let r = 0; r < ROUNDS; r++) {
    for (const [i, s] of setups.entries()) {
      process.stderr.write(`measuring ${s.name}'s maximum (burst ${r + 1} of ${ROUNDS})...\n`)
      const pids = [...s.procs.map((p) => p.pid), backendPid]
      const c0 = cpuNow(pids)
      const max = H2LOAD ? await h2loadClosedLoop(s.port, HOST, WORKERS, SECONDS) : await closedLoop(s.port, HOST, WORKERS, SECONDS)
      const c1 = cpuNow(pids)
      const a = acc[i]
      a.bursts.push(max)
      s.procs.forEach((_, j) => { a.cpu[j] += c1.procs[j] - c0.procs[j] })
      a.app += c1.procs[pids.length - 1] - c0.procs[pids.length - 1]
      a.gen += H2LOAD ? c1.gen.children - c0.gen.children : c1.gen.own - c0.gen.own
    }
  }
  return setups.map((s, i) => {
    const a = acc[i]
    const sent = a.bursts.reduce((t, b) => t + b.sent, 0)
    const max = [...a.bursts].sort((x, y) => x.rps - y.rps)[Math.floor((a.bursts.length - 1) / 2)]
    const procs = s.procs.map((p, j) => ({
      label: p.label, rssStartMB: idle[i][j].start, rssIdleMB: idle[i][j].rss, privateIdleMB: idle[i][j].priv,
      rssLoadMB: rssMB(p.pid), privateLoadMB: privateMB(p.pid), cpuUsPerReq1000: 0, cpuUsPerReqMax: a.cpu[j] / sent, backgroundUsPerReq1000: 0,
    }))
    return {name: s.name, max, maxBursts: a.bursts.map((b) => b.rps), generatorUsPerReq: {at1000: 0, atMax: a.gen / sent}, appUsPerReq: {at1000: 0, atMax: a.app / sent}, procs}
  })
}

async function main(): Promise<void> {
  const backendPort = await freePort()
  const backend = start(process.execPath, [fileURLToPath(new URL('./backend.mjs', import.meta.url)), String(backendPort)])
  await waitHttp(backendPort, HOST)
  const dist = DEV ? undefined : buildDist()
  const mtls = await meshTlsPair(backendPort, dist, PROXY_ENV)
  const setups: Setup[] = [direct(backendPort), await meshPair(backendPort, dist, STATS_FILE ? {...PROXY_ENV, MESH_BENCH_STATS: STATS_FILE} : PROXY_ENV), await nginxPair(backendPort),
    await nodeRelayPair(backendPort), mtls, await nginxTlsPair(backendPort, mtls.certs!)]
  const results: PathResult[] = []
  try {
    // Idle RSS first (started and answered the readiness probe, before any load), then the same
    // warm-up for every path (JIT, pools, connections), discarded.
    // At start (ready), then idle once settled (SETTLE_MS: the start-up code pages dropped,
    // src/proxy/net/code-pages.ts, and V8's memory reducer's first GC done), as in a pod.
    const started = setups.map((s) => s.procs.map((p) => rssMB(p.pid)))
    // The runtime's own floor, beside them: a node with the proxy's runtime settings that has
    // loaded what every proxy loads (net, tls, crypto, http), listens, and runs nothing.
    const floor = start(process.execPath, ['-e', FLOOR_SCRIPT], PROXY_ENV)
    await new Promise((r) => setTimeout(r, SETTLE_MS))
    const idle = setups.map((s, i) => s.procs.map((p, j) => ({rss: rssMB(p.pid), priv: privateMB(p.pid), start: started[i][j]})))
    runtimeFloor = {rss: rssMB(floor.pid!), priv: privateMB(floor.pid!)}
    await stop([floor])
    const warm: WarmUp[] = []
    for (const s of setups) {
      await closedLoop(s.port, HOST, 8, 1)
      process.stderr.write(`warming ${s.name} at 1,000 rps...\n`)
      warm.push(await warmUp(s))
    }
    // Each path waited for the others' warm-ups, idle: its pools closed their connections, and a
    // GC that came as its warm-up ended may have deoptimized code it only compiles again under
    // load. So each gets REWARM_S more at 1,000 rps right before the rounds, discarded but printed.
    if (!Number.isFinite(WARM_FIXED_S)) {
      for (const [i, s] of setups.entries()) {
        const client = openLoopClient(s.port, HOST)
        warm[i].again = await loadWindow(s, client, REWARM_S)
        client.close()
      }
    }
    process.stderr.write(`1,000 rps: ${ROUNDS} rounds of ${fmt(SECONDS / ROUNDS, 1)} s per path, the paths in turn...\n`)
    const fixed = await fixedRatePhase(setups, backend.pid!)
    const maxima = await maxPhase(setups, backend.pid!, idle)
    for (const [i, m] of maxima.entries()) {
      m.procs.forEach((p, j) => { p.cpuUsPerReq1000 = fixed[i].cpuUs[j] })
      m.generatorUsPerReq.at1000 = fixed[i].genUs
      m.appUsPerReq.at1000 = fixed[i].appUs
      m.procs.forEach((p, j) => { p.backgroundUsPerReq1000 = fixed[i].backgroundUs[j] })
      results.push({...m, fixed1000: fixed[i].fixed1000, rounds1000: fixed[i].rounds, warmUp: warm[i]})
    }
    const halfRate = Math.max(100, Math.round(results[1].max.rps / 2))
    for (const [i, s] of setups.entries()) {
      process.stderr.write(`${s.name} at ${halfRate} rps...\n`)
      await openLoop(s.port, HOST, halfRate, 1) // warm-up at this rate, discarded
      results[i].half = await openLoop(s.port, HOST, halfRate, SECONDS)
    }
    const soak = SOAK > 0 ? await soakRun(setups[1]) : undefined
    report(results, halfRate, handshakeCost(), soak)
  } finally {
    for (const s of setups) await s.close()
    await stop([backend])
  }
}

interface SoakSample { at: number, heapUsed: number, rss: number, handles: Record<string, number> }
interface SoakResult {
  seconds: number, rps: number, errors: number, samples: Record<string, SoakSample[]>
  /** Each proxy's CPU µs per request in each tenth of the soak, and its background threads' (V8's compilers and GC workers). */
  cpu: Record<string, {cpu: number, background: number}[]>
  /** Once the load stopped and its connections closed: each proxy's handles, against its count before the soak, and when. */
  drained: Record<string, {handles: number, baseline: number, afterMs: number}>
}
/** How long the soak waits for the proxies' connections to close after its load: the pools' idle time, a sweep, a margin. */
const DRAIN_MS = 30_000

/**
 * The plaintext mesh pair at 1,000 rps for SOAK seconds: every SOAK/10 s each proxy writes its heap
 * after a full GC and its active handles (sidecar.mjs, SIGUSR2) to STATS_FILE.
 */
async function soakRun(setup: Setup): Promise<SoakResult> {
  process.stderr.write(`soak: ${SOAK} s at 1,000 rps on the ${setup.name}...\n`)
  const every = SOAK / 10
  const client = openLoopClient(setup.port, HOST)
  const sample = (): void => { for (const p of setup.procs) process.kill(p.pid, 'SIGUSR2') }
  sample()
  let errors = 0
  let ok = 0
  let seconds = 0
  const cpu: SoakResult['cpu'] = Object.fromEntries(setup.procs.map((p) => [p.label, []]))
  for (let i = 0; i < 10; i++) {
    const c0 = setup.procs.map((p) => cpuMicros(p.pid))
    const b0 = setup.procs.map((p) => backgroundCpuMicros(p.pid))
    const run = await openLoopRun(client, 1000, every)
    const n = Math.max(1, run.lat.length)
    setup.procs.forEach((p, j) => cpu[p.label].push({cpu: (cpuMicros(p.pid) - c0[j]) / n, background: (backgroundCpuMicros(p.pid) - b0[j]) / n}))
    errors += run.lat.length - run.ok
    ok += run.ok
    seconds += run.seconds
    sample()
  }
  client.close()
  await new Promise((r) => setTimeout(r, 500))
  const read = (): Array<SoakSample & {pid: number}> => readFileSync(STATS_FILE!, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as SoakSample & {pid: number})
  const lines = read()
  const samples: Record<string, SoakSample[]> = {}
  for (const p of setup.procs) samples[p.label] = lines.filter((l) => l.pid === p.pid)
  // The open sockets follow the machine's stalls during the load (a stall opens client connections,
  // and the pools more upstream ones), so their peaks say little; a leak is what does not close
  // once the load is gone. Each proxy's handles are read every second until back at their count
  // before the soak, or DRAIN_MS.
  const total = (x: SoakSample): number => Object.values(x.handles).reduce((t, n) => t + n, 0)
  const stopped = Date.now()
  const drained: SoakResult['drained'] = {}
  for (;;) {
    const before = read().length
    sample()
    while (read().length < before + setup.procs.length && Date.now() - stopped < DRAIN_MS + 5000) await new Promise((r) => setTimeout(r, 50))
    const now = read()
    for (const p of setup.procs) {
      const last = now.filter((l) => l.pid === p.pid).at(-1)!
      drained[p.label] = {handles: total(last), baseline: total(samples[p.label][0]), afterMs: Date.now() - stopped}
    }
    if (Object.values(drained).every((d) => d.handles <= d.baseline) || Date.now() - stopped >= DRAIN_MS) break
    await new Promise((r) => setTimeout(r, 1000))
  }
  return {seconds, rps: ok / seconds, errors, samples, drained, cpu}
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

function report(results: PathResult[], halfRate: number, handshake: string[], soak?: SoakResult): void {
  const [d, mesh, nginx, relay, mtls, nginxTls] = results
  const gen = H2LOAD ? `h2load --h1 -c ${WORKERS}` : `Node, ${WORKERS} workers`
  const lines = [`proxy benchmark (${DEV ? 'dev' : 'compiled'}; load average at start ${LOAD_AT_START.map((l) => l.toFixed(1)).join(' ')}, at end ${loadavg().map((l) => l.toFixed(1)).join(' ')} on ${cpus().length} CPUs): ${SECONDS}s per phase after a warm-up (1,000 rps: ${ROUNDS} rounds of ${fmt(SECONDS / ROUNDS, 1)} s per path, the paths in turn; max: the median of ${ROUNDS} bursts of ${SECONDS} s per path, in turn), 1 KiB responses, HTTP/1.1 keep-alive, 127.0.0.1; open loop: ${OPEN_LOOP_GENERATOR}, latency from the intended send time; max: ${gen}${Object.keys(PROXY_ENV).length ? `; proxy env ${JSON.stringify(PROXY_ENV)}` : ''}`, '']
  lines.push('path              rate     p50 ms   p90 ms   p99 ms  p99.9 ms   max ms  added p50/p99 vs direct  errors')
  for (const r of results) {
    for (const [label, l, base] of [['1000', r.fixed1000, d.fixed1000], [String(halfRate), r.half!, d.half!]] as const) {
      const added = r === d ? '-' : `${fmt(l.p50 - base.p50, 3)} / ${fmt(l.p99 - base.p99, 3)}`
      lines.push(`${r.name.padEnd(16)} ${label.padStart(5)}  ${fmt(l.p50).padStart(7)}  ${fmt(l.p90).padStart(7)}  ${fmt(l.p99).padStart(7)}  ${fmt(l.p999).padStart(8)}  ${fmt(l.max).padStart(7)}  ${added.padStart(23)}  ${String(l.errors).padStart(6)}`)
    }
  }
  lines.push('', 'path              max rps  generator/app CPU us/req @1000, @max   per proxy: CPU us/req @1000 rps, @max; RSS MB at start, idle, under load (private idle, under load)')
  for (const r of results) {
    const per = r.procs.map((p) => `${p.label} ${fmt(p.cpuUsPerReq1000, 0)}/${fmt(p.cpuUsPerReqMax, 0)} us, ${fmt(p.rssStartMB, 1)}/${fmt(p.rssIdleMB, 1)}/${fmt(p.rssLoadMB, 1)} (${fmt(p.privateIdleMB, 1)}/${fmt(p.privateLoadMB, 1)}) MB`).join('; ')
    const ga = `${fmt(r.generatorUsPerReq.at1000, 0)}, ${fmt(r.generatorUsPerReq.atMax, 0)} / ${fmt(r.appUsPerReq.at1000, 0)}, ${fmt(r.appUsPerReq.atMax, 0)}`
    lines.push(`${r.name.padEnd(16)} ${fmt(r.max.rps, 0).padStart(8)}  ${ga.padStart(32)}   ${per || '-'}`)
  }
  lines.push('', 'warm-up at 1,000 rps before the measured phases (per process: CPU us/req in the first window -> the last, and again in the second warm-up right before the rounds; background threads, i.e. V8\'s compilers and GC workers, in brackets):')
  for (const r of results) {
    const w = r.warmUp
    const per = r.procs.map((p, i) => `${p.label} ${fmt(w.first[i].cpu, 0)} (${fmt(w.first[i].background, 1)}) -> ${fmt(w.last[i].cpu, 0)} (${fmt(w.last[i].background, 1)})${w.again ? `, again ${fmt(w.again[i].cpu, 0)} (${fmt(w.again[i].background, 1)})` : ''}`).join('; ')
    lines.push(`  ${r.name.padEnd(16)} ${fmt(w.seconds, 0).padStart(3)} s${Number.isFinite(WARM_FIXED_S) ? ' (--warm-up)' : w.settled ? ', settled' : ', NOT settled'}${per ? `: ${per}` : ''}`)
  }
  // Each round against direct's round next to it, and the median over rounds: one stall of the
  // machine moves a pooled p99 but only one round's.
  const perRound = (path: PathResult, q: 'p50' | 'p99'): number[] => path.rounds1000.map((r, i) => r[q] - d.rounds1000[i][q])
  const median = (xs: number[]): number => {
    const s = [...xs].sort((a, b) => a - b)
    return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
  }
  const added = (path: PathResult): {p50: number, p99: number, p99Median: number} =>
    ({p50: path.fixed1000.p50 - d.fixed1000.p50, p99: path.fixed1000.p99 - d.fixed1000.p99, p99Median: median(perRound(path, 'p99'))})
  const meanCpu = (path: PathResult, at: 'cpuUsPerReq1000' | 'cpuUsPerReqMax'): number => path.procs.reduce((t, p) => t + p[at], 0) / path.procs.length
  const worstCpu = (path: PathResult, at: 'cpuUsPerReq1000' | 'cpuUsPerReqMax'): number => Math.max(...path.procs.map((p) => p[at]))
  const worst = (path: PathResult, f: (p: PathResult['procs'][number]) => number): number => Math.max(...path.procs.map(f))
  // Compile work in the rounds (V8's background threads over the warm-up's quiet bound) is not the
  // steady state the ratio means: said beside it.
  const compiling = mesh.procs.some((p) => p.backgroundUsPerReq1000 > WARM_QUIET_US)
    ? `the mesh proxies' background threads spent ${mesh.procs.map((p) => fmt(p.backgroundUsPerReq1000, 1)).join('/')} us per request in the rounds: compile work, not the steady state`
    : ''
  const bursts = (path: PathResult): string => path.maxBursts.map((x) => fmt(x, 0)).join(', ')
  // Issue 25's targets, each a ratio within this run (the worse of the two proxies against the
  // mean of the pair compared with).
  const verdict = [
    {what: 'CPU us/req per proxy at 1,000 rps vs the node relay pair', value: worstCpu(mesh, 'cpuUsPerReq1000') / meanCpu(relay, 'cpuUsPerReq1000'), limit: 1.3, unit: 'x', atMost: true, note: compiling},
    {what: 'CPU us/req per proxy at 1,000 rps vs the nginx pair', value: worstCpu(mesh, 'cpuUsPerReq1000') / meanCpu(nginx, 'cpuUsPerReq1000'), limit: 1.8, unit: 'x', atMost: true, note: compiling},
    {what: 'CPU us/req per proxy at max vs the nginx pair', value: worstCpu(mesh, 'cpuUsPerReqMax') / meanCpu(nginx, 'cpuUsPerReqMax'), limit: 1.5, unit: 'x', atMost: true},
    {what: 'pair throughput vs the nginx pair', value: mesh.max.rps / nginx.max.rps, limit: 0.8, unit: 'x', atMost: false, note: `median burst; rps ${bursts(mesh)} against ${bursts(nginx)}`},
    {what: 'mTLS pair throughput vs the nginx pair with TLS', value: mtls.max.rps / nginxTls.max.rps, limit: 0.75, unit: 'x', atMost: false, note: `median burst; rps ${bursts(mtls)} against ${bursts(nginxTls)}`},
    {what: 'added p50 at 1,000 rps minus the node relay pair\'s (ms)', value: added(mesh).p50 - added(relay).p50, limit: 0.1, unit: ' ms', atMost: true},
    {what: 'added p99 at 1,000 rps (median of rounds) vs the nginx pair\'s', value: added(mesh).p99Median / added(nginx).p99Median, limit: 2, unit: 'x', atMost: true,
      note: `${fmt(added(mesh).p99Median, 3)} vs ${fmt(added(nginx).p99Median, 3)} ms${added(nginx).p99Median <= 0 ? ': nginx added nothing measurable, the ratio means nothing' : ''}`},
    {what: 'private MB per proxy, idle', value: worst(mesh, (p) => p.privateIdleMB), limit: 12, unit: ' MB', atMost: true,
      note: `a node that loaded net, tls, crypto and http, listens and runs nothing: ${fmt(runtimeFloor.priv, 1)} MB private, ${fmt(runtimeFloor.rss, 1)} MB RSS`},
    {what: 'private MB per proxy, under load', value: worst(mesh, (p) => p.privateLoadMB), limit: 12, unit: ' MB', atMost: true},
    {what: 'RSS MB per proxy, idle', value: worst(mesh, (p) => p.rssIdleMB), limit: 55, unit: ' MB', atMost: true},
    {what: 'RSS MB per proxy, under load', value: worst(mesh, (p) => p.rssLoadMB), limit: 55, unit: ' MB', atMost: true},
  ].map((v) => ({...v, met: Number.isFinite(v.value) && (v.atMost ? v.value <= v.limit : v.value >= v.limit)}))
  lines.push('', 'verdict (issue 25; the mesh pair against the paths beside it in this run):')
  for (const v of verdict) lines.push(`  ${v.met ? 'met    ' : 'NOT met'}  ${v.what}: ${fmt(v.value, 2)}${v.unit} (${v.atMost ? '<=' : '>='} ${v.limit}${v.unit})${'note' in v && v.note ? `; ${v.note}` : ''}`)
  const list = (xs: number[]): string => xs.map((x) => fmt(x, 3)).join(', ')
  for (const r of [mesh, relay, nginx, mtls, nginxTls]) {
    const a = added(r)
    lines.push(`  ${r.name}: added p50 ${fmt(a.p50, 3)}, p99 ${fmt(a.p99, 3)} ms; rounds p50 ${list(perRound(r, 'p50'))}, p99 ${list(perRound(r, 'p99'))} (median ${fmt(a.p99Median, 3)}); CPU us/req @1000 ${r.procs.map((p) => fmt(p.cpuUsPerReq1000, 0)).join('/')} (background threads ${r.procs.map((p) => fmt(p.backgroundUsPerReq1000, 1)).join('/')}), @max ${r.procs.map((p) => fmt(p.cpuUsPerReqMax, 0)).join('/')}`)
  }
  lines.push(`  mTLS: CPU us/req per proxy at 1,000 rps vs the nginx pair with TLS ${fmt(worstCpu(mtls, 'cpuUsPerReq1000') / meanCpu(nginxTls, 'cpuUsPerReq1000'), 2)}x, at max ${fmt(worstCpu(mtls, 'cpuUsPerReqMax') / meanCpu(nginxTls, 'cpuUsPerReqMax'), 2)}x; RSS ${fmt(worst(mtls, (p) => p.rssLoadMB), 1)} MB (private ${fmt(worst(mtls, (p) => p.privateLoadMB), 1)}) under load`)
  if (soak) {
    lines.push('', `soak: ${fmt(soak.seconds, 0)} s at ${fmt(soak.rps, 0)} rps on the mesh pair, ${soak.errors} errors; per proxy, heap used after a full GC (MB) and active handles, every ${fmt(soak.seconds / 10, 0)} s:`)
    for (const [label, xs] of Object.entries(soak.samples)) {
      const handles = (x: SoakSample): number => Object.values(x.handles).reduce((t, n) => t + n, 0)
      lines.push(`  ${label} heap: ${xs.map((x) => fmt(x.heapUsed / 2 ** 20, 2)).join(' ')}`)
      lines.push(`  ${label} handles: ${xs.map(handles).join(' ')} (last: ${JSON.stringify(xs.at(-1)?.handles ?? {})})`)
      lines.push(`  ${label} CPU us/req (background threads): ${soak.cpu[label].map((c) => `${fmt(c.cpu, 0)} (${fmt(c.background, 1)})`).join(' ')}`)
      // Flat: the second half's heap no higher than the first half's highest by more than 1 MB, handles likewise within 8.
      const half = Math.floor(xs.length / 2)
      const first = xs.slice(1, half + 1)
      const second = xs.slice(half + 1)
      const heapFlat = Math.max(...second.map((x) => x.heapUsed)) <= Math.max(...first.map((x) => x.heapUsed)) + 2 ** 20
      const d = soak.drained[label]
      const handlesFlat = d.handles <= d.baseline
      lines.push(`  ${label}: heap ${heapFlat ? 'flat' : 'GROWING'} (the second half's highest against the first half's, +1 MB), handles ${handlesFlat ? 'flat' : 'LEFT OPEN'}: ${d.handles} ${handlesFlat ? 'back at' : 'against'} ${d.baseline} before the soak, ${fmt(d.afterMs / 1000, 1)} s after the load stopped`)
    }
  }
  lines.push('', 'mTLS between the proxies: handshake cost (bench/tls-handshake.ts, 200 handshakes, concurrency 2):', ...handshake.map((l) => `  ${l}`))
  process.stdout.write(lines.join('\n') + '\n')
  const dir = fileURLToPath(new URL('../results/', import.meta.url))
  mkdirSync(dir, {recursive: true})
  const doc = {date: new Date().toISOString(), node: process.version, mode: DEV ? 'dev (tsx + oclif)' : 'compiled', maxGenerator: H2LOAD ? 'h2load' : 'node', proxyEnv: PROXY_ENV, loadAverageAtStart: LOAD_AT_START, loadAverage: loadavg(), cpus: cpus().length, secondsPerPhase: SECONDS, roundsAt1000: ROUNDS, halfRate, results, verdict, soak, handshake}
  writeFileSync(`${dir}proxy.json`, JSON.stringify(doc, null, 2) + '\n')
  process.stderr.write(`wrote ${dir}proxy.json\n`)
}

await main()
