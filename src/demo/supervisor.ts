// Runs the demo's processes as children of the real binary (the entry script this process
// runs from, with the same Node flags), each with its output in its own log file. A child that
// exits while the demo runs is reported and restarted with backoff (1 s doubling to 30 s; the
// backoff resets after a minute up), never hidden.
// Children die with the supervisor: each leads its own process group (stopped as a group), and
// each holds one end of a pipe whose other end only the supervisor holds, watched by
// parent-watch.ts (loaded with --import), so that even a SIGKILLed supervisor leaves nothing.
import {spawn, type ChildProcess} from 'node:child_process'
import {closeSync, openSync} from 'node:fs'
import {createRequire} from 'node:module'
import type {Socket} from 'node:net'
import path from 'node:path'
import {fileURLToPath, pathToFileURL} from 'node:url'
import {PARENT_FD_ENV} from './parent-watch.js'
import type {ProcessSpec} from './plan.js'

export type ChildStatus = 'starting' | 'running' | 'restarting' | 'stopped'

export interface ChildState {
  key: string
  role: ProcessSpec['role']
  service?: string
  pid?: number
  status: ChildStatus
  restarts: number
  lastExit?: string
  log: string
}

export interface SupervisorOptions {
  /** The command line that runs `mesh`: [node, ...execArgv, entry script]. */
  command: string[]
  env?: NodeJS.ProcessEnv
  /** Told about every exit while the demo runs, and every restart. */
  onEvent?: (line: string, state: ChildState) => void
  onChange?: () => void
  backoff?: {minMs: number; maxMs: number}
}

interface Entry {
  spec: ProcessSpec
  state: ChildState
  child?: ChildProcess
  /** The supervisor's end of the child's parent-death pipe (fd 3 in the child). */
  watch?: Socket
  timer?: NodeJS.Timeout
  startedAt: number
  failures: number
}

export function meshCommandLine(): string[] {
  return [process.execPath, ...process.execArgv, process.argv[1]!]
}

/** parent-watch.ts next to this module: the compiled .js, or the .ts source under tsx. */
export const PARENT_WATCH_MODULE = new URL(`./parent-watch${path.extname(fileURLToPath(import.meta.url))}`, import.meta.url).href

/** `mesh` as a supervised child runs: meshCommandLine() with the parent-death watch preloaded. */
export function supervisedCommandLine(): string[] {
  // From the sources (.ts), the watch needs tsx's loader before it, which the entry's own Node
  // flags may not have (oclif registers tsx itself when it runs src/ under a test runner).
  const tsx = PARENT_WATCH_MODULE.endsWith('.ts') && !process.execArgv.some((a) => a.includes('tsx'))
    ? ['--import', pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href]
    : []
  return [process.execPath, ...process.execArgv, ...tsx, '--import', PARENT_WATCH_MODULE, process.argv[1]!]
}

export class Supervisor {
  private readonly entries = new Map<string, Entry>()
  private stopping = false

  constructor(private readonly o: SupervisorOptions) {}

  states(): ChildState[] {
    return [...this.entries.values()].map((e) => ({...e.state}))
  }

  state(key: string): ChildState | undefined {
    return this.entries.get(key)?.state
  }

  start(spec: ProcessSpec): ChildState {
    const entry: Entry = {spec, state: {key: spec.key, role: spec.role, service: spec.service, status: 'starting', restarts: 0, log: spec.log}, startedAt: 0, failures: 0}
    this.entries.set(spec.key, entry)
    this.spawn(entry)
    return entry.state
  }

  private spawn(entry: Entry): void {
    const [cmd, ...prefix] = this.o.command
    const fd = openSync(entry.spec.log, 'a', 0o600)
    let child: ChildProcess
    try {
      child = spawn(cmd!, [...prefix, ...entry.spec.args], {
        env: {...(this.o.env ?? process.env), ...entry.spec.env, NO_COLOR: '1', [PARENT_FD_ENV]: '3'},
        // fd 3: the parent-death pipe (parent-watch.ts).
        stdio: ['ignore', fd, fd, 'pipe'],
        // Its own process group: Ctrl-C reaches the demo, which stops the children in order,
        // each with everything it may have started.
        detached: true,
      })
    } finally {
      closeSync(fd)
    }
    const watch = child.stdio[3] as Socket | null
    if (watch) {
      watch.on('error', () => {})
      watch.unref()
    }
    entry.watch = watch ?? undefined
    entry.child = child
    entry.startedAt = Date.now()
    entry.state.pid = child.pid
    entry.state.status = entry.state.restarts === 0 ? 'starting' : 'running'
    child.on('error', (err) => this.exited(entry, child, `failed to start: ${err.message}`))
    child.on('exit', (code, signal) => this.exited(entry, child, signal ? `signal ${signal}` : `code ${code}`))
    this.o.onChange?.()
  }

  /** Marks a child as up (its readiness check passed). */
  markRunning(key: string): void {
    const e = this.entries.get(key)
    if (e && e.state.status === 'starting') {
      e.state.status = 'running'
      this.o.onChange?.()
    }
  }

  private exited(entry: Entry, child: ChildProcess | undefined, how: string): void {
    if (entry.child !== child) return
    entry.child = undefined
    entry.watch?.destroy()
    entry.watch = undefined
    entry.state.pid = undefined
    entry.state.lastExit = how
    if (this.stopping) {
      entry.state.status = 'stopped'
      this.o.onChange?.()
      return
    }
    const {minMs, maxMs} = this.o.backoff ?? {minMs: 1000, maxMs: 30_000}
    entry.failures = Date.now() - entry.startedAt > 60_000 ? 1 : entry.failures + 1
    const wait = Math.min(maxMs, minMs * 2 ** (entry.failures - 1))
    entry.state.status = 'restarting'
    entry.state.restarts++
    this.o.onEvent?.(`${entry.spec.key} exited (${how}); restarting in ${(wait / 1000).toFixed(wait < 1000 ? 1 : 0)}s (restart ${entry.state.restarts}, log ${entry.spec.log})`, entry.state)
    this.o.onChange?.()
    entry.timer = setTimeout(() => {
      entry.timer = undefined
      if (this.stopping) return
      try {
        this.spawn(entry)
      } catch (err) {
        // e.g. its log directory was removed: report it and keep trying, with backoff.
        entry.startedAt = Date.now()
        this.exited(entry, undefined, `failed to start: ${(err as Error).message}`)
      }
    }, wait)
  }

  /** Stops children group by group (each group in parallel): SIGTERM, then SIGKILL after `graceMs`. */
  async stopAll(order: Array<ProcessSpec['role']>, graceMs = 5000): Promise<void> {
    this.stopping = true
    for (const e of this.entries.values()) if (e.timer) clearTimeout(e.timer)
    for (const role of order) {
      const group = [...this.entries.values()].filter((e) => e.spec.role === role)
      await Promise.all(group.map((e) => stopChild(e.child, graceMs)))
    }
    await Promise.all([...this.entries.values()].map((e) => stopChild(e.child, graceMs)))
  }
}

function stopChild(child: ChildProcess | undefined, graceMs: number): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => {
    const kill = setTimeout(() => signalGroup(child, 'SIGKILL'), graceMs)
    child.once('exit', () => {
      clearTimeout(kill)
      resolve()
    })
    signalGroup(child, 'SIGTERM')
  })
}

/** Signals the child's process group (it leads one: detached), else the child alone. */
function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    if (child.pid !== undefined) process.kill(-child.pid, signal)
  } catch {
    try {
      child.kill(signal)
    } catch {
      // gone
    }
  }
}
