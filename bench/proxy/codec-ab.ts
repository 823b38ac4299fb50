// A/B (or A/B/C...) of mesh pairs from the same compiled build, by the proxies' environment (by
// default the HTTP/1 codecs: MESH_PROXY_HTTP1_CODEC=node against =raw), plus the nginx pair, run
// side by side against the same app with interleaved rounds (so the machine's noise hits all
// alike; the order of the paths turns by one each round). Per round and path: an h2load burst
// (closed loop), then `seconds` at 1,000 rps (open loop). Per path: median rps (and against the
// nginx pair's), CPU µs per request per proxy at the maximum and at 1,000 rps over all its
// rounds, the 1,000 rps rounds' median p50, and each proxy's memory: RSS and private (anonymous)
// idle once settled (procs.ts SETTLE_MS) and right after each burst (median and highest of the
// rounds) and after each 1,000 rps stretch (highest).
//   npx tsx bench/proxy/codec-ab.ts [rounds=6] [seconds=2] [--a=K=V,...] [--b=K=V,...] [--c=... up to --h=...]
//        [--mtls] [--gc]
// Each variant's environment goes over the pods' runtime settings (PROXY_RUNTIME_ENV); `--x=K=`
// sets K empty (e.g. --c=NODE_OPTIONS= runs V8's defaults). --mtls compares meshed pairs (mTLS
// between the proxies, setups.ts meshTlsPair) and the nginx pair with TLS instead. --gc counts
// each proxy's GC pauses per phase (sidecar.mjs MESH_BENCH_GC): pauses per 1,000 requests, their
// main-thread time per request and its share of the proxy's CPU.
// e.g. the sidecar's bundle against tsc's modules: --a=MESH_BENCH_UNBUNDLED=1 --b= (bench/proxy/sidecar.mjs);
// the young generation's size: --a=NODE_OPTIONS=--max-semi-space-size=1 --b=NODE_OPTIONS=--max-semi-space-size=4 --gc
import {existsSync, mkdtempSync, readFileSync} from 'node:fs'
import {loadavg, tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {PROXY_RUNTIME_ENV} from '../../src/protocol/proxy-env.js'
import {h2loadClosedLoop, hasH2load} from './h2load.js'
import {openLoop} from './load.js'
import {cpuMicros, freePort, privateMB, rssMB, SETTLE_MS, start, stop, waitHttp} from './procs.js'
import {buildDist, HOST, meshPair, meshTlsPair, nginxPair, nginxTlsPair, type Setup} from './setups.js'

const numbers = process.argv.slice(2).filter((a) => /^\d/.test(a))
const ROUNDS = Number(numbers[0] ?? 6)
const SECONDS = Number(numbers[1] ?? 2)
const CONNS = 32
const RATE = 1000
const MTLS = process.argv.includes('--mtls')
const GC_DIR = process.argv.includes('--gc') ? mkdtempSync(join(tmpdir(), 'mesh-bench-gc-')) : undefined

/** `--a=K=V,...` as an environment; `fallback` when the flag is absent (undefined: no such variant). */
function envArg(name: string, fallback?: Record<string, string>): {label: string, env: Record<string, string>} | undefined {
  const arg = process.argv.find((a) => a.startsWith(`--${name}=`))
  if (arg === undefined) return fallback && {label: Object.entries(fallback).map(([k, v]) => `${k}=${v}`).join(','), env: fallback}
  const value = arg.slice(name.length + 3)
  const env = Object.fromEntries(value.split(',').filter((kv) => kv.includes('=')).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]))
  return {label: value || '(as built)', env}
}

interface GcTotals { minor: number, minorMs: number, other: number, otherMs: number, youngCommitted: number }

/** A proxy's GC totals so far (sidecar.mjs MESH_BENCH_GC, on SIGUSR2), from its file; zeros if it does not answer within 1 s. */
async function gcTotals(file: string, pid: number): Promise<GcTotals> {
  const before = existsSync(file) ? readFileSync(file, 'utf8').length : 0
  process.kill(pid, 'SIGUSR2')
  for (let i = 0; i < 50; i++) {
    await new Promise((r) => setTimeout(r, 20))
    const lines = existsSync(file) ? readFileSync(file, 'utf8').slice(before).trim().split('\n').filter(Boolean) : []
    const mine = lines.map((l) => JSON.parse(l) as GcTotals & {pid: number}).find((l) => l.pid === pid)
    if (mine) return mine
  }
  return {minor: 0, minorMs: 0, other: 0, otherMs: 0, youngCommitted: 0}
}

async function main(): Promise<void> {
  if (!hasH2load()) throw new Error('h2load is needed (apt-get install -y nghttp2-client)')
  const load0 = loadavg().map((l) => l.toFixed(1)).join(' ')
  const backendPort = await freePort()
  const backend = start(process.execPath, [fileURLToPath(new URL('./backend.mjs', import.meta.url)), String(backendPort)])
  await waitHttp(backendPort, HOST)
  const dist = buildDist()
  const variants = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h']
    .map((name) => ({name, arg: envArg(name, name === 'a' ? {MESH_PROXY_HTTP1_CODEC: 'node'} : name === 'b' ? {MESH_PROXY_HTTP1_CODEC: 'raw'} : undefined)}))
    .filter((v) => v.arg !== undefined)
  const paths: {label: string, setup: Setup, gcFile?: string}[] = []
  const closeAll = async (): Promise<void> => {
    for (const p of paths) await p.setup.close()
    await stop([backend])
  }
  try {
    for (const {name, arg} of variants) {
      const gcFile = GC_DIR && join(GC_DIR, `${name}.jsonl`)
      const env = {...PROXY_RUNTIME_ENV, ...arg!.env, ...(gcFile ? {MESH_BENCH_GC: gcFile} : {})}
      paths.push({label: `${name.toUpperCase()} ${arg!.label}`, setup: await (MTLS ? meshTlsPair : meshPair)(backendPort, dist, env), gcFile})
    }
    const certs = paths[0].setup.certs
    paths.push({label: MTLS ? 'nginx pair, mTLS' : 'nginx pair', setup: await (MTLS ? nginxTlsPair(backendPort, certs!) : nginxPair(backendPort))})
  } catch (error) {
    await closeAll()
    throw error
  }
  try {
    const startedAt = Date.now()
    const rps = paths.map(() => [] as number[])
    const p50 = paths.map(() => [] as number[])
    const done = paths.map(() => ({max: 0, fixed: 0}))
    const cpu = paths.map((p) => p.setup.procs.map(() => ({max: 0, fixed: 0})))
    /** Per round, CPU µs per request of the pair's proxies (their mean): the spread within the run. */
    const perRound = paths.map(() => ({max: [] as number[], fixed: [] as number[]}))
    const gc = paths.map((p) => p.setup.procs.map(() => ({max: {n: 0, ms: 0, other: 0}, fixed: {n: 0, ms: 0, other: 0}, young: 0})))
    const mem = paths.map((p) => p.setup.procs.map(() => ({rssIdle: 0, privIdle: 0, rssMax: [] as number[], privMax: [] as number[], rssFixed: 0, privFixed: 0})))
    const phase = async (i: number, kind: 'max' | 'fixed'): Promise<void> => {
      const {setup, gcFile} = paths[i]
      const procs = setup.procs
      const g0 = gcFile ? await Promise.all(procs.map((p) => gcTotals(gcFile, p.pid))) : []
      const c0 = procs.map((p) => cpuMicros(p.pid))
      const res = kind === 'max' ? await h2loadClosedLoop(setup.port, HOST, CONNS, SECONDS) : await openLoop(setup.port, HOST, RATE, SECONDS)
      const c1 = procs.map((p) => cpuMicros(p.pid))
      if (procs.length > 0) perRound[i][kind].push(c1.reduce((t, c, j) => t + c - c0[j], 0) / procs.length / Math.max(1, res.ok))
      procs.forEach((p, j) => {
        cpu[i][j][kind] += c1[j] - c0[j]
        const m = mem[i][j]
        if (kind === 'max') {
          m.rssMax.push(rssMB(p.pid))
          m.privMax.push(privateMB(p.pid))
        } else {
          m.rssFixed = Math.max(m.rssFixed, rssMB(p.pid))
          m.privFixed = Math.max(m.privFixed, privateMB(p.pid))
        }
      })
      if (gcFile) {
        const g1 = await Promise.all(procs.map((p) => gcTotals(gcFile, p.pid)))
        procs.forEach((_, j) => {
          const acc = gc[i][j]
          acc[kind].n += g1[j].minor - g0[j].minor
          acc[kind].ms += g1[j].minorMs - g0[j].minorMs
          acc[kind].other += g1[j].other - g0[j].other
          acc.young = Math.max(acc.young, g1[j].youngCommitted)
        })
      }
      done[i][kind] += res.ok
      if (kind === 'max') rps[i].push(Math.round(res.rps))
      else p50[i].push(res.p50)
    }
    // Idle, once settled (as a pod's sidecar sits), before any load.
    await new Promise((r) => setTimeout(r, Math.max(0, SETTLE_MS - (Date.now() - startedAt))))
    paths.forEach((p, i) => p.setup.procs.forEach((proc, j) => {
      mem[i][j].rssIdle = rssMB(proc.pid)
      mem[i][j].privIdle = privateMB(proc.pid)
    }))
    // Warm-up, discarded.
    for (const p of paths) {
      await h2loadClosedLoop(p.setup.port, HOST, CONNS, 1)
      await openLoop(p.setup.port, HOST, RATE, 1)
    }
    for (let r = 0; r < ROUNDS; r++) {
      const order = paths.map((_, k) => (k + r) % paths.length)
      for (const i of order) await phase(i, 'max')
      for (const i of order) await phase(i, 'fixed')
    }
    const median = (xs: number[]): number => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]
    const f1 = (x: number): string => x.toFixed(1)
    const nginxRps = median(rps[paths.length - 1])
    console.log(`A/B (compiled${MTLS ? ', mTLS' : ''}; ${ROUNDS} rounds per path, interleaved, the order turning each round: ${SECONDS} s h2load --h1 -c ${CONNS}, then ${SECONDS} s at ${RATE} rps; load average ${load0} at start, ${loadavg().map((l) => l.toFixed(1)).join(' ')} at end)`)
    for (let i = 0; i < paths.length; i++) {
      const procs = paths[i].setup.procs
      const perProxy = (kind: 'max' | 'fixed'): string => `${procs.map((p, j) => `${p.label} ${f1(cpu[i][j][kind] / Math.max(1, done[i][kind]))}`).join(', ')}`
        + (procs.length > 0 ? ` (rounds ${f1(Math.min(...perRound[i][kind]))}-${f1(Math.max(...perRound[i][kind]))}, median ${f1(median(perRound[i][kind]))})` : '')
      const memory = procs.map((p, j) => {
        const m = mem[i][j]
        return `${p.label} ${f1(m.rssIdle)} (${f1(m.privIdle)}) idle, ${f1(median(m.rssMax))} (${f1(median(m.privMax))}) after max [highest ${f1(Math.max(...m.rssMax))} (${f1(Math.max(...m.privMax))})], ${f1(m.rssFixed)} (${f1(m.privFixed)}) after ${RATE} rps`
      }).join('; ')
      console.log(`${paths[i].label}\n  max: median ${median(rps[i])} rps (${(median(rps[i]) / nginxRps).toFixed(2)} of nginx's; bursts ${rps[i].join(' ')}), CPU µs/req ${perProxy('max')}\n  ${RATE} rps: median p50 ${median(p50[i]).toFixed(2)} ms, CPU µs/req ${perProxy('fixed')}\n  RSS (private) MB: ${memory}`)
      if (paths[i].gcFile) {
        const gcLine = (kind: 'max' | 'fixed'): string => procs.map((p, j) => {
          const g = gc[i][j][kind]
          const perReq = (g.ms * 1000) / Math.max(1, done[i][kind])
          return `${p.label} ${f1((g.n * 1000) / Math.max(1, done[i][kind]))} scavenges/1k req, ${perReq.toFixed(2)} µs/req (${((perReq * done[i][kind] * 100) / Math.max(1, cpu[i][j][kind])).toFixed(1)} % of CPU), ${g.other} other`
        }).join('; ')
        console.log(`  GC at max: ${gcLine('max')}\n  GC at ${RATE} rps: ${gcLine('fixed')}\n  young generation committed, highest: ${procs.map((p, j) => `${p.label} ${f1(gc[i][j].young / 2 ** 20)} MB`).join(', ')}`)
      }
    }
  } finally {
    await closeAll()
  }
}

await main()
