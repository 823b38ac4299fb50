// Real processes for the tests whose claim is about a process: an HTTP/2 (or gRPC) backend that a
// test kills with SIGKILL and starts again on the same port, and `mesh proxy` itself from the
// sources (configured by MESH_PROXY_* as a pod's sidecar is), with its ports, /metrics and open
// file descriptors. (real-proxy.ts starts the compiled proxy, as pods run it, for benches and
// the containment suite: it tests what `npm run build` last made; these test the tree as it is.)
import {spawn, type ChildProcess} from 'node:child_process'
import {parseMetrics} from '../../src/metrics/index.js'
import {ROOT} from '../helpers/run.js'
import {request} from './helpers.js'
import {footprint} from './real-proxy.js'

export interface Proc {
  child: ChildProcess
  port: number
  /** SIGKILL, resolved once the process is gone. */
  kill(): Promise<void>
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => child.once('exit', () => resolve()))
}

/** test/proxy/fixtures/h2-backend.mjs on `port` (0: any free port). */
export function startBackend(mode: 'h2' | 'grpc', port = 0): Promise<Proc> {
  const child = spawn(process.execPath, ['test/proxy/fixtures/h2-backend.mjs', String(port), mode], {cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe']})
  return new Promise((resolve, reject) => {
    let err = ''
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d))
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      const m = /listening (\d+)/.exec(d)
      if (m) resolve({child, port: Number(m[1]), kill: () => { child.kill('SIGKILL'); return exited(child) }})
    })
    child.once('exit', (code) => reject(new Error(`backend exited ${code}: ${err}`)))
  })
}

export interface Sidecar extends Proc {
  ports: {inbound: number, outbound: number, admin: number, tap: number}
  pid: number
  stderr(): string
  /** The admin server's /metrics. */
  metrics(): Promise<string>
  /** Open file descriptors. */
  fds(): number
  alive(): boolean
}

/**
 * `mesh proxy` as a process (bin/dev.js: the sources through tsx), listening on 127.0.0.1 ports
 * of its choosing (or the `MESH_PROXY_*_LISTEN_ADDR` given), with `env` on top.
 */
export function startSidecar(env: NodeJS.ProcessEnv): Promise<Sidecar> {
  const child = spawn(process.execPath, ['--import', 'tsx', '--no-warnings', 'bin/dev.js', 'proxy'], {
    cwd: ROOT,
    env: {
      ...process.env, NO_COLOR: '1',
      MESH_PROXY_INBOUND_LISTEN_ADDR: '127.0.0.1:0', MESH_PROXY_OUTBOUND_LISTEN_ADDR: '127.0.0.1:0',
      MESH_PROXY_ADMIN_LISTEN_ADDR: '127.0.0.1:0', MESH_PROXY_TAP_LISTEN_ADDR: '127.0.0.1:0',
      MESH_PROXY_SHUTDOWN_GRACE_PERIOD: '1',
      ...env,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  let stderr = ''
  return new Promise((resolve, reject) => {
    const found: Record<string, number> = {}
    const timer = setTimeout(() => reject(new Error(`mesh proxy did not start: ${stderr}`)), 30_000)
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      stderr += d
      for (const m of d.matchAll(/(inbound|outbound|admin|tap) listening addr=[\d.]+:(\d+)/g)) found[m[1]] = Number(m[2])
      if (Object.keys(found).length < 4) return
      clearTimeout(timer)
      const pid = child.pid!
      const ports = found as Sidecar['ports']
      resolve({
        child, pid, ports, port: ports.inbound,
        stderr: () => stderr,
        kill: () => { child.kill('SIGKILL'); return exited(child) },
        metrics: async () => (await request(ports.admin, {path: '/metrics'})).body,
        fds: () => footprint(pid).fds,
        alive: () => child.exitCode === null && child.signalCode === null,
      })
    })
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`mesh proxy exited ${code}: ${stderr}`))
    })
  })
}

/** The value of one series in /metrics' text, e.g. sample(text, 'mesh_proxy_refused_total', {direction: 'inbound', reason: 'loop'}). */
export function sample(text: string, family: string, labels: Record<string, string>): number | undefined {
  const fam = parseMetrics(text).get(family)
  return fam?.samples.find((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value
}
