// `mesh demo stop`, `mesh demo status` and `mesh demo --detach`: acting on a demo another
// process runs, through its pid file and state file.
import {spawn} from 'node:child_process'
import {closeSync, existsSync, mkdirSync, openSync, rmSync} from 'node:fs'
import {setTimeout as sleep} from 'node:timers/promises'
import {MeshError} from '../lib/errors.js'
import {logTail} from './logs.js'
import {demoPaths} from './paths.js'
import {httpStatus, tcpOpen} from './ready.js'
import {alive, alreadyRunning, cleanStale, findDemo, findLeftovers, readState, removeStaleContext, type DemoState, type Leftover} from './state.js'
import {meshCommandLine} from './supervisor.js'

export interface StopResult {
  /** What was found: a live demo (stopped), a stale one (cleaned) or none. */
  found: 'live' | 'stale' | 'none'
  pid?: number
  dir: string
  /** Processes a dead demo had left running, killed now. */
  killed?: number
}

/**
 * SIGTERM to the demo, then waits (bounded) for it to remove its files; SIGKILL + cleanup if it
 * hangs. A demo that is gone is cleaned up: what it left running, its files, the local context.
 */
export async function stopDemo(env: NodeJS.ProcessEnv = process.env, timeoutMs = 60_000): Promise<StopResult> {
  const p = demoPaths(env)
  const found = findDemo(p)
  if (found.state === 'none') {
    // No files, but maybe processes of a demo whose directory was removed under it.
    const left = findLeftovers(p.dir)
    removeStaleContext(env, undefined)
    if (left.length === 0) return {found: 'none', dir: p.dir}
    return {found: 'stale', pid: left[0]!.owner, dir: p.dir, killed: cleanStale(p, undefined, env)}
  }
  if (found.state === 'stale') return {found: 'stale', pid: found.pid, dir: p.dir, killed: cleanStale(p, found.demo, env)}
  process.kill(found.pid, 'SIGTERM')
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (!alive(found.pid) && !existsSync(p.dir)) {
      removeStaleContext(env, found.pid)
      return {found: 'live', pid: found.pid, dir: p.dir}
    }
    await sleep(200)
  }
  const state = readState(p)
  try {
    process.kill(found.pid, 'SIGKILL')
  } catch {
    // gone meanwhile
  }
  cleanStale(p, state, env)
  return {found: 'live', pid: found.pid, dir: p.dir}
}

export interface ProcessReport {
  key: string
  pid?: number
  status: string
  restarts: number
  lastExit?: string
  /** Probed now: the proxy's /ready, the app's port. */
  ready?: boolean
  address?: string
  log: string
}

export interface StatusReport {
  running: boolean
  /** A demo that is gone without cleaning up: its pid, and what it left. */
  stale?: {pid?: number; leftovers: Leftover[]; files: boolean}
  pid?: number
  status?: DemoState['status']
  startedAt?: string
  dir: string
  namespace?: string
  tap?: string
  /** The demo's dashboard, key included. */
  dashboard?: string
  controller?: {identity: string; destination: string}
  processes: ProcessReport[]
}

export async function demoStatus(env: NodeJS.ProcessEnv = process.env): Promise<StatusReport> {
  const p = demoPaths(env)
  const found = findDemo(p)
  if (found.state !== 'live') {
    const leftovers = findLeftovers(p.dir)
    if (found.state === 'none' && leftovers.length === 0) return {running: false, dir: p.dir, processes: []}
    const pid = found.state === 'stale' ? (found.pid ?? found.demo?.pid) : leftovers[0]!.owner
    return {running: false, stale: {pid, leftovers, files: existsSync(p.dir)}, dir: p.dir, processes: []}
  }
  if (!found.demo) return {running: true, pid: found.pid, dir: p.dir, processes: []}
  const d = found.demo
  const probes = await Promise.all(d.processes.map(async (c): Promise<ProcessReport> => {
    const svc = d.plan.services.find((s) => s.name === c.service)
    let ready: boolean | undefined
    let address: string | undefined
    if (c.role === 'proxy' && svc) {
      address = `127.0.0.1:${svc.proxy.inbound}`
      ready = (await httpStatus(`http://127.0.0.1:${svc.proxy.admin}/ready`, 1500)) === 200
    } else if (c.role === 'app' && svc) {
      address = `127.0.0.1:${svc.appPort}`
      ready = await tcpOpen(svc.appPort, '127.0.0.1', 1500)
    } else if (c.role === 'controller') {
      address = `127.0.0.1:${d.plan.controller.identityPort},${d.plan.controller.destinationPort}`
      ready = await tcpOpen(d.plan.controller.identityPort, '127.0.0.1', 1500)
    }
    return {key: c.key, pid: c.pid, status: c.status, restarts: c.restarts, lastExit: c.lastExit, ready, address, log: c.log}
  }))
  return {
    running: true, pid: found.pid, status: d.status, startedAt: d.startedAt, dir: p.dir, namespace: d.plan.namespace, tap: d.tapUrl, dashboard: d.dashboardUrl,
    controller: {identity: `https://127.0.0.1:${d.plan.controller.identityPort}`, destination: `wss://127.0.0.1:${d.plan.controller.destinationPort}`},
    processes: probes,
  }
}

/** What `mesh demo status` says about a demo that is gone but left processes or files. */
export function staleNote(r: StatusReport): string {
  const s = r.stale!
  const left = s.leftovers.length > 0 ? `${s.leftovers.length} of its processes still run (pid ${s.leftovers.map((l) => l.pid).join(', ')})` : ''
  const files = s.files ? `its files are still in ${r.dir}` : ''
  return `no mesh demo is running, but the demo with pid ${s.pid ?? '?'} ended without cleaning up: ${[left, files].filter(Boolean).join(' and ')}. ` +
    'Run `mesh demo stop` to stop them and remove the files.'
}

/** Starts `mesh demo <args>` in the background and waits until it is ready; returns its state. */
export async function detachDemo(args: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<DemoState> {
  const p = demoPaths(env)
  const found = findDemo(p)
  if (found.state === 'live') throw alreadyRunning(found.pid, p)
  if (found.state === 'stale') cleanStale(p, found.demo, env)
  mkdirSync(p.dir, {recursive: true, mode: 0o700})
  const fd = openSync(p.log, 'a', 0o600)
  const [cmd, ...prefix] = meshCommandLine()
  let child
  try {
    child = spawn(cmd!, [...prefix, 'demo', ...args], {env: {...env, NO_COLOR: '1', MESH_DEMO_DETACHED: '1'}, stdio: ['ignore', fd, fd], detached: true})
  } finally {
    closeSync(fd)
  }
  child.unref()
  let exit: string | undefined
  child.on('exit', (code, signal) => (exit = signal ? `signal ${signal}` : `code ${code}`))
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    const s = readState(p)
    if (s && s.pid === child.pid && s.status === 'ready') return s
    if (exit !== undefined) {
      await sleep(100)
      const tail = logTail(p.log, 12)
      if (!existsSync(p.pid)) rmSync(p.dir, {recursive: true, force: true})
      throw new MeshError(`the background demo exited (${exit}) before it was ready`, {
        code: 'MESH_DEMO_START',
        suggestions: [`Its last words:\n${tail || '(no output)'}`, 'Run `mesh demo` in the foreground to watch it start.'],
      })
    }
    await sleep(250)
  }
  try {
    process.kill(child.pid!, 'SIGTERM')
  } catch {
    // gone
  }
  throw new MeshError(`the background demo was not ready within ${Math.round(timeoutMs / 1000)}s`, {
    code: 'MESH_DEMO_START',
    suggestions: [`Read ${p.log}; pass --ready-timeout to wait longer on a slow machine.`],
  })
}
