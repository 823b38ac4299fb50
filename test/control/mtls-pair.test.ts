// Two real proxies (src/proxy/server.ts startProxy) talking mTLS, with identities from a real
// local identity service and endpoints from a real destination service (file registry):
// identities checked on both sides, a server with the wrong identity refused, a client from
// another trust root is refused, renewal under load without failed requests.
import {mkdtempSync, rmSync} from 'node:fs'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'
import tls from 'node:tls'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {identityName} from '../../src/protocol/proxy-env.js'
import type {Observer, RequestMeta} from '../../src/proxy/core/observe.js'
import {startProxy, type RunningProxy} from '../../src/proxy/server.js'
import type {ProxyIdentity} from '../../src/proxy/identity/index.js'
import {closeServer, quietLog, startEchoApp, testConfig, type EchoApp} from '../proxy/helpers.js'
import {eventually} from '../helpers/eventually.js'
import {startLocalDestination, startLocalIdentity, type LocalDestination, type LocalIdentity} from '../helpers/local-identity.js'

const WEB = identityName('web', 'shop')
const DB = identityName('db', 'shop')
const LIFETIME_MS = 5000

let tmp: string
let idp: LocalIdentity
let dest: LocalDestination
let app: EchoApp
let webId: ProxyIdentity
let dbId: ProxyIdentity
let client: RunningProxy
let server: RunningProxy
const seen: {inbound: RequestMeta[]; outbound: RequestMeta[]} = {inbound: [], outbound: []}
/** Connections the server's inbound side accepted over mTLS. */
let mtlsConnections = 0

function recorder(side: 'inbound' | 'outbound'): Observer {
  return {
    requestInit: (r) => {
      if (seen[side].length < 10_000) seen[side].push(r)
    },
    responseInit: () => {},
    responseEnd: () => {},
    tcpOpen: (c) => {
      if (side === 'inbound' && c.tls.tls) mtlsConnections++
    },
    tcpClose: () => {},
  }
}

function registry(identity: string | undefined): {services: unknown[]} {
  const endpoint = {address: '127.0.0.1', port: server.ports.inbound, pod: 'db-0', deployment: 'db', ...(identity ? {identity, serviceAccount: 'db'} : {meshed: false})}
  return {services: [{name: 'db', namespace: 'shop', ports: [{port: 80, endpoints: [endpoint]}]}]}
}

function proxyIdentity(sa: string): Promise<ProxyIdentity> {
  return idp.proxyIdentity(sa, 'shop', {backoff: {minMs: 50, maxMs: 500}})
}

const agent = new http.Agent({keepAlive: true, maxSockets: 8})
function get(pathname = '/'): Promise<{status: number; body: string}> {
  return new Promise((resolve, reject) => {
    const req = http.request({host: '127.0.0.1', port: client.ports.outbound, path: pathname, headers: {host: 'db.shop.svc.cluster.local'}, agent}, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => (body += c))
      res.on('end', () => resolve({status: res.statusCode ?? 0, body}))
    })
    req.setTimeout(5000, () => req.destroy(new Error('timeout')))
    req.on('error', reject)
    req.end()
  })
}

beforeAll(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'mesh-pair-'))
  idp = await startLocalIdentity(tmp, {leafLifetimeMs: LIFETIME_MS})
  ;[webId, dbId] = await Promise.all([proxyIdentity('web'), proxyIdentity('db')])
  app = await startEchoApp()
  server = await startProxy(testConfig({inboundForward: {host: '127.0.0.1', port: app.port}}), {identity: dbId, observers: [recorder('inbound')], log: quietLog(), originalDst: null})
  dest = await startLocalDestination(idp, registry(DB))
  client = await startProxy(testConfig(), {identity: webId, discovery: dest.client(webId), observers: [recorder('outbound')], log: quietLog(), originalDst: null})
  await Promise.all([client.ready, server.ready])
}, 120_000)

afterAll(async () => {
  agent.destroy()
  await Promise.all([client?.close(200), server?.close(200)])
  await dest?.stop()
  await idp?.stop()
  await closeServer(app?.server)
  rmSync(tmp, {recursive: true, force: true})
})

describe('a proxy pair over mTLS', () => {
  it('a burst of 64 requests at once on an empty pool: every one answered, over shared connections', async () => {
    // 64 client connections at once; the outbound pool is empty, so requests wait in the pool
    // for connections (src/proxy/endpoint/raw-pool.ts; its rules are unit-tested in test/proxy/raw-pool.test.ts).
    const burst = new http.Agent({keepAlive: false})
    const statuses = await Promise.all(Array.from({length: 64}, () => new Promise<number>((resolve) => {
      const req = http.request({host: '127.0.0.1', port: client.ports.outbound, path: '/burst', headers: {host: 'db.shop.svc.cluster.local'}, agent: burst}, (res) => {
        res.resume()
        res.on('end', () => resolve(res.statusCode ?? 0))
      })
      req.setTimeout(10_000, () => req.destroy())
      req.on('error', () => resolve(-1))
      req.end()
    })))
    expect(statuses).toEqual(Array(64).fill(200))
    expect(mtlsConnections).toBeLessThan(64)
  })

  it('carries a request with both identities checked', async () => {
    seen.inbound.length = 0
    seen.outbound.length = 0
    const r = await get('/hello')
    expect(r.status).toBe(200)
    expect(JSON.parse(r.body)).toMatchObject({url: '/hello'})
    expect(seen.outbound.at(-1)!.tls).toEqual({tls: true, clientId: WEB, serverId: DB})
    expect(seen.outbound.at(-1)!.dstLabels).toMatchObject({dst_namespace: 'shop', dst_service: 'db', dst_pod: 'db-0', dst_deployment: 'db', dst_serviceaccount: 'db'})
    expect(seen.inbound.at(-1)!.tls).toEqual({tls: true, clientId: WEB, serverId: DB})
  })

  it('a client from another trust root is refused after the handshake: nothing reaches the app', async () => {
    const other = await startLocalIdentity(path.join(tmp, 'other'))
    try {
      const impostor = await other.proxyIdentity('web')
      seen.inbound.length = 0
      const appRequests = app.requests
      // The impostor trusts its own root only, so it would refuse our server: accept any server
      // here to see what the inbound side makes of the impostor's certificate.
      const got = await new Promise<{out: string; error?: string}>((resolve) => {
        const s = tls.connect({host: '127.0.0.1', port: server.ports.inbound, servername: DB, secureContext: impostor.clientContext(), rejectUnauthorized: false, ALPNProtocols: ['http/1.1']}, () => {
          s.write('GET /who HTTP/1.1\r\nhost: db.shop.svc.cluster.local\r\nconnection: close\r\n\r\n')
        })
        let out = ''
        let error: string | undefined
        s.setTimeout(5000, () => s.destroy(new Error('timeout: the connection was not closed')))
        s.on('data', (c: Buffer) => (out += c.toString()))
        s.on('error', (e) => (error = e.message))
        s.on('close', () => resolve({out, error}))
      })
      expect(got.out).toBe('')
      expect(got.error ?? '').not.toMatch(/timeout/)
      expect(app.requests).toBe(appRequests)
      expect(seen.inbound).toHaveLength(0)
    } finally {
      await other.stop()
    }
  })

  it('a client resuming its TLS session (the leaf arrives without its chain) keeps its identity', async () => {
    const port = server.ports.inbound
    let session: Buffer | undefined
    const got: Array<{reused: boolean; out: string}> = []
    seen.inbound.length = 0
    for (let i = 0; i < 2; i++) {
      got.push(await new Promise((resolve) => {
        let reused = false
        let out = ''
        const s = tls.connect({host: '127.0.0.1', port, servername: DB, secureContext: webId.clientContext(), session, checkServerIdentity: () => undefined, ALPNProtocols: ['http/1.1']}, () => {
          reused = s.isSessionReused()
          s.write('GET /resume HTTP/1.1\r\nhost: db.shop.svc.cluster.local\r\nconnection: close\r\n\r\n')
        })
        s.on('session', (x: Buffer) => (session = x))
        s.setTimeout(5000, () => s.destroy())
        s.on('data', (c: Buffer) => (out += c.toString()))
        s.on('error', () => {})
        s.on('close', () => resolve({reused, out: out.slice(0, 15)}))
      }))
    }
    expect(got).toEqual([{reused: false, out: 'HTTP/1.1 200 OK'}, {reused: true, out: 'HTTP/1.1 200 OK'}])
    expect(seen.inbound.map((r) => r.tls.clientId)).toEqual([WEB, WEB])
  })

  it('refuses a server that does not present the identity discovery announced', async () => {
    dest.writeRegistry(registry(identityName('payments', 'shop')))
    const status = (p: string): Promise<number> => get(p).then((r) => r.status, () => -1)
    const last = await eventually('a 5xx for the server with the wrong identity', async () => ((await status('/x')) >= 500 ? 500 : undefined), {timeoutMs: 5000, intervalMs: 100})
    expect(last).toBe(500)
    expect(app.requests).toBeGreaterThan(0)
    const before = app.requests
    const again = await get('/y')
    expect(again.status).toBeGreaterThanOrEqual(500)
    expect(app.requests).toBe(before)
    dest.writeRegistry(registry(DB))
    await eventually('a 200 once the server\'s identity is announced again', async () => ((await status('/z')) === 200 ? true : undefined), {timeoutMs: 5000, intervalMs: 100})
  })

  it('renews both certificates under load without a failed request', async () => {
    const startCertified = [webId.status().certified, dbId.status().certified]
    let sent = 0
    let failed = 0
    const statuses = new Map<number, number>()
    // Load runs until both proxies have renewed twice (on a loaded machine that can take
    // longer than 2 lifetimes), bounded in time (4 lifetimes) and count (4000 requests).
    const until = Date.now() + 4 * LIFETIME_MS
    const renewedTwice = () => webId.status().certified - startCertified[0]! >= 2 && dbId.status().certified - startCertified[1]! >= 2
    await Promise.all(
      Array.from({length: 4}, async () => {
        while (Date.now() < until && sent < 4000 && !renewedTwice()) {
          sent++
          const r = await get(`/load/${sent}`).catch(() => ({status: -1, body: ''}))
          statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1)
          if (r.status !== 200) failed++
          await new Promise((res) => setTimeout(res, 5)) // pacing the load, not a wait
        }
      }),
    )
    expect(sent).toBeGreaterThan(50)
    expect(Object.fromEntries(statuses)).toEqual({200: sent})
    expect(failed).toBe(0)
    expect(webId.status().certified - startCertified[0]!).toBeGreaterThanOrEqual(2)
    expect(dbId.status().certified - startCertified[1]!).toBeGreaterThanOrEqual(2)
    // New connections after the renewals still verify both ways.
    agent.destroy()
    seen.inbound.length = 0
    expect((await get('/after')).status).toBe(200)
    expect(seen.inbound.at(-1)!.tls).toEqual({tls: true, clientId: WEB, serverId: DB})
  }, 60_000)
})
