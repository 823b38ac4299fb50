// A destination service that streams trust bundles no controller would (item 4 of
// docs/architecture/diagnostics.md): a real sidecar (`mesh proxy` as a process, certified by the
// real controller in local mode) whose destination address is this file's WebSocket server. Each
// hostile bundle is refused, logged and counted (mesh_proxy_refused_total{direction="outbound",
// reason="trust_bundle_invalid"}); the anchors in use stay, and a peer certified under them is
// still served. A bundle refused only because the proxy's own certificate does not chain to it is
// applied by itself once the proxy renews from an issuer it does chain to. And the stream's
// protocol, on the real DestinationClient: asked for again on every connection, again after
// UNAVAILABLE, never again after BAD_REQUEST (a control plane that predates it).
import {X509Certificate} from 'node:crypto'
import tls from 'node:tls'
import fc from 'fast-check'
import {WebSocketServer, type WebSocket} from 'ws'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {trustBundle} from '../../src/control/identity/trust-stream.js'
import {parseMetrics} from '../../src/metrics/index.js'
import {ProxyEnv, identityName} from '../../src/protocol/proxy-env.js'
import {TRUST_BUNDLE_MAX_ANCHORS, TRUST_BUNDLE_MAX_BYTES} from '../../src/protocol/trust.js'
import {DestinationClient} from '../../src/proxy/discovery/destination-client.js'
import {generateEcKey, generateIssuer, generateTrustAnchor, signLeaf, type CaMaterial} from '../../src/tls/index.js'
import {sha256Hex} from '../../src/tls/anchor-info.js'
import {eventually} from '../helpers/eventually.js'
import {closeServer, startEchoApp, type EchoApp} from './helpers.js'
import {NS, startLocalMesh, type LocalMesh, type MeshSidecar} from './local-mesh.js'

const patience = {timeoutMs: 60_000, intervalMs: 100}
let mesh: LocalMesh
let app: EchoApp
let wss: WebSocketServer
let proxy: MeshSidecar
let anchorB: CaMaterial
/** Every request the fake destination service received, and the trust streams open now. */
const received: Array<{type: string; id: number; version?: number; ns: string}> = []
const trustStreams: Array<{ws: WebSocket; id: number}> = []
/** How the fake answers a watchTrust: a bundle, or an error code. */
let answer: {bundle: unknown} | {error: string} = {bundle: undefined}

const x509 = (pem: string) => new X509Certificate(pem)
const sendTrust = (bundle: unknown): void => {
  for (const s of trustStreams) s.ws.send(JSON.stringify({...(bundle as object), type: 'trust', id: s.id}))
}

async function refusedCount(): Promise<number> {
  const fam = parseMetrics(await proxy.metrics()).get('mesh_proxy_refused_total')
  return fam?.samples.find((s) => s.labels.direction === 'outbound' && s.labels.reason === 'trust_bundle_invalid')?.value ?? -1
}

/** One request over mTLS straight to the proxy's inbound port, as a peer certified under `issuer`. */
async function peerStatus(issuer: CaMaterial): Promise<number | undefined> {
  const key = await generateEcKey()
  const leaf = signLeaf(issuer, {publicKeyPem: key.publicKeyPem, dnsName: identityName('web', NS)})
  return new Promise((resolve) => {
    let out = ''
    const s = tls.connect({host: '127.0.0.1', port: proxy.ports.inbound, servername: proxy.identity, key: key.keyPem, cert: leaf.certPem + issuer.certPem, rejectUnauthorized: false, ALPNProtocols: ['http/1.1']}, () => {
      s.write('GET / HTTP/1.1\r\nhost: db\r\nconnection: close\r\n\r\n')
    })
    s.on('data', (d: Buffer) => (out += d.toString('latin1')))
    s.on('error', () => {})
    s.on('close', () => resolve(/^HTTP\/1\.1 (\d{3})/.exec(out) ? Number(/^HTTP\/1\.1 (\d{3})/.exec(out)![1]) : undefined))
  })
}

function fakeDestination(): Promise<WebSocketServer> {
  const server = new WebSocketServer({host: '127.0.0.1', port: 0})
  server.on('connection', (ws, req) => {
    const ns = new URL(req.url ?? '/', 'http://x').searchParams.get('ns') ?? ''
    ws.on('message', (d) => {
      const m = JSON.parse(String(d)) as {type: string; id: number; version?: number}
      received.push({...m, ns})
      if (m.type === 'unwatch') {
        const i = trustStreams.findIndex((s) => s.ws === ws && s.id === m.id)
        if (i >= 0) trustStreams.splice(i, 1)
      }
      if (m.type !== 'watchTrust') return
      if ('error' in answer) {
        ws.send(JSON.stringify({type: 'error', id: m.id, code: answer.error, message: `answered ${answer.error}`}))
        return
      }
      trustStreams.push({ws, id: m.id})
      ws.on('close', () => {
        const i = trustStreams.findIndex((s) => s.ws === ws)
        if (i >= 0) trustStreams.splice(i, 1)
      })
      if (answer.bundle !== undefined) ws.send(JSON.stringify({...(answer.bundle as object), type: 'trust', id: m.id}))
    })
  })
  return new Promise((resolve) => server.once('listening', () => resolve(server)))
}

beforeAll(async () => {
  mesh = await startLocalMesh({leafLifetimeMs: 6_000})
  anchorB = await generateTrustAnchor({commonName: 'root-b.mesh.test'})
  answer = {bundle: trustBundle([x509(mesh.anchor.certPem)])}
  wss = await fakeDestination()
  app = await startEchoApp()
  proxy = await mesh.sidecar('db', app.port, {[ProxyEnv.DESTINATION_ADDR]: `ws://127.0.0.1:${(wss.address() as {port: number}).port}`})
  await eventually('the first bundle applied', async () => ((await proxy.identityReport()).trustBundleRevision !== undefined ? true : undefined), patience)
}, 60_000)

afterAll(async () => {
  await mesh?.stop()
  wss?.close()
  await closeServer(app?.server)
})

describe('hostile trust bundles', () => {
  const A = () => mesh.anchor.certPem
  const good = () => trustBundle([x509(A())])

  const cases: Array<[string, () => Promise<unknown> | unknown, RegExp]> = [
    ['larger than the bound', () => ({...good(), anchorsPem: A() + '#'.repeat(TRUST_BUNDLE_MAX_BYTES)}), /bytes; at most/],
    ['more anchors than the bound', () => {
      const pem = A().repeat(TRUST_BUNDLE_MAX_ANCHORS + 1)
      return {...good(), anchorsPem: pem, anchors: Array.from({length: TRUST_BUNDLE_MAX_ANCHORS + 1}, () => good().anchors[0])}
    }, /anchors; at most 64/],
    ['PEM that does not parse', () => ({...good(), anchorsPem: '-----BEGIN CERTIFICATE-----\nAAAAAAAA\n-----END CERTIFICATE-----\n'}), /cannot be parsed/],
    ['no PEM at all', () => ({...good(), anchorsPem: 'hello'}), /no PEM CERTIFICATE block/],
    ['a certificate that is not a CA', async () => {
      const key = await generateEcKey()
      const leaf = signLeaf(mesh.issuer, {publicKeyPem: key.publicKeyPem, dnsName: 'not-a-ca.example'})
      return {...good(), anchorsPem: leaf.certPem + A(), anchors: [{sha256: sha256Hex(x509(leaf.certPem)), subject: 'x', notAfter: 'x'}, good().anchors[0]]}
    }, /is not a CA/],
    ['fingerprints that are not those of the PEM', () => ({...good(), anchors: [{...good().anchors[0]!, sha256: sha256Hex(x509(anchorB.certPem))}]}), /is not the fingerprint/],
    ['an empty bundle', () => ({...good(), anchorsPem: '', anchors: []}), /holds no anchor/],
    ['another version', () => ({...good(), version: 2}), /version 2 is not 1/],
    ['a revision that is not hex', () => ({...good(), revision: '../../etc'}), /revision must be/],
    ['anchors that are not a list', () => ({...good(), anchors: {0: good().anchors[0]}}), /anchors must be a list/],
    ['an anchor set without the one the proxy\'s certificate chains to', () => trustBundle([x509(anchorB.certPem)]), /would make the proxy distrust itself/],
  ]

  it.each(cases)('%s: refused, logged and counted; the anchors stay and peers are served', async (_name, make, logged) => {
    const before = await refusedCount()
    const revision = (await proxy.identityReport()).trustBundleRevision
    sendTrust(await make())
    await eventually('the refusal to be counted', async () => ((await refusedCount()) === before + 1 ? true : undefined), patience)
    await eventually('the refusal to be logged', () => (logged.test(proxy.stderr().split('\n').filter((l) => l.includes('trust bundle refused')).at(-1) ?? '') ? true : undefined), patience)
    const report = await proxy.identityReport()
    expect(report.trustAnchors.map((a) => a.sha256)).toEqual([sha256Hex(x509(A()))])
    expect(report.trustBundleRevision).toBe(revision)
    expect(await peerStatus(mesh.issuer)).toBe(200)
    expect(proxy.alive()).toBe(true)
  })

  it('generated garbage is refused and counted, never applied, and the proxy keeps serving', async () => {
    const hex = (n: number) => fc.string({unit: fc.constantFrom(...'0123456789abcdef'), minLength: n === 64 ? 64 : 1, maxLength: n})
    const garbage = fc.record({
      version: fc.constantFrom(1, 1, 2, '1', null),
      revision: fc.oneof(hex(63), fc.string(), fc.anything()),
      anchorsPem: fc.oneof(fc.constant(A()), fc.string(), fc.constant(A().replace(/[A-Za-z]{8}\n/, 'AAAAAAAA\n')), fc.anything()),
      anchors: fc.oneof(fc.array(fc.record({sha256: fc.oneof(hex(64), fc.string()), subject: fc.string(), notAfter: fc.string()}), {maxLength: 3}), fc.anything()),
    })
    const samples = fc.sample(garbage, 30)
    const before = await refusedCount()
    for (const b of samples) sendTrust(b)
    await eventually('every sample to be refused', async () => ((await refusedCount()) === before + samples.length ? true : undefined), patience)
    expect((await proxy.identityReport()).trustAnchors.map((a) => a.sha256)).toEqual([sha256Hex(x509(A()))])
    expect(await peerStatus(mesh.issuer)).toBe(200)
    expect(proxy.alive()).toBe(true)
  })

  it('a good bundle still applies after all that (A+B), and a peer certified under B is served', async () => {
    const issuerB = await generateIssuer(anchorB, {commonName: 'issuer-b'})
    expect(await peerStatus(issuerB)).toBeUndefined()
    const both = trustBundle([x509(A()), x509(anchorB.certPem)])
    sendTrust(both)
    await eventually('A+B applied', async () => ((await proxy.identityReport()).trustBundleRevision === both.revision ? true : undefined), patience)
    expect(await peerStatus(issuerB)).toBe(200)
    expect(await peerStatus(mesh.issuer)).toBe(200)
  })

  it('B alone is refused while the proxy\'s certificate chains to A, and applied by itself once it renews from an issuer under B', async () => {
    const onlyB = trustBundle([x509(anchorB.certPem)])
    const before = await refusedCount()
    sendTrust(onlyB)
    await eventually('the refusal', async () => ((await refusedCount()) === before + 1 ? true : undefined), patience)
    expect((await proxy.identityReport()).trustAnchors.length).toBe(2)
    // The control plane's issuer moves to B (its own bundle A+B); the proxy's next renewal (6 s leaves) comes from it.
    const issuerB = await generateIssuer(anchorB, {commonName: 'issuer-b2'})
    mesh.put('ca-bundle.crt', A() + anchorB.certPem)
    mesh.put('issuer.key', issuerB.keyPem)
    mesh.put('issuer.crt', issuerB.certPem)
    await eventually('B alone applied after the renewal, with no new message', async () => ((await proxy.identityReport()).trustBundleRevision === onlyB.revision ? true : undefined), patience)
    expect(await peerStatus(issuerB)).toBe(200)
    expect(await peerStatus(mesh.issuer)).toBeUndefined()
  })
})

describe('the trust stream on the destination connection (the real DestinationClient)', () => {
  let client: DestinationClient | undefined
  afterAll(() => client?.close())
  const port = () => (wss.address() as {port: number}).port

  it('asks once connected, again after the connection drops, and again after UNAVAILABLE; never again after BAD_REQUEST', async () => {
    const got: unknown[] = []
    answer = {error: 'UNAVAILABLE'}
    const start = received.length
    // Its own namespace tells its requests from the sidecar's (which shares this server).
    client = new DestinationClient({addr: `ws://127.0.0.1:${port()}`, namespace: 'probe', backoff: {minMs: 20, maxMs: 100}})
    const trust = client.watchTrust((b) => got.push(b))
    const mine = () => received.slice(start).filter((m) => m.ns === 'probe')
    const asks = () => mine().filter((m) => m.type === 'watchTrust')
    await eventually('a second ask after UNAVAILABLE', () => (asks().length >= 2 ? true : undefined), patience)
    expect(asks()[0]).toMatchObject({type: 'watchTrust', version: 1})
    answer = {bundle: trustBundle([x509(mesh.anchor.certPem)])}
    await eventually('the bundle', () => (got.length === 1 ? true : undefined), patience)
    expect(got[0]).toEqual(trustBundle([x509(mesh.anchor.certPem)]))
    // The server drops the connection: the client reconnects and asks again.
    const asked = asks().length
    for (const c of wss.clients) c.terminate()
    await eventually('an ask on the new connection', () => (asks().length > asked && got.length === 2 ? true : undefined), patience)
    // A control plane that does not know the stream: BAD_REQUEST, then no more asks, even on a new connection.
    answer = {error: 'BAD_REQUEST'}
    for (const c of wss.clients) c.terminate()
    await eventually('the BAD_REQUEST answer to be asked for', () => (asks().length > asked + 1 ? true : undefined), patience)
    const final = asks().length
    // A routes watch keeps the connection wanted; the next connection asks for it, not for trust.
    const routes = client.watchRoutes(`db.${NS}.svc.cluster.local:8080`)
    await eventually('the routes stream asked', () => (mine().some((m) => m.type === 'watchRoutes') ? true : undefined), patience)
    const watchesBefore = mine().filter((m) => m.type === 'watchRoutes').length
    for (const c of wss.clients) c.terminate()
    await eventually('the routes stream asked on a new connection', () => (mine().filter((m) => m.type === 'watchRoutes').length > watchesBefore ? true : undefined), patience)
    expect(asks().length).toBe(final)
    routes.close()
    trust.close()
  })
})
