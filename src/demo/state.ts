// The running demo as files: demo.pid (the lock a second `mesh demo` finds) and state.json
// (what runs where, for `mesh demo status`, `mesh demo stop`, `mesh check --proxy` and tests).
import {existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync} from 'node:fs'
import {MeshError} from '../lib/errors.js'
import {readLocalContext, removeLocalContext} from '../tapclient/local-context.js'
import type {DemoPaths} from './paths.js'
import type {DemoPlan} from './plan.js'
import type {ChildState} from './supervisor.js'

export interface DemoState {
  version: 1
  pid: number
  status: 'starting' | 'ready' | 'stopping'
  startedAt: string
  dir: string
  plan: DemoPlan
  /** Base URL of the local tap server (also in the local context). */
  tapUrl?: string
  localContext?: string
  /** The demo's dashboard, key included (`mesh dashboard` serves the same page). */
  dashboardUrl?: string
  anchorsFile: string
  issuerFile: string
  processes: ChildState[]
  /** Set when start-up failed: why. */
  error?: string
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

export function writeState(p: DemoPaths, s: DemoState): void {
  if (!existsSync(p.dir)) return
  writeFileSync(p.state + '.tmp', JSON.stringify(s, null, 2) + '\n', {mode: 0o600})
  renameSync(p.state + '.tmp', p.state)
}

export function readState(p: DemoPaths): DemoState | undefined {
  try {
    const text = readFileSync(p.state, 'utf8')
    if (text.length > 1024 * 1024) return undefined
    const s = JSON.parse(text) as DemoState
    return s && s.version === 1 && Number.isInteger(s.pid) ? s : undefined
  } catch {
    return undefined
  }
}

export type DemoPresence = {state: 'none'} | {state: 'stale'; pid?: number; demo?: DemoState} | {state: 'live'; pid: number; demo?: DemoState}

export function findDemo(p: DemoPaths): DemoPresence {
  if (!existsSync(p.dir)) return {state: 'none'}
  let pid: number | undefined
  try {
    pid = Number(readFileSync(p.pid, 'utf8').trim())
  } catch {
    pid = undefined
  }
  const demo = readState(p)
  if (pid && Number.isInteger(pid) && pid > 0 && alive(pid)) return {state: 'live', pid, demo}
  // A directory with neither (a detaching parent just created it for the log) is nobody's demo.
  if (pid === undefined && !demo) return {state: 'none'}
  return {state: 'stale', pid, demo}
}

export function alreadyRunning(pid: number, p: DemoPaths): MeshError {
  return new MeshError(`a mesh demo is already running (pid ${pid}, files in ${p.dir})`, {
    code: 'MESH_DEMO_RUNNING',
    suggestions: ['See it with `mesh demo status`, end it with `mesh demo stop`, or run a second one with MESH_DEMO_DIR and MESH_HOME set to other directories.'],
  })
}

/** Takes the lock (demo.pid, created exclusively). Throws MESH_DEMO_RUNNING when a live demo holds it. */
export function acquireLock(p: DemoPaths): void {
  mkdirSync(p.dir, {recursive: true, mode: 0o700})
  try {
    writeFileSync(p.pid, String(process.pid) + '\n', {flag: 'wx', mode: 0o600})
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    const found = findDemo(p)
    if (found.state === 'live' && found.pid !== process.pid) throw alreadyRunning(found.pid, p)
    writeFileSync(p.pid, String(process.pid) + '\n', {mode: 0o600})
  }
}

/**
 * Every process the demo starts carries `MESH_DEMO_OWNER=<orchestrator pid>@<demo dir>` in its
 * environment, so what a dead demo left running can be found (and told apart from an unrelated
 * process that reused a recorded pid) by reading /proc/<pid>/environ.
 */
export const OWNER_ENV = 'MESH_DEMO_OWNER'

export function ownerMarker(pid: number, dir: string): string {
  return `${pid}@${dir}`
}

export interface Leftover {
  pid: number
  /** The orchestrator that started it (now gone). */
  owner: number
  command: string
}

function procEnv(pid: number): Map<string, string> | undefined {
  let raw: string
  try {
    raw = readFileSync(`/proc/${pid}/environ`, 'latin1')
  } catch {
    return undefined
  }
  const env = new Map<string, string>()
  for (const kv of raw.split('\0')) {
    const eq = kv.indexOf('=')
    if (eq > 0) env.set(kv.slice(0, eq), kv.slice(eq + 1))
  }
  return env
}

function procCommand(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0').filter((a) => a !== '').join(' ')
  } catch {
    return '?'
  }
}

function ownerOf(pid: number): {pid: number; dir: string} | undefined {
  const m = /^(\d+)@(.+)$/.exec(procEnv(pid)?.get(OWNER_ENV) ?? '')
  return m ? {pid: Number(m[1]), dir: m[2]!} : undefined
}

/** Whether /proc can tell us what a process is (Linux). */
const haveProc = (): boolean => existsSync(`/proc/${process.pid}/environ`)

/**
 * Processes started for the demo in `dir` by an orchestrator other than `livePid` (the one its
 * pid file names, if alive): what a killed demo left running. Linux only (/proc); elsewhere,
 * none are found this way.
 */
export function findLeftovers(dir: string, livePid?: number): Leftover[] {
  if (!haveProc()) return []
  const found: Leftover[] = []
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    const pid = Number(name)
    if (pid === process.pid) continue
    const owner = ownerOf(pid)
    if (!owner || owner.dir !== dir || owner.pid === livePid || owner.pid === pid) continue
    found.push({pid, owner: owner.pid, command: procCommand(pid)})
  }
  return found.sort((a, b) => a.pid - b.pid)
}

function kill(pid: number): boolean {
  try {
    process.kill(-pid, 'SIGKILL')
    return true
  } catch {
    try {
      process.kill(pid, 'SIGKILL')
      return true
    } catch {
      return false
    }
  }
}

/**
 * Cleans up after a demo whose orchestrator is gone: kills what it left running (the processes
 * its state recorded, checked to be its own when /proc can tell, and any other process carrying
 * its marker), removes its files and the local context that named it. Returns how many
 * processes it killed.
 */
export function cleanStale(p: DemoPaths, demo: DemoState | undefined, env: NodeJS.ProcessEnv = process.env): number {
  const victims = new Set(findLeftovers(p.dir).map((l) => l.pid))
  for (const c of demo?.processes ?? []) {
    if (!c.pid || !alive(c.pid)) continue
    // A recorded pid another process may have reused since: only ours, when we can tell.
    if (haveProc() && ownerOf(c.pid)?.dir !== p.dir) continue
    victims.add(c.pid)
  }
  let killed = 0
  for (const pid of victims) if (kill(pid)) killed++
  rmSync(p.dir, {recursive: true, force: true})
  removeStaleContext(env, demo?.pid)
  return killed
}

/** Removes $MESH_HOME/local.json when it names `pid` or a process that is gone. */
export function removeStaleContext(env: NodeJS.ProcessEnv, pid: number | undefined): void {
  const ctx = readLocalContext(env)
  if (ctx.state === 'stale' || (ctx.state === 'live' && pid !== undefined && ctx.context.pid === pid && !alive(pid))) removeLocalContext(env)
}
