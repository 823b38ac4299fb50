// The running demo as files: demo.pid (the lock a second `mesh demo` finds) and state.json
// (what runs where, for `mesh demo status`, `mesh demo stop`, `mesh check --proxy` and tests).
import {existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync} from 'node:fs'
import {MeshError} from '../lib/errors.js'
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

/** Kills processes a crashed demo left behind (recorded in its state) and removes its files. */
export function cleanStale(p: DemoPaths, demo: DemoState | undefined): number {
  let killed = 0
  for (const c of demo?.processes ?? []) {
    if (c.pid && alive(c.pid)) {
      try {
        process.kill(-c.pid, 'SIGKILL')
        killed++
      } catch {
        try {
          process.kill(c.pid, 'SIGKILL')
          killed++
        } catch {
          // gone meanwhile
        }
      }
    }
  }
  rmSync(p.dir, {recursive: true, force: true})
  return killed
}
