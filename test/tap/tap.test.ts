// mesh tap through the real local tap server to real proxies: events as lines and JSON, filters
// (status, path, method, --to) select exactly the matching requests, and a pod that goes away
// mid-stream ends its part while the others go on.
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {Output} from '../../src/lib/output.js'
import type {TapStreamMessage} from '../../src/control/tap/api.js'
import type {TapEvent} from '../../src/protocol/tap.js'
import {runTapCommand, type TapFlags} from '../../src/tapclient/tap-run.js'
import {eventually} from '../helpers/eventually.js'
import {runMesh} from '../helpers/run.js'
import {scriptedTraffic, send, startLocalPlane, startMeshPod, withEnv, type MeshPod, type Plane} from './harness.js'

let books0: MeshPod
let books1: MeshPod
let web: MeshPod
let plane: Plane
let restoreEnv: () => void

beforeAll(async () => {
  books0 = await startMeshPod({name: 'books-0', deployment: 'books'})
  books1 = await startMeshPod({name: 'books-1', deployment: 'books'})
  web = await startMeshPod({name: 'web-0', deployment: 'web', routes: {'books:80': books0, 'books1:80': books1}, proxyRoutes: 'books:80 GET /api/=retries:0'})
  plane = await startLocalPlane([books0.info, books1.info, web.info])
  restoreEnv = withEnv({...plane.env, KUBECONFIG: '/nonexistent/kubeconfig'})
})

afterAll(async () => {
  restoreEnv?.()
  await plane?.close()
  await Promise.all([books0?.stop(), books1?.stop(), web?.stop()])
})

function buffers() {
  const o = {stdout: '', stderr: ''}
  const out = new Output({stdout: {write: (c: string) => (o.stdout += c)}, stderr: {write: (c: string) => (o.stderr += c)}, env: {NO_COLOR: '1'}})
  return {o, out}
}

const base: TapFlags = {'max-rps': 1000, output: 'json'}

/** Starts `mesh tap` (the library behind the command), waits until every pod's proxy is connected, runs `traffic`. */
async function tapWhile(resource: string, flags: Partial<TapFlags>, pods: number, traffic: () => Promise<unknown>) {
  const {o, out} = buffers()
  const abort = new AbortController()
  const messages: TapStreamMessage[] = []
  let started = 0
  let onAll: () => void = () => {}
  const allStarted = new Promise<void>((r) => (onAll = r))
  const run = runTapCommand(out, resource, {...base, ...flags}, {
    signal: abort.signal,
    onMessage: (m) => {
      messages.push(m)
      if (m.type === 'podStart' && ++started === pods) onAll()
    },
  })
  await Promise.race([allStarted, run])
  await traffic()
  return {o, messages, run, stop: async () => { abort.abort(); await run }}
}

const parse = (stdout: string): (TapEvent & {pod: string})[] => stdout.trim().split('\n').filter((l) => l !== '').map((l) => JSON.parse(l))

describe('mesh tap (local control plane, real proxies)', () => {
  it('--status 500 selects exactly the failing requests, with all three events each', async () => {
    const t = await tapWhile('deploy/books', {status: 500, 'max-events': 15}, 2, () => scriptedTraffic(web, 'books:80'))
    await t.run
    const events = parse(t.o.stdout)
    expect(events).toHaveLength(15)
    const ids = new Set(events.map((e) => e.id))
    expect(ids.size).toBe(5)
    for (const e of events) {
      expect(e.pod).toBe('default/books-0')
      expect(e.direction).toBe('inbound')
      if (e.type === 'requestInit') expect(e.path).toBe('/fail')
      if (e.type !== 'requestInit') expect(e.status).toBe(500)
    }
    expect(events.filter((e) => e.type === 'requestInit')).toHaveLength(5)
  })

  it('--path and --method filter in the proxy; the stream names the peers', async () => {
    const t = await tapWhile('deploy/web', {path: '/slow', method: 'get', duration: '30s'}, 1, async () => {
      await scriptedTraffic(web, 'books:80')
      await send(web, 'books:80', '/slow', 'POST')
      // A marker that matches, sent last: one pod's events come in order, so once the marker's
      // are in, a POST that slipped through the filter would be too. No pause needed.
      await send(web, 'books:80', '/slow')
    })
    // 5 + 1 GET /slow requests (the POST is filtered out): their 18 events, then stop.
    await eventually('18 events', () => (t.messages.filter((m) => m.type === 'event').length >= 18 ? true : undefined), {intervalMs: 50})
    await t.stop()
    const events = parse(t.o.stdout)
    expect(events).toHaveLength(18)
    const reqs = events.filter((e) => e.type === 'requestInit')
    expect(reqs).toHaveLength(6)
    for (const r of reqs) {
      if (r.type !== 'requestInit') continue
      expect(r).toMatchObject({method: 'GET', path: '/slow', authority: 'books:80', direction: 'outbound'})
      expect(r.source.labels).toMatchObject({namespace: 'default', pod: 'web-0', deployment: 'web'})
      expect(r.destination.labels).toMatchObject({namespace: 'default', pod: 'books-0', deployment: 'books'})
    }
    const ends = events.filter((e) => e.type === 'responseEnd')
    for (const e of ends) if (e.type === 'responseEnd') expect(e.sinceRequestInit).toBeGreaterThanOrEqual(140_000)
  })

  it('--to keeps only the requests to that resource', async () => {
    const t = await tapWhile('deploy/web', {to: 'po/books-1', duration: '30s'}, 1, async () => {
      for (let i = 0; i < 3; i++) await send(web, 'books:80', '/ok')
      for (let i = 0; i < 2; i++) await send(web, 'books1:80', '/ok')
    })
    // The requests to books-0 went first, and web-0's events come in order: once the 6 events
    // to books-1 are in, any to books-0 that slipped through would be too. No pause needed.
    await eventually('the 6 events to books-1', () => (t.messages.filter((m) => m.type === 'event' && m.event.destination.labels?.pod === 'books-1').length >= 6 ? true : undefined), {intervalMs: 50})
    await t.stop()
    const events = parse(t.o.stdout)
    expect(events).toHaveLength(6)
    for (const e of events) expect(e.destination.labels?.pod).toBe('books-1')
  })

  it('prints Linkerd-style lines: req, rsp with status and latency, end with duration and size', async () => {
    const t = await tapWhile('po/books-1', {output: 'text', 'max-events': 3}, 1, () => send(web, 'books1:80', '/notfound'))
    await t.run
    const lines = t.o.stdout.trimEnd().split('\n')
    expect(lines).toHaveLength(3)
    expect(lines[0]).toMatch(/^req id=books-1:\S+ proxy=in src=127\.0\.0\.1:\d+ dst=127\.0\.0\.1:\d+ tls=\S+ :method=GET :authority=books1:80 :path=\/notfound$/)
    expect(lines[1]).toMatch(/^rsp id=books-1:\S+ proxy=in .* :status=404 latency=\d+µs$/)
    expect(lines[2]).toMatch(/^end id=books-1:\S+ proxy=in .* duration=\d+µs response-length=4B$/)
  })

  it('names the outbound route rule a request matched: route in JSON, rt_route on the req line', async () => {
    const json = await tapWhile('deploy/web', {'max-events': 6}, 1, async () => {
      await send(web, 'books:80', '/api/items')
      await send(web, 'books:80', '/ok')
    })
    await json.run
    const inits = parse(json.o.stdout).filter((e) => e.type === 'requestInit')
    expect(inits.map((e) => [e.path, e.type === 'requestInit' ? e.route : 'x'])).toEqual([['/api/items', 'GET /api/'], ['/ok', undefined]])
    const text = await tapWhile('deploy/web', {output: 'text', 'max-events': 3}, 1, () => send(web, 'books:80', '/api/x'))
    await text.run
    expect(text.o.stdout.split('\n')[0]).toMatch(/^req id=web-0:\S+ proxy=out .* :method=GET :authority=books:80 :path=\/api\/x rt_route="GET \/api\/"$/)
  })

  it('a pod that disappears mid-stream ends its part; the other pods keep streaming', async () => {
    const t = await tapWhile('deploy/books', {duration: '120s'}, 2, async () => {
      await send(web, 'books1:80', '/ok')
      await send(web, 'books:80', '/ok')
    })
    const count = (pod: string) => t.messages.filter((m) => m.type === 'event' && m.pod === pod).length
    const wait = (cond: () => boolean, what: string): Promise<true> => eventually(what, () => (cond() ? true : undefined), {intervalMs: 50})
    await wait(() => count('default/books-1') === 3 && count('default/books-0') === 3, 'events of both pods')
    await books1.stop()
    await wait(() => t.messages.some((m) => m.type === 'podEnd' && m.pod === 'default/books-1'), 'podEnd of books-1')
    for (let i = 0; i < 3; i++) await send(web, 'books:80', '/ok')
    await wait(() => count('default/books-0') === 12, 'books-0 events after books-1 left')
    await t.stop()
    expect(t.messages.some((m) => m.type === 'end')).toBe(false)
    expect(t.o.stderr).toContain('pod default/books-1 left the stream')
  })
})

describe('mesh tap (the command)', () => {
  it('refuses bad filters before connecting (exit 2)', async () => {
    for (const args of [['tap', 'deploy/web', '--path', 'nope'], ['tap', 'deploy/web', '--status', '700'], ['tap', 'deploy/web', '--to', 'bogus/x']]) {
      const r = await runMesh(args)
      expect(r.exitCode).toBe(2)
      expect(r.stdout).toBe('')
      expect(r.stderr).toMatch(/^Error: /)
    }
  })

  it('a target that does not exist is an HTTP error the CLI names (exit 1)', async () => {
    const r = await runMesh(['tap', 'deploy/nope', '--max-events', '1'])
    expect(r.exitCode).toBe(1)
    expect(r.stderr).toContain('deployment nope not found in namespace default')
  })

  it('a wrong token is refused by the tap server', async () => {
    const {writeLocalContext} = await import('../../src/tapclient/local-context.js')
    writeLocalContext({version: 1, pid: process.pid, tap: plane.server.url, token: 'wrong', namespace: 'default'}, plane.env)
    try {
      const r = await runMesh(['tap', 'deploy/web', '--max-events', '1'])
      expect(r.exitCode).toBe(1)
      expect(r.stderr).toContain('the local tap server needs the token of the running demo')
    } finally {
      writeLocalContext({version: 1, pid: process.pid, tap: plane.server.url, token: plane.token, namespace: 'default'}, plane.env)
    }
  })
})
