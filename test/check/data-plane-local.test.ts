// The data plane checks against real proxies' parts on 127.0.0.1: the proxy admin server
// (src/proxy/admin) for /ready and /metrics, and a TLS listener presenting the proxy's leaf,
// as `mesh demo` runs them. Only the local source is used: no cluster.
import {afterEach, beforeAll, describe, expect, it} from 'vitest'
import {createContext} from '../../src/check/context.js'
import {localSource, type LocalProxy} from '../../src/check/data-plane/local-source.js'
import {categoriesFor} from '../../src/check/plan.js'
import {runChecks} from '../../src/check/runner.js'
import {generateIssuer, generateTrustAnchor, type CaMaterial} from '../../src/tls/index.js'
import {startLocalProxy, startRealProxy, unfinishedHandshake} from './local-proxies.js'
import net from 'node:net'
import {createProxyMetrics} from '../../src/metrics/index.js'
import {startAdmin} from '../../src/proxy/admin/index.js'
import {startProxy} from '../../src/proxy/server.js'
import {closeServer, quietLog, startEchoApp, testConfig} from '../proxy/helpers.js'
import {schemaProblems} from './schema.js'

let anchor: CaMaterial
let issuer: CaMaterial
let foreignIssuer: CaMaterial
const closers: Array<() => Promise<void>> = []

beforeAll(async () => {
  anchor = await generateTrustAnchor()
  issuer = await generateIssuer(anchor)
  foreignIssuer = await generateIssuer(await generateTrustAnchor({commonName: 'root.elsewhere'}))
})

afterEach(async () => {
  for (const c of closers.splice(0)) await c()
})

async function proxy(name: string, o: {version?: string; ready?: boolean; signer?: CaMaterial; tls?: boolean} = {}): Promise<LocalProxy> {
  return startLocalProxy(name, {version: o.version, ready: () => o.ready ?? true, signer: o.signer ?? issuer, tls: o.tls}, closers)
}

async function check(proxies: LocalProxy[], version = '0.1.0') {
  const ctx = createContext({}, {})
  ctx.dataPlane = localSource({proxies, expected: {version, trustAnchorsPem: anchor.certPem, issuerPem: issuer.certPem}})
  const report = await runChecks(categoriesFor('local-proxy'), ctx)
  expect(schemaProblems(report)).toEqual([])
  return Object.fromEntries(report.categories.flatMap((c) => c.checks).map((k) => [k.id, {result: k.result, error: k.error}])) as Record<string, {result: string; error: string}>
}

describe('data plane checks on local proxies', () => {
  it('pass when every proxy is ready, runs the expected version and presents a leaf from the current issuer', async () => {
    const r = await check([await proxy('web'), await proxy('api')])
    expect(r).toEqual({
      MESH3001: {result: 'success', error: ''},
      MESH3002: {result: 'success', error: ''},
      MESH3003: {result: 'success', error: ''},
      MESH3004: {result: 'success', error: ''},
      MESH3005: {result: 'success', error: ''},
    })
  })

  it('one pass probes each proxy once for all its checks; a check that fails probes again on its retry', async () => {
    const expected = {version: '0.1.0', trustAnchorsPem: anchor.certPem, issuerPem: issuer.certPem}
    const run = async (list: LocalProxy[], before?: (n: number) => void): Promise<{probes: number; results: string[]}> => {
      let probes = 0
      const ctx = createContext({}, {})
      ctx.dataPlane = localSource({proxies: () => {
        probes++
        before?.(probes)
        return list
      }, expected})
      const report = await runChecks(categoriesFor('local-proxy'), ctx, {waitMs: 30_000, retryIntervalMs: 10})
      return {probes, results: report.categories.flatMap((c) => c.checks).map((k) => `${k.id} ${k.result}`)}
    }
    const all = ['MESH3001 success', 'MESH3002 success', 'MESH3003 success', 'MESH3004 success', 'MESH3005 success']
    expect(await run([await proxy('web'), await proxy('api')])).toEqual({probes: 1, results: all})
    // Not ready at the first probe, ready from the second: MESH3001's retry sees the change.
    const state = {ready: false}
    const late = await proxy('late', state)
    expect(await run([late], (n) => (state.ready = n >= 2))).toEqual({probes: 2, results: all})
  })

  it('a real proxy that closed a connection for a detection timeout is a warning naming it and the port, with the annotation that fixes it', async () => {
    // A real proxy (500 ms detect timeout) with the metrics and admin server `mesh proxy` wires,
    // and a client that waits for the server to speak first on its inbound port.
    const metrics = createProxyMetrics({version: '0.1.0'})
    const app = await startEchoApp()
    const running = await startProxy(testConfig({inboundForward: {host: '127.0.0.1', port: app.port}}), {log: quietLog(), originalDst: null, observers: [metrics.observer]})
    const admin = await startAdmin({listen: '127.0.0.1:0', registry: metrics.registry, ready: () => true, onShutdown: () => {}, getLogLevel: () => 'info', setLogLevel: () => {}})
    closers.push(async () => { await running.close(100) }, () => admin.close(), () => closeServer(app.server))
    const db: LocalProxy = {name: 'db', namespace: 'demo', adminUrl: admin.url}
    expect((await check([db])).MESH3004).toEqual({result: 'success', error: ''})
    await new Promise<void>((resolve) => {
      const s = net.connect(running.ports.inbound, '127.0.0.1')
      s.on('error', () => {})
      s.on('close', () => resolve())
    })
    const r = await check([db, await proxy('web')])
    const port = running.ports.inbound
    expect(r.MESH3004).toEqual({result: 'warning', error: `1 of 2 proxies hit the detect timeout: demo/db: 1 inbound connection sent nothing within the detect timeout on port ${port} (mark it opaque: config.mesh.dev/opaque-ports=${port})`})
    const ctx = createContext({}, {})
    ctx.dataPlane = localSource({proxies: [db], expected: {version: '0.1.0', trustAnchorsPem: anchor.certPem, issuerPem: issuer.certPem}})
    const report = await runChecks(categoriesFor('local-proxy'), ctx)
    expect(report.categories.flatMap((c) => c.checks).find((c) => c.id === 'MESH3004')!.hint).toContain('config.mesh.dev/opaque-ports=<port>')
  })

  it('reading a real proxy\'s certificate finishes the TLS handshake: its proxy counts no unfinished one (tls_handshake)', async () => {
    // A real proxy whose inbound terminates mTLS. The check reads its certificate with TLS
    // handshakes to that inbound (its identity as SNI), one per check that asks for the proxies.
    const db = await startRealProxy('db', {signer: issuer, anchorPem: anchor.certPem}, closers)
    expect((await check([db.local])).MESH3003).toEqual({result: 'success', error: ''})
    // A client that sends a ClientHello naming the proxy, then stalls: closed at the handshake
    // timeout, counted. It began after the check's handshakes, so an unfinished one of theirs
    // would have met the same timeout first: only this one is counted.
    await unfinishedHandshake(db)
    expect(await db.tlsHandshakes()).toBe(1)
  })

  it('a real proxy that closed an mTLS handshake its client did not finish is a warning naming it and the count', async () => {
    const db = await startRealProxy('db', {signer: issuer, anchorPem: anchor.certPem}, closers)
    expect((await check([db.local])).MESH3005).toEqual({result: 'success', error: ''})
    await unfinishedHandshake(db)
    const r = await check([db.local, await proxy('web')])
    expect(r.MESH3005).toEqual({result: 'warning', error: '1 of 2 proxies closed unfinished mTLS handshakes: demo/db: 1 inbound mTLS handshake did not finish (tls_handshake)'})
  })

  it('a proxy whose /ready answers 503 fails readiness, naming it', async () => {
    const r = await check([await proxy('web'), await proxy('api', {ready: false})])
    expect(r.MESH3001).toEqual({result: 'error', error: '1 of 2 proxies not ready: demo/api: /ready answered 503 (not ready)'})
  })

  it('a proxy whose admin endpoint is gone fails readiness', async () => {
    const gone = await proxy('gone', {tls: false})
    await closers.pop()!()
    const r = await check([gone])
    expect(r.MESH3001!.result).toBe('error')
    expect(r.MESH3001!.error).toMatch(/demo\/gone: admin endpoint http:\/\/127\.0\.0\.1:\d+ unreachable/)
  })

  it('a proxy on another version is a warning, not a failure', async () => {
    const r = await check([await proxy('web', {version: '0.0.9'})])
    expect(r.MESH3002).toEqual({result: 'warning', error: '1 of 1 proxies do not run 0.1.0: demo/web runs 0.0.9'})
  })

  it('a proxy presenting a certificate from a foreign issuer fails the certificate check', async () => {
    const r = await check([await proxy('web'), await proxy('rogue', {signer: foreignIssuer})])
    expect(r.MESH3003!.result).toBe('error')
    expect(r.MESH3003!.error).toMatch(/^1 of 2 proxies do not match the current trust anchors: demo\/rogue: its certificate .* does not chain to the trust anchors/)
  })

  it('no proxies at all is a failure', async () => {
    const r = await check([])
    expect(r.MESH3001).toEqual({result: 'error', error: 'no meshed proxies found (local demo)'})
  })
})
