// A/B of two checkouts of the proxy: this one and another (a git worktree of an earlier commit,
// its node_modules its own or symlinked entry by entry, so that its build lands in its own
// node_modules/.cache), each compiled as the bench runs it and with the pods' runtime settings (PROXY_RUNTIME_ENV), two mesh pairs side by side against
// the same app with the nginx pair, in interleaved h2load bursts (so the machine's noise hits all
// alike), then interleaved stretches at a fixed rate. Per path: median rps at the closed-loop
// maximum, CPU µs per request per proxy at the maximum and at the fixed rate. --mtls: meshed
// pairs (mTLS between the proxies, each checkout's setups.ts meshTlsPair) and the nginx pair with
// TLS between its proxies instead.
//   npx tsx bench/proxy/build-ab.ts <other checkout> [rounds=6] [seconds=2] [--rate=1000] [--mtls]
// e.g. git worktree add --detach ../base main~3 && npx tsx bench/proxy/build-ab.ts ../base
import {loadavg} from 'node:os'
import {resolve} from 'node:path'
import {fileURLToPath, pathToFileURL} from 'node:url'
import {h2loadClosedLoop, hasH2load} from './h2load.js'
import {openLoop} from './load.js'
import {cpuMicros, freePort, start, stop, waitHttp} from './procs.js'
import {PROXY_RUNTIME_ENV} from '../../src/protocol/proxy-env.js'
import {buildDist, HOST, meshPair, meshTlsPair, nginxPair, nginxTlsPair, type Setup} from './setups.js'

const args = process.argv.slice(2).filter((a) => !a.startsWith('--'))
const OTHER = args[0]
const ROUNDS = Number(args[1] ?? 6)
const SECONDS = Number(args[2] ?? 2)
const RATE = Number(process.argv.find((a) => a.startsWith('--rate='))?.slice(7) ?? 1000)
const CONNS = 32
const MTLS = process.argv.includes('--mtls')

async function main(): Promise<void> {
  if (OTHER === undefined) throw new Error('usage: build-ab.ts <other checkout> [rounds] [seconds] [--rate=N] [--mtls]')
  if (!hasH2load()) throw new Error('h2load is needed (apt-get install -y nghttp2-client)')
  const other = (await import(pathToFileURL(resolve(OTHER, 'bench/proxy/setups.ts')).href)) as typeof import('./setups.js')
  const load0 = loadavg().map((l) => l.toFixed(1)).join(' ')
  const backendPort = await freePort()
  const backend = start(process.execPath, [fileURLToPath(new URL('./backend.mjs', import.meta.url)), String(backendPort)])
  await waitHttp(backendPort, HOST)
  const mine = await (MTLS ? meshTlsPair : meshPair)(backendPort, buildDist(), PROXY_RUNTIME_ENV)
  const paths: {label: string, setup: Setup}[] = [
    {label: MTLS ? 'this, mTLS' : 'this', setup: mine},
    {label: MTLS ? `${OTHER}, mTLS` : OTHER, setup: await (MTLS ? other.meshTlsPair : other.meshPair)(backendPort, other.buildDist(), PROXY_RUNTIME_ENV)},
    {label: MTLS ? 'nginx pair, TLS' : 'nginx pair', setup: await (MTLS ? nginxTlsPair(backendPort, mine.certs!) : nginxPair(backendPort))},
  ]
  try {
    const rps = paths.map(() => [] as number[])
    const done = paths.map(() => 0)
    const cpu = paths.map((p) => p.setup.procs.map(() => 0))
    const fixedCpu = paths.map((p) => p.setup.procs.map(() => 0))
    const fixedDone = paths.map(() => 0)
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
      for (let i = 0; i < paths.length; i++) {
        const procs = paths[i].setup.procs
        const c0 = procs.map((p) => cpuMicros(p.pid))
        const res = await openLoop(paths[i].setup.port, HOST, RATE, SECONDS)
        procs.forEach((p, j) => { fixedCpu[i][j] += cpuMicros(p.pid) - c0[j] })
        fixedDone[i] += res.ok
      }
    }
    console.log(`build A/B (compiled; ${ROUNDS} rounds of ${SECONDS} s h2load --h1 -c ${CONNS}, then ${SECONDS} s at ${RATE} rps, per path, interleaved; load average ${load0} at start, ${loadavg().map((l) => l.toFixed(1)).join(' ')} at end)`)
    for (let i = 0; i < paths.length; i++) {
      const sorted = [...rps[i]].sort((a, b) => a - b)
      const median = sorted[Math.floor(sorted.length / 2)]
      const perProxy = (c: number[], n: number): string => paths[i].setup.procs.map((p, j) => `${p.label} ${Math.round(c[j] / Math.max(1, n))}`).join(', ')
      console.log(`${paths[i].label.padEnd(12)} max: median ${String(median).padStart(6)} rps (bursts ${rps[i].join(' ')}), CPU µs/req ${perProxy(cpu[i], done[i])}; at ${RATE} rps: CPU µs/req ${perProxy(fixedCpu[i], fixedDone[i])}`)
    }
  } finally {
    for (const p of paths) await p.setup.close()
    await stop([backend])
  }
}

await main()
