// Runs the sidecar from compiled JavaScript the way the image does (`mesh proxy` with settings
// from MESH_PROXY_*, which bin/run.js serves from the bundle dist/proxy/sidecar.cjs without oclif):
//   node bench/proxy/sidecar.mjs <dist dir>
// MESH_BENCH_UNBUNDLED=1 runs tsc's modules (dist/proxy/main.js) instead of the bundle, for A/B.
// MESH_BENCH_CPU_PROF=<dir> writes a V8 CPU profile of the proxy there when it stops (node
// refuses --cpu-prof in NODE_OPTIONS, and the bench passes its proxies' options that way).
// MESH_BENCH_HEAP_PROF=<dir> writes a sampling heap profile (every allocation site, collected
// objects included: what the proxy allocates per request) the same way.
// MESH_BENCH_V8_FLAGS="--flag ..." sets V8 flags before the proxy loads, for experiments with
// flags NODE_OPTIONS refuses (the proxy sets its own, PROXY_V8_FLAGS, as it starts).
// MESH_BENCH_STATS=<file> writes the proxy's heap and handles there as one JSON line when it gets
// SIGUSR2 (proxy-bench.ts --soak): the heap used after a full GC, and the active handles and
// requests by type (process.getActiveResourcesInfo()).
// MESH_BENCH_GC=<file> counts the proxy's GC pauses (a perf_hooks 'gc' observer: count and main
// thread milliseconds, young generation and the rest apart) and, on SIGUSR2, appends the totals
// so far and the young generation's committed size as one JSON line to that file (codec-ab.ts
// --gc: GC per request and its share of the proxy's CPU, phase by phase). No forced GC.
// MESH_BENCH_PAUSES=<file> records every GC pause with its start time (pauses.mjs, stalls.ts).
// (The global process, and node:module by getBuiltinModule: an ES import of a builtin reads all
// its exports, which costs memory the image's bin/run.js does not spend.)
import {writeFileSync} from 'node:fs'
import v8 from 'node:v8'
import {pathToFileURL} from 'node:url'
import {join, resolve} from 'node:path'
const dist = resolve(process.argv[2] ?? 'dist')
if (process.env.MESH_BENCH_V8_FLAGS) v8.setFlagsFromString(process.env.MESH_BENCH_V8_FLAGS)
/** Starts an inspector profile now; writes it to `dir` on SIGTERM, before the proxy's own handler drains it. */
async function profileUntilSigterm(dir, start, stop, ext) {
  const {Session} = await import('node:inspector')
  const session = new Session()
  session.connect()
  for (const [method, params] of start) session.post(method, params)
  // (a same-thread session answers at once)
  process.prependOnceListener('SIGTERM', () => session.post(stop, (err, r) => {
    if (!err) writeFileSync(join(dir, `proxy-${process.pid}.${ext}`), JSON.stringify(r.profile))
  }))
}
if (process.env.MESH_BENCH_CPU_PROF) {
  await profileUntilSigterm(process.env.MESH_BENCH_CPU_PROF,
    [['Profiler.enable'], ['Profiler.setSamplingInterval', {interval: 100}], ['Profiler.start']], 'Profiler.stop', 'cpuprofile')
}
if (process.env.MESH_BENCH_HEAP_PROF) {
  await profileUntilSigterm(process.env.MESH_BENCH_HEAP_PROF,
    [['HeapProfiler.startSampling', {samplingInterval: 256, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true}]],
    'HeapProfiler.stopSampling', 'heapprofile')
}
if (process.env.MESH_BENCH_STATS) {
  const {runInNewContext} = await import('node:vm')
  const {appendFileSync} = await import('node:fs')
  v8.setFlagsFromString('--expose-gc')
  const gc = runInNewContext('gc')
  const file = process.env.MESH_BENCH_STATS
  process.on('SIGUSR2', () => {
    gc()
    const types = {}
    for (const t of process.getActiveResourcesInfo()) types[t] = (types[t] ?? 0) + 1
    const m = process.memoryUsage()
    appendFileSync(file, JSON.stringify({pid: process.pid, at: Date.now(), heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, rss: m.rss, handles: types}) + '\n')
  })
}
if (process.env.MESH_BENCH_PAUSES) await import('./pauses.mjs')
if (process.env.MESH_BENCH_GC) {
  const {appendFileSync} = process.getBuiltinModule('node:fs')
  const {PerformanceObserver, constants} = process.getBuiltinModule('node:perf_hooks')
  const file = process.env.MESH_BENCH_GC
  const totals = {minor: 0, minorMs: 0, other: 0, otherMs: 0}
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      if (e.detail?.kind === constants.NODE_PERFORMANCE_GC_MINOR) {
        totals.minor++
        totals.minorMs += e.duration
      } else {
        totals.other++
        totals.otherMs += e.duration
      }
    }
  }).observe({entryTypes: ['gc']})
  process.on('SIGUSR2', () => {
    const young = v8.getHeapSpaceStatistics().find((x) => x.space_name === 'new_space')
    appendFileSync(file, JSON.stringify({pid: process.pid, at: Date.now(), ...totals, youngCommitted: young?.space_size ?? 0, heapTotal: v8.getHeapStatistics().total_heap_size}) + '\n')
  })
}
const {serveProxyFromEnv} = process.env.MESH_BENCH_UNBUNDLED === '1'
  ? await import(pathToFileURL(join(dist, 'proxy/main.js')).href)
  : process.getBuiltinModule('node:module').createRequire(import.meta.url)(join(dist, 'proxy/sidecar.cjs'))
if (!(await serveProxyFromEnv(process.env))) {
  process.stderr.write('the MESH_PROXY_* settings do not load: run `mesh proxy` for the error\n')
  process.exitCode = 1
}
