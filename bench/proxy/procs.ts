// Processes under test: spawning, readiness, CPU time and RSS from /proc, free ports.
import {spawn, type ChildProcess} from 'node:child_process'
import {createWriteStream, readdirSync, readFileSync} from 'node:fs'
import http from 'node:http'
import net from 'node:net'
import {join} from 'node:path'

const TICKS_PER_SECOND = 100

/**
 * How long after a proxy starts its idle memory is read: once settled, past its drop of the
 * binary's start-up code pages (CODE_PAGES_DROP_DELAY_MS, 5 s, src/proxy/net/code-pages.ts) and
 * V8's memory reducer, whose first memory-reducing GC comes ~8 s after start once the heap stops
 * growing (it takes ~2 MB off an idle proxy's private memory: read at 6 s, every proxy looked
 * that much bigger than it stays). A pod's sidecar lives for hours: this is the idle it has.
 */
export const SETTLE_MS = 12_000

export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port
      s.close(() => resolve(port))
    })
  })
}

/** utime + stime of a process, in microseconds. */
export function cpuMicros(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return ((Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND) * 1e6
}

/**
 * utime + stime of a process's threads other than its main one, in microseconds: for Node, V8's
 * workers (concurrent compilation, GC marking and sweeping; named V8Worker on Node 24) and
 * libuv's; 0 for a process with one thread (nginx's worker).
 */
export function backgroundCpuMicros(pid: number): number {
  let ticks = 0
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    if (tid === String(pid)) continue
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8')
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      ticks += Number(fields[11]) + Number(fields[12])
    } catch {
      // (a thread that ended between the listing and the read)
    }
  }
  return (ticks / TICKS_PER_SECOND) * 1e6
}

/** CPU of this process (own: the Node generator) and of its reaped children (h2load), in µs. */
export function selfCpuMicros(): {own: number, children: number} {
  const stat = readFileSync('/proc/self/stat', 'utf8')
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ').map(Number)
  return {own: ((f[11] + f[12]) / TICKS_PER_SECOND) * 1e6, children: ((f[13] + f[14]) / TICKS_PER_SECOND) * 1e6}
}

/** Private (anonymous) memory: RSS without the Node binary's code pages, which are shared. */
export function privateMB(pid: number): number {
  try {
    const m = /^Anonymous:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))
    return m ? Number(m[1]) / 1024 : NaN
  } catch {
    return NaN
  }
}

/** A kB field of /proc/<pid>/status (VmRSS, RssAnon, ...), in MB. */
function statusMB(pid: number, field: string): number {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m ? Number(m[1]) / 1024 : NaN
}

export function rssMB(pid: number): number {
  return statusMB(pid, 'VmRSS')
}

/** The anonymous part of the resident set (heap, stacks; not the binary's shared code pages). */
export function anonMB(pid: number): number {
  return statusMB(pid, 'RssAnon')
}

/**
 * Starts a process of the bench; its stdout is dropped, or written to `<dir>/<pid>.out` when its
 * environment has MESH_BENCH_STDOUT_DIR=<dir> (V8's --trace-gc and the like print there).
 */
export function start(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  const vars = {...process.env, ...env}
  const outDir = vars.MESH_BENCH_STDOUT_DIR
  const child = spawn(cmd, args, {env: vars, stdio: ['ignore', outDir ? 'pipe' : 'ignore', 'pipe']})
  if (outDir) child.stdout!.pipe(createWriteStream(join(outDir, `${child.pid}.out`)))
  let err = ''
  child.stderr!.on('data', (d: Buffer) => { if (err.length < 4000) err += d })
  child.on('exit', (code, sig) => { if ((code && code !== 0) || (sig && sig !== 'SIGTERM' && sig !== 'SIGKILL')) process.stderr.write(`${cmd} exited ${code ?? sig}: ${err}\n`) })
  return child
}

/** Waits until an HTTP GET through `port` with `host` answers 200 (bounded). */
export async function waitHttp(port: number, host: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      http.get({host: '127.0.0.1', port, path: '/', headers: {host}, agent: false}, (res) => {
        res.resume()
        resolve(res.statusCode === 200)
      }).on('error', () => resolve(false))
    })
    if (ok) return
    await new Promise((r) => setTimeout(r, 200))
  }
  throw new Error(`nothing answers on 127.0.0.1:${port} (Host ${host})`)
}

export function stop(children: ChildProcess[]): Promise<void> {
  return Promise.all(children.map((c) => new Promise<void>((resolve) => {
    if (c.exitCode !== null || c.signalCode !== null) return resolve()
    c.once('exit', () => resolve())
    c.kill('SIGTERM')
    setTimeout(() => c.kill('SIGKILL'), 5000).unref()
  }))).then(() => {})
}
