// The sidecar's main loop, shared by `mesh proxy` (oclif) and the installed binary's fast path
// (bin/run.js runs `mesh proxy` with no flags, the injector's form, without loading oclif: ~7 MB
// less resident memory per pod). Starts the proxy, waits for SIGTERM, SIGINT or POST /shutdown,
// then drains within the grace period.
import v8 from 'node:v8'
import {formatError, toMeshError} from '../lib/errors.js'
import type {ProxyConfig} from './config/config.js'
import {loadProxyConfig} from './config/config.js'
import {dropCodePagesLater} from './net/code-pages.js'
import {MALLOC_TRIM_INTERVAL_MS, mallocTrimSupport, startMallocTrim} from './net/malloc-trim.js'
import {runSidecar} from './run.js'
import {containUncaught} from './core/uncaught.js'

/**
 * V8 settings of the proxy process that NODE_OPTIONS does not accept. `--optimize-for-size`
 * makes V8 grow the old generation more slowly: meshed proxies in `mesh demo` peak at 69-73 MB
 * RSS instead of 82-90 MB (bench/proxy/demo-footprint.ts), for a few percent more CPU there and
 * no change measurable in bench/proxy/proxy-bench.ts. Applied before the proxy allocates much.
 */
export const PROXY_V8_FLAGS = '--optimize-for-size'

/** Runs the proxy until it is told to stop, then drains it. */
export async function serveProxy(config: ProxyConfig): Promise<void> {
  v8.setFlagsFromString(PROXY_V8_FLAGS)
  const sidecar = await runSidecar(config)
  // What no entry point contained is logged and counted; the proxy keeps serving (uncaught.ts).
  const uncaught = containUncaught(sidecar.proxy.log, sidecar.countUncaught)
  // Freed malloc memory (mostly the optimizing compiler's) back to the kernel, periodically.
  const stopTrim = startMallocTrim()
  const trim = mallocTrimSupport()
  sidecar.proxy.log.debug(trim.available ? 'trimming freed malloc memory' : 'not trimming freed malloc memory',
    trim.available ? {everySeconds: MALLOC_TRIM_INTERVAL_MS / 1000} : {reason: trim.reason})
  // The binary's start-up code pages, once serving (src/proxy/net/code-pages.ts).
  const stopDrop = dropCodePagesLater((bytes) => sidecar.proxy.log.debug('dropped start-up code pages', {residentMB: Math.round(bytes / 1048576)}))
  const signal = await new Promise<string>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'))
    process.once('SIGINT', () => resolve('SIGINT'))
    void sidecar.shutdownRequested.then(() => resolve('POST /shutdown'))
  })
  sidecar.proxy.log.info('draining', {reason: signal, graceSeconds: config.shutdownGraceMs / 1000})
  stopTrim()
  stopDrop()
  await sidecar.stop()
  uncaught.uninstall()
}

/**
 * `mesh proxy` configured by the environment alone. Returns false, having started nothing, when
 * the settings do not load: the caller then runs the command through oclif, which reports the
 * problem as every command does.
 */
export async function serveProxyFromEnv(env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  let config: ProxyConfig
  try {
    config = loadProxyConfig(env)
  } catch {
    return false
  }
  try {
    await serveProxy(config)
  } catch (err) {
    // As the command's error handler would render it (src/lib/base-command.ts).
    const e = toMeshError(err, 'proxy')
    process.stderr.write(formatError(e))
    process.exitCode = e.exitCode
  }
  return true
}
