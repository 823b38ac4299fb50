// A/B of the HTTP/1 codecs: two mesh pairs from the same compiled build, one with
// MESH_PROXY_HTTP1_CODEC=node and one with =raw, plus the nginx pair, run side by side against
// the same app, with interleaved h2load bursts (so the machine's noise hits all alike). Per
// burst: rps; per path: median rps, and CPU µs per request per proxy over all its bursts.
//   npx tsx bench/proxy/codec-ab.ts [rounds=6] [seconds=2]
import {loadavg} from 'node:os'
import {fileURLToPath} from 'node:url'
import {h2loadClosedLoop, hasH2load} from './h2load.js'
import {cpuMicros, freePort, start, stop, waitHttp} from './procs.js'
import {buildDist, HOST, meshPair, nginxPair, type Setup} from './setups.js'

const ROUNDS = Number(process.argv[2] ?? 6)
const SECONDS = Number(process.argv[3] ?? 2)
const CONNS = 32

async function main(): Promise<void> {
  if (!hasH2load()) throw new Error('h2load is needed (apt-get install -y nghttp2-client)')
  const load0 = loadavg().map((l) => l.toFixed(1)).join(' ')
  const backendPort = await freePort()
  const backend = start(process.execPath, [fileURLToPath(new URL('./backend.mjs', import.meta.url)), String(backendPort)])
  await waitHttp(backendPort, HOST)
  const dist = buildDist()
  const paths: {label: string, setup: Setup}[] = [
    {label: 'node codec', setup: await meshPair(backendPort, dist, {MESH_PROXY_HTTP1_CODEC: 'node'})},
    {label: 'raw codec', setup: await meshPair(backendPort, dist, {MESH_PROXY_HTTP1_CODEC: 'raw'})},
    {label: 'nginx pair', setup: await nginxPair(backendPort)},
  ]
  try {
    const rps = paths.map(() => [] as number[])
    const done = paths.map(() => 0)
    const cpu = paths.map((p) => p.setup.procs.map(() => 0))
    // Warm-up, discarded.
    for (const p of paths) await h2loadClosedLoop(p.setup.port, HOST, CONNS, 1)
    for (let r = 0; r < ROUNDS; r++) {
      for (let i = 0; i < paths.length; i++) {
        const procs = paths[i].setup.procs
        const c0 = procs.map((p) => cpuMicros(p.pid))
        const res = await h2loadClosedLoop(paths[i].setup.port, HOST, CONNS, SECONDS)
        procs.forEach((p, j) => { cpu[i][j] += cpuMicros(p.pid) - c0[j] })
        rps[i].push(Math.round(res.rps))
        done[i] += res.ok
      }
    }
    console.log(`codec A/B (compiled; ${ROUNDS} x ${SECONDS} s h2load --h1 -c ${CONNS} per path, interleaved; load average ${load0} at start, ${loadavg().map((l) => l.toFixed(1)).join(' ')} at end)`)
    for (let i = 0; i < paths.length; i++) {
      const sorted = [...rps[i]].sort((a, b) => a - b)
      const median = sorted[Math.floor(sorted.length / 2)]
      const perProxy = paths[i].setup.procs.map((p, j) => `${p.label} ${Math.round(cpu[i][j] / Math.max(1, done[i]))}`).join(', ')
      console.log(`${paths[i].label.padEnd(11)} median ${String(median).padStart(6)} rps  bursts ${rps[i].join(' ')}  CPU µs/req: ${perProxy}`)
    }
  } finally {
    for (const p of paths) await p.setup.close()
    await stop([backend])
  }
}

await main()
