// Loops through the original destination (SO_ORIGINAL_DST, injected here as the redirect would
// give it): a connection redirected to the inbound side whose original destination is one of the
// proxy's own ports, and one redirected to the outbound side whose original destination is this
// proxy, are refused (508, or closed for opaque TCP) and counted, never forwarded to the proxy
// itself.
import {afterEach, describe, expect, it} from 'vitest'
import {startProxy, type RunningProxy} from '../../src/proxy/server.js'
import type {Addr} from '../../src/proxy/core/observe.js'
import {closeServer, quietLog, rawExchange, startEchoApp, testConfig, type EchoApp} from './helpers.js'

let proxy: RunningProxy | undefined
let app: EchoApp | undefined

afterEach(async () => {
  await proxy?.close(100)
  await closeServer(app?.server)
  proxy = app = undefined
})

/** A proxy whose every connection was "redirected" from what `orig` returns (once its ports are known). */
async function redirected(orig: (ports: RunningProxy['ports']) => Addr): Promise<RunningProxy> {
  const known: {ports?: RunningProxy['ports']} = {}
  proxy = await startProxy(testConfig(), {log: quietLog(), originalDst: () => (known.ports ? orig(known.ports) : undefined)})
  known.ports = proxy.ports
  return proxy
}

describe('loops through the original destination', () => {
  it('inbound: an original destination on the outbound or inbound port is 508, counted', async () => {
    app = await startEchoApp()
    const before = app.requests
    for (const which of ['outbound', 'inbound'] as const) {
      const p = await redirected((ports) => ({ip: '10.244.0.7', port: ports[which]}))
      const r = await rawExchange(p.ports.inbound, 'GET / HTTP/1.1\r\nHost: web.local\r\nConnection: close\r\n\r\n')
      expect(r, which).toMatch(/^HTTP\/1\.1 508 [^\r]*\r\n(?:.*\r\n)*mesh-proxy-error: [^\r]*is this proxy/)
      expect(p.stats.refused.loop).toBe(1)
      await p.close(100)
      proxy = undefined
    }
    expect(app.requests).toBe(before)
  })

  it('outbound: an original destination that is this proxy (HTTP with an unknown Host, and opaque TCP) is refused, counted', async () => {
    const p = await redirected((ports) => ({ip: '127.0.0.1', port: ports.outbound}))
    const r = await rawExchange(p.ports.outbound, 'GET / HTTP/1.1\r\nHost: nobody.example\r\nConnection: close\r\n\r\n', 5000)
    expect(r).toMatch(/^HTTP\/1\.1 508 /)
    expect(await rawExchange(p.ports.outbound, '\x00\x01 opaque bytes', 5000)).toBe('')
    expect(p.stats.refused.loop).toBeGreaterThanOrEqual(2)
  })
})
