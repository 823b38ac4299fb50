// Readiness waits, bounded: an HTTP endpoint answering 200, or a TCP port accepting.
import http from 'node:http'
import net from 'node:net'
import {setTimeout as sleep} from 'node:timers/promises'

export function httpStatus(url: string, timeoutMs = 2000): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get(url, {timeout: timeoutMs, agent: false}, (res) => {
      res.resume()
      resolve(res.statusCode ?? 0)
    })
    req.on('timeout', () => req.destroy())
    req.on('error', () => resolve(0))
  })
}

export function tcpOpen(port: number, host = '127.0.0.1', timeoutMs = 2000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({host, port})
    const done = (ok: boolean): void => {
      s.destroy()
      resolve(ok)
    }
    s.setTimeout(timeoutMs, () => done(false))
    s.once('connect', () => done(true))
    s.once('error', () => done(false))
  })
}

/** Polls `probe` until it passes or `timeoutMs` passes; `what` names it in the error. */
export async function waitFor(what: string, probe: () => Promise<boolean>, timeoutMs: number, abort?: () => string | undefined): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let delay = 100
  for (;;) {
    if (await probe()) return
    const why = abort?.()
    if (why) throw new Error(`${what}: ${why}`)
    if (Date.now() > deadline) throw new Error(`${what} was not ready within ${Math.round(timeoutMs / 1000)}s`)
    await sleep(delay)
    delay = Math.min(1000, delay * 2)
  }
}
