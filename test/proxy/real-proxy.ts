// `mesh proxy` as pods run it (compiled, bin/run.js's fast path, settings from MESH_PROXY_*), for
// tests and benches that must show what happens to the process itself: a pair of real proxy
// processes in front of an app, the process's RSS and open fds from /proc.
import {spawn, type ChildProcess} from 'node:child_process'
import {once} from 'node:events'
import {readdirSync, readFileSync} from 'node:fs'
import http from 'node:http'
import {join} from 'node:path'
import {freePort} from '../helpers/ports.js'
import {ROOT} from '../helpers/run.js'
import {eventually} from '../helpers/eventually.js'

export interface RealProxy {
  child: ChildProcess
  pid: number
  ports: {inbound: number, outbound: number, admin: number, tap: number}
  /** Everything the process wrote on stderr so far. */
  stderr(): string
  /** Still running. */
  alive(): boolean
  /** SIGKILL and wait for the exit. */
  kill(): Promise<void>
}

function get(port: number, path: string): Promise<{status: number, body: string}> {
  return new Promise((resolve, reject) => {
    const req = http.get({host: '127.0.0.1', port, path, agent: false, timeout: 5000}, (res) => {
      let body = ''
      res.setEncoding('utf8').on('data', (d: string) => (body += d)).on('end', () => resolve({status: res.statusCode ?? 0, body}))
    })
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.on('error', reject)
  })
}

/** The proxy's /metrics text. */
export async function metricsOf(p: RealProxy): Promise<string> {
  return (await get(p.ports.admin, '/metrics')).body
}

/**
 * Starts `mesh proxy` (compiled: run `npm run build` first) with `env`, ready when it returns;
 * from the package at `root` (default: this repo's).
 */
export async function startRealProxy(env: NodeJS.ProcessEnv, nodeArgs: string[] = [], root = ROOT): Promise<RealProxy> {
  const [inbound, outbound, admin, tap] = await Promise.all([freePort(), freePort(), freePort(), freePort()])
  const child = spawn(process.execPath, [...nodeArgs, 'bin/run.js', 'proxy'], {
    cwd: root,
    env: {
      ...process.env, NO_COLOR: '1', MESH_PROXY_LOG_LEVEL: 'warn',
      MESH_PROXY_INBOUND_LISTEN_ADDR: `127.0.0.1:${inbound}`, MESH_PROXY_OUTBOUND_LISTEN_ADDR: `127.0.0.1:${outbound}`,
      MESH_PROXY_ADMIN_LISTEN_ADDR: `127.0.0.1:${admin}`, MESH_PROXY_TAP_LISTEN_ADDR: `127.0.0.1:${tap}`,
      MESH_PROXY_SHUTDOWN_GRACE_PERIOD: '1', ...env,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  let stderr = ''
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d))
  const p: RealProxy = {
    child, pid: child.pid!, ports: {inbound, outbound, admin, tap},
    stderr: () => stderr,
    alive: () => child.exitCode === null && child.signalCode === null,
    kill: async () => {
      if (!p.alive()) return
      child.kill('SIGKILL')
      await once(child, 'exit')
    },
  }
  const state = await eventually('mesh proxy to be ready (or to exit)', async () => {
    if (!p.alive()) return 'exited'
    return (await get(admin, '/ready').catch(() => ({status: 0}))).status === 200 ? 'ready' : undefined
  }, {timeoutMs: 60_000, intervalMs: 50}).catch(() => 'never')
  if (state === 'ready') return p
  if (state === 'exited') throw new Error(`mesh proxy exited (${child.exitCode ?? child.signalCode}): ${stderr}`)
  await p.kill()
  throw new Error(`mesh proxy never became ready: ${stderr}`)
}

export interface RealPair {
  /** The client's proxy: its outbound port routes `authority` to the server proxy's inbound port. */
  client: RealProxy
  /** The server's proxy: its inbound port forwards to the app. */
  server: RealProxy
  close(): Promise<void>
}

/** Two `mesh proxy` processes: client outbound -> server inbound -> 127.0.0.1:`appPort`. */
export async function startRealPair(authority: string, appPort: number, env: NodeJS.ProcessEnv = {}): Promise<RealPair> {
  const server = await startRealProxy({MESH_PROXY_INBOUND_FORWARD_ADDR: `127.0.0.1:${appPort}`, ...env})
  const client = await startRealProxy({MESH_PROXY_STATIC_ROUTES: `${authority}=127.0.0.1:${server.ports.inbound}`, ...env}).catch(async (err: unknown) => {
    await server.kill()
    throw err
  })
  return {client, server, close: async () => { await Promise.all([client.kill(), server.kill()]) }}
}

/** Resident memory (VmRSS, in MB) and open file descriptors of a process, from /proc. */
export function footprint(pid: number): {rssMb: number, fds: number} {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0)
  return {rssMb: Math.round(kb / 102.4) / 10, fds: readdirSync(join('/proc', String(pid), 'fd')).length}
}
