// Runs the sidecar from compiled JavaScript (no tsx, no oclif), as a production image would:
// node bench/proxy/sidecar.mjs <dist dir> ; settings from MESH_PROXY_* like `mesh proxy`.
import process from 'node:process'
import {pathToFileURL} from 'node:url'
import {join, resolve} from 'node:path'
const dist = resolve(process.argv[2] ?? 'dist')
const {loadProxyConfig} = await import(pathToFileURL(join(dist, 'proxy/config.js')).href)
const {runSidecar} = await import(pathToFileURL(join(dist, 'proxy/run.js')).href)
const sidecar = await runSidecar(loadProxyConfig(process.env))
await new Promise((r) => process.once('SIGTERM', r))
await sidecar.stop(2000)
