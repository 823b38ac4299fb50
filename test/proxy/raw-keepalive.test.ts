// The raw codec's upstream pool honours the upstream's `Keep-Alive: timeout=N` hint: a pooled
// connection is not reused N - 1 s after its release (never when N <= 1). Real Node http
// servers whose keepAliveTimeout sends the hint; the proof is the server's connection count.
import http from 'node:http'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {keepAliveIdleMs} from '../../src/proxy/endpoint/raw-pool.js'
import {POOL_IDLE_MS} from '../../src/proxy/endpoint/http1-pool.js'
import {startProxy, type RunningProxy} from '../../src/proxy/server.js'
import {closeServer, listenOn, quietLog, request, testConfig} from './helpers.js'

interface App { server: http.Server, port: number, connections: number }

async function app(keepAliveMs: number): Promise<App> {
  const a: App = {server: http.createServer((_req, res) => res.end('ok')), port: 0, connections: 0}
  a.server.keepAliveTimeout = keepAliveMs
  a.server.on('connection', () => a.connections++)
  a.port = await listenOn(a.server)
  return a
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

describe('raw codec: the upstream Keep-Alive hint', () => {
  const apps: Record<'five' | 'two' | 'one', App> = {} as never
  let proxy: RunningProxy
  const saved = process.env.MESH_PROXY_HTTP1_CODEC

  beforeAll(async () => {
    process.env.MESH_PROXY_HTTP1_CODEC = 'raw'
    apps.five = await app(5000)
    apps.two = await app(2000)
    apps.one = await app(1000)
    const routes = Object.entries(apps).map(([name, a]) => `${name}.local:80=127.0.0.1:${a.port}`).join(';')
    proxy = await startProxy(testConfig({}, routes), {log: quietLog(), originalDst: null})
  })
  afterAll(async () => {
    await proxy.close(100)
    for (const a of Object.values(apps)) await closeServer(a.server)
    if (saved === undefined) delete process.env.MESH_PROXY_HTTP1_CODEC
    else process.env.MESH_PROXY_HTTP1_CODEC = saved
  })

  const get = async (name: string): Promise<void> => {
    const r = await request(proxy.ports.outbound, {path: '/', headers: {host: `${name}.local`}})
    expect(r.status).toBe(200)
  }

  it('reads the hint (N s minus 1 s, at most the pool idle time; no hint: the pool idle time)', () => {
    expect(keepAliveIdleMs('timeout=2')).toBe(1000)
    expect(keepAliveIdleMs('timeout=5, max=1000')).toBe(POOL_IDLE_MS)
    expect(keepAliveIdleMs('max=5, timeout=3')).toBe(2000)
    expect(keepAliveIdleMs('timeout=1')).toBe(0)
    expect(keepAliveIdleMs('max=5')).toBe(POOL_IDLE_MS)
  })

  // The 1.3 s pauses below are the input of these tests (how long the connection sits idle),
  // not waits for something to happen.
  it('reuses a connection within the hint (timeout=5, 1.3 s idle): one upstream connection', async () => {
    await get('five')
    await sleep(1300)
    await get('five')
    expect(apps.five.connections).toBe(1)
  })

  it('does not reuse a connection idle past the hint less 1 s (timeout=2, 1.3 s idle), though the upstream still holds it', async () => {
    await get('two')
    await sleep(1300)
    await get('two')
    expect(apps.two.connections).toBe(2)
    // Back to back, the pooled connection is reused.
    await get('two')
    expect(apps.two.connections).toBe(2)
  })

  it('never reuses a connection when the hint is 1 s or less', async () => {
    await get('one')
    await get('one')
    await get('one')
    expect(apps.one.connections).toBe(3)
  })
})
