// Opaque ports between two meshed proxies: the client's proxy originates mTLS to a port that
// the server's pod marks opaque; the server's inbound must still terminate that TLS (only the
// protocol inside is not detected) and hand the plain bytes to a server-speaks-first app.
// Found by the e2e journey (step 4, opaque TCP): the inbound skipped detection entirely on
// opaque ports, passed the ClientHello to the app and the client saw its connection closed.
import net from 'node:net'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import type {Discovery, EndpointSet, Resolution} from '../../src/proxy/core/contracts.js'
import type {ConnMeta, Observer} from '../../src/proxy/core/observe.js'
import {startProxy, type RunningProxy} from '../../src/proxy/server.js'
import {closeServer, listenOn, quietLog, testConfig} from './helpers.js'
import {makePki, nameOf} from './test-identity.js'

function connRecorder(): Observer & {conns: ConnMeta[]} {
  const conns: ConnMeta[] = []
  return {
    conns,
    requestInit: () => {}, responseInit: () => {}, responseEnd: () => {},
    tcpOpen: (c) => conns.push({...c, tls: {...c.tls}}),
    tcpClose: () => {},
  }
}

/** Connects, sends `ping\n`, resolves with everything received once the greeting and the echo are in. */
function pingExchange(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect({host: '127.0.0.1', port})
    let data = ''
    const timer = setTimeout(() => s.destroy(new Error(`timeout after ${JSON.stringify(data)}`)), 5000)
    s.setEncoding('utf8')
    s.on('connect', () => s.write('ping\n'))
    s.on('data', (d: string) => {
      data += d
      if (data.split('\n').length >= 3) {
        clearTimeout(timer)
        s.end()
        resolve(data)
      }
    })
    s.on('error', (e) => { clearTimeout(timer); reject(e) })
    s.on('close', () => { clearTimeout(timer); reject(new Error(`closed after ${JSON.stringify(data)}`)) })
  })
}

describe('opaque port behind mTLS', () => {
  let app: net.Server
  let server: RunningProxy
  let client: RunningProxy
  const serverObs = connRecorder()

  beforeAll(async () => {
    const pki = makePki()
    // Server speaks first: a greeting, then an echo.
    app = net.createServer((s) => { s.on('error', () => {}); s.write('echo-pod\n'); s.pipe(s) })
    const appPort = await listenOn(app)
    const probe = net.createServer()
    const inPort = await listenOn(probe)
    await closeServer(probe)
    server = await startProxy(testConfig({inboundForward: {host: '127.0.0.1', port: appPort}, inbound: {host: '127.0.0.1', port: inPort}, opaquePorts: new Set([inPort])}),
      {log: quietLog(), originalDst: null, identity: pki.identity('echo'), observers: [serverObs]})
    const set: EndpointSet = {endpoints: [{host: '127.0.0.1', port: inPort, identity: nameOf('echo'), labels: {namespace: 'default', serviceaccount: 'echo'}}]}
    const discovery: Discovery = {
      resolve: (authority) => Promise.resolve(authority === `127.0.0.1:${inPort}` ? {current: () => set, onChange: () => () => {}, close: () => {}} satisfies Resolution : null),
      close: () => {},
    }
    client = await startProxy(testConfig(), {log: quietLog(), identity: pki.identity('client'), discovery, originalDst: () => ({ip: '127.0.0.1', port: inPort})})
  })
  afterAll(async () => {
    await Promise.all([client?.close(100), server?.close(100)])
    await closeServer(app)
  })

  it('terminates the client proxy\'s mTLS and carries the server-first stream, naming the client', async () => {
    expect(await pingExchange(client.ports.outbound)).toBe('echo-pod\nping\n')
    expect(serverObs.conns).toContainEqual(expect.objectContaining({direction: 'inbound', tls: expect.objectContaining({tls: true, clientId: nameOf('client')})}))
  })

  it('still carries a plaintext client on the opaque port, with no protocol detection', async () => {
    expect(await pingExchange(server.ports.inbound)).toBe('echo-pod\nping\n')
  })
})
