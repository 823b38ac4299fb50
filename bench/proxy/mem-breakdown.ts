// Where a proxy's resident memory goes: the mesh pair of proxy-bench.ts (compiled, with the
// injected runtime tuning), idle and then under load (h2load closed loop, then 1,000 rps open
// loop), each proxy's /proc/<pid>/smaps summed by kind of mapping: the node binary's pages
// (file-backed, shared by every node process on the node), other files (libc, libstdc++ ...),
// the malloc heap ([heap] and anonymous arenas are not told apart by the kernel: "anon" is V8's
// heap, malloc arenas and thread stacks together), and the main stack.
// Run: npx tsx bench/proxy/mem-breakdown.ts [seconds per phase, default 5] [--proxy-env=K=V,...] [--mtls | --relay]
// (--mtls: the pair with mTLS between the proxies, identities and discovery from a local
// controller, as in a mesh; meshTlsPair in setups.ts. --relay: the bare node relay pair of
// proxy-bench.ts, but under the proxy's runtime settings, so the runtime's own cost for this
// traffic is read like for like; it has no V8 heap columns). The proxies run on the node that runs this.
// Also per proxy: private (anonymous) MB and its V8 heap: used after a full GC, reserved, external
// (sidecar.mjs MESH_BENCH_STATS; the GC it forces happens after the RSS columns are read).
import {existsSync, mkdtempSync, readFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {PROXY_RUNTIME_ENV} from '../../src/protocol/proxy-env.js'
import {h2loadClosedLoop} from './h2load.js'
import {openLoop} from './load.js'
import {freePort, SETTLE_MS, start, stop, waitHttp} from './procs.js'
import {buildDist, HOST, meshPair, meshTlsPair, nodeRelayPair} from './setups.js'

const SECONDS = Number(process.argv.slice(2).find((a) => /^\d/.test(a)) ?? 5)
const PROXY_ENV: Record<string, string> = {
  ...PROXY_RUNTIME_ENV,
  ...Object.fromEntries((process.argv.find((a) => a.startsWith('--proxy-env='))?.slice(12).split(',') ?? [])
    .filter((kv) => kv.includes('=')).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)])),
}

type Kinds = Record<'node binary' | 'other files' | '[heap]' | 'anon' | '[stack]' | 'total', number>

/** Resident kB per kind of mapping, from /proc/<pid>/smaps. */
function breakdown(pid: number): Kinds {
  const out: Kinds = {'node binary': 0, 'other files': 0, '[heap]': 0, anon: 0, '[stack]': 0, total: 0}
  let kind: keyof Kinds = 'anon'
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const m = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \d+\s*(.*)$/.exec(line)
    if (m) {
      const name = m[1]
      kind = name === '' ? 'anon' : name === '[heap]' ? '[heap]' : name === '[stack]' ? '[stack]'
        : name.startsWith('[') ? 'anon' : /\/node$/.test(name) ? 'node binary' : 'other files'
      continue
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line)
    if (rss) {
      out[kind] += Number(rss[1])
      out.total += Number(rss[1])
    }
  }
  return out
}

function row(label: string, k: Kinds): string {
  return label.padEnd(26) + (Object.keys(k) as (keyof Kinds)[]).map((n) => (k[n] / 1024).toFixed(1).padStart(12)).join('')
}

const backendPort = await freePort()
const backend = start(process.execPath, [fileURLToPath(new URL('./backend.mjs', import.meta.url)), String(backendPort)])
await waitHttp(backendPort, HOST)
const MTLS = process.argv.includes('--mtls')
const RELAY = process.argv.includes('--relay')
// Each proxy's V8 heap (used after a full GC, and reserved) at each snapshot (sidecar.mjs, SIGUSR2).
const STATS = join(mkdtempSync(join(tmpdir(), 'mesh-mem-')), 'stats.jsonl')
const pair = RELAY ? await nodeRelayPair(backendPort, PROXY_ENV)
  : await (MTLS ? meshTlsPair : meshPair)(backendPort, buildDist(), {...PROXY_ENV, MESH_BENCH_STATS: STATS})
/** The V8 heap of `pid` now: used after a full GC / total, external, MB. */
async function v8Heap(pid: number): Promise<string> {
  if (RELAY) return '       -'
  const before = existsSync(STATS) ? readFileSync(STATS, 'utf8').length : 0
  process.kill(pid, 'SIGUSR2')
  for (let i = 0; i < 50; i++) {
    await new Promise((r) => setTimeout(r, 20))
    const lines = existsSync(STATS) ? readFileSync(STATS, 'utf8').slice(before).trim().split('\n').filter(Boolean) : []
    const mine = lines.map((l) => JSON.parse(l) as {pid: number, heapUsed: number, heapTotal: number, external: number}).find((l) => l.pid === pid)
    if (mine) return [mine.heapUsed, mine.heapTotal, mine.external].map((b) => (b / 2 ** 20).toFixed(1).padStart(8)).join('')
  }
  return '       -'
}
/** Private (anonymous) resident MB of `pid`. */
function privateOf(pid: number): number {
  const m = /^Anonymous:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))
  return m ? Number(m[1]) / 1024 : NaN
}
try {
  const rows: string[] = []
  const snap = async (phase: string): Promise<void> => {
    for (const p of pair.procs) rows.push(row(`${p.label} ${phase}`, breakdown(p.pid)) + privateOf(p.pid).toFixed(1).padStart(9) + await v8Heap(p.pid))
  }
  await snap('started')
  // Settled (procs.ts SETTLE_MS): the binary's start-up code pages dropped (src/proxy/net/code-pages.ts)
  // and V8's memory reducer's first GC done.
  await new Promise((r) => setTimeout(r, SETTLE_MS))
  await snap('idle')
  const max = await h2loadClosedLoop(pair.port, HOST, 32, SECONDS)
  await snap('after max')
  const fixed = await openLoop(pair.port, HOST, 1000, SECONDS)
  await snap('after 1,000 rps')
  process.stdout.write(`${pair.name} on Node ${process.versions.node}: proxy RSS by mapping (MB); proxy env ${JSON.stringify(PROXY_ENV)}; max ${Math.round(max.rps)} rps, then ${Math.round(fixed.rps)} rps\n`)
  process.stdout.write(''.padEnd(26) + ['node binary', 'other files', '[heap]', 'anon', '[stack]', 'total'].map((n) => n.padStart(12)).join('') + '  private  v8 used   total  extern' + '\n')
  process.stdout.write(rows.join('\n') + '\n')
} finally {
  await pair.close()
  await stop([backend])
}
