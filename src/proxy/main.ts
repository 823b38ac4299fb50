// The sidecar's main loop, shared by `mesh proxy` (oclif) and the installed binary's fast path
// (bin/run.js runs `mesh proxy` with no flags, the injector's form, without loading oclif: ~7 MB
// less resident memory per pod). Starts the proxy, waits for SIGTERM, SIGINT or POST /shutdown,
// then drains within the grace period.
import {formatError, toMeshError} from '../lib/errors.js'
import type {ProxyConfig} from './config.js'
import {loadProxyConfig} from './config.js'
import {runSidecar} from './run.js'

/** Runs the proxy until it is told to stop, then drains it. */
export async function serveProxy(config: ProxyConfig): Promise<void> {
  const sidecar = await runSidecar(config)
  const signal = await new Promise<string>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'))
    process.once('SIGINT', () => resolve('SIGINT'))
    void sidecar.shutdownRequested.then(() => resolve('POST /shutdown'))
  })
  sidecar.proxy.log.info('draining', {reason: signal, graceSeconds: config.shutdownGraceMs / 1000})
  await sidecar.stop()
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
