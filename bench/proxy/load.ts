// Load generation: open loop at a fixed rate (latency from the intended send time, so a stall
// counts against the system, not hidden by it: no coordinated omission) and closed loop (N
// workers back to back) for the maximum. Latencies are kept exactly (one float per request).
import http from 'node:http'
import {rawClient, type Client} from './raw-client.js'

export interface LoadResult {
  sent: number
  ok: number
  errors: number
  seconds: number
  rps: number
  /** latency percentiles in ms */
  p50: number
  p90: number
  p99: number
  p999: number
  max: number
}

export function summarize(lat: Float64Array, n: number, ok: number, errors: number, seconds: number): LoadResult {
  const s = lat.subarray(0, n).sort()
  const q = (p: number): number => (n === 0 ? NaN : s[Math.min(n - 1, Math.floor(p * n))])
  return {sent: n, ok, errors, seconds, rps: ok / seconds, p50: q(0.5), p90: q(0.9), p99: q(0.99), p999: q(0.999), max: n ? s[n - 1] : NaN}
}

function once(agent: http.Agent, port: number, host: string, done: (ok: boolean) => void): void {
  const req = http.request({host: '127.0.0.1', port, path: '/', headers: {host}, agent}, (res) => {
    res.on('data', () => {})
    res.on('end', () => done(res.statusCode === 200))
    res.on('error', () => done(false))
  })
  req.on('error', () => done(false))
  req.end()
}

/** One open-loop run's latencies (ms, one per request), before they are summarized. */
export interface OpenLoopRun {
  lat: Float64Array
  ok: number
  seconds: number
  /** when request 0 was meant to go, epoch ms (request i: `start + i * 1000 / rate`) */
  start: number
}

/** Node's own http client (an http.Agent, keep-alive), for comparison with rawClient. */
export function httpClient(port: number, host: string, maxSockets = 512): Client {
  const agent = new http.Agent({keepAlive: true, maxSockets})
  return {send: (done) => once(agent, port, host, done), close: () => agent.destroy()}
}

/** The open loop's client: the lean one unless MESH_BENCH_GENERATOR=node (Node's http client). */
const NODE_CLIENT = process.env.MESH_BENCH_GENERATOR === 'node'
export const openLoopClient: (port: number, host: string) => Client = NODE_CLIENT ? httpClient : rawClient
export const OPEN_LOOP_GENERATOR = NODE_CLIENT ? 'Node http client' : 'lean Node client (raw-client.ts)'

/** Sends `rate` requests per second for `seconds`, each at its scheduled time. */
export async function openLoop(port: number, host: string, rate: number, seconds: number): Promise<LoadResult> {
  const client = openLoopClient(port, host)
  const r = await openLoopRun(client, rate, seconds)
  client.close()
  return summarize(r.lat, r.lat.length, r.ok, r.lat.length - r.ok, r.seconds)
}

/** openLoop's latencies themselves (runs can be merged), on `client` (left open). */
export function openLoopRun(client: Client, rate: number, seconds: number): Promise<OpenLoopRun> {
  const total = Math.round(rate * seconds)
  const lat = new Float64Array(total)
  let done = 0
  let ok = 0
  let next = 0
  return new Promise((resolve) => {
    const t0 = performance.now()
    const interval = 1000 / rate
    const finish = (i: number, intended: number) => (good: boolean): void => {
      lat[i] = performance.now() - intended
      if (good) ok++
      if (++done === total) {
        clearInterval(timer)
        resolve({lat, ok, seconds: (performance.now() - t0) / 1000, start: performance.timeOrigin + t0})
      }
    }
    const tick = (): void => {
      const now = performance.now()
      while (next < total && t0 + next * interval <= now) {
        client.send(finish(next, t0 + next * interval))
        next++
      }
    }
    const timer = setInterval(tick, 1)
    tick()
  })
}

/** `workers` requests in flight back to back for `seconds`. */
export function closedLoop(port: number, host: string, workers: number, seconds: number): Promise<LoadResult> {
  const agent = new http.Agent({keepAlive: true, maxSockets: workers})
  const lat = new Float64Array(2_000_000)
  let n = 0
  let ok = 0
  const t0 = performance.now()
  const end = t0 + seconds * 1000
  return new Promise((resolve) => {
    let running = workers
    const loop = (): void => {
      if (performance.now() >= end || n >= lat.length) {
        if (--running === 0) {
          agent.destroy()
          resolve(summarize(lat, n, ok, n - ok, (performance.now() - t0) / 1000))
        }
        return
      }
      const start = performance.now()
      once(agent, port, host, (good) => {
        lat[n++] = performance.now() - start
        if (good) ok++
        loop()
      })
    }
    for (let i = 0; i < workers; i++) loop()
  })
}
