// The outbound route cache (Router): bounded, least recently used out first, and an evicted
// authority's connections close only once nothing is in flight on them. Real HTTP servers on
// 127.0.0.1 and real requests through the endpoints' pools.
import http from 'node:http'
import {afterEach, describe, expect, it} from 'vitest'
import {DEFAULT_FAILURE_ACCRUAL} from '../../src/proxy/config/config.js'
import type {Discovery} from '../../src/proxy/core/contracts.js'
import {LoopGuard} from '../../src/proxy/route/loop-guard.js'
import {BalancedTarget} from '../../src/proxy/balance/target.js'
import {Router} from '../../src/proxy/route/router.js'
import {eventually} from '../helpers/eventually.js'
import {closeServer, listenOn, quietLog} from './helpers.js'

const direct: Discovery = {resolve: () => Promise.resolve(null), close: () => {}}
const servers: http.Server[] = []

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => closeServer(s)))
})

async function server(handler: http.RequestListener = (_req, res) => res.end('ok')): Promise<{port: number, closed: () => number}> {
  const s = http.createServer(handler)
  let closed = 0
  s.on('connection', (c) => c.on('close', () => closed++))
  servers.push(s)
  return {port: await listenOn(s), closed: () => closed}
}

function router(maxTargets: number): Router {
  return new Router({discovery: direct, log: quietLog(), loop: new LoopGuard([]), connectTimeoutMs: 1000, accrual: DEFAULT_FAILURE_ACCRUAL, maxTargets})
}

async function target(r: Router, authority: string): Promise<BalancedTarget> {
  return (await r.resolve(authority)) as BalancedTarget
}

describe('route cache', () => {
  it('evicts the least recently used authority, not the first one in', async () => {
    const [a, b, c] = [await server(), await server(), await server()]
    const r = router(2)
    const ta = await target(r, `127.0.0.1:${a.port}`)
    await target(r, `127.0.0.1:${b.port}`)
    // a is used again; b is not: c's arrival evicts b.
    expect(r.resolve(`127.0.0.1:${a.port}`)).toBe(ta)
    await target(r, `127.0.0.1:${c.port}`)
    expect(r.size).toBe(2)
    expect(r.resolve(`127.0.0.1:${a.port}`)).toBe(ta)
    expect(r.resolve(`127.0.0.1:${b.port}`)).toBeInstanceOf(Promise)
    r.close()
  })

  it('an evicted authority with a request in flight keeps its connection until the response is done, then closes it', async () => {
    let release: () => void = () => {}
    let started: () => void = () => {}
    const answering = new Promise<void>((resolve) => (started = resolve))
    const slow = await server((_req, res) => {
      res.writeHead(200, {'content-type': 'text/plain'})
      res.write('first half, ')
      release = () => res.end('second half')
      started()
    })
    const [x, y] = [await server(), await server()]
    const r = router(1)
    const t = await target(r, `127.0.0.1:${slow.port}`)
    const ep = t.pick()
    const body = new Promise<string>((resolve, reject) => {
      const req = http.request({host: '127.0.0.1', port: slow.port, path: '/', agent: ep.httpAgent()}, (res) => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (d: string) => (text += d))
        res.on('end', () => resolve(text))
        res.on('error', reject)
      })
      req.on('error', reject)
      req.end()
    })
    await answering
    expect(ep.busy()).toBe(true)
    // Two other authorities push it out of the cache while its response is still coming.
    await target(r, `127.0.0.1:${x.port}`)
    await target(r, `127.0.0.1:${y.port}`)
    expect(r.resolve(`127.0.0.1:${slow.port}`)).toBeInstanceOf(Promise)
    expect(slow.closed()).toBe(0)
    release()
    expect(await body).toBe('first half, second half')
    // Then its pooled connection goes.
    await eventually('the evicted endpoint\'s connection closed', () => (slow.closed() === 1 ? true : undefined), 10_000)
    r.close()
  })
})
