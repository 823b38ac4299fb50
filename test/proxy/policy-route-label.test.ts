// The `route` label: a request that a MESH_PROXY_ROUTES rule matched carries that rule's method
// and path prefix in the metrics scraped from the admin server's /metrics; others carry none.
// Real sidecars (runSidecar: data path + admin) on 127.0.0.1, real requests with curl (HTTP/1
// through the node codec and the raw codec, h2c with prior knowledge).
import {execFile} from 'node:child_process'
import http2 from 'node:http2'
import {promisify} from 'node:util'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {parseMetrics, type Sample} from '../../src/metrics/index.js'
import {rawCounts} from '../../src/proxy/http/http1/raw/conn.js'
import {parseRoutes, routeName, RouteTable} from '../../src/proxy/config/route-policy.js'
import {DEFAULT_RETRY} from '../../src/proxy/config/config.js'
import {runSidecar, type Sidecar} from '../../src/proxy/run.js'
import {closeServer, quietLog, startEchoApp, testConfig, type EchoApp} from './helpers.js'

const exec = promisify(execFile)
const ROUTES = 'web.test:80 GET /api/=retries:1;web.test:80 /api/admin=retries:0;* /h2/=retries:1'

async function curl(args: string[]): Promise<string> {
  const {stdout} = await exec('curl', ['-sS', '--max-time', '5', '-o', '/dev/null', '-w', '%{http_code}', ...args])
  return stdout
}

async function scrape(adminPort: number): Promise<Sample[]> {
  const res = await fetch(`http://127.0.0.1:${adminPort}/metrics`)
  expect(res.status).toBe(200)
  const fam = parseMetrics(await res.text()).get('request_total')
  return fam?.samples ?? []
}

/** request_total by route for one authority and direction. */
function byRoute(samples: Sample[], authority: string): Record<string, number> {
  const out: Record<string, number> = {}
  for (const s of samples) {
    if (s.labels.authority !== authority || s.labels.direction !== 'outbound') continue
    const r = s.labels.route ?? ''
    out[r] = (out[r] ?? 0) + s.value
  }
  return out
}

async function sidecar(routes: string, env: NodeJS.ProcessEnv = {}): Promise<Sidecar> {
  const cfg = testConfig({}, routes)
  cfg.routes = parseRoutes(ROUTES, 'MESH_PROXY_ROUTES')
  const saved = process.env.MESH_PROXY_HTTP1_CODEC
  if (env.MESH_PROXY_HTTP1_CODEC !== undefined) process.env.MESH_PROXY_HTTP1_CODEC = env.MESH_PROXY_HTTP1_CODEC
  try {
    return await runSidecar(cfg, env, quietLog())
  } finally {
    if (saved === undefined) delete process.env.MESH_PROXY_HTTP1_CODEC
    else process.env.MESH_PROXY_HTTP1_CODEC = saved
  }
}

describe('route names of rules', () => {
  it('are the method and path prefix as written, and empty when no rule matched', () => {
    const rules = parseRoutes('web:80 get /api/=retries:1;web:80 /static=timeout:1s;web:80 PUT=retries:0;* * /x=retries:2', 'R')
    expect(rules.map(routeName)).toEqual(['GET /api/', '/static', 'PUT /', '/x'])
    const t = new RouteTable(rules, 0, {...DEFAULT_RETRY})
    expect(t.lookup('web:80', '/api/v1', 'GET').route).toBe('GET /api/')
    expect(t.lookup('web:80', '/static/a.css', 'GET').route).toBe('/static')
    expect(t.lookup('other:80', '/x/1', 'GET').route).toBe('/x')
    expect(t.lookup('other:80', '/y', 'GET').route).toBe('')
    expect(t.inbound.route).toBe('')
    // One string per rule, built at compile time: two lookups return the very same policy.
    expect(t.lookup('web:80', '/api/a', 'GET')).toBe(t.lookup('web:80', '/api/b', 'GET'))
  })
})

describe('the route label in /metrics', () => {
  let app: EchoApp
  let h2app: http2.Http2Server
  let node: Sidecar
  let raw: Sidecar
  beforeAll(async () => {
    app = await startEchoApp()
    h2app = http2.createServer()
    h2app.on('stream', (stream) => {
      stream.respond({':status': 200})
      stream.end('ok')
    })
    await new Promise<void>((r) => h2app.listen(0, '127.0.0.1', r))
    const h2port = (h2app.address() as {port: number}).port
    const routes = `web.test:80=127.0.0.1:${app.port};grpc.test:80=127.0.0.1:${h2port}`
    node = await sidecar(routes, {MESH_PROXY_HTTP1_CODEC: 'node'})
    raw = await sidecar(routes, {MESH_PROXY_HTTP1_CODEC: 'raw'})
  })
  afterAll(async () => {
    await node?.stop(200)
    await raw?.stop(200)
    await closeServer(app?.server)
    await new Promise((r) => h2app?.close(r))
  })

  for (const codec of ['node', 'raw'] as const) {
    it(`HTTP/1 (${codec} codec): matched rules name the route, other requests have none`, async () => {
      const s = codec === 'node' ? node : raw
      const base = `http://127.0.0.1:${s.ports.outbound}`
      const host = ['-H', 'Host: web.test']
      const before = rawCounts.requests
      expect(await curl([...host, `${base}/api/users`])).toBe('200')
      expect(await curl([...host, `${base}/api/users/2`])).toBe('200')
      expect(await curl([...host, `${base}/api/admin/x`])).toBe('200')
      expect(await curl([...host, `${base}/other`])).toBe('200')
      expect(await curl([...host, '-X', 'DELETE', `${base}/api/users/2`])).toBe('200')
      expect(byRoute(await scrape(s.ports.admin), 'web.test:80')).toEqual({'GET /api/': 2, '/api/admin': 1, '': 2})
      expect(rawCounts.requests - before).toBe(codec === 'raw' ? 5 : 0)
    })
  }

  it('HTTP/2: the route label of a wildcard-authority rule', async () => {
    const base = `http://127.0.0.1:${node.ports.outbound}`
    expect(await curl(['--http2-prior-knowledge', '-H', 'Host: grpc.test', `${base}/h2/echo`])).toBe('200')
    expect(await curl(['--http2-prior-knowledge', '-H', 'Host: grpc.test', `${base}/plain`])).toBe('200')
    expect(byRoute(await scrape(node.ports.admin), 'grpc.test:80')).toEqual({'/h2/': 1, '': 1})
  })
})
