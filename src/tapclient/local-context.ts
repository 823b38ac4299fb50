// The local context `mesh demo` writes so `mesh stat`, `top`, `tap` and `edges` find its
// controller with no flags: $MESH_HOME/local.json (default ~/.mesh/local.json), mode 0600,
// holding the controller's addresses, the demo's pid and the token the local tap server wants.
import {existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync} from 'node:fs'
import {homedir} from 'node:os'
import path from 'node:path'

export interface LocalContext {
  version: 1
  /** The demo's process; the context is stale once it is gone. */
  pid: number
  /** Base URL of the local tap server, e.g. http://127.0.0.1:41089 */
  tap: string
  /** Bearer token the local tap server requires. */
  token: string
  /** Default namespace of the demo's workloads. */
  namespace: string
  /** Other controller addresses (destination, identity), for other commands. */
  controller?: Record<string, string>
  createdAt?: string
}

export function meshHome(env: NodeJS.ProcessEnv = process.env): string {
  return env.MESH_HOME || path.join(homedir(), '.mesh')
}

export function localContextPath(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(meshHome(env), 'local.json')
}

export function writeLocalContext(ctx: LocalContext, env: NodeJS.ProcessEnv = process.env): string {
  const file = localContextPath(env)
  mkdirSync(path.dirname(file), {recursive: true, mode: 0o700})
  writeFileSync(file + '.tmp', JSON.stringify(ctx, null, 2) + '\n', {mode: 0o600})
  renameSync(file + '.tmp', file)
  return file
}

export function removeLocalContext(env: NodeJS.ProcessEnv = process.env): void {
  rmSync(localContextPath(env), {force: true})
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

export type LocalContextState = {state: 'none'} | {state: 'stale'; file: string; pid: number} | {state: 'invalid'; file: string; problem: string} | {state: 'live'; file: string; context: LocalContext}

export function readLocalContext(env: NodeJS.ProcessEnv = process.env): LocalContextState {
  const file = localContextPath(env)
  if (!existsSync(file)) return {state: 'none'}
  let ctx: LocalContext
  try {
    const text = readFileSync(file, 'utf8')
    if (text.length > 64 * 1024) return {state: 'invalid', file, problem: 'larger than 64 KiB'}
    ctx = JSON.parse(text) as LocalContext
  } catch (err) {
    return {state: 'invalid', file, problem: (err as Error).message}
  }
  if (!ctx || ctx.version !== 1 || typeof ctx.tap !== 'string' || typeof ctx.token !== 'string' || !Number.isInteger(ctx.pid)) {
    return {state: 'invalid', file, problem: 'expected {version: 1, pid, tap, token, namespace}'}
  }
  let url: URL
  try {
    url = new URL(ctx.tap)
  } catch {
    return {state: 'invalid', file, problem: `tap is not a URL: ${JSON.stringify(ctx.tap.slice(0, 80))}`}
  }
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname)) return {state: 'invalid', file, problem: `tap must be on the loopback interface, not ${url.hostname}`}
  if (!alive(ctx.pid)) return {state: 'stale', file, pid: ctx.pid}
  return {state: 'live', file, context: ctx}
}
