// Run mesh commands in process (oclif's config from this package, commands from src/ through
// tsx) and as the real binary. Both return stdout, stderr and the exit code.
import {spawn} from 'node:child_process'
import {existsSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {captureOutput} from '@oclif/test'
import {Config, run} from '@oclif/core'

export const ROOT = fileURLToPath(new URL('../..', import.meta.url))

/** $PATH without any directory that holds a `mesh`: what a fresh clone's user has. */
export const PATH_WITHOUT_MESH = (process.env.PATH ?? '').split(path.delimiter).filter((d) => d !== '' && !existsSync(path.join(d, 'mesh'))).join(path.delimiter)

export interface RunResult {
  stdout: string
  stderr: string
  exitCode: number
}

let config: Config | undefined

/** Runs `mesh <args>` in this process, as the base command would, and captures its output. */
export async function runMesh(args: string[]): Promise<RunResult> {
  config ??= await Config.load(ROOT)
  const before = process.exitCode
  process.exitCode = undefined
  const captured = await captureOutput(async () => run(args, config), {print: false, stripAnsi: false})
  const exitCode = typeof process.exitCode === 'number' ? process.exitCode : captured.error ? 1 : 0
  process.exitCode = before
  if (captured.error && !('oclif' in captured.error)) throw captured.error
  return {stdout: captured.stdout, stderr: captured.stderr, exitCode}
}

export interface SpawnOptions {
  env?: NodeJS.ProcessEnv
  stdin?: string
  timeoutMs?: number
  /**
   * Run bin/run.js (compiled dist/) instead of bin/dev.js (sources through tsx). NODE_ENV is set
   * to production: under vitest it is `test`, and oclif then loads src/ through tsx even from
   * bin/run.js, which would test the sources while claiming to test the build.
   */
  compiled?: boolean
}

/** Spawns the real binary, as a user's shell would. */
export function spawnMesh(args: string[], options: SpawnOptions = {}): Promise<RunResult> {
  const bin = options.compiled ? 'bin/run.js' : 'bin/dev.js'
  const nodeArgs = options.compiled ? [bin] : ['--import', 'tsx', '--no-warnings', bin]
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...nodeArgs, ...args], {
      cwd: ROOT,
      env: {...process.env, NO_COLOR: '1', ...(options.compiled ? {NODE_ENV: 'production'} : {}), ...options.env},
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d))
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d))
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30_000)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({stdout, stderr, exitCode: code ?? -1})
    })
    child.stdin.end(options.stdin ?? '')
  })
}
