// Runs the sidecar from compiled JavaScript the way the image does (`mesh proxy` with settings
// from MESH_PROXY_*, which bin/run.js serves through dist/proxy/main.js without oclif):
//   node bench/proxy/sidecar.mjs <dist dir>
// MESH_BENCH_CPU_PROF=<dir> writes a V8 CPU profile of the proxy there when it stops (node
// refuses --cpu-prof in NODE_OPTIONS, and the bench passes its proxies' options that way).
// MESH_BENCH_HEAP_PROF=<dir> writes a sampling heap profile (every allocation site, collected
// objects included: what the proxy allocates per request) the same way.
// MESH_BENCH_V8_FLAGS="--flag ..." sets V8 flags before the proxy loads, for experiments with
// flags NODE_OPTIONS refuses (the proxy sets its own, PROXY_V8_FLAGS, as it starts).
import {writeFileSync} from 'node:fs'
import process from 'node:process'
import v8 from 'node:v8'
import {pathToFileURL} from 'node:url'
import {join, resolve} from 'node:path'
const dist = resolve(process.argv[2] ?? 'dist')
if (process.env.MESH_BENCH_V8_FLAGS) v8.setFlagsFromString(process.env.MESH_BENCH_V8_FLAGS)
const profDir = process.env.MESH_BENCH_CPU_PROF
if (profDir) {
  const {Session} = await import('node:inspector')
  const session = new Session()
  session.connect()
  session.post('Profiler.enable')
  session.post('Profiler.setSamplingInterval', {interval: 100})
  session.post('Profiler.start')
  // Before the proxy's own SIGTERM handler drains it (a same-thread session answers at once).
  process.prependOnceListener('SIGTERM', () => session.post('Profiler.stop', (err, r) => {
    if (!err) writeFileSync(join(profDir, `proxy-${process.pid}.cpuprofile`), JSON.stringify(r.profile))
  }))
}
const heapDir = process.env.MESH_BENCH_HEAP_PROF
if (heapDir) {
  const {Session} = await import('node:inspector')
  const session = new Session()
  session.connect()
  session.post('HeapProfiler.startSampling', {samplingInterval: 256, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true})
  process.prependOnceListener('SIGTERM', () => session.post('HeapProfiler.stopSampling', (err, r) => {
    if (!err) writeFileSync(join(heapDir, `proxy-${process.pid}.heapprofile`), JSON.stringify(r.profile))
  }))
}
const {serveProxyFromEnv} = await import(pathToFileURL(join(dist, 'proxy/main.js')).href)
if (!(await serveProxyFromEnv(process.env))) {
  process.stderr.write('the MESH_PROXY_* settings do not load: run `mesh proxy` for the error\n')
  process.exitCode = 1
}
