// A trust anchor rotation reaches running proxies through the destination service's trust bundle
// stream (item 4 of docs/architecture/diagnostics.md, "What a proxy must do"), under load, with
// no restart: the real controller in local mode (its identity directory changed as an operator
// does: files renamed into place) and `mesh proxy` sidecars as processes, certified with 6 s
// leaves so they renew every ~4 s. The stages of `mesh identity rotate-anchor`:
//   anchor B added (bundle A+B) -> every proxy trusts both -> issuer signed by B -> every proxy
//   renewed -> A dropped (bundle B)
// while a client loop sends requests through web's proxy to db. Along the way: db, started
// with anchor A only, accepts a peer certified under B once A+B arrives; replicas started
// mid-rotation (anchors A+B, then B alone, as the injector gives them) take traffic; after A is
// dropped, a client certified under A is refused, including one holding a TLS session ticket
// from before (the proxy's ticket keys change with its anchors). Zero failed requests.
import {X509Certificate} from 'node:crypto'
import http from 'node:http'
import https from 'node:https'
import tls from 'node:tls'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {parseMetrics} from '../../src/metrics/index.js'
import {ProxyEnv} from '../../src/protocol/proxy-env.js'
import {identityName} from '../../src/protocol/proxy-env.js'
import {generateEcKey, generateIssuer, generateTrustAnchor, parseCertificates, signLeaf, verifyChain, type CaMaterial} from '../../src/tls/index.js'
import {sha256Hex} from '../../src/tls/anchor-info.js'
import {eventually} from '../helpers/eventually.js'
import {closeServer, request, startEchoApp, type EchoApp} from './helpers.js'
import {NS, startLocalMesh, type LocalMesh, type MeshSidecar} from './local-mesh.js'

const AUTHORITY = `db.${NS}.svc.cluster.local:8080`
const patience = {timeoutMs: 60_000, intervalMs: 200}
let mesh: LocalMesh
const apps: EchoApp[] = []
let web: MeshSidecar
let db0: MeshSidecar
let anchorB: CaMaterial
let issuerB: CaMaterial

const sha = (pem: string): string => sha256Hex(new X509Certificate(pem))

async function anchorsOf(s: MeshSidecar): Promise<string[]> {
  return (await s.identityReport()).trustAnchors.map((a) => a.sha256)
}

/** The sidecar's certificate chains to `anchor`. */
async function chainsTo(s: MeshSidecar, anchor: CaMaterial): Promise<boolean> {
  const r = await s.identityReport()
  if (!r.certificate) return false
  const [leaf, ...rest] = parseCertificates(r.certificate.chainPem)
  return verifyChain({leaf: leaf!, intermediates: rest, anchors: [new X509Certificate(anchor.certPem)]}) === undefined
}

async function untrustedRefusals(s: MeshSidecar): Promise<number> {
  const fam = parseMetrics(await s.metrics()).get('mesh_proxy_inbound_policy_refused_total')
  return fam?.samples.find((x) => x.labels.reason === 'untrusted_certificate')?.value ?? 0
}

interface Direct {
  /** The HTTP status, or undefined when the proxy closed the connection without an answer. */
  status?: number
  resumed: boolean
  session?: Buffer
}

/** A client certified as web under `issuer`, straight to a sidecar's inbound port over mTLS (one request). */
async function direct(to: MeshSidecar, issuer: CaMaterial, session?: Buffer): Promise<Direct> {
  const key = await generateEcKey()
  const leaf = signLeaf(issuer, {publicKeyPem: key.publicKeyPem, dnsName: identityName('web', NS)})
  return new Promise((resolve) => {
    let ticket: Buffer | undefined
    let resumed = false
    let answer = ''
    const s = tls.connect({
      host: '127.0.0.1', port: to.ports.inbound, servername: to.identity, key: key.keyPem, cert: leaf.certPem + issuer.certPem,
      ca: mesh.anchor.certPem + anchorB.certPem, checkServerIdentity: () => undefined, session, ALPNProtocols: ['http/1.1'],
    }, () => {
      resumed = s.isSessionReused()
      s.write(`GET /direct HTTP/1.1\r\nhost: ${AUTHORITY}\r\nconnection: close\r\n\r\n`)
    })
    s.on('session', (t: Buffer) => (ticket = t))
    s.on('data', (d: Buffer) => (answer += d.toString('latin1')))
    s.on('error', () => {})
    s.on('close', () => {
      const m = /^HTTP\/1\.1 (\d{3})/.exec(answer)
      resolve({status: m ? Number(m[1]) : undefined, resumed, session: ticket})
    })
  })
}

/** A keep-alive mTLS client (one connection) certified as web under `issuer`, straight to `to`'s inbound port. */
async function keptConnection(to: MeshSidecar, issuer: CaMaterial): Promise<{get(p: string): Promise<{status: number; reused: boolean}>; close(): void}> {
  const key = await generateEcKey()
  const leaf = signLeaf(issuer, {publicKeyPem: key.publicKeyPem, dnsName: identityName('web', NS)})
  const agent = new https.Agent({keepAlive: true, maxSockets: 1, key: key.keyPem, cert: leaf.certPem + issuer.certPem, ca: mesh.anchor.certPem + anchorB.certPem, servername: to.identity, checkServerIdentity: () => undefined})
  return {
    get: (p) => new Promise((resolve, reject) => {
      const req = https.request({host: '127.0.0.1', port: to.ports.inbound, path: p, agent, headers: {host: AUTHORITY}}, (res) => {
        res.resume().on('end', () => resolve({status: res.statusCode ?? 0, reused: req.reusedSocket}))
      })
      req.on('error', reject)
      req.end()
    }),
    close: () => agent.destroy(),
  }
}

/** Requests through web's proxy to db, one after another on a keep-alive agent, until stopped. */
function load(): {stop(): Promise<void>; ok: () => number; failures: string[]} {
  const agent = new http.Agent({keepAlive: true, maxSockets: 2})
  const failures: string[] = []
  let ok = 0
  let stopped = false
  const one = (i: number): Promise<void> => new Promise((resolve) => {
    const req = http.get({host: '127.0.0.1', port: web.ports.outbound, path: `/load/${i}`, agent, headers: {host: AUTHORITY}, timeout: 20_000}, (res) => {
      res.resume().on('end', () => {
        if (res.statusCode === 200) ok++
        else failures.push(`${i}: HTTP ${res.statusCode} ${String(res.headers['mesh-proxy-error'] ?? '')}`)
        resolve()
      })
    })
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.on('error', (e) => {
      failures.push(`${i}: ${e.message}`)
      resolve()
    })
  })
  const loops = [0, 1].map(async (n) => {
    for (let i = n; !stopped; i += 2) {
      await one(i)
      await new Promise((r) => setTimeout(r, 10))
    }
  })
  return {
    ok: () => ok,
    failures,
    async stop() {
      stopped = true
      await Promise.all(loops)
      agent.destroy()
    },
  }
}

async function app(): Promise<EchoApp> {
  const a = await startEchoApp()
  apps.push(a)
  return a
}

beforeAll(async () => {
  mesh = await startLocalMesh({leafLifetimeMs: 6_000})
  anchorB = await generateTrustAnchor({commonName: 'root-b.mesh.test'})
  issuerB = await generateIssuer(anchorB, {commonName: 'issuer-b'})
  db0 = await mesh.sidecar('db', (await app()).port, {[ProxyEnv.POD_NAME]: 'db-0'})
  web = await mesh.sidecar('web', (await app()).port)
  mesh.registry([{name: 'db', port: 8080, endpoints: [{port: db0.ports.inbound, sa: 'db'}]}])
  await eventually('the registry to be served', async () => ((await request(web.ports.outbound, {path: '/', headers: {host: AUTHORITY}})).status === 200 ? true : undefined), patience)
}, 120_000)

afterAll(async () => {
  await mesh?.stop()
  for (const a of apps) await closeServer(a.server)
})

describe('an anchor rotation reaches running proxies through the trust bundle stream', () => {
  it('A -> A+B -> issuer B -> renewed -> B, under load: no failed request, no restart', async () => {
    const A = sha(mesh.anchor.certPem)
    const B = sha(anchorB.certPem)
    const pids = [db0.pid, web.pid]
    const traffic = load()
    try {
      await eventually('traffic to flow', () => (traffic.ok() >= 20 ? true : undefined), patience)

      // Before: db trusts A only; a peer certified under B is refused (and counted).
      expect(await anchorsOf(db0)).toEqual([A])
      // A connection established now, under A, is kept through the whole rotation.
      const kept = await keptConnection(db0, mesh.issuer)
      expect(await kept.get('/kept/1')).toEqual({status: 200, reused: false})
      const refusedBefore = await untrustedRefusals(db0)
      expect((await direct(db0, issuerB)).status).toBeUndefined()
      expect(await untrustedRefusals(db0)).toBe(refusedBefore + 1)

      // 1. The bundle becomes A+B: every running proxy applies it.
      mesh.put('ca-bundle.crt', mesh.anchor.certPem + anchorB.certPem)
      for (const s of [db0, web]) await eventually(`${s.sa} to trust A and B`, async () => ((await anchorsOf(s)).join() === [A, B].join() ? true : undefined), patience)
      // (a) db, started with A alone, now accepts a peer certified under B; and still one under A.
      expect((await direct(db0, issuerB)).status).toBe(200)
      const underA = await direct(db0, mesh.issuer)
      expect(underA.status).toBe(200)
      expect(underA.session).toBeDefined()
      // Its session ticket resumes while the anchors stay (the control for the refusal below).
      const resumedOk = await direct(db0, mesh.issuer, underA.session)
      expect(resumedOk).toMatchObject({resumed: true, status: 200})

      // 2. An issuer signed by B: each proxy renews from it within its leaf's life.
      mesh.put('issuer.key', issuerB.keyPem)
      mesh.put('issuer.crt', issuerB.certPem)
      for (const s of [db0, web]) await eventually(`${s.sa} to present a certificate from B`, () => chainsTo(s, anchorB).then((y) => (y ? true : undefined)), patience)
      // A replica injected now (anchors A+B) takes traffic from web.
      const app1 = await app()
      const db1 = await mesh.sidecar('db', app1.port, {[ProxyEnv.POD_NAME]: 'db-1', [ProxyEnv.IDENTITY_TRUST_ANCHORS_PEM]: mesh.anchor.certPem + anchorB.certPem})
      pids.push(db1.pid)
      mesh.registry([{name: 'db', port: 8080, endpoints: [{port: db0.ports.inbound, sa: 'db'}, {port: db1.ports.inbound, sa: 'db'}]}])
      await eventually('db-1 to serve web\'s requests', () => (app1.requests >= 5 ? true : undefined), patience)

      // 3. A dropped: the bundle is B alone.
      mesh.put('ca-bundle.crt', anchorB.certPem)
      for (const s of [db0, web, db1]) await eventually(`${s.sa} (${s.pid}) to trust B alone`, async () => ((await anchorsOf(s)).join() === B ? true : undefined), patience)
      // (b) a peer certified under A is refused now; one holding a session ticket from before A
      // was dropped gets no resumption (the ticket keys changed with the anchors) and is refused too.
      const refusedAfter = await untrustedRefusals(db0)
      expect((await direct(db0, mesh.issuer)).status).toBeUndefined()
      const resumedTry = await direct(db0, mesh.issuer, underA.session)
      expect(resumedTry.resumed).toBe(false)
      expect(resumedTry.status).toBeUndefined()
      expect(await untrustedRefusals(db0)).toBe(refusedAfter + 2)
      expect((await direct(db0, issuerB)).status).toBe(200)
      // The connection established under A before the rotation still carries requests: an
      // anchor change affects new handshakes only.
      expect(await kept.get('/kept/2')).toEqual({status: 200, reused: true})
      kept.close()

      // A replica injected after the rotation (anchor B alone) takes traffic from web too.
      const app2 = await app()
      const db2 = await mesh.sidecar('db', app2.port, {[ProxyEnv.POD_NAME]: 'db-2', [ProxyEnv.IDENTITY_TRUST_ANCHORS_PEM]: anchorB.certPem})
      pids.push(db2.pid)
      mesh.registry([{name: 'db', port: 8080, endpoints: [db0, db1, db2].map((s) => ({port: s.ports.inbound, sa: 'db'}))}])
      await eventually('db-2 to serve web\'s requests', () => (app2.requests >= 5 ? true : undefined), patience)
      const okAtEnd = traffic.ok()
      await eventually('more traffic after the rotation', () => (traffic.ok() >= okAtEnd + 20 ? true : undefined), patience)
    } finally {
      await traffic.stop()
    }
    expect(traffic.failures).toEqual([])
    expect(traffic.ok()).toBeGreaterThan(60)
    // No restart: every proxy is the process it was.
    for (const s of [db0, web]) expect(s.alive()).toBe(true)
    expect([db0.pid, web.pid]).toEqual(pids.slice(0, 2))
    // Each applied the bundles it was sent and logged it; none was refused.
    for (const s of [db0, web]) {
      expect(s.stderr()).toMatch(/trust bundle applied/)
      expect(s.stderr()).not.toMatch(/trust bundle refused/)
    }
  })
})
