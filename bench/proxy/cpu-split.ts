// Where a request's CPU goes in each proxy of the mesh pair (plaintext and mTLS) at a fixed rate:
// the proxies run compiled with a V8 CPU profile (sidecar.mjs, MESH_BENCH_CPU_PROF), a warm-up is
// discarded (the profile then restarts), then `seconds` at `rate`. Per proxy: CPU µs per request
// from /proc (user and kernel time apart: the kernel's is the syscalls and loopback TCP), and the
// profile's busy samples split by who runs: our code (the compiled sources), Node's JavaScript
// internals by module (node:_http_*, net, streams, tls ...), native functions (the C++ bindings:
// socket writes and reads, TLS), GC; the heaviest functions by self time.
// Run: npx tsx bench/proxy/cpu-split.ts [seconds, default 10] [--rate=1000] [--proxy-env=K=V,...] [--no-mtls]
//        [--no-profile] (/proc only: the profiler's own cost, ~40 % more CPU per request, left out)
//        [--only-mtls] (the mesh pair with mTLS alone) [--warm-up=S] (default 25: S seconds at the rate first, past the JIT's compiling and the
//        memory reducer's collections of a proxy's first ~20 s under load; proxy.md, "the JIT's warm-up")
import {mkdtempSync, readdirSync, readFileSync} from 'node:fs'
import {SourceMap, type SourceMapPayload} from 'node:module'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {PROXY_RUNTIME_ENV} from '../../src/protocol/proxy-env.js'
import {closedLoop, openLoop} from './load.js'
import {freePort, start, stop, waitHttp} from './procs.js'
import {buildDist, HOST, meshPair, meshTlsPair, nginxPair, nodeRelayPair, type Setup} from './setups.js'

const SECONDS = Number(process.argv.slice(2).find((a) => /^\d/.test(a)) ?? 10)
const RATE = Number(process.argv.find((a) => a.startsWith('--rate='))?.slice(7) ?? 1000)
const PROXY_ENV: Record<string, string> = {
  ...PROXY_RUNTIME_ENV,
  ...Object.fromEntries((process.argv.find((a) => a.startsWith('--proxy-env='))?.slice(12).split(',') ?? [])
    .filter((kv) => kv.includes('=')).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)])),
}
const TICKS = 100
const PROFILE = !process.argv.includes('--no-profile')
const WARM_S = Number(process.argv.find((a) => a.startsWith('--warm-up='))?.slice(10) ?? 25)
/** The socket write bindings: the write syscall (and on loopback the receiver's TCP path), with TLS the encryption too. */
const WRITES = new Set(['writeBuffer', 'writev', 'writeLatin1String', 'writeUtf8String', 'writeAsciiString'])
const WRITE_OWNER = 'socket writes (write syscall; with TLS also SSL_write)'

interface Node { id: number, callFrame: {functionName: string, url: string, lineNumber: number, columnNumber: number}, hitCount?: number, children?: number[] }
interface Profile { nodes: Node[], samples: number[], timeDeltas: number[], startTime: number, endTime: number }

function cpu(pid: number): {user: number, sys: number} {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return {user: Number(f[11]) / TICKS * 1e6, sys: Number(f[12]) / TICKS * 1e6}
}

const maps = new Map<string, SourceMap | null>()
/**
 * A frame of the sidecar's bundle (dist/proxy/sidecar.cjs, scripts/build-proxy.mjs) as the frame of
 * the module it came from (its path under dist/, as src/<path>.ts, and its line there), through the
 * bundle's source map; any other frame as it is.
 */
function unbundled(frame: Node['callFrame']): {url: string, line: number} {
  const {url, lineNumber: line, columnNumber: column} = frame
  if (!url.endsWith('/proxy/sidecar.cjs')) return {url, line}
  let map = maps.get(url)
  if (map === undefined) {
    try {
      map = new SourceMap(JSON.parse(readFileSync(fileURLToPath(url) + '.map', 'utf8')) as SourceMapPayload)
    } catch {
      map = null
    }
    maps.set(url, map)
  }
  const entry = map?.findEntry(line, column)
  if (!entry || !('originalSource' in entry)) return {url, line}
  const src = /\/src\/(.*)\.ts$/.exec(entry.originalSource)
  return src ? {url: url.replace(/proxy\/sidecar\.cjs$/, `${src[1]}.ts`), line: entry.originalLine} : {url, line}
}

/** Who a frame belongs to. */
function owner(url: string, fn: string): string {
  if (fn === '(garbage collector)') return 'GC'
  if (fn === '(program)') return 'V8/native outside JS'
  if (fn === '(idle)' || fn === '(root)') return 'idle'
  const m = /\/mesh-bench[^/]*\/dist\/(.*)$/.exec(url)
  if (m) {
    return `ours: ${m[1].replace(/\/[^/]+$/, '')}`
  }
  if (url.startsWith('node:')) {
    const mod = url.slice(5)
    if (/^internal\/streams|^stream/.test(mod)) return 'node: streams'
    if (/^_http_|^http$|^internal\/http/.test(mod)) return 'node: http'
    if (/^_tls|^tls|^internal\/tls/.test(mod)) return 'node: tls'
    if (/^net$|internal\/net|stream_base_commons/.test(mod)) return 'node: net'
    if (/timers/.test(mod)) return 'node: timers'
    if (/process\/task_queues|process\/promises|async_hooks/.test(mod)) return 'node: tick/promise queues'
    if (/events/.test(mod)) return 'node: events'
    if (/buffer/.test(mod)) return 'node: buffer'
    return `node: other (${mod.split('/').slice(-1)[0]})`
  }
  if (url === '' && WRITES.has(fn)) return WRITE_OWNER
  if (url === '') return `native: ${fn || '(anonymous)'}`
  return `other js: ${url.split('/').slice(-2).join('/')}`
}

/** Busy samples of the profile's last `windowS` seconds (the measured run: the proxies stop right after it), by owner and by function. */
function split(profile: Profile, windowS: number): {busy: number, byOwner: Map<string, number>, byFn: Map<string, number>} {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const byOwner = new Map<string, number>()
  const byFn = new Map<string, number>()
  let busy = 0
  let t = profile.startTime
  const from = profile.endTime - windowS * 1e6
  profile.samples.forEach((id, i) => {
    t += profile.timeDeltas[i]
    if (t < from) return
    const n = byId.get(id)!
    // Each sample counts once: on a busy machine a sample's time delta also holds the time the
    // thread waited for a CPU, which is not the request's cost.
    const dt = 1
    const frame = unbundled(n.callFrame)
    const o = owner(frame.url, n.callFrame.functionName)
    if (o === 'idle') return
    const group = o.startsWith('native:') ? 'native (bindings: socket I/O, TLS, ...)' : o
    busy += dt
    byOwner.set(group, (byOwner.get(group) ?? 0) + dt)
    const fn = `${n.callFrame.functionName || '(anonymous)'} ${frame.url.replace(/^.*mesh-bench[^/]*\/dist\//, '').replace(/^node:/, 'node:')}:${frame.line + 1}`
    byFn.set(fn, (byFn.get(fn) ?? 0) + dt)
  })
  return {busy, byOwner, byFn}
}

async function measure(name: string, make: (dir: string) => Promise<Setup>): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), 'mesh-cpu-split-'))
  const setup = await make(dir)
  const out: string[] = []
  let c0: {user: number, sys: number}[] = []
  let sent = 0
  const perReq = new Map<number, {user: number, sys: number}>()
  try {
    await closedLoop(setup.port, HOST, 8, 1)
    await openLoop(setup.port, HOST, RATE, WARM_S)
    c0 = setup.procs.map((p) => cpu(p.pid))
    const r = await openLoop(setup.port, HOST, RATE, SECONDS)
    sent = r.sent
    const c1 = setup.procs.map((p) => cpu(p.pid))
    out.push(`${name}: ${r.sent} requests at ${RATE} rps, p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms, errors ${r.errors}`)
    setup.procs.forEach((p, i) => {
      const u = (c1[i].user - c0[i].user) / sent
      const s = (c1[i].sys - c0[i].sys) / sent
      perReq.set(p.pid, {user: u, sys: s})
      out.push(`  ${p.label}: CPU ${(u + s).toFixed(0)} us/request (user ${u.toFixed(0)}, kernel ${s.toFixed(0)})`)
    })
  } finally {
    await setup.close()
  }
  // The profile's samples of the run only (its last SECONDS), as shares of its busy samples; in
  // µs per request, that share of the process's CPU per request (/proc, user + kernel).
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.cpuprofile'))) {
    const pid = Number(/proxy-(\d+)\./.exec(f)![1])
    const label = setup.procs.find((p) => p.pid === pid)?.label ?? String(pid)
    const {busy, byOwner, byFn} = split(JSON.parse(readFileSync(join(dir, f), 'utf8')) as Profile, SECONDS)
    // A sample inside a write syscall lasts as long as the syscall, preemption included: the
    // profile over-weighs writes on a busy machine. So µs come from /proc: the kernel's time
    // as measured, the user time split by the shares of the samples outside the writes.
    const {user, sys} = perReq.get(pid) ?? {user: NaN, sys: NaN}
    const writes = byOwner.get(WRITE_OWNER) ?? 0
    const us = (n: number, k: string): string => `${(k.startsWith('socket writes') ? NaN : n / (busy - writes) * user).toFixed(1).padStart(6)} us ${(n / busy * 100).toFixed(1).padStart(5)} %`
    out.push(`  ${label} (profile ${f}, ${busy} busy samples): kernel ${sys.toFixed(0)} us per request (/proc); user ${user.toFixed(0)} us split by the samples outside the writes; share of all busy samples:`)
    for (const [k, v] of [...byOwner].sort((a, b) => b[1] - a[1]).slice(0, 18)) out.push(`    ${us(v, k)}  ${k}`)
    out.push('    top functions by self time:')
    for (const [k, v] of [...byFn].sort((a, b) => b[1] - a[1]).slice(0, 25)) out.push(`    ${us(v, WRITES.has(k.split(' ')[0]) ? 'socket writes' : k)}  ${k}`)
  }
  out.push(`  profiles in ${dir}`)
  return out
}

const backendPort = await freePort()
const backend = start(process.execPath, [fileURLToPath(new URL('./backend.mjs', import.meta.url)), String(backendPort)])
await waitHttp(backendPort, HOST)
const dist = buildDist()
const lines: string[] = []
try {
  const prof = (dir: string): Record<string, string> => (PROFILE ? {MESH_BENCH_CPU_PROF: dir} : {})
  if (!process.argv.includes('--only-mtls')) {
    lines.push(...await measure('mesh pair', (dir) => meshPair(backendPort, dist, {...PROXY_ENV, ...prof(dir)})))
    // The floor and the reference, /proc only (no profile): user and kernel time per request.
    lines.push(...await measure('node relay pair', () => nodeRelayPair(backendPort)))
    lines.push(...await measure('nginx pair', () => nginxPair(backendPort)))
  }
  if (!process.argv.includes('--no-mtls')) lines.push(...await measure('mesh pair, mTLS', (dir) => meshTlsPair(backendPort, dist, {...PROXY_ENV, ...prof(dir)})))
} finally {
  await stop([backend])
}
process.stdout.write(lines.join('\n') + '\n')
