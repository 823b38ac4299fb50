// The demo's load generator: GETs the web front end at a steady rate, bounded in rate, in
// concurrent requests, in total count and in time. Prints a one-line tally every 10 s.
import http from 'node:http'
import {BOOKS} from './catalog.js'

export interface LoadOptions {
  /** host:port to send to (web's proxy inbound listener, like an ingress would). */
  target: {host: string; port: number}
  /** Host header: the web service's authority. */
  authority: string
  rps: number
  durationMs: number
  maxRequests: number
  maxInFlight?: number
  log?: (line: string) => void
}

export interface LoadTally {
  sent: number
  ok: number
  failed: number
  errors: number
}

export interface LoadRun {
  tally: LoadTally
  done: Promise<LoadTally>
  stop(): void
}

const PATHS = ['/api/books', ...BOOKS.map((b) => `/api/books/${b.id}`)]

export function startLoad(o: LoadOptions): LoadRun {
  const agent = new http.Agent({keepAlive: true, maxSockets: o.maxInFlight ?? 16})
  const tally: LoadTally = {sent: 0, ok: 0, failed: 0, errors: 0}
  const maxInFlight = o.maxInFlight ?? 16
  let inFlight = 0
  let stopped = false
  let finish!: (t: LoadTally) => void
  const done = new Promise<LoadTally>((r) => (finish = r))
  const started = Date.now()
  const one = (): void => {
    const path = PATHS[tally.sent % PATHS.length]!
    tally.sent++
    inFlight++
    const req = http.get({host: o.target.host, port: o.target.port, path, agent, headers: {host: o.authority}, timeout: 10_000}, (res) => {
      res.resume()
      res.on('end', () => {
        if ((res.statusCode ?? 0) >= 500) tally.failed++
        else tally.ok++
        inFlight--
      })
    })
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.on('error', () => {
      tally.errors++
      inFlight--
    })
  }
  const tick = setInterval(() => {
    if (stopped) return
    if (Date.now() - started >= o.durationMs || tally.sent >= o.maxRequests) return stop()
    if (inFlight < maxInFlight) one()
  }, Math.max(1, Math.round(1000 / o.rps)))
  const report = setInterval(() => o.log?.(`load: sent ${tally.sent}, ok ${tally.ok}, 5xx ${tally.failed}, errors ${tally.errors}`), 10_000)
  report.unref()
  const stop = (): void => {
    if (stopped) return
    stopped = true
    clearInterval(tick)
    clearInterval(report)
    agent.destroy()
    finish(tally)
  }
  return {tally, done, stop}
}
