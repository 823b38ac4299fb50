// TLS session resumption between proxies: after one full, verified mTLS handshake with an
// endpoint, the next connections to it resume the session (no second certificate check), and
// the server proxy still knows the client's identity on every resumed connection. A session is
// never offered to an endpoint expected to hold another identity.
import {execFile} from 'node:child_process'
import {promisify} from 'node:util'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import type {EndpointSet} from '../../src/proxy/core/contracts.js'
import type {ConnMeta, Observer} from '../../src/proxy/core/observe.js'
import {startProxy, type RunningProxy} from '../../src/proxy/server.js'
import {closeServer, fixedDiscovery, quietLog, startEchoApp, testConfig, type EchoApp} from './helpers.js'
import {makePki, nameOf, type TestIdentity, type TestPki} from './test-identity.js'

const exec = promisify(execFile)

describe('mTLS session resumption between proxies', () => {
  let pki: TestPki
  let app: EchoApp
  let server: RunningProxy
  let other: RunningProxy
  let client: RunningProxy
  let clientId: TestIdentity
  const checks: string[] = []
  const serverConns: ConnMeta[] = []
  const observer: Observer = {requestInit: () => {}, responseInit: () => {}, responseEnd: () => {}, tcpOpen: (c) => serverConns.push({...c, tls: {...c.tls}}), tcpClose: () => {}}

  beforeAll(async () => {
    pki = makePki()
    app = await startEchoApp()
    server = await startProxy(testConfig({inboundForward: {host: '127.0.0.1', port: app.port}}), {log: quietLog(), originalDst: null, identity: pki.identity('web'), observers: [observer]})
    other = await startProxy(testConfig({inboundForward: {host: '127.0.0.1', port: app.port}}), {log: quietLog(), originalDst: null, identity: pki.identity('books')})
    clientId = pki.identity('client')
    // Count the certificate checks of full handshakes (a resumed one makes none).
    const verify = clientId.verifyPeer.bind(clientId)
    clientId.verifyPeer = (cert, expected) => {
      checks.push(expected)
      return verify(cert, expected)
    }
    const ep = (port: number, sa: string): EndpointSet => ({endpoints: [{host: '127.0.0.1', port, identity: nameOf(sa), labels: {}}]})
    client = await startProxy(testConfig(), {
      log: quietLog(), originalDst: null, identity: clientId,
      discovery: fixedDiscovery({'web.local:80': ep(server.ports.inbound, 'web'), 'books.local:80': ep(other.ports.inbound, 'books')}),
    })
  })
  afterAll(async () => {
    await Promise.all([client.close(100), server.close(100), other.close(100)])
    await closeServer(app.server)
    pki.cleanup()
  })

  /** One CONNECT tunnel through the client proxy: its own upstream mTLS connection. */
  const tunnel = async (host: string, path: string): Promise<string> =>
    (await exec('curl', ['-sS', '--max-time', '5', '-p', '-x', `http://127.0.0.1:${client.ports.outbound}`, `http://${host}:80${path}`])).stdout

  it('verifies the first connection, resumes the next ones, and the server still names the client', async () => {
    const before = serverConns.length
    for (let i = 0; i < 4; i++) expect(JSON.parse(await tunnel('web.local', `/t${i}`)).url).toBe(`/t${i}`)
    expect(checks.filter((c) => c === nameOf('web'))).toEqual([nameOf('web')])
    const tunnels = serverConns.slice(before)
    expect(tunnels).toHaveLength(4)
    for (const c of tunnels) expect(c.tls).toEqual({tls: true, clientId: nameOf('client'), serverId: nameOf('web')})
  })

  it("never offers one endpoint's session to an endpoint expected to be another identity", async () => {
    const before = checks.length
    expect(JSON.parse(await tunnel('books.local', '/b')).url).toBe('/b')
    expect(checks.slice(before)).toEqual([nameOf('books')])
  })
})
