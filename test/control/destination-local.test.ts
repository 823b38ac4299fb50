// The destination service with the file registry, over real WSS on 127.0.0.1, and the proxy's
// DestinationClient: full set, short names, unknown and external names, live file edits,
// reconnection keeping the last set, every stream on one connection, the watch protocol's
// bounds and errors, client certificates.
import {mkdtempSync, rmSync, writeFileSync, renameSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import WebSocket from 'ws'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {stringify} from 'yaml'
import {identityName} from '../../src/protocol/proxy-env.js'
import {NoSuchServiceError, type EndpointSet, type Resolution} from '../../src/proxy/core/contracts.js'
import {ensureLocalIdentityDir, FileIssuerSource, ServingCert, controllerIdentityName, issueLocalToken, LocalTokenValidator, startIdentityService, type LocalIdentityDir, type IdentityService} from '../../src/control/identity/index.js'
import {LocalRegistry, startDestinationService, type DestinationService} from '../../src/control/destination/index.js'
import {DestinationClient} from '../../src/proxy/discovery/destination-client.js'
import {startIdentity} from '../../src/proxy/identity/index.js'
import {createLogger, silentLogger} from '../../src/control/logger.js'
import {Registry} from '../../src/metrics/index.js'
import {eventually} from '../helpers/eventually.js'

let tmp: string
let local: LocalIdentityDir
let issuer: FileIssuerSource
let serving: ServingCert
let dest: DestinationService
let registryFile: string
const clients: DestinationClient[] = []

interface Ep {address: string; port: number; serviceAccount?: string; pod?: string; deployment?: string; meshed?: boolean}
type Services = Array<{name: string; namespace: string; clusterIP?: string; ports: Array<{port: number; endpoints: Ep[]; opaque?: boolean}>}>
function writeRegistry(services: Services): void {
  // Atomic replace, as editors and `mesh demo` do.
  writeFileSync(registryFile + '.tmp', stringify({services}))
  renameSync(registryFile + '.tmp', registryFile)
}

/** What the registry logged: each reload (with its service count) and each failed one. */
const registryLog: string[] = []
const reloadsOf = (services: number): number => registryLog.filter((l) => l.includes('registry reloaded') && l.includes(` services=${services}`)).length

/** Writes the registry and waits until the destination service has loaded it (its log says so). */
async function loadRegistry(services: Services): Promise<void> {
  const before = reloadsOf(services.length)
  writeRegistry(services)
  await eventually(`the registry with ${services.length} services to be loaded`, () => (reloadsOf(services.length) > before ? true : undefined), {intervalMs: 20})
}
const web = (eps: Ep[]) => ({name: 'web', namespace: 'shop', ports: [{port: 80, endpoints: eps}]})
const ep1: Ep = {address: '127.0.0.1', port: 18081, serviceAccount: 'web', pod: 'web-1', deployment: 'web'}
const ep2: Ep = {address: '127.0.0.2', port: 18082, serviceAccount: 'web', pod: 'web-2', deployment: 'web'}

function client(extra: Partial<ConstructorParameters<typeof DestinationClient>[0]> = {}): DestinationClient {
  const c = new DestinationClient({addr: `wss://127.0.0.1:${dest.port}`, namespace: 'shop', trustAnchorsPem: local.anchorsPem, serverName: controllerIdentityName(), backoff: {minMs: 50, maxMs: 300}, ...extra})
  clients.push(c)
  return c
}

/** The first change (or the current state) that passes `pred`; the deadline only guards against a hang. */
function nextChange(r: Resolution, pred: (s: EndpointSet) => boolean, timeoutMs = 30_000): Promise<EndpointSet> {
  return new Promise((resolve, reject) => {
    if (pred(r.current())) return resolve(r.current())
    const t = setTimeout(() => {
      off()
      reject(new Error(`no matching change within ${timeoutMs} ms; have ${JSON.stringify(r.current())}`))
    }, timeoutMs)
    const off = r.onChange((s) => {
      if (pred(s)) {
        clearTimeout(t)
        off()
        resolve(s)
      }
    })
  })
}

/** Waits until `what` holds (the deadline only guards against a hang). */
async function until(what: () => boolean): Promise<void> {
  await eventually('the condition', () => (what() ? true : undefined), {intervalMs: 20})
}

/** A raw client of the many-streams path, collecting what the server sends. */
async function watchSocket(port: number): Promise<{ws: WebSocket, messages: Array<Record<string, unknown>>}> {
  const ws = new WebSocket(`wss://127.0.0.1:${port}/v1/destinations?ns=shop`, {ca: local.anchorsPem, servername: controllerIdentityName()} as unknown as WebSocket.ClientOptions)
  const messages: Array<Record<string, unknown>> = []
  ws.on('message', (d) => messages.push(JSON.parse(String(d)) as Record<string, unknown>))
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject))
  return {ws, messages}
}

async function startDest(port = 0): Promise<DestinationService> {
  const log = createLogger({level: 'info', write: (l) => void registryLog.push(l)})
  return startDestinationService({registry: new LocalRegistry({file: registryFile, pollMs: 200, log}), serving, host: '127.0.0.1', port, log: silentLogger})
}

beforeAll(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'mesh-dest-'))
  local = await ensureLocalIdentityDir(path.join(tmp, 'ca'))
  registryFile = path.join(tmp, 'registry.yaml')
  writeRegistry([web([ep1]), {name: 'empty', namespace: 'shop', ports: [{port: 80, endpoints: []}]}, {name: 'db', namespace: 'data', ports: [{port: 5432, opaque: true, endpoints: [{address: '127.0.0.3', port: 15432, meshed: false}]}]}])
  issuer = new FileIssuerSource(local.dir, silentLogger, 0)
  await issuer.start()
  serving = new ServingCert({name: controllerIdentityName(), issuer, log: silentLogger})
  await serving.start()
  dest = await startDest()
})
afterAll(async () => {
  for (const c of clients) c.close()
  await dest?.stop()
  serving?.stop()
  await issuer?.stop()
  rmSync(tmp, {recursive: true, force: true})
})

describe('destination (local registry, real WSS)', () => {
  it('streams the full set with identity and labels, for every authority form', async () => {
    const c = client()
    for (const authority of ['web.shop.svc.cluster.local:80', 'web.shop.svc:80', 'web.shop:80', 'web:80', 'WEB.shop.svc.cluster.local.:80']) {
      const r = (await c.resolve(authority))!
      expect(r, authority).not.toBeNull()
      expect(r.current().endpoints).toEqual([
        {host: '127.0.0.1', port: 18081, identity: identityName('web', 'shop'), labels: {dst_namespace: 'shop', dst_service: 'web', dst_pod: 'web-1', dst_deployment: 'web', dst_serviceaccount: 'web'}},
      ])
      r.close()
    }
    const db = (await c.resolve('db.data.svc.cluster.local:5432'))!
    expect(db.current().endpoints).toEqual([{host: '127.0.0.3', port: 15432, opaque: true, labels: {dst_namespace: 'data', dst_service: 'db'}}])
    db.close()
    const empty = (await c.resolve('empty.shop.svc.cluster.local:80'))!
    expect(empty.current().endpoints).toEqual([])
    empty.close()
  })

  it('unknown cluster names fail fast; outside names and IPs fall back (null)', async () => {
    const c = client()
    await expect(c.resolve('nope.shop.svc.cluster.local:80')).rejects.toBeInstanceOf(NoSuchServiceError)
    await expect(c.resolve('nope.shop:80')).rejects.toBeInstanceOf(NoSuchServiceError)
    await expect(c.resolve('web.shop.svc.cluster.local:81')).rejects.toBeInstanceOf(NoSuchServiceError)
    expect(await c.resolve('example.com:443')).toBeNull()
    expect(await c.resolve('nope:80')).toBeNull()
    expect(await c.resolve('10.1.2.3:80')).toBeNull()
    expect(c.openStreams()).toBe(0)
  })

  it('file edits reach a connected client as adds and removes (pushed: no request made them come)', async () => {
    const c = client()
    const r = (await c.resolve('web.shop.svc.cluster.local:80'))!
    const seen: number[] = []
    r.onChange((s) => seen.push(s.endpoints.length))
    writeRegistry([web([ep1, ep2])])
    await nextChange(r, (s) => s.endpoints.length === 2)
    writeRegistry([web([ep2])])
    const s = await nextChange(r, (x) => x.endpoints.length === 1 && x.endpoints[0]!.port === 18082)
    expect(s.endpoints[0]!.labels.dst_pod).toBe('web-2')
    // A broken document keeps the last good registry (the failed reload is awaited, not slept on).
    const failed = registryLog.filter((l) => l.includes('registry reload failed')).length
    writeFileSync(registryFile, 'services: [ {name: 1')
    await eventually('the failed reload', () => (registryLog.filter((l) => l.includes('registry reload failed')).length > failed ? true : undefined), {intervalMs: 20})
    expect(r.current().endpoints.map((e) => e.port)).toEqual([18082])
    // The service goes away: empty set (the proxy answers 503 fast).
    writeRegistry([])
    await nextChange(r, (x) => x.endpoints.length === 0)
    writeRegistry([web([ep1])])
    await nextChange(r, (x) => x.endpoints.length === 1 && x.endpoints[0]!.port === 18081)
    expect(seen.length).toBeGreaterThanOrEqual(4)
    r.close()
  })

  it('keeps the last set while the service is down, and replaces it on reconnect', async () => {
    const c = client()
    await loadRegistry([web([ep1, ep2]), {name: 'db', namespace: 'data', ports: [{port: 5432, endpoints: [{address: '127.0.0.3', port: 15432}]}]}])
    const r = (await c.resolve('web.shop.svc.cluster.local:80'))!
    await nextChange(r, (s) => s.endpoints.length === 2)
    const db = (await c.resolve('db.data:5432'))!
    expect(db.current().endpoints).toHaveLength(1)
    const port = dest.port
    await dest.stop()
    writeRegistry([web([ep2])])
    // The client keeps what it had while the service is down: nothing can announce "no change",
    // so this pause is kept on purpose (a negative).
    await new Promise((res) => setTimeout(res, 300))
    expect(r.current().endpoints).toHaveLength(2)
    expect(db.current().endpoints).toHaveLength(1)
    dest = await startDest(port)
    // Both streams are asked for again on the new connection.
    const s = await nextChange(r, (x) => x.endpoints.length === 1, 5000)
    expect(s.endpoints[0]!.port).toBe(18082)
    await nextChange(db, (x) => x.endpoints.length === 0, 5000)
    expect(c.connections()).toBe(1)
    expect(dest.connections()).toBe(1)
    r.close()
    db.close()
  })

  it('carries every stream of a client on one connection; a closed resolution ends its stream on the server', async () => {
    await loadRegistry([web([ep1]), {name: 'empty', namespace: 'shop', ports: [{port: 80, endpoints: []}]}, {name: 'db', namespace: 'data', ports: [{port: 5432, endpoints: [{address: '127.0.0.3', port: 15432}]}]}])
    const conns = dest.connections()
    const streams = dest.streams()
    const c = client()
    const names = ['web.shop.svc.cluster.local:80', 'web.shop:80', 'db.data.svc.cluster.local:5432', 'empty.shop.svc.cluster.local:80']
    const rs = await Promise.all(names.map(async (n) => (await c.resolve(n))!))
    expect(rs.map((r) => r.current().endpoints.length)).toEqual([1, 1, 1, 0])
    expect(c.connections()).toBe(1)
    expect(dest.connections()).toBe(conns + 1)
    expect(dest.streams()).toBe(streams + names.length)
    rs[0].close()
    await until(() => dest.streams() === streams + names.length - 1)
    expect(dest.streams()).toBe(streams + names.length - 1)
    // Answers that end a stream (an outside IP, an unknown name) go over the same connection,
    // which stays open after its last stream, for the next question.
    expect(await c.resolve('10.1.2.3:80')).toBeNull()
    await expect(c.resolve('nope.shop.svc.cluster.local:80')).rejects.toBeInstanceOf(NoSuchServiceError)
    for (const r of rs.slice(1)) r.close()
    await until(() => dest.streams() === streams)
    expect(dest.streams()).toBe(streams)
    expect(c.connections()).toBe(1)
    expect(await c.resolve('10.1.2.4:80')).toBeNull()
    expect(dest.connections()).toBe(conns + 1)
    c.close()
    await until(() => dest.connections() === conns)
    expect(dest.connections()).toBe(conns)
  })

  it('answers bad watch requests on their stream, and closes a connection that does not speak the protocol', async () => {
    const {ws, messages} = await watchSocket(dest.port)
    ws.send(JSON.stringify({type: 'watch', id: 1, authority: 'web:80'}))
    await until(() => messages.length >= 1)
    expect(messages[0]).toMatchObject({id: 1, type: 'add'})
    ws.send(JSON.stringify({type: 'watch', id: 1, authority: 'web:80'}))
    ws.send(JSON.stringify({type: 'watch', id: 2, authority: 'x'.repeat(600)}))
    ws.send(JSON.stringify({type: 'subscribe', id: 3}))
    ws.send(JSON.stringify({type: 'watch', id: 4, authority: 'no such name!:80'}))
    await until(() => messages.length >= 5)
    expect(messages.slice(1)).toEqual([
      {id: 1, type: 'error', code: 'BAD_REQUEST', message: 'stream 1 is open already; unwatch it first or use another id'},
      {id: 2, type: 'error', code: 'BAD_REQUEST', message: 'a watch needs an authority of at most 512 characters'},
      {id: 3, type: 'error', code: 'BAD_REQUEST', message: 'unknown request type "subscribe"; use watch, watchRoutes, watchAuthz, watchTrust or unwatch'},
      expect.objectContaining({id: 4, type: 'error', code: 'BAD_REQUEST'}),
    ])
    const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)))
    ws.send('not json')
    expect(await closed).toBe(1003)
    const second = await watchSocket(dest.port)
    const closed2 = new Promise<number>((resolve) => second.ws.once('close', (code) => resolve(code)))
    second.ws.send(JSON.stringify({type: 'watch', authority: 'web:80'}))
    expect(await closed2).toBe(1003)
  })

  it('still serves one stream per connection on /v1/destination (proxies of earlier versions)', async () => {
    const one = async (authority: string): Promise<{messages: Array<Record<string, unknown>>, closed: number}> => {
      const ws = new WebSocket(`wss://127.0.0.1:${dest.port}/v1/destination?authority=${encodeURIComponent(authority)}&ns=shop`, {ca: local.anchorsPem, servername: controllerIdentityName()} as unknown as WebSocket.ClientOptions)
      const messages: Array<Record<string, unknown>> = []
      ws.on('message', (d) => {
        messages.push(JSON.parse(String(d)) as Record<string, unknown>)
        if (messages[0]?.type === 'add') ws.close()
      })
      const closed = await new Promise<number>((resolve, reject) => ws.once('close', resolve).once('error', reject))
      return {messages, closed}
    }
    const web = await one('web:80')
    expect(web.messages).toEqual([{type: 'add', endpoints: [expect.objectContaining({address: '127.0.0.1', port: 18081})]}])
    const nope = await one('nope.shop.svc.cluster.local:80')
    expect(nope.messages).toEqual([{type: 'noSuchService', authority: 'nope.shop.svc.cluster.local:80', external: false}])
    expect(nope.closed).toBe(1000)
  })

  it('drops the connection of a client that stops reading', async () => {
    // 2,000 endpoints: each full state is ~400 KB; 60 streams of it overflow the socket buffers.
    const bigFile = path.join(tmp, 'big.json')
    const endpoints = Array.from({length: 2000}, (_, i) => ({address: `127.1.${i >> 8}.${i & 255}`, port: 8080, serviceAccount: 'big', pod: `big-${i}`, deployment: 'big'}))
    writeFileSync(bigFile, JSON.stringify({services: [{name: 'big', namespace: 'shop', ports: [{port: 80, endpoints}]}]}))
    const small = await startDestinationService({registry: new LocalRegistry({file: bigFile, pollMs: 200}), serving, host: '127.0.0.1', port: 0, log: silentLogger, maxBufferedBytes: 1024 * 1024})
    try {
      const {ws} = await watchSocket(small.port)
      ws.pause()
      for (let id = 1; id <= 60; id++) ws.send(JSON.stringify({type: 'watch', id, authority: 'big:80'}))
      await until(() => small.connections() === 0)
      expect(small.connections()).toBe(0)
      expect(small.streams()).toBe(0)
      ws.terminate()
    } finally {
      await small.stop()
    }
  })

  it('refuses streams beyond its limit, on the stream that asked', async () => {
    const small = await startDestinationService({registry: new LocalRegistry({file: registryFile, pollMs: 200}), serving, host: '127.0.0.1', port: 0, log: silentLogger, maxStreams: 2})
    try {
      const {ws, messages} = await watchSocket(small.port)
      for (const id of [1, 2, 3]) ws.send(JSON.stringify({type: 'watch', id, authority: 'web:80'}))
      await until(() => messages.length >= 3)
      expect(messages.map((m) => [m.id, m.type])).toEqual([[1, 'add'], [2, 'add'], [3, 'error']])
      expect(messages[2]).toMatchObject({code: 'UNAVAILABLE', message: expect.stringMatching(/too many streams/)})
      expect(small.streams()).toBe(2)
      ws.send(JSON.stringify({type: 'unwatch', id: 1}))
      ws.send(JSON.stringify({type: 'watch', id: 3, authority: 'web:80'}))
      await until(() => messages.length >= 4)
      expect(messages[3]).toMatchObject({id: 3, type: 'add'})
      ws.close()
    } finally {
      await small.stop()
    }
  })

  it('bounds each client: connections and watches across its connections, counted and logged; released when it closes', async () => {
    const metrics = new Registry()
    const warnings: string[] = []
    const log = createLogger({level: 'warn', format: 'json', write: (line) => void warnings.push(line)})
    const small = await startDestinationService({registry: new LocalRegistry({file: registryFile, pollMs: 200}), serving, host: '127.0.0.1', port: 0, log, maxConnectionsPerPeer: 2, maxWatchesPerPeer: 3, metrics, loopbackPerConnection: false})
    try {
      const a = await watchSocket(small.port)
      const b = await watchSocket(small.port)
      // A third connection from the same client (no certificate: its address; loopback counted as
      // one client here, as every other address is) is refused with 429.
      await expect(watchSocket(small.port)).rejects.toThrow(/429/)
      // Watches count across both connections: 2 + 1 served, the fourth refused on its stream.
      for (const id of [1, 2]) a.ws.send(JSON.stringify({type: 'watch', id, authority: 'web:80'}))
      for (const id of [1, 2]) b.ws.send(JSON.stringify({type: 'watch', id, authority: 'web:80'}))
      await until(() => a.messages.length >= 2 && b.messages.length >= 2)
      const all = [...a.messages, ...b.messages]
      expect(all.filter((m) => m.type === 'add')).toHaveLength(3)
      expect(all.filter((m) => m.type === 'error')).toEqual([expect.objectContaining({code: 'UNAVAILABLE', message: expect.stringMatching(/too many streams from this client \(at most 3\)/)})])
      expect(small.refused()).toMatchObject({peer_connections: 1, peer_watches: 1})
      const warned = warnings.map((l) => JSON.parse(l) as Record<string, unknown>)
      expect(warned).toContainEqual(expect.objectContaining({msg: 'destination client over its limits: refused', reason: 'peer_connections', client: '127.0.0.1'}))
      const text = metrics.metrics()
      expect(text).toMatch(/mesh_destination_refused_total\{reason="peer_watches"\} 1/)
      expect(text).toMatch(/mesh_destination_refused_total\{reason="total_streams"\} 0/)
      // Closing a connection gives its watches and its slot back.
      a.ws.close()
      await until(() => small.streams() === 1)
      const c = await watchSocket(small.port)
      for (const id of [1, 2]) c.ws.send(JSON.stringify({type: 'watch', id, authority: 'web:80'}))
      await until(() => c.messages.length >= 2)
      expect(c.messages.map((m) => m.type)).toEqual(['add', 'add'])
      for (const s of [b, c]) s.ws.close()
    } finally {
      await small.stop()
    }
  })

  it('trust streams count against the client\'s watches like the other kinds, and give theirs back on unwatch', async () => {
    const small = await startDestinationService({registry: new LocalRegistry({file: registryFile, pollMs: 200}), trust: issuer, serving, host: '127.0.0.1', port: 0, log: silentLogger, maxWatchesPerPeer: 2, loopbackPerConnection: false})
    try {
      const a = await watchSocket(small.port)
      a.ws.send(JSON.stringify({type: 'watchTrust', id: 1, version: 1}))
      a.ws.send(JSON.stringify({type: 'watch', id: 2, authority: 'web:80'}))
      await until(() => a.messages.some((m) => m.id === 1 && m.type === 'trust') && a.messages.some((m) => m.id === 2 && m.type === 'add'))
      a.ws.send(JSON.stringify({type: 'watch', id: 3, authority: 'web:80'}))
      await until(() => a.messages.some((m) => m.id === 3))
      expect(a.messages.filter((m) => m.id === 3)).toEqual([expect.objectContaining({type: 'error', code: 'UNAVAILABLE', message: expect.stringMatching(/too many streams from this client \(at most 2\)/)})])
      expect(small.refused()).toMatchObject({peer_watches: 1})
      a.ws.send(JSON.stringify({type: 'unwatch', id: 1}))
      a.ws.send(JSON.stringify({type: 'watch', id: 4, authority: 'web:80'}))
      await until(() => a.messages.some((m) => m.id === 4))
      expect(a.messages.filter((m) => m.id === 4).map((m) => m.type)).toEqual(['add'])
      expect(small.refused()).toMatchObject({peer_watches: 1})
      a.ws.close()
    } finally {
      await small.stop()
    }
  })

  it('a cluster IP resolves to its service and is followed when it moves to another service or goes away', async () => {
    const c = client()
    const api = (ip: string | undefined, eps: Ep[]) => ({name: 'api', namespace: 'shop', ...(ip ? {clusterIP: ip} : {}), ports: [{port: 80, endpoints: eps}]})
    const admin = (ip: string | undefined) => ({name: 'admin', namespace: 'ops', ...(ip ? {clusterIP: ip} : {}), ports: [{port: 80, endpoints: [{address: '127.0.0.9', port: 18089, serviceAccount: 'admin'}]}]})
    await loadRegistry([api('10.96.7.7', [ep1]), admin(undefined)])
    const r = (await c.resolve('10.96.7.7:80'))!
    expect(r).not.toBeNull()
    expect(r.current().endpoints).toEqual([{host: '127.0.0.1', port: 18081, identity: identityName('web', 'shop'), labels: {dst_namespace: 'shop', dst_service: 'api', dst_pod: 'web-1', dst_deployment: 'web', dst_serviceaccount: 'web'}}])
    await expect(c.resolve('10.96.7.7:81')).rejects.toBeInstanceOf(NoSuchServiceError)
    writeRegistry([api('10.96.7.7', [ep1, ep2]), admin(undefined)])
    await nextChange(r, (s) => s.endpoints.length === 2)
    // The IP moves to a service in another namespace: the stream now carries that one.
    writeRegistry([api(undefined, [ep1, ep2]), admin('10.96.7.7')])
    const moved = await nextChange(r, (s) => s.endpoints.length === 1 && s.endpoints[0]!.port === 18089)
    expect(moved.endpoints[0]!.labels).toMatchObject({dst_namespace: 'ops', dst_service: 'admin'})
    expect(moved.endpoints[0]!.identity).toBe(identityName('admin', 'ops'))
    // No service has it any more: empty (503 fast) until one does.
    writeRegistry([api(undefined, [ep1])])
    await nextChange(r, (s) => s.endpoints.length === 0)
    r.close()
    expect(await c.resolve('10.96.7.7:80')).toBeNull()
    // Leave the registry as the later tests expect it.
    await loadRegistry([web([ep1])])
  })

  it('reads the anchors from a file path and checks the default controller name', async () => {
    const anchorsFile = path.join(tmp, 'anchors.pem')
    writeFileSync(anchorsFile, local.anchorsPem)
    const c = new DestinationClient({addr: `wss://127.0.0.1:${dest.port}`, namespace: 'shop', trustAnchorsPem: anchorsFile})
    clients.push(c)
    const r = (await c.resolve('web:80'))!
    expect(r.current().endpoints.length).toBeGreaterThan(0)
    r.close()
  })

  it('resolve() gives up with a clear error when the service cannot be reached', async () => {
    const c = new DestinationClient({addr: 'wss://127.0.0.1:1', trustAnchorsPem: local.anchorsPem, resolveTimeoutMs: 300})
    clients.push(c)
    await expect(c.resolve('web.shop.svc.cluster.local:80')).rejects.toThrow(/did not answer .* within 300 ms/)
    expect(c.openStreams()).toBe(0)
  })

  it('the client refuses a server with another name; the server refuses a certificate from another CA', async () => {
    const wrong = client({serverName: 'someone.else', resolveTimeoutMs: 500})
    await expect(wrong.resolve('web.shop.svc.cluster.local:80')).rejects.toThrow(/did not answer.*presented mesh-controller\.mesh-system\..*, not someone\.else/)
    // A proxy with a mesh identity presents its certificate and is accepted.
    const tokenFile = path.join(tmp, 'web.token')
    writeFileSync(tokenFile, issueLocalToken('web', 'shop', local.tokenSecret))
    const idSvc: IdentityService = await startIdentityService({issuer: new FileIssuerSource(local.dir, silentLogger, 0), validator: new LocalTokenValidator(local.tokenSecret), host: '127.0.0.1', port: 0, log: silentLogger})
    try {
      const id = await startIdentity({localName: identityName('web', 'shop'), identityAddr: `https://127.0.0.1:${idSvc.port}`, identityServiceName: idSvc.serviceName, tokenFile, trustAnchorsPem: local.anchorsPem})
      await id.ready()
      const withId = client({identity: id, trustAnchorsPem: undefined})
      const r = (await withId.resolve('web.shop.svc.cluster.local:80'))!
      expect(r.current().endpoints.length).toBeGreaterThan(0)
      r.close()
      id.close()
    } finally {
      await idSvc.stop()
    }
    // A certificate from another CA: the upgrade is refused with 403.
    const other = await ensureLocalIdentityDir(path.join(tmp, 'other'))
    const {generateRsaKey, signLeaf} = await import('../../src/tls/index.js')
    const {readFileSync} = await import('node:fs')
    const key = await generateRsaKey()
    const leaf = signLeaf({certPem: readFileSync(path.join(other.dir, 'issuer.crt'), 'utf8'), keyPem: readFileSync(path.join(other.dir, 'issuer.key'), 'utf8')}, {publicKeyPem: key.publicKeyPem, dnsName: identityName('web', 'shop')})
    const status = await new Promise<number | string>((resolve) => {
      const ws = new WebSocket(`wss://127.0.0.1:${dest.port}/v1/destination?authority=web:80&ns=shop`, {ca: local.anchorsPem, key: key.keyPem, cert: leaf.certPem, checkServerIdentity: () => undefined} as unknown as WebSocket.ClientOptions)
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0))
      ws.on('open', () => resolve('open'))
      ws.on('error', (e) => resolve(e.message))
    })
    expect(status).toBe(403)
  })
})
