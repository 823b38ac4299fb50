// A `mesh dashboard` process (the compiled binary) for the browser tests and the bench: started
// with --no-open (unless the args say --open), its address read from the first line of its stdout.
import {spawn, type ChildProcess} from 'node:child_process'
import {ROOT} from './run.js'

export interface RunningDashboard {
  url: string
  origin: string
  child: ChildProcess
  stderr: () => string
  stop(): Promise<void>
}

export function startDashboardProcess(args: string[], env: NodeJS.ProcessEnv, timeoutMs = 60_000): Promise<RunningDashboard> {
  const child = spawn(process.execPath, ['bin/run.js', 'dashboard', ...(args.includes('--open') ? [] : ['--no-open']), ...args], {
    cwd: ROOT,
    env: {...process.env, NO_COLOR: '1', NODE_ENV: 'production', ...env},
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d))
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => (child.kill('SIGKILL'), reject(new Error(`mesh dashboard printed no address within ${timeoutMs} ms; stderr: ${stderr}`))), timeoutMs)
    const early = (code: number | null): void => (clearTimeout(timer), reject(new Error(`mesh dashboard exited (${code}) before printing its address; stderr: ${stderr}`)))
    child.once('exit', early)
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d
      const line = stdout.split('\n').find((l) => l.startsWith('http://'))
      if (!line) return
      clearTimeout(timer)
      child.off('exit', early)
      const url = line.trim()
      resolve({
        url,
        origin: new URL(url).origin,
        child,
        stderr: () => stderr,
        stop: async () => {
          if (child.exitCode === null) child.kill('SIGINT')
          await exited
        },
      })
    })
  })
}
