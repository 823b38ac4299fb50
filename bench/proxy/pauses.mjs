// Records every GC pause of the process it is loaded into, with its wall-clock start, and writes
// them to MESH_BENCH_PAUSES (one JSON line per process: {pid, pauses: [[start epoch ms, ms, kind]]})
// when the process gets SIGTERM (stalls.ts: which slow requests a GC pause of a proxy explains).
// Loaded by sidecar.mjs and relay.mjs when MESH_BENCH_PAUSES is set. Kinds: minor (scavenge),
// major (mark-compact), incremental (a step of the incremental marker), weakcb (weak callbacks).
const file = process.env.MESH_BENCH_PAUSES
if (file) {
  const {appendFileSync} = process.getBuiltinModule('node:fs')
  const {PerformanceObserver, constants, performance} = process.getBuiltinModule('node:perf_hooks')
  const KINDS = {
    [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor', [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
    [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental', [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
  }
  const pauses = []
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      if (pauses.length < 1_000_000) pauses.push([performance.timeOrigin + e.startTime, e.duration, KINDS[e.detail?.kind] ?? 'other'])
    }
  }).observe({entryTypes: ['gc']})
  process.prependOnceListener('SIGTERM', () => {
    appendFileSync(file, JSON.stringify({pid: process.pid, pauses}) + '\n')
    // (a process with no SIGTERM handler of its own ends as it would have)
    if (process.listenerCount('SIGTERM') === 0) process.exit(0)
  })
}
