// Containment (issue 19): no input on any listener ends the process. Each attack that ended a
// real `mesh proxy` (attacks.ts) is replayed against a real pair of proxy processes (compiled:
// `npm run build` first; the codec is MESH_PROXY_HTTP1_CODEC's, so `npm run test:node-codec`
// covers the node codec): the attacker gets a 400 or a 502 (or, for a byte after a request that
// closes its connection, the app's answer: that byte is ignored), both processes live, nothing was
// contained as an internal error (each class is fixed at its cause), and the pair still serves.
// Then the process-level policy: an exception and a rejection no entry point caught are logged,
// counted on /metrics, and the proxy keeps serving.
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {eventually} from '../helpers/eventually.js'
import {closeServer, request} from './helpers.js'
import {CRASH_ATTACKS, startHoldApp, vanishAfterEarlyAnswer, type HoldApp} from './attacks.js'
import {footprint, metricsOf, startRealPair, startRealProxy, type RealPair, type RealProxy} from './real-proxy.js'
import {join} from 'node:path'
import {ROOT} from '../helpers/run.js'

/** mesh_proxy_refused_total summed over its series, internal_error left out. */
const refusals = (metrics: string): number =>
  [...metrics.matchAll(/^mesh_proxy_refused_total\{([^}]*)\} (\d+)$/gm)].filter((m) => !m[1]!.includes('reason="internal_error"')).reduce((n, m) => n + Number(m[2]), 0)

const internalErrors = (metrics: string): number[] =>
  [...metrics.matchAll(/^mesh_proxy_refused_total\{[^}]*reason="internal_error"[^}]*\} (\d+)$/gm)].map((m) => Number(m[1]))

describe('attacks that ended the process (real mesh proxy processes)', () => {
  let app: HoldApp
  let pair: RealPair
  let baseline: {client: number, server: number}
  beforeAll(async () => {
    app = await startHoldApp()
    pair = await startRealPair('web.local:80', app.port)
    baseline = {client: footprint(pair.client.pid).fds, server: footprint(pair.server.pid).fds}
  })
  afterAll(async () => {
    await pair?.close()
    await closeServer(app?.server)
  })

  CRASH_ATTACKS.forEach((attack, i) => {
    it(`survives ${attack.name}`, async () => {
      const refusedBefore = refusals(await metricsOf(pair.client)) + refusals(await metricsOf(pair.server))
      const got = await attack.run({inbound: pair.server.ports.inbound, outbound: pair.client.ports.outbound}, app, `a${i}`)
      const refused = refusals(await metricsOf(pair.client)) + refusals(await metricsOf(pair.server)) - refusedBefore
      if (attack.expect === 'answered') {
        // The app's answer to the request the proxy forwarded, whole, and nothing after it.
        expect(got).toMatch(/^HTTP\/1\.1 200 OK\r\n[^]*?\r\ncontent-length: 4\r\n[^]*?\r\n\r\nlate$/i)
        expect(got.match(/HTTP\/1\.1 /g)).toHaveLength(1)
        // (ignored bytes are no refusal)
        expect(refused).toBe(0)
      } else {
        expect(got).toMatch(/HTTP\/1\.1 (400|502) /)
        expect(got.toLowerCase()).toContain('mesh-proxy-error:')
        // Counted on /metrics, with its reason.
        expect(refused).toBeGreaterThanOrEqual(1)
      }
      // Both processes live and serve.
      expect(pair.server.alive(), pair.server.stderr()).toBe(true)
      expect(pair.client.alive(), pair.client.stderr()).toBe(true)
      const r = await request(pair.client.ports.outbound, {path: `/after/${i}`, headers: {host: 'web.local'}})
      expect(r.status).toBe(200)
      expect(r.body).toBe(`ok /after/${i}`)
      // Fixed at the cause, not caught as an internal error.
      expect(internalErrors(await metricsOf(pair.server))).toEqual([0, 0])
      expect(internalErrors(await metricsOf(pair.client))).toEqual([0, 0])
    })
  })

  it('leaves no connection behind: both processes go back to the fds they started with', async () => {
    // Clients that vanish mid-body after their answer came, through the pair and to the inbound side.
    for (let i = 0; i < 5; i++) {
      expect(await vanishAfterEarlyAnswer(pair.client.ports.outbound, `o${i}`)).toMatch(/^HTTP\/1\.1 200 /)
      expect(await vanishAfterEarlyAnswer(pair.server.ports.inbound, `i${i}`)).toMatch(/^HTTP\/1\.1 200 /)
    }
    // (pooled connections close after 4 s idle; an upstream request whose client vanished while
    // its body was still streaming used to stay open in CLOSE-WAIT with the node codec)
    await eventually('the fds of both proxies back to where they started', () => {
      const now = {client: footprint(pair.client.pid).fds, server: footprint(pair.server.pid).fds}
      return now.client <= baseline.client && now.server <= baseline.server ? now : undefined
    }, {timeoutMs: 20_000, intervalMs: 500, context: () => JSON.stringify({baseline, client: footprint(pair.client.pid), server: footprint(pair.server.pid)})})
  })
})

describe('an exception no entry point caught (the process-level policy)', () => {
  let proxy: RealProxy
  beforeAll(async () => {
    proxy = await startRealProxy({MESH_PROXY_STATIC_ROUTES: 'web.local:80=127.0.0.1:9'}, ['--import', join(ROOT, 'test/proxy/fixtures/throw-on-signal.mjs')])
  })
  afterAll(async () => {
    await proxy?.kill()
  })

  it('is logged with its stack and counted, and the proxy keeps serving', async () => {
    proxy.child.kill('SIGUSR2')
    const metrics = await eventually('both failures counted', async () => {
      const m = await metricsOf(proxy)
      return /^mesh_proxy_uncaught_exceptions_total 2$/m.test(m) ? m : undefined
    }, 10_000)
    expect(metrics).toMatch(/^# HELP mesh_proxy_uncaught_exceptions_total /m)
    expect(proxy.alive()).toBe(true)
    // (the exception came within the same second as the rejection: its line is suppressed, it is counted)
    expect(proxy.stderr()).toMatch(/ERROR unhandled promise rejection, contained; the proxy keeps serving error="injected by the test: a rejection nobody handled".*stack=/)
    const ready = await request(proxy.ports.admin, {path: '/ready'})
    expect(ready.status).toBe(200)
    const r = await request(proxy.ports.outbound, {path: '/x', headers: {host: 'web.local'}})
    expect(r.status).toBe(502)
    expect(r.headers['mesh-proxy-error']).toMatch(/connecting to 127\.0\.0\.1:9/)
  })
})
