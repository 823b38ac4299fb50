// Outbound traffic routed by its original destination (what iptables REDIRECT hands the proxy):
// a Service's cluster IP resolves through the real destination service (file registry with
// `clusterIP:`) to the Service's endpoints with their identities, so opaque TCP and HTTP with an
// unknown Host ride mTLS exactly like a lookup by name. The original destination is injected
// (the SO_ORIGINAL_DST reader is a parameter of startProxy); every byte goes to 127.0.0.1.
import {mkdtempSync, rmSync} from 'node:fs'
import http from 'node:http'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {identityName} from '../../src/protocol/proxy-env.js'
import type {Addr, ConnMeta, Observer, RequestMeta} from '../../src/proxy/core/observe.js'
import {startProxy, type RunningProxy} from '../../src/proxy/server.js'
import {closeServer, listenOn, quietLog, startEchoApp, testConfig, type EchoApp} from '../proxy/helpers.js'
import {eventually} from '../helpers/eventually.js'
import {startLocalDestination, startLocalIdentity, type LocalDestination, type LocalIdentity} from '../helpers/local-identity.js'

const WEB = identityName('web', 'shop')
const DB = identityName('db', 'shop')
const CACHE = identityName('cache', 'shop')
const DB_IP = '10.96.0.10'
const CACHE_IP = '10.96.0.11'
/** A cluster IP the registry learns only during the test that needs it. */
const LATE_IP = '10.96.0.12'

let tmp: string
let idp: LocalIdentity
let dest: LocalDestination
let app: EchoApp
let banner: net.Server
let services: unknown[]
const proxies: RunningProxy[] = []
let dbProxy: RunningProxy
let cacheProxy: RunningProxy
const inbound: {requests: RequestMeta[]; conns: ConnMeta[]} = {requests: [], conns: []}
const outbound: {requests: RequestMeta[]; conns: ConnMeta[]} = {requests: [], conns: []}

function recorder(into: {requests: RequestMeta[]; conns: ConnMeta[]}): Observer {
  return {
    requestInit: (r) => into.requests.push({...r, tls: {...r.tls}}),
    responseInit: () => {},
    responseEnd: () => {},
    tcpOpen: (c) => into.conns.push({...c, tls: {...c.tls}}),
    tcpClose: () => {},
  }
}

/** A client-side proxy whose every connection was "redirected" from `orig` (or what it returns then). */
async function redirectedFrom(orig: Addr | (() => Addr)): Promise<RunningProxy> {
  const webId = await idp.proxyIdentity('web')
  const p = await startProxy(testConfig(), {identity: webId, discovery: dest.client(webId), observers: [recorder(outbound)], log: quietLog(), originalDst: typeof orig === 'function' ? orig : () => orig})
  proxies.push(p)
  return p
}

function get(port: number, host: string): Promise<{status: number; body: string; error?: string}> {
  return new Promise((resolve, reject) => {
    const req = http.request({host: '127.0.0.1', port, path: '/via-orig-dst', headers: {host}, agent: false}, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => (body += c))
      res.on('end', () => resolve({status: res.statusCode ?? 0, body, error: res.headers['mesh-proxy-error'] as string | undefined}))
    })
    req.setTimeout(8000, () => req.destroy(new Error('timeout')))
    req.on('error', reject)
    req.end()
  })
}

beforeAll(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'mesh-origdst-'))
  idp = await startLocalIdentity(tmp)
  app = await startEchoApp()
  // A server-first TCP app (like SMTP or MySQL): says hello, then echoes.
  banner = net.createServer((s) => {
    s.write('HELLO from cache\n')
    s.on('data', (d: Buffer) => s.write(d))
    s.on('error', () => {})
  })
  const bannerPort = await listenOn(banner)
  dbProxy = await startProxy(testConfig({inboundForward: {host: '127.0.0.1', port: app.port}}), {identity: await idp.proxyIdentity('db'), observers: [recorder(inbound)], log: quietLog(), originalDst: null})
  cacheProxy = await startProxy(testConfig({inboundForward: {host: '127.0.0.1', port: bannerPort}}), {identity: await idp.proxyIdentity('cache'), observers: [recorder(inbound)], log: quietLog(), originalDst: null})
  proxies.push(dbProxy, cacheProxy)
  services = [
    {name: 'db', namespace: 'shop', clusterIP: DB_IP, ports: [{port: 80, endpoints: [{address: '127.0.0.1', port: dbProxy.ports.inbound, serviceAccount: 'db', pod: 'db-0'}]}]},
    {name: 'cache', namespace: 'shop', clusterIP: CACHE_IP, ports: [
      {port: 6379, opaque: true, endpoints: [{address: '127.0.0.1', port: cacheProxy.ports.inbound, serviceAccount: 'cache', pod: 'cache-0'}]},
      // Not one of the client proxy's opaque ports: only discovery says so.
      {port: 9000, opaque: true, endpoints: [{address: '127.0.0.1', port: cacheProxy.ports.inbound, serviceAccount: 'cache', pod: 'cache-0'}]},
    ]},
  ]
  dest = await startLocalDestination(idp, {services})
}, 120_000)

afterAll(async () => {
  await Promise.all(proxies.map((p) => p.close(100)))
  await dest?.stop()
  await idp?.stop()
  await closeServer(app?.server)
  await closeServer(banner)
  rmSync(tmp, {recursive: true, force: true})
})

describe('routing by original destination (cluster IP lookups)', () => {
  it('opaque TCP to a Service\'s cluster IP rides mTLS to its endpoint, identities on both sides', async () => {
    const client = await redirectedFrom({ip: CACHE_IP, port: 6379})
    const got = await new Promise<string>((resolve, reject) => {
      const s = net.connect(client.ports.outbound, '127.0.0.1')
      let text = ''
      s.setTimeout(8000, () => s.destroy(new Error('timeout')))
      s.on('data', (d: Buffer) => {
        text += d.toString()
        if (text === 'HELLO from cache\n') s.write('ping\n')
        if (text.endsWith('ping\n')) s.end()
      })
      s.on('close', () => resolve(text))
      s.on('error', reject)
    })
    expect(got).toBe('HELLO from cache\nping\n')
    const out = outbound.conns.find((c) => c.authority === `${CACHE_IP}:6379`)!
    expect(out.tls).toEqual({tls: true, clientId: WEB, serverId: CACHE})
    expect(out.dstLabels).toMatchObject({dst_service: 'cache', dst_pod: 'cache-0'})
    expect(inbound.conns.some((c) => c.tls.tls && c.tls.clientId === WEB && c.tls.serverId === CACHE)).toBe(true)
  })

  it('a server-first protocol on a port only discovery marks opaque: the client proxy carries it after its detect timeout the first time, then without detection', async () => {
    const client = await redirectedFrom({ip: CACHE_IP, port: 9000})
    const greet = (): Promise<string> => new Promise((resolve, reject) => {
      const s = net.connect(client.ports.outbound, '127.0.0.1')
      let text = ''
      s.setTimeout(8000, () => s.destroy(new Error('timeout')))
      s.on('data', (d: Buffer) => {
        text += d.toString()
        if (text === 'HELLO from cache\n') s.end()
      })
      s.on('close', () => resolve(text))
      s.on('error', reject)
    })
    expect(await greet()).toBe('HELLO from cache\n')
    expect(await greet()).toBe('HELLO from cache\n')
    expect(client.stats.refused.detect_timeout).toBe(0)
  })

  it('HTTP whose Host is the cluster IP goes to the Service over mTLS', async () => {
    const client = await redirectedFrom({ip: DB_IP, port: 80})
    const r = await get(client.ports.outbound, DB_IP)
    expect(r.status).toBe(200)
    expect(JSON.parse(r.body).headers.host).toBe(DB_IP)
    expect(outbound.requests.at(-1)!.tls).toEqual({tls: true, clientId: WEB, serverId: DB})
    expect(inbound.requests.at(-1)!.tls).toEqual({tls: true, clientId: WEB, serverId: DB})
  })

  it('HTTP whose Host discovery does not know falls back to the original destination (not DNS)', async () => {
    const client = await redirectedFrom({ip: DB_IP, port: 80})
    // `.invalid` never resolves: only the original destination can answer this.
    const r = await get(client.ports.outbound, 'shop-frontend.invalid')
    expect(r.status, r.error).toBe(200)
    expect(JSON.parse(r.body).headers.host).toBe('shop-frontend.invalid')
    expect(outbound.requests.at(-1)!.tls).toEqual({tls: true, clientId: WEB, serverId: DB})
    expect(outbound.requests.at(-1)!.dstLabels).toMatchObject({dst_service: 'db'})
  })

  it('an original destination that is no cluster IP is reached directly, plaintext', async () => {
    const client = await redirectedFrom({ip: '127.0.0.1', port: app.port})
    const r = await get(client.ports.outbound, 'elsewhere.invalid')
    expect(r.status, r.error).toBe(200)
    expect(outbound.requests.at(-1)!.tls.tls).toBe(false)
    expect(outbound.requests.at(-1)!.destination).toEqual({ip: '127.0.0.1', port: app.port})
  })

  it('a cluster IP discovery did not know at first is meshed once discovery learns it: "not discovered" expires', async () => {
    // The Host is a cluster IP nobody knows yet; the original destination is the echo app on
    // 127.0.0.1, so while the Host is unknown the request goes there (no byte leaves 127.0.0.1).
    let orig: Addr = {ip: '127.0.0.1', port: app.port}
    const client = await redirectedFrom(() => orig)
    const before = await get(client.ports.outbound, LATE_IP)
    expect(before.status, before.error).toBe(200)
    expect(outbound.requests.at(-1)!.tls.tls).toBe(false)
    expect(outbound.requests.at(-1)!.destination).toEqual({ip: '127.0.0.1', port: app.port})
    // Then the registry learns the Service; the proxy is asked nothing: it re-asks by itself
    // (first after ~5 s) and routes the same Host to the Service's endpoint over mTLS.
    dest.writeRegistry({services: [...services, {name: 'late', namespace: 'shop', clusterIP: LATE_IP, ports: [{port: 80, endpoints: [{address: '127.0.0.1', port: dbProxy.ports.inbound, serviceAccount: 'db', pod: 'late-0'}]}]}]})
    const meshed = await eventually('the late cluster IP to be routed over mTLS', async () => {
      const r = await get(client.ports.outbound, LATE_IP)
      const last = outbound.requests.at(-1)!
      return r.status === 200 && last.tls.tls ? {r, last} : undefined
    }, {timeoutMs: 60_000, intervalMs: 250})
    expect(JSON.parse(meshed.r.body).headers.host).toBe(LATE_IP)
    expect(meshed.last.tls).toEqual({tls: true, clientId: WEB, serverId: DB})
    expect(meshed.last.dstLabels).toMatchObject({dst_service: 'late', dst_pod: 'late-0'})
    expect(inbound.requests.at(-1)!.tls).toEqual({tls: true, clientId: WEB, serverId: DB})
    // Opaque TCP whose original destination is that IP uses the same (now discovered) target.
    orig = {ip: LATE_IP, port: 80}
    const reply = await new Promise<string>((resolve, reject) => {
      const s = net.connect(client.ports.outbound, '127.0.0.1', () => s.write('hello, not http\n'))
      let text = ''
      s.setTimeout(8000, () => s.destroy(new Error('timeout')))
      s.on('data', (d: Buffer) => (text += d.toString()))
      s.on('close', () => resolve(text))
      s.on('error', reject)
    })
    // The echo app behind the db proxy refuses the bytes as HTTP: they reached it over mTLS.
    expect(reply).toMatch(/^HTTP\/1\.1 400/)
    expect(outbound.conns.find((c) => c.authority === `${LATE_IP}:80`)?.tls).toEqual({tls: true, clientId: WEB, serverId: DB})
  }, 30_000)

  it('without a redirect, an unknown Host is still where the request goes (by name)', async () => {
    const webId = await idp.proxyIdentity('web')
    const p = await startProxy(testConfig(), {identity: webId, discovery: dest.client(webId), observers: [recorder(outbound)], log: quietLog(), originalDst: null})
    proxies.push(p)
    // `localhost` (from /etc/hosts, no DNS traffic) is no Service: the proxy connects to it.
    const r = await get(p.ports.outbound, `localhost:${app.port}`)
    expect(r.status, r.error).toBe(200)
    expect(outbound.requests.at(-1)!.tls.tls).toBe(false)
    expect(outbound.requests.at(-1)!.destination.port).toBe(app.port)
  })
})
