// Closed-loop maximum with h2load (nghttp2-client) in HTTP/1.1 mode: a C generator, so the
// generator takes little of the 2 CPUs the paths under test share (the Node generator in
// load.ts costs as much CPU per request as a proxy does). Same generator for every path.
import {execFile, execFileSync} from 'node:child_process'
import type {LoadResult} from './load.js'

export function hasH2load(): boolean {
  try {
    execFileSync('h2load', ['--version'], {stdio: 'ignore'})
    return true
  } catch {
    return false
  }
}

/** `conns` connections back to back for `seconds`; latencies are h2load's own mean/sd only. */
export function h2loadClosedLoop(port: number, host: string, conns: number, seconds: number): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const child = execFile('h2load', ['--h1', '-c', String(conns), '-D', String(seconds), '-H', `:authority: ${host}`, `http://127.0.0.1:${port}/`],
      {timeout: (seconds + 30) * 1000, maxBuffer: 1 << 20}, (err, stdout, stderr) => {
        if (err) return reject(new Error(`h2load failed: ${err.message}\n${stdout.slice(-600)}${stderr.slice(-400)}`))
        const fin = /finished in ([\d.]+)s/.exec(stdout)
        const req = /requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored/.exec(stdout)
        const t = /time for request:\s+([\d.]+)(us|ms|s)\s+([\d.]+)(us|ms|s)\s+([\d.]+)(us|ms|s)/.exec(stdout)
        if (!fin || !req) return reject(new Error(`h2load output not understood: ${stdout.slice(-1500)}\n${stderr.slice(-400)}`))
        const ms = (v: string, u: string): number => Number(v) * (u === 'us' ? 1e-3 : u === 's' ? 1e3 : 1)
        const seconds_ = Number(fin[1])
        const ok = Number(req[2])
        const sent = Number(req[1])
        resolve({
          sent, ok, errors: sent - ok, seconds: seconds_, rps: ok / seconds_,
          // h2load prints min/max/mean, not percentiles: p50 here is the mean.
          p50: t ? ms(t[5], t[6]) : NaN, p90: NaN, p99: NaN, p999: NaN, max: t ? ms(t[3], t[4]) : NaN,
        })
      })
    child.stdin?.end()
  })
}
