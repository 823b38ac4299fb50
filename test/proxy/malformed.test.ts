// Bad peers: malformed and smuggling-shaped requests get a 400 (oversized headers 431) with
// mesh-proxy-error, are counted, never reach the application, and never take the proxy down.
// The cases (malformed-cases.ts) go through an mTLS inbound too (tls-attacks.test.ts).
import {execFileSync} from 'node:child_process'
import net from 'node:net'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {startProxy, type RunningProxy} from '../../src/proxy/server.js'
import {eventually} from '../helpers/eventually.js'
import {closeServer, quietLog, rawExchange, request, startEchoApp, testConfig, type EchoApp} from './helpers.js'
import {MALFORMED, MALFORMED_LIMITS} from './malformed-cases.js'

/** Bytes the kernel holds unread on the proxy's end (local `port`) of the connection from `peer`, as ss shows them; undefined when there is no such connection. */
function unread(port: number, peer: number): number | undefined {
  const line = execFileSync('ss', ['-Htn', 'state', 'established', `( sport = :${port} and dport = :${peer} )`], {encoding: 'utf8'}).trim()
  return line === '' ? undefined : Number(line.split(/\s+/)[0])
}

describe('malformed and oversized HTTP/1 input', () => {
  let app: EchoApp
  let proxy: RunningProxy
  beforeAll(async () => {
    app = await startEchoApp()
    const cfg = testConfig({inboundForward: {host: '127.0.0.1', port: app.port}})
    Object.assign(cfg.limits, MALFORMED_LIMITS)
    proxy = await startProxy(cfg, {log: quietLog(), originalDst: null})
  })
  afterAll(async () => {
    await proxy.close(100)
    await closeServer(app.server)
  })

  for (const {name, bytes: raw, status, streamed, smuggling} of MALFORMED) {
    it(`answers ${status} to ${name}`, async () => {
      const before = proxy.stats.refused.malformed_request
      const appBefore = app.requests
      const text = await rawExchange(proxy.ports.inbound, raw, 2000)
      expect(text).toMatch(new RegExp(`^HTTP/1\\.1 ${status} `))
      expect(text.toLowerCase()).toContain('mesh-proxy-error:')
      expect(proxy.stats.refused.malformed_request).toBe(before + 1)
      if (!streamed) expect(app.requests).toBe(appBefore)
      // (nothing after the refused head is read as a request: the smuggled one never reaches the app)
      if (smuggling) expect(text.match(/HTTP\/1\.1 /g)).toHaveLength(1)
    })
  }

  it('still serves good requests afterwards', async () => {
    const r = await request(proxy.ports.inbound, {path: '/ok', headers: {host: 'x'}})
    expect(r.status).toBe(200)
    expect(JSON.parse(r.body).url).toBe('/ok')
  })

  it('does not count a peer that resets mid-request as malformed', async () => {
    const before = proxy.stats.refused.malformed_request
    const sock = net.connect(proxy.ports.inbound, '127.0.0.1')
    await new Promise((resolve) => sock.once('connect', resolve))
    await new Promise<void>((resolve, reject) => sock.write('GET /reset HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n', (err) => (err ? reject(err) : resolve())))
    // The proxy has read the half head when its end of the connection holds no unread byte (on
    // loopback the write put them there; the proxy runs in this process, so its read and what it
    // does with the bytes are done by the time the next probe runs).
    await eventually('the proxy read the half head', () => (unread(proxy.ports.inbound, sock.localPort!) === 0 ? true : undefined), {intervalMs: 5})
    sock.resetAndDestroy()
    // The reset is on the proxy's socket before this request connects: the proxy's event loop
    // handles it (and would count it) before it can answer the request.
    const r = await request(proxy.ports.inbound, {path: '/after-reset', headers: {host: 'x'}})
    expect(r.status).toBe(200)
    expect(proxy.stats.refused.malformed_request).toBe(before)
  })

  it('survives garbage, half a request and an abrupt close', async () => {
    await rawExchange(proxy.ports.inbound, Buffer.from([0x16, 0x03, 0x01, 0xff, 0xff, 0x00]), 300)
    await rawExchange(proxy.ports.inbound, 'GET /half HTTP/1.1\r\nHost: x\r\nX-A:', 300)
    await rawExchange(proxy.ports.inbound, 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x04garbage', 300)
    const r = await request(proxy.ports.inbound, {path: '/still', headers: {host: 'x'}})
    expect(r.status).toBe(200)
  })
})
