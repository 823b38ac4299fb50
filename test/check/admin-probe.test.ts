// What the data plane checks read from a proxy's /metrics text (src/check/data-plane/admin-probe.ts).
import {describe, expect, it} from 'vitest'
import {parseAdminMetrics, probeAdmin, tlsHandshakeRefusals as fromParsed} from '../../src/check/data-plane/admin-probe.js'

const tlsHandshakeRefusals = (text: string): number | undefined => fromParsed(parseAdminMetrics(text))

const refused = (lines: string[]): string => ['# HELP mesh_proxy_refused_total refusals', '# TYPE mesh_proxy_refused_total counter', ...lines, ''].join('\n')

describe('tlsHandshakeRefusals', () => {
  it('sums the inbound tls_handshake series, and only those', () => {
    expect(tlsHandshakeRefusals(refused([
      'mesh_proxy_refused_total{direction="inbound",reason="tls_handshake"} 3',
      'mesh_proxy_refused_total{direction="inbound",reason="detect_timeout"} 7',
      'mesh_proxy_refused_total{direction="outbound",reason="tls_handshake"} 5',
    ]))).toBe(3)
    expect(tlsHandshakeRefusals(refused(['mesh_proxy_refused_total{direction="inbound",reason="tls_handshake"} 0']))).toBe(0)
  })

  it('says nothing when the proxy does not count the reason, or the text is not metrics', () => {
    // (a proxy before tls_handshake: its refusals family has no such series)
    expect(tlsHandshakeRefusals(refused(['mesh_proxy_refused_total{direction="inbound",reason="detect_timeout"} 1']))).toBeUndefined()
    expect(tlsHandshakeRefusals('# TYPE other counter\nother 1\n')).toBeUndefined()
    expect(tlsHandshakeRefusals('{"not": "metrics"}')).toBeUndefined()
  })

  it('probeAdmin carries the count with the version and the detect timeouts', async () => {
    const body = `mesh_proxy_build_info{version="0.1.0"} 1\n${refused(['mesh_proxy_refused_total{direction="inbound",reason="tls_handshake"} 2', 'mesh_proxy_refused_total{direction="outbound",reason="detect_timeout"} 1'])}`
    const state = await probeAdmin(async (path) => (path === '/ready' ? {status: 200, body: 'ready'} : {status: 200, body}))
    expect(state).toEqual({ready: true, version: '0.1.0', detectTimeouts: {inbound: 0, outbound: 1}, tlsHandshakes: 2})
  })
})
