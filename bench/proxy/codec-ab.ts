// A/B of two mesh pairs from the same compiled build, by the proxies' environment (by default
// the HTTP/1 codecs: MESH_PROXY_HTTP1_CODEC=node against =raw), plus the nginx pair, run side by
// side against the same app with interleaved rounds (so the machine's noise hits all alike). Per
// round and path: an h2load burst (closed loop), then `seconds` at 1,000 rps (open loop). Per
// path: median rps, CPU µs per request per proxy at the maximum and at 1,000 rps over all its
// rounds, and the 1,000 rps rounds' median p50.
//   npx tsx bench/proxy/codec-ab.ts [rounds=6] [seconds=2] [--a=K=V,...] [--b=K=V,...]
// e.g. the sidecar's bundle against tsc's modules: --a=MESH_BENCH_UNBUNDLED=1 --b= (bench/proxy/sidecar.mjs).
import {loadavg} from 'node:os'
import {fileURLToPath} from 'node:url'
import {PROXY_RUNTIME_ENV} from '../../src/protocol/proxy-env.js'
import {h2loadClosedLoop, hasH2load} from './h2load.js'
import {openLoop} from './load.js'
import {cpuMicros, freePort, start, stop, waitHttp} from './procs.js'
import {buildDist, HOST, meshPair, nginxPair, type Setup} from './setups.js'

const numbers = process.argv.slice(2).filter((a) => /^\d/.test(a))
const ROUNDS = Number(numbers[0] ?? 6)
const SECONDS = Number(numbers[1] ?? 2)
const CONNS = 32
const RATE = 1000

/** `--a=K=V,...` as an environment; `fallback` when the flag is absent. */
function envArg(name: string, fallback: Record<string, string>): {label: string, env: Record<string, string>} {
  const arg = process.argv.find((a) => a.startsWith(`--${name}=`))
  if (arg === undefined) return {label: Object.entries(fallback).map(([k, v]) => `${k}=${v}`).join(','), env: fallback}
  const value = arg.slice(name.length + 3)
  const env = Object.fromEntries(value.split(',').filter((kv) => kv.includes('=')).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]))
  return {label: value || '(as built)', env}
}

async function main(): Promise<void> {
  if (!hasH2load()) throw new Error('h2load is needed (apt-get install -y nghttp2-client)')
  const load0 = loadavg().map((l) => l.toFixed(1)).join(' ')
  const backendPort = await freePort()
  const backend = start(process.execPath, [fileURLToPath(new URL('./backend.mjs', import.meta.url)), String(backendPort)])
  await waitHttp(backendPort, HOST)
  const dist = buildDist()
  const a = envArg('a', {MESH_PROXY_HTTP1_CODEC: 'node'})
  const b = envArg('b', {MESH_PROXY_HTTP1_CODEC: 'raw'})
  const paths: {label: string, setup: Setup}[] = [
    {label: `A ${a.label}`, setup: await meshPair(backendPort, dist, {...PROXY_RUNTIME_ENV, ...a.env})},
    {label: `B ${b.label}`, setup: await meshPair(backendPort, dist, {...PROXY_RUNTIME_ENV, ...b.env})},
    {label: 'nginx pair', setup: await nginxPair(backendPort)},
  ]
  try {
    const rps = paths.map(() => [] as number[])
    const p50 = paths.map(() => [] as number[])
    const done = paths.map(() => ({max: 0, fixed: 0}))
    const cpu = paths.map((p) => p.setup.procs.map(() => ({max: 0, fixed: 0})))
    const phase = async (i: number, kind: 'max' | 'fixed'): Promise<void> => {
      const procs = paths[i].setup.procs
      const c0 = procs.map((p) => cpuMicros(p.pid))
      const res = kind === 'max' ? await h2loadClosedLoop(paths[i].setup.port, HOST, CONNS, SECONDS) : await openLoop(paths[i].setup.port, HOST, RATE, SECONDS)
      procs.forEach((p, j) => { cpu[i][j][kind] += cpuMicros(p.pid) - c0[j] })
      done[i][kind] += res.ok
      if (kind === 'max') rps[i].push(Math.round(res.rps))
      else p50[i].push(res.p50)
    }
    // Warm-up, discarded.
    for (const p of paths) {
      await h2loadClosedLoop(p.setup.port, HOST, CONNS, 1)
      await openLoop(p.setup.port, HOST, RATE, 1)
    }
    for (let r = 0; r < ROUNDS; r++) {
      for (let i = 0; i < paths.length; i++) await phase(i, 'max')
      for (let i = 0; i < paths.length; i++) await phase(i, 'fixed')
    }
    const median = (xs: number[]): number => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]
    console.log(`A/B (compiled; ${ROUNDS} rounds per path, interleaved: ${SECONDS} s h2load --h1 -c ${CONNS}, then ${SECONDS} s at ${RATE} rps; load average ${load0} at start, ${loadavg().map((l) => l.toFixed(1)).join(' ')} at end)`)
    for (let i = 0; i < paths.length; i++) {
      const perProxy = (kind: 'max' | 'fixed'): string => paths[i].setup.procs.map((p, j) => `${p.label} ${Math.round(cpu[i][j][kind] / Math.max(1, done[i][kind]))}`).join(', ')
      console.log(`${paths[i].label}\n  max: median ${median(rps[i])} rps (bursts ${rps[i].join(' ')}), CPU µs/req ${perProxy('max')}\n  ${RATE} rps: median p50 ${median(p50[i]).toFixed(2)} ms, CPU µs/req ${perProxy('fixed')}`)
    }
  } finally {
    for (const p of paths) await p.setup.close()
    await stop([backend])
  }
}

await main()
