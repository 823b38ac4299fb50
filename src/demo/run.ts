// `mesh demo`: the whole mesh on 127.0.0.1. Lays out ports and identities, writes the registry
// and the local identity material, starts the controller (local mode), each service behind its
// own `mesh proxy` (mTLS between them), the load generator and the tap server, prints what runs
// where, and stays until SIGINT/SIGTERM; then stops everything it started and removes its files.
import {mkdirSync, readdirSync, rmSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {ensureLocalIdentityDir} from '../control/identity/local-dir.js'
import {LOCAL_IDENTITY_FILES} from '../control/identity/file-issuer.js'
import {issueLocalToken} from '../control/identity/local-tokens.js'
import {MeshError} from '../lib/errors.js'
import {CONTROLLER_SERVICE_ACCOUNT} from '../protocol/identity.js'
import type {Output} from '../lib/output.js'
import {writeCheckState} from './check-source.js'
import {logTail} from './logs.js'
import {demoPaths, type DemoPaths} from './paths.js'
import {appSpec, buildPlan, controllerSpec, loadSpec, PORTS_NEEDED, proxySpec, registryDocument, type DemoPlan} from './plan.js'
import {allocatePorts} from './ports.js'
import {httpStatus, tcpOpen, waitFor} from './ready.js'
import {acquireLock, alreadyRunning, cleanStale, findDemo, findLeftovers, OWNER_ENV, ownerMarker, writeState, type DemoState} from './state.js'
import {renderSummary} from './summary.js'
import {Supervisor, supervisedCommandLine} from './supervisor.js'
import {startTapPlane, type TapPlane} from './tap-plane.js'
import type {DashboardServer} from '../dashboard/server.js'

export interface DemoOptions {
  portBase?: number
  rps?: number
  failEvery?: number
  slowMs?: number
  /** How long start-up may take before the demo gives up (default 180 s: slow machines). */
  readyTimeoutMs?: number
  env?: NodeJS.ProcessEnv
  /** Resolves when the demo should stop (default: SIGINT or SIGTERM). */
  until?: Promise<unknown>
}

const STOP_ORDER = ['load', 'app', 'proxy', 'controller'] as const

export async function runDemo(o: DemoOptions, out: Output): Promise<void> {
  const env = o.env ?? process.env
  const p = demoPaths(env)
  const found = findDemo(p)
  if (found.state === 'live' && found.pid !== process.pid) throw alreadyRunning(found.pid, p)
  if (found.state === 'stale' || (found.state === 'none' && findLeftovers(p.dir).length > 0)) {
    const killed = cleanStale(p, found.state === 'stale' ? found.demo : undefined, env)
    out.warn(`removed what a previous demo left in ${p.dir}${killed ? ` (and stopped ${killed} of its processes)` : ''}`)
  }
  acquireLock(p)
  for (const d of [p.logs, p.tokens, p.proxies]) mkdirSync(d, {recursive: true, mode: 0o700})

  let stopReason: string | undefined
  let resolveStop!: () => void
  const stopped = new Promise<void>((resolve) => (resolveStop = resolve))
  const requestStop = (why: string): void => {
    if (!stopReason) out.info(`\n${why}: stopping the demo ...`)
    stopReason ??= why
    resolveStop()
  }
  const onSignal = (s: NodeJS.Signals): void => requestStop(s)
  // SIGHUP too: a closed terminal must not leave the children (own process groups) running.
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  process.on('SIGHUP', onSignal)
  // Once the terminal is gone (SIGHUP), writing to it fails (EIO), and an unheard stream error
  // would end this process before it stopped its children and removed its files: the demo
  // goes on stopping without a terminal.
  const quiet = (): void => {}
  process.stdout.on('error', quiet)
  process.stderr.on('error', quiet)
  void o.until?.then(() => requestStop('requested'))

  let supervisor: Supervisor | undefined
  let tap: TapPlane | undefined
  let dashboard: DashboardServer | undefined
  let state: DemoState | undefined
  let failure: string | undefined
  const persist = (): void => {
    if (!state) return
    state.processes = supervisor?.states() ?? []
    writeState(p, state)
  }
  try {
    const plan = buildPlan(await allocatePorts(PORTS_NEEDED, o.portBase), o)
    const id = await ensureLocalIdentityDir(p.identity)
    for (const s of plan.services) writeFileSync(path.join(p.tokens, s.name), issueLocalToken(s.serviceAccount, plan.namespace, id.tokenSecret) + '\n', {mode: 0o600})
    writeFileSync(p.registry, registryDocument(plan), {mode: 0o600})
    state = {
      version: 1, pid: process.pid, status: 'starting', startedAt: new Date().toISOString(), dir: p.dir, plan,
      anchorsFile: path.join(p.identity, LOCAL_IDENTITY_FILES.anchor), issuerFile: path.join(p.identity, LOCAL_IDENTITY_FILES.issuerCert), processes: [],
    }
    persist()
    // Every child carries its owner's mark, so what a killed demo leaves is found (state.ts).
    const childEnv = {...env, [OWNER_ENV]: ownerMarker(process.pid, p.dir)}
    supervisor = new Supervisor({command: supervisedCommandLine(), env: childEnv, onEvent: (line) => out.warn(line), onChange: persist})
    await startAll(plan, p, id.anchorsPem, supervisor, o.readyTimeoutMs ?? 180_000, out, () => stopReason)
    const tapToken = path.join(p.tokens, CONTROLLER_SERVICE_ACCOUNT)
    writeFileSync(tapToken, issueLocalToken(CONTROLLER_SERVICE_ACCOUNT, 'mesh-system', id.tokenSecret) + '\n', {mode: 0o600})
    tap = await withTimeout(startTapPlane(plan, (svc) => supervisor!.state(`proxy/${svc}`)?.status === 'running', {tokenFile: tapToken, trustAnchorsPem: id.anchorsPem, registryFile: p.registry}, env), 60_000, 'the tap server did not get its certificate')
    state.tapUrl = tap.url
    state.localContext = tap.contextFile
    writeCheckState(p, plan, state.anchorsFile, state.issuerFile)
    dashboard = await (await import('../dashboard/run.js')).startDemoDashboard(env, p.checkState, out)
    state.dashboardUrl = dashboard?.url
    supervisor.start(loadSpec(plan, p))
    supervisor.markRunning('load')
    state.status = 'ready'
    persist()
    out.stdout.write(await renderSummary(state, out))
    await stopped
  } catch (err) {
    failure = (err as Error).message
    if (state) state.error = failure
    if (stopReason) {
      out.info('interrupted while starting')
      return
    }
    throw err
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
    process.off('SIGHUP', onSignal)
    if (state) {
      state.status = 'stopping'
      persist()
    }
    await supervisor?.stopAll([...STOP_ORDER])
    await dashboard?.close()
    await tap?.close()
    removeFiles(p, env.MESH_DEMO_DETACHED === '1' && failure !== undefined)
    if (state?.status === 'stopping' && failure === undefined) out.info('demo stopped; every process it started is gone and its files are removed')
    process.stdout.off('error', quiet)
    process.stderr.off('error', quiet)
  }
}

async function startAll(plan: DemoPlan, p: DemoPaths, anchorsPem: string, sup: Supervisor, timeoutMs: number, out: Output, stopping: () => string | undefined): Promise<void> {
  const deadline = Date.now() + timeoutMs
  const left = (): number => Math.max(1000, deadline - Date.now())
  const abortFor = (key: string) => (): string | undefined => {
    if (stopping()) return 'interrupted'
    const s = sup.state(key)
    if (s && s.restarts >= 3) return `it exited ${s.restarts} times (last: ${s.lastExit}); its log ${s.log} ends with:\n${logTail(s.log)}`
    return undefined
  }
  const step = async (what: string, key: string, probe: () => Promise<boolean>): Promise<void> => {
    await waitFor(what, probe, left(), abortFor(key)).catch((err: Error) => {
      throw new MeshError(`the demo could not start: ${err.message}`, {
        code: 'MESH_DEMO_START',
        suggestions: [`Read ${sup.state(key)?.log ?? p.logs} for the details; pass --ready-timeout to wait longer on a slow machine.`],
        cause: err,
      })
    })
    sup.markRunning(key)
  }
  out.info(`starting the controller (local mode) on 127.0.0.1:${plan.controller.identityPort} and :${plan.controller.destinationPort} ...`)
  sup.start(controllerSpec(plan, p))
  for (const s of plan.services) sup.start(appSpec(plan, s, p))
  await step('the controller', 'controller', async () => (await tcpOpen(plan.controller.identityPort)) && tcpOpen(plan.controller.destinationPort))
  out.info(`starting ${plan.services.length} proxies and services: ${plan.services.map((s) => s.name).join(', ')} ...`)
  for (const s of plan.services) sup.start(proxySpec(plan, s, p, anchorsPem))
  await Promise.all(plan.services.flatMap((s) => [
    step(`service ${s.name} (127.0.0.1:${s.appPort})`, `app/${s.name}`, () => tcpOpen(s.appPort)),
    step(`the proxy of ${s.name} (admin 127.0.0.1:${s.proxy.admin}/ready)`, `proxy/${s.name}`, async () => (await httpStatus(`http://127.0.0.1:${s.proxy.admin}/ready`)) === 200),
  ]))
}

/** Removes the demo's files; a detached demo that failed keeps its log for the parent to show. */
function removeFiles(p: DemoPaths, keepLog: boolean): void {
  if (!keepLog) return rmSync(p.dir, {recursive: true, force: true})
  for (const f of readdirSync(p.dir)) if (path.join(p.dir, f) !== p.log) rmSync(path.join(p.dir, f), {recursive: true, force: true})
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => (t = setTimeout(() => reject(new MeshError(`${what} within ${ms / 1000}s`, {code: 'MESH_DEMO_START'})), ms)))
  return Promise.race([p, timeout]).finally(() => clearTimeout(t))
}
