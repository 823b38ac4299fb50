// A proxy whose identity is not certified yet holds its outbound connections until it is, so
// that nothing reaches a meshed endpoint in plaintext (Linkerd's proxy serves only once
// certified); on its inbound side, a peer proxy's mTLS handshake waits for the certificate
// instead of passing through to the application. Real parts: the local identity service behind
// a relay this test opens late (the identity service unreachable, then reachable), the
// destination service (whose client, as a real proxy's, answers before the certificate), and
// real proxies.
import {mkdtempSync, rmSync} from 'node:fs'
import http from 'node:http'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {identityName} from '../../src/protocol/proxy-env.js'
import type {ProxyIdentity} from '../../src/proxy/identity/index.js'
import type {RequestMeta} from '../../src/proxy/core/observe.js'
import {startProxy, type RunningProxy} from '../../src/proxy/server.js'
import {closeServer, quietLog, requestRecorder, startEchoApp, testConfig, type EchoApp} from '../proxy/helpers.js'
import {eventually} from '../helpers/eventually.js'
import {startLocalDestination, startLocalIdentity, type LocalDestination, type LocalIdentity} from '../helpers/local-identity.js'

const WEB = identityName('web', 'shop')
const DB = identityName('db', 'shop')
const PAY = identityName('pay', 'shop')

let tmp: string
let idp: LocalIdentity
let dest: LocalDestination
let app: EchoApp
let server: RunningProxy
const inbound: RequestMeta[] = []
const closers: (() => Promise<unknown> | void)[] = []

/** 127.0.0.1:port in front of the identity service: refuses connections until open(). */
async function lateRelay(target: number): Promise<{port: number, open(): void, close(): Promise<void>}> {
  let open = false
  const sockets = new Set<net.Socket>()
  const relay = net.createServer((c) => {
    if (!open) return void c.destroy()
    const up = net.connect(target, '127.0.0.1')
    for (const s of [c, up]) {
      sockets.add(s)
      s.on('close', () => sockets.delete(s))
    }
    c.pipe(up).pipe(c)
    c.on('error', () => up.destroy())
    up.on('error', () => c.destroy())
  })
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve))
  return {
    port: (relay.address() as net.AddressInfo).port,
    open: () => (open = true),
    close: () => {
      for (const s of sockets) s.destroy()
      return new Promise((resolve) => relay.close(() => resolve()))
    },
  }
}

/** An identity for `sa`, certified through `relay` (so not before it opens). */
function lateIdentity(relayPort: number, sa = 'web'): Promise<ProxyIdentity> {
  return idp.proxyIdentity(sa, 'shop', {identityAddr: `https://127.0.0.1:${relayPort}`, backoff: {minMs: 50, maxMs: 200}}, false)
}

function get(port: number, service = 'db'): Promise<{status: number, at: number}> {
  return new Promise((resolve, reject) => {
    const req = http.request({host: '127.0.0.1', port, path: '/held', headers: {host: `${service}.shop.svc.cluster.local`}, agent: false}, (res) => {
      res.resume()
      res.on('end', () => resolve({status: res.statusCode ?? 0, at: Date.now()}))
    })
    req.setTimeout(15_000, () => req.destroy(new Error('timeout')))
    req.on('error', reject)
    req.end()
  })
}

beforeAll(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'mesh-gate-'))
  idp = await startLocalIdentity(tmp)
  app = await startEchoApp()
  server = await startProxy(testConfig({inboundForward: {host: '127.0.0.1', port: app.port}}), {identity: await idp.proxyIdentity('db'), observers: [requestRecorder(inbound)], log: quietLog(), originalDst: null})
  const endpoint = {address: '127.0.0.1', port: server.ports.inbound, pod: 'db-0', deployment: 'db', identity: DB, serviceAccount: 'db'}
  dest = await startLocalDestination(idp, {services: [{name: 'db', namespace: 'shop', ports: [{port: 80, endpoints: [endpoint]}]}]})
}, 60_000)

afterAll(async () => {
  for (const c of closers.reverse()) await c()
  await server?.close(200)
  await dest?.stop()
  await idp?.stop()
  await closeServer(app?.server)
  rmSync(tmp, {recursive: true, force: true})
})

describe('outbound before the proxy is certified', () => {
  it('a request waits for the certificate, then goes over mTLS', async () => {
    const relay = await lateRelay(idp.service.port)
    closers.push(relay.close)
    const webId = await lateIdentity(relay.port)
    const client = await startProxy(testConfig(), {identity: webId, discovery: dest.client(webId), log: quietLog(), originalDst: null})
    closers.push(() => client.close(200))
    inbound.length = 0
    const response = get(client.ports.outbound)
    // Identity unreachable: the request is held, and nothing reached the server side. A fixed
    // pause on purpose: it proves a negative (nothing happened while held), which no event
    // can announce.
    await new Promise((resolve) => setTimeout(resolve, 600))
    expect(client.isReady()).toBe(false)
    expect(inbound).toHaveLength(0)
    const opened = Date.now()
    relay.open()
    const r = await response
    expect(r.status).toBe(200)
    expect(r.at).toBeGreaterThanOrEqual(opened)
    expect(client.isReady()).toBe(true)
    expect(inbound.map((m) => m.tls)).toEqual([{tls: true, clientId: WEB, serverId: DB}])
  }, 30_000)

  it('a shutdown closes the held connections at once, without waiting out the grace period', async () => {
    const relay = await lateRelay(idp.service.port)
    closers.push(relay.close)
    const webId = await lateIdentity(relay.port)
    const client = await startProxy(testConfig(), {identity: webId, discovery: dest.client(webId), log: quietLog(), originalDst: null})
    const socket = net.connect(client.ports.outbound, '127.0.0.1')
    await new Promise((resolve) => socket.once('connect', resolve))
    socket.write('GET / HTTP/1.1\r\nhost: db.shop.svc.cluster.local\r\n\r\n')
    socket.on('error', () => {})
    const closed = new Promise<string>((resolve) => {
      let out = ''
      socket.on('data', (c: Buffer) => (out += c.toString()))
      socket.on('close', () => resolve(out))
    })
    // (a forced close would count the held connection)
    expect(await client.close(10_000)).toEqual({forced: 0})
    expect(await closed).toBe('')
    expect(inbound.filter((m) => m.path === '/')).toHaveLength(0)
  }, 30_000)
})

describe('inbound before the proxy is certified', () => {
  it('a peer proxy\'s mTLS connection waits for the certificate, then is served', async () => {
    const relay = await lateRelay(idp.service.port)
    closers.push(relay.close)
    const payApp = await startEchoApp()
    closers.push(() => closeServer(payApp.server))
    const seen: RequestMeta[] = []
    const pay = await startProxy(testConfig({inboundForward: {host: '127.0.0.1', port: payApp.port}}), {identity: await lateIdentity(relay.port, 'pay'), observers: [requestRecorder(seen)], log: quietLog(), originalDst: null})
    closers.push(() => pay.close(200))
    dest.writeRegistry({services: [
      {name: 'db', namespace: 'shop', ports: [{port: 80, endpoints: [{address: '127.0.0.1', port: server.ports.inbound, pod: 'db-0', deployment: 'db', identity: DB, serviceAccount: 'db'}]}]},
      {name: 'pay', namespace: 'shop', ports: [{port: 80, endpoints: [{address: '127.0.0.1', port: pay.ports.inbound, pod: 'pay-0', deployment: 'pay', identity: PAY, serviceAccount: 'pay'}]}]},
    ]})
    const webId = await idp.proxyIdentity('web')
    // The registry reloads by itself (fs.watch, else every 200 ms): pay must be listed before the
    // request, or the client answers "no such service" (seen on Node 24, where this runs faster).
    const probe = dest.client(webId)
    await eventually('the registry to list pay', async () => {
      const r = await probe.resolve('pay.shop.svc.cluster.local:80').catch(() => null)
      r?.close()
      return r ? true : undefined
    }, {timeoutMs: 10_000, intervalMs: 100})
    const client = await startProxy(testConfig(), {identity: webId, discovery: dest.client(webId), log: quietLog(), originalDst: null})
    closers.push(() => client.close(200))
    const response = get(client.ports.outbound, 'pay')
    // A fixed pause on purpose: it proves a negative (nothing reached pay while it held no
    // certificate), which no event can announce.
    await new Promise((resolve) => setTimeout(resolve, 600))
    // pay holds no certificate: nothing reached its application, TLS bytes included.
    expect(pay.isReady()).toBe(false)
    expect(payApp.connections).toBe(0)
    relay.open()
    const r = await response
    expect(r.status).toBe(200)
    expect(payApp.requests).toBe(1)
    expect(seen.map((m) => m.tls)).toEqual([{tls: true, clientId: WEB, serverId: PAY}])
  }, 30_000)
})
