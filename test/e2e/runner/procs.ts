// Processes inside a pod's network namespace: `ip netns exec` (which also gives the process its
// own mount namespace and the namespace's /etc/hosts), bind mounts for the pod's volumes at the
// paths the spec names, and an optional uid (setpriv). Each runs under a watchdog that kills it
// when the test process goes away, however it died.
import {spawn, spawnSync, type ChildProcess} from 'node:child_process'
import {closeSync, existsSync, mkdirSync, openSync, readFileSync, rmdirSync} from 'node:fs'

export interface NsProcess {
  name: string
  child: ChildProcess
  logPath: string
  exited: boolean
  exitCode: number | null
  exit: Promise<number | null>
}

export interface SpawnInNs {
  ns: string
  name: string
  argv: string[]
  env: Record<string, string>
  cwd: string
  logPath: string
  /** host dir -> path inside the process's mount namespace */
  mounts?: Array<{source: string; target: string}>
  uid?: number
}

/** Mount points created on the host (empty dirs), removed by removeMountPoints(). */
const createdMountPoints: string[] = []

function ensureMountPoint(dir: string): void {
  const missing: string[] = []
  for (let d = dir; d !== '/' && !existsSync(d); d = d.slice(0, d.lastIndexOf('/')) || '/') missing.unshift(d)
  for (const d of missing) {
    mkdirSync(d)
    createdMountPoints.push(d)
  }
}

export function removeMountPoints(): void {
  for (const d of createdMountPoints.splice(0).reverse()) {
    try {
      rmdirSync(d)
    } catch {
      // not empty or gone: leave it
    }
  }
}

const WATCHDOG = [
  'exec 3<&0',
  '"$@" </dev/null &',
  'child=$!',
  '{ cat <&3 >/dev/null; kill -KILL "$child" 2>/dev/null; } &',
  'wait "$child"',
].join('\n')

export function spawnInNs(o: SpawnInNs): NsProcess {
  const mounts = o.mounts ?? []
  for (const m of mounts) ensureMountPoint(m.target)
  const mountScript = mounts.map((_, i) => `mount --bind "$M${i}S" "$M${i}T"`).join(' && ')
  const mountEnv: Record<string, string> = {}
  mounts.forEach((m, i) => {
    mountEnv[`M${i}S`] = m.source
    mountEnv[`M${i}T`] = m.target
  })
  const user = o.uid !== undefined ? ['setpriv', `--reuid=${o.uid}`, `--regid=${o.uid}`, '--clear-groups', '--'] : []
  // sh mounts (as root, in the private mount namespace ip netns exec made), clears its own
  // M* variables, then execs the container's command with exactly the env given.
  const inner = `${mountScript ? `${mountScript} && ` : ''}exec env -i "$@"`
  const envArgs = Object.entries(o.env).map(([k, v]) => `${k}=${v}`)
  const argv = ['ip', 'netns', 'exec', o.ns, 'sh', '-c', inner, 'sh', ...envArgs, ...user, ...o.argv]
  const fd = openSync(o.logPath, 'a')
  const child = spawn('sh', ['-c', WATCHDOG, o.name, ...argv], {
    cwd: o.cwd,
    stdio: ['pipe', fd, fd],
    env: {PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin', ...mountEnv},
  })
  closeSync(fd)
  child.stdin!.on('error', () => {})
  const p: NsProcess = {name: o.name, child, logPath: o.logPath, exited: false, exitCode: null, exit: Promise.resolve(null)}
  p.exit = new Promise((resolve) => {
    child.on('exit', (code) => {
      p.exited = true
      p.exitCode = code
      resolve(code)
    })
    child.on('error', () => {
      p.exited = true
      resolve(null)
    })
  })
  return p
}

/** Runs a command to completion in the namespace (init containers). */
export function runInNs(o: SpawnInNs, timeoutMs = 60_000): {code: number | null; output: string} {
  const user = o.uid !== undefined ? ['setpriv', `--reuid=${o.uid}`, `--regid=${o.uid}`, '--clear-groups', '--'] : []
  const envArgs = Object.entries(o.env).map(([k, v]) => `${k}=${v}`)
  const r = spawnSync('ip', ['netns', 'exec', o.ns, 'env', '-i', ...envArgs, ...user, ...o.argv], {cwd: o.cwd, encoding: 'utf8', timeout: timeoutMs})
  return {code: r.status, output: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? r.error.message : ''}`}
}

export async function stopProcess(p: NsProcess, graceMs = 3000): Promise<void> {
  if (p.exited) return
  const pid = p.child.pid
  // The watchdog's child is the container process: TERM it through the watchdog's stdin EOF
  // only as a last resort (that is a KILL); first ask politely.
  const target = spawnSync('pgrep', ['-P', String(pid)], {encoding: 'utf8'}).stdout.split('\n').map(Number).filter((n) => n > 0 && n !== pid)
  for (const t of target) {
    try {
      process.kill(t, 'SIGTERM')
    } catch {
      // gone
    }
  }
  const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), graceMs))
  if ((await Promise.race([p.exit, timer])) === 'timeout') {
    p.child.stdin?.end()
    await Promise.race([p.exit, new Promise((r) => setTimeout(r, 1000))])
    try {
      p.child.kill('SIGKILL')
    } catch {
      // gone
    }
  }
  p.child.stdin?.destroy()
}

export function tailLog(path: string, lines = 30): string {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n')
  } catch {
    return '(no log)'
  }
}
