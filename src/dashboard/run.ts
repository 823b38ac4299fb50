// `mesh dashboard` end to end: find the control plane as every command does, serve the page on
// 127.0.0.1, print its address (stdout) and open a browser, stay until Ctrl-C. `mesh demo` starts
// the same server for itself with `startDashboard`.
import {spawn} from 'node:child_process'
import {existsSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import type {KubeOptions} from '../k8s/client.js'
import {MeshError, UsageError} from '../lib/errors.js'
import type {Output} from '../lib/output.js'
import {isLoopback} from '../proxy/admin/listen-addr.js'
import {parseDuration} from '../stat/duration.js'
import {MAX_WINDOW_MS} from '../control/tap/query.js'
import {resolveControlPlane, type ControlPlaneFlags, type ControlPlaneTarget} from '../tapclient/target.js'
import {startDashboardServer, type DashboardServer} from './server.js'
import {DashboardSource, type DashboardScope} from './source.js'

export interface DashboardFlags extends ControlPlaneFlags {
  port: number
  address: string
  open: boolean
  window: string
  'all-namespaces': boolean
}

/** The built page: dist/dashboard/web beside the compiled server, or the build's when run from src/. */
export function assetsDir(): string {
  const here = path.dirname(fileURLToPath(import.meta.url))
  const beside = path.join(here, 'web')
  if (existsSync(path.join(beside, 'app.js'))) return beside
  return path.resolve(here, '../../dist/dashboard/web')
}

/** `mesh check` for the target: the demo's proxies (its state file), or the cluster's control and data plane. */
function checkRunner(target: ControlPlaneTarget, kube: KubeOptions, checkStateFile: string | undefined): () => Promise<import('../check/report.js').CheckReport> {
  return async () => {
    const [{createContext}, {categoriesFor}, {runChecks}] = await Promise.all([import('../check/context.js'), import('../check/plan.js'), import('../check/runner.js')])
    const ctx = createContext(kube, {namespace: kube.namespace})
    if (target.mode === 'local') {
      const file = checkStateFile ?? (await import('../demo/check-source.js')).demoCheckStateFile()
      if (!file) throw new MeshError('the demo is not ready: its check state file is not there yet', {code: 'MESH_DASHBOARD_NO_DEMO', suggestions: ['Check the demo: `mesh demo status`.']})
      ctx.dataPlane = await (await import('../check/data-plane/local-state.js')).localStateSource(file)
      return runChecks(categoriesFor('local-proxy'), ctx)
    }
    return runChecks(categoriesFor('proxy'), ctx)
  }
}

export interface StartOptions {
  target: ControlPlaneTarget
  scope: DashboardScope
  kube: KubeOptions
  port?: number
  address?: string
  checkStateFile?: string
}

export async function startDashboard(o: StartOptions): Promise<DashboardServer> {
  const source = new DashboardSource(o.target, o.scope, checkRunner(o.target, o.kube, o.checkStateFile), o.kube)
  try {
    return await startDashboardServer({source, assetsDir: assetsDir(), port: o.port, address: o.address})
  } catch (err) {
    const e = err as NodeJS.ErrnoException
    if (e.code === 'EADDRINUSE') throw new MeshError(`port ${o.port} on ${o.address} is in use`, {code: 'MESH_DASHBOARD_PORT', suggestions: ['Pass another --port, or --port 0 for a free one.']})
    if (e.code === 'EADDRNOTAVAIL') throw new UsageError(`--address ${o.address} is not an address of this machine`, {suggestions: ['Pass --address 127.0.0.1 (the default).']})
    throw new MeshError(e.message, {code: 'MESH_DASHBOARD_START', cause: err})
  }
}

/**
 * Opens the page in the user's browser. Not with the address itself on a command line: any local
 * user can read another's process arguments (/proc/<pid>/cmdline), and the address carries the
 * key. The browser gets a file only this user can read (0600, in a 0700 directory), which sends
 * it on to the address; the file is removed after a minute or when the dashboard stops.
 */
function openBrowser(url: string, out: Output): () => void {
  const dir = mkdtempSync(path.join(tmpdir(), 'mesh-dashboard-'))
  const file = path.join(dir, 'open.html')
  const href = url.replaceAll('&', '&amp;').replaceAll('"', '&quot;')
  writeFileSync(file, `<!doctype html><meta charset="utf-8"><meta http-equiv="refresh" content="0;url=${href}"><title>mesh dashboard</title><a href="${href}">Open the mesh dashboard</a>\n`, {mode: 0o600})
  const [cmd, args] = process.platform === 'darwin' ? ['open', [file]] : process.platform === 'win32' ? ['cmd', ['/c', 'start', '', file]] : ['xdg-open', [file]]
  const child = spawn(cmd, args, {stdio: 'ignore', detached: true})
  child.on('error', () => out.info(`could not start a browser (${cmd}): open the address above yourself`))
  child.unref()
  const remove = (): void => rmSync(dir, {recursive: true, force: true})
  setTimeout(remove, 60_000).unref()
  return remove
}

export async function runDashboardCommand(out: Output, flags: DashboardFlags, opts: {until?: Promise<unknown>} = {}): Promise<void> {
  const windowMs = parseDuration(flags.window, '--window')
  if (windowMs < 1000 || windowMs > MAX_WINDOW_MS) throw new UsageError(`--window ${flags.window} is out of range: between 1s and 1h`, {suggestions: ['Pass e.g. --window 1m.']})
  if (!isLoopback(flags.address)) {
    out.warn(`--address ${flags.address} is not a loopback address: whoever reaches it with the printed address (its key) sees what your credentials see`)
  }
  const target = await resolveControlPlane(flags)
  const kube: KubeOptions = {kubeconfig: flags.kubeconfig, context: flags.context, namespace: flags.namespace, requestTimeoutMs: flags['request-timeout']}
  const server = await startDashboard({target, kube, port: flags.port, address: flags.address, scope: {namespace: target.namespace, allNamespaces: flags['all-namespaces'], window: flags.window}})
  out.data(server.url)
  out.info(`serving the dashboard of ${target.description} on ${server.origin}; Ctrl-C stops it`)
  const opened = flags.open ? openBrowser(server.url, out) : undefined
  let stop!: () => void
  const stopped = new Promise<void>((resolve) => (stop = resolve))
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
  void opts.until?.then(stop)
  try {
    await stopped
  } finally {
    process.off('SIGINT', stop)
    process.off('SIGTERM', stop)
    opened?.()
    await server.close()
  }
}

/**
 * The dashboard `mesh demo` serves for itself, on a free loopback port, reading the demo through
 * its local context (written by then). A demo without its page (not built) still runs: the
 * failure is told, not fatal.
 */
export async function startDemoDashboard(env: NodeJS.ProcessEnv, checkStateFile: string, out: Output): Promise<DashboardServer | undefined> {
  try {
    const target = await resolveControlPlane({}, env)
    return await startDashboard({target, kube: {}, checkStateFile, scope: {namespace: target.namespace, allNamespaces: false, window: '1m'}})
  } catch (err) {
    out.warn(`the dashboard did not start: ${(err as Error).message}`)
    return undefined
  }
}
