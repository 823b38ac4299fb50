// What a proxy tells about failures (items 2, 5 and 6 of docs/architecture/diagnostics.md, "What
// a proxy must do"), on real sidecars (`mesh proxy` processes certified by the real controller in
// local mode, discovery from its registry): GET /errors keeps each kind of failure with the
// peer's identity (no endpoints, connect failures, every endpoint ejected, a server certificate
// that does not verify, an inbound policy refusal, a client certificate that does not verify,
// detection timeouts), a bounded ring (1,000 failures keep 100), hostile input stored cut;
// ejections per authority and which endpoints are ejected now; detection timeouts by port.
import http from 'node:http'
import http2 from 'node:http2'
import net from 'node:net'
import tls from 'node:tls'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {parseErrorsReport} from '../../src/diagnostics/explain.js'
import {parseMetrics} from '../../src/metrics/index.js'
import type {ProxyErrorEntry, ProxyErrorsReport} from '../../src/protocol/proxy-admin.js'
import {identityName, ProxyEnv} from '../../src/protocol/proxy-env.js'
import {generateEcKey, generateIssuer, generateTrustAnchor, signLeaf, type CaMaterial} from '../../src/tls/index.js'
import {eventually} from '../helpers/eventually.js'
import {freePort} from '../helpers/ports.js'
import {closeServer, listenOn, request, startEchoApp, type EchoApp} from './helpers.js'
import {NS, startLocalMesh, type LocalMesh, type MeshSidecar} from './local-mesh.js'

const patience = {timeoutMs: 60_000, intervalMs: 100}
const authority = (svc: string): string => `${svc}.${NS}.svc.cluster.local:8080`
let mesh: LocalMesh
const apps: EchoApp[] = []
let web: MeshSidecar
let db: MeshSidecar
let locked: MeshSidecar
let foreign: {anchor: CaMaterial; issuer: CaMaterial}
let foreignServer: tls.Server
/** A server certified under the mesh's own anchor, as another identity than discovery names. */
let imposterServer: tls.Server
let dead: number[]

async function errorsOf(s: MeshSidecar, query = ''): Promise<ProxyErrorEntry[]> {
  const r = await s.admin(`/errors${query}`)
  expect(r.status).toBe(200)
  expect(r.headers['content-type']).toBe('application/json')
  const report = JSON.parse(r.body) as ProxyErrorsReport
  // What `mesh explain` reads must accept what the proxy writes.
  expect(parseErrorsReport(r.body).length).toBe(report.errors.length)
  return report.errors
}

const call = (svc: string) => request(web.ports.outbound, {path: '/', headers: {host: authority(svc)}})

async function metric(s: MeshSidecar, family: string, labels: Record<string, string>): Promise<number | undefined> {
  return parseMetrics(await s.metrics()).get(family)?.samples.find((x) => Object.entries(labels).every(([k, v]) => x.labels[k] === v))?.value
}

/** A client certified as web under `issuer`, straight to `to`'s inbound port: the HTTP status, or undefined when closed. */
async function direct(to: MeshSidecar, issuer: CaMaterial): Promise<number | undefined> {
  const key = await generateEcKey()
  const leaf = signLeaf(issuer, {publicKeyPem: key.publicKeyPem, dnsName: identityName('web', NS)})
  return new Promise((resolve) => {
    let out = ''
    const s = tls.connect({host: '127.0.0.1', port: to.ports.inbound, servername: to.identity, key: key.keyPem, cert: leaf.certPem + issuer.certPem, rejectUnauthorized: false}, () => s.write('GET / HTTP/1.1\r\nhost: db\r\nconnection: close\r\n\r\n'))
    s.on('data', (d: Buffer) => (out += d.toString('latin1')))
    s.on('error', () => {})
    s.on('close', () => resolve(/^HTTP\/1\.1 (\d{3})/.exec(out) ? Number(/^HTTP\/1\.1 (\d{3})/.exec(out)![1]) : undefined))
  })
}

/** Connects and sends nothing; resolves when the proxy closes the connection. */
function silent(port: number): Promise<void> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1')
    s.on('error', () => {})
    s.on('close', () => resolve())
  })
}

function registry(): void {
  mesh.registry([
    {name: 'db', port: 8080, endpoints: [{port: db.ports.inbound, sa: 'db'}]},
    {name: 'locked', port: 8080, endpoints: [{port: locked.ports.inbound, sa: 'locked'}]},
    {name: 'dead', port: 8080, endpoints: dead.map((port) => ({port, sa: 'dead'}))},
    {name: 'empty', port: 8080, endpoints: []},
    {name: 'foreign', port: 8080, endpoints: [{port: (foreignServer.address() as net.AddressInfo).port, sa: 'foreign'}]},
    {name: 'imposter', port: 8080, endpoints: [{port: (imposterServer.address() as net.AddressInfo).port, sa: 'imposter'}]},
  ])
}

beforeAll(async () => {
  mesh = await startLocalMesh()
  const fa = await generateTrustAnchor({commonName: 'foreign-root'})
  foreign = {anchor: fa, issuer: await generateIssuer(fa, {commonName: 'foreign-issuer'})}
  const key = await generateEcKey()
  const leaf = signLeaf(foreign.issuer, {publicKeyPem: key.publicKeyPem, dnsName: identityName('foreign', NS)})
  foreignServer = tls.createServer({key: key.keyPem, cert: leaf.certPem + foreign.issuer.certPem}, (s) => s.end('HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n'))
  await listenOn(foreignServer)
  const other = await generateEcKey()
  const otherLeaf = signLeaf(mesh.issuer, {publicKeyPem: other.publicKeyPem, dnsName: identityName('other', NS)})
  imposterServer = tls.createServer({key: other.keyPem, cert: otherLeaf.certPem + mesh.issuer.certPem}, (s) => s.end('HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n'))
  await listenOn(imposterServer)
  const app = async () => {
    const a = await startEchoApp()
    apps.push(a)
    return a.port
  }
  const fast = {[ProxyEnv.DETECT_TIMEOUT]: '300ms'}
  db = await mesh.sidecar('db', await app(), fast)
  locked = await mesh.sidecar('locked', await app(), {...fast, [ProxyEnv.INBOUND_POLICY]: `identities:${identityName('db', NS)}`})
  web = await mesh.sidecar('web', await app(), fast)
  dead = [await freePort(), await freePort()]
  registry()
  await eventually('the registry to be served', async () => ((await call('db')).status === 200 ? true : undefined), patience)
  // locked stands for a pod the controller does not know: it holds inbound connections for the
  // control plane's policy (its first-policy wait), then applies its own.
  await eventually('locked to apply its own inbound policy', () => (locked.stderr().includes('applying the inbound policy from the environment') ? true : undefined), patience)
}, 120_000)

afterAll(async () => {
  await mesh?.stop()
  await closeServer(foreignServer)
  await closeServer(imposterServer)
  for (const a of apps) await closeServer(a.server)
})

describe('GET /errors', () => {
  it('no endpoints: NO_ENDPOINTS with the authority, from HTTP/1 and from HTTP/2', async () => {
    const sent = Date.now()
    expect((await call('empty')).status).toBe(503)
    const answered = Date.now()
    const [e] = await errorsOf(web)
    expect(e).toMatchObject({direction: 'outbound', authority: authority('empty'), kind: 'NO_ENDPOINTS', message: `service ${authority('empty')} has no endpoints`})
    // Its time is when it happened (the entry's clock is the second; no bound on how long that took).
    expect(Date.parse(e!.time)).toBeGreaterThanOrEqual(Math.floor(sent / 1000) * 1000)
    expect(Date.parse(e!.time)).toBeLessThanOrEqual(answered)
    // h2c with prior knowledge: the HTTP/2 codec records its own answers too.
    const before = (await errorsOf(web)).length
    const session = http2.connect(`http://127.0.0.1:${web.ports.outbound}`)
    const status = await new Promise<number>((resolve, reject) => {
      const req = session.request({':path': '/h2', ':authority': authority('empty')})
      req.on('response', (h) => resolve(Number(h[':status'])))
      req.on('error', reject)
      req.resume()
      req.end()
    })
    session.close()
    expect(status).toBe(503)
    const errors = await errorsOf(web)
    expect(errors.length).toBe(before + 1)
    expect(errors[0]).toMatchObject({direction: 'outbound', authority: authority('empty'), kind: 'NO_ENDPOINTS'})
  })

  it('connect failures, then every endpoint ejected: the endpoints\' identity as the peer; ejection counted per authority, each ejected endpoint 1', async () => {
    await eventually('every endpoint of dead to be ejected', async () => ((await call('dead')).status === 503 ? true : undefined), patience)
    const deadId = identityName('dead', NS)
    const mine = await errorsOf(web, `?peer=${encodeURIComponent(deadId)}`)
    expect(mine.length).toBeGreaterThan(0)
    // Each entry names the endpoint last tried: connects refused, then (retries finding none left) every one ejected.
    expect(mine.every((e) => e.peer === deadId && e.authority === authority('dead'))).toBe(true)
    expect(mine.filter((e) => e.kind !== 'CONNECT_FAILED' && e.kind !== 'ALL_EJECTED')).toEqual([])
    expect(mine.find((e) => e.kind === 'CONNECT_FAILED')!.message).toMatch(/^connecting to 127\.0\.0\.1:\d+: ECONNREFUSED$/)
    expect(mine[0]).toMatchObject({kind: 'ALL_EJECTED', message: `every endpoint of ${authority('dead')} is failing and ejected`})
    for (const port of dead) {
      expect(await metric(web, 'mesh_proxy_endpoint_ejected', {direction: 'outbound', authority: authority('dead'), endpoint: `127.0.0.1:${port}`})).toBe(1)
    }
    expect(await metric(web, 'mesh_proxy_endpoint_ejections_total', {direction: 'outbound', authority: authority('dead')})).toBeGreaterThanOrEqual(2)
  })

  it('an ejected endpoint that answers again is 0; one that leaves discovery loses its series', async () => {
    const [back, still] = dead as [number, number]
    // The pod comes back: its proxy listens at the endpoint's address again.
    await mesh.sidecar('dead', apps[0]!.port, {[ProxyEnv.INBOUND_LISTEN_ADDR]: `127.0.0.1:${back}`})
    // After its backoff the balancer tries the endpoint again; its answer ends the ejection.
    await eventually('a request answered by the endpoint that came back', async () => ((await call('dead')).status === 200 ? true : undefined), patience)
    const series = {direction: 'outbound', authority: authority('dead')}
    expect(await metric(web, 'mesh_proxy_endpoint_ejected', {...series, endpoint: `127.0.0.1:${back}`})).toBe(0)
    expect(await metric(web, 'mesh_proxy_endpoint_ejected', {...series, endpoint: `127.0.0.1:${still}`})).toBe(1)
    dead = [still]
    registry()
    await eventually('the series of the endpoint gone from discovery to go', async () => ((await metric(web, 'mesh_proxy_endpoint_ejected', {...series, endpoint: `127.0.0.1:${back}`})) === undefined ? true : undefined), patience)
    expect(await metric(web, 'mesh_proxy_endpoint_ejected', {...series, endpoint: `127.0.0.1:${still}`})).toBe(1)
  }, 120_000)

  it('a server certificate that does not verify: untrusted_certificate, outbound, with the identity discovery named', async () => {
    expect((await call('foreign')).status).toBe(502)
    const [e] = await errorsOf(web, `?peer=${encodeURIComponent(identityName('foreign', NS))}`)
    expect(e).toMatchObject({direction: 'outbound', peer: identityName('foreign', NS), authority: authority('foreign'), kind: 'untrusted_certificate'})
  })

  it('a server whose certificate chains to the mesh\'s anchor but names another identity: untrusted_certificate too', async () => {
    expect((await call('imposter')).status).toBe(502)
    const [e] = await errorsOf(web, `?peer=${encodeURIComponent(identityName('imposter', NS))}`)
    expect(e).toMatchObject({direction: 'outbound', kind: 'untrusted_certificate'})
    expect(e!.message).toContain(`the peer is ${identityName('other', NS)}, not the expected ${identityName('imposter', NS)}`)
  })

  it('an inbound policy refusal: the client\'s verified identity and the reason, on the refusing side', async () => {
    expect((await call('locked')).status).toBe(403)
    const [e] = await errorsOf(locked, `?peer=${encodeURIComponent(identityName('web', NS))}`)
    expect(e).toMatchObject({direction: 'inbound', peer: identityName('web', NS), authority: `127.0.0.1:${locked.ports.inbound}`, kind: 'identity_not_allowed'})
    expect(e!.message).toBe(`the client identity ${identityName('web', NS)} is not allowed by the inbound policy`)
  })

  it('a client certificate that does not verify: untrusted_certificate, inbound, by address', async () => {
    expect(await direct(db, foreign.issuer)).toBeUndefined()
    const [e] = await errorsOf(db, '?peer=127.0.0.1')
    expect(e).toMatchObject({direction: 'inbound', kind: 'untrusted_certificate'})
    expect(e!.peer).toMatch(/^127\.0\.0\.1:\d+$/)
    expect(e!.message).toContain('the client certificate was not accepted')
    expect(await direct(db, mesh.issuer)).toBe(200)
  })

  it('detection timeouts on both sides, counted by port', async () => {
    await Promise.all([silent(db.ports.inbound), silent(web.ports.outbound)])
    const [i] = await errorsOf(db)
    expect(i).toMatchObject({direction: 'inbound', kind: 'detect_timeout', authority: `127.0.0.1:${db.ports.inbound}`})
    expect(i!.message).toContain(`on port ${db.ports.inbound}, which is not opaque`)
    expect((await errorsOf(web))[0]).toMatchObject({direction: 'outbound', kind: 'detect_timeout'})
    expect(await metric(db, 'mesh_proxy_detect_timeouts_total', {direction: 'inbound', port: String(db.ports.inbound)})).toBe(1)
    expect(await metric(web, 'mesh_proxy_detect_timeouts_total', {direction: 'outbound', port: String(web.ports.outbound)})).toBe(1)
    expect(await metric(db, 'mesh_proxy_detect_timeouts_total', {direction: 'inbound', port: 'other'})).toBe(0)
  })

  it('a hostile Host (a bidirectional override, 700 characters) is stored as it came, cut to 512; the message names it cut to 100', async () => {
    // U+202E in UTF-8: bytes a header value may carry (obs-text); the authority parser refuses them (400).
    const host = Buffer.concat([Buffer.from([0xe2, 0x80, 0xae]), Buffer.from('a'.repeat(700) + ':80')])
    const answer = await new Promise<string>((resolve) => {
      let out = ''
      const s = net.connect(web.ports.outbound, '127.0.0.1', () => s.write(Buffer.concat([Buffer.from('GET / HTTP/1.1\r\nhost: '), host, Buffer.from('\r\nconnection: close\r\n\r\n')])))
      s.on('data', (d: Buffer) => (out += d.toString('latin1')))
      s.on('error', () => {})
      s.on('close', () => resolve(out))
    })
    expect(answer).toMatch(/^HTTP\/1\.1 400 /)
    const [e] = await errorsOf(web)
    expect(e).toMatchObject({direction: 'outbound', kind: 'BAD_REQUEST'})
    expect(e!.authority!.length).toBe(512)
    expect(e!.authority!.startsWith('\u00e2\u0080\u00aeaaa')).toBe(true)
    expect(e!.message.length).toBeLessThan(300)
    // What `mesh explain` prints of it: the C1 control character replaced.
    expect(parseErrorsReport(JSON.stringify({version: 1, errors: [e]}))[0]!.authority!.startsWith('\u00e2\ufffd\u00ae')).toBe(true)
  })

  it('credentials in an authority (userinfo) never reach /errors, the answer or the message', async () => {
    const answer = await new Promise<string>((resolve) => {
      let out = ''
      const s = net.connect(web.ports.outbound, '127.0.0.1', () => s.write('GET http://alice:s3cret-pw@db.shop.svc.cluster.local:8080/x?token=t0p HTTP/1.1\r\nhost: db\r\nconnection: close\r\n\r\n'))
      s.on('data', (d: Buffer) => (out += d.toString('latin1')))
      s.on('error', () => {})
      s.on('close', () => resolve(out))
    })
    expect(answer).toMatch(/^HTTP\/1\.1 400 /)
    expect(answer).not.toContain('s3cret')
    const [e] = await errorsOf(web)
    expect(e).toMatchObject({kind: 'BAD_REQUEST', authority: '***@db.shop.svc.cluster.local:8080'})
    const all = JSON.stringify(await errorsOf(web))
    for (const secret of ['s3cret', 'alice', 't0p']) expect(all).not.toContain(secret)
  })

  it('keeps the last 100 of 1,000 failures, newest first; ?peer is bounded', async () => {
    const agent = new http.Agent({keepAlive: true, maxSockets: 8})
    await Promise.all(Array.from({length: 8}, async (_, w) => {
      for (let i = w; i < 1000; i += 8) expect((await request(web.ports.outbound, {path: `/${i}`, agent, headers: {host: authority('empty')}})).status).toBe(503)
    }))
    agent.destroy()
    const all = await errorsOf(web)
    expect(all.length).toBe(100)
    expect(all.every((e) => e.kind === 'NO_ENDPOINTS')).toBe(true)
    const times = all.map((e) => Date.parse(e.time))
    expect([...times].sort((a, b) => b - a)).toEqual(times)
    expect((await web.admin(`/errors?peer=${'x'.repeat(513)}`)).status).toBe(400)
    expect((await web.admin('/errors?peer=a&peer=b')).status).toBe(400)
    expect((await web.admin('/errors?peer=')).status).toBe(400)
    expect(await errorsOf(web, '?peer=nobody.example')).toEqual([])
  })
})
