// Inbound-policy refusals in /metrics: mesh_proxy_inbound_policy_refused_total{reason}. A real
// proxy with a test identity (openssl-made certificates) under `identities:<client>`, its
// metrics and tap observers wired as `mesh proxy` wires them, and the admin server's /metrics
// scraped with curl after real refused connections of each kind; promtool checks the scrape.
import {execFile, spawnSync} from 'node:child_process'
import net from 'node:net'
import tls from 'node:tls'
import {promisify} from 'node:util'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {createProxyMetrics, parseMetrics} from '../../src/metrics/index.js'
import {REFUSAL_REASONS} from '../../src/proxy/config/inbound-policy.js'
import {REFUSAL_REASON_NAMES} from '../../src/proxy/core/refusals.js'
import {startAdmin, type AdminServer} from '../../src/proxy/admin/index.js'
import type {Discovery, EndpointSet} from '../../src/proxy/core/contracts.js'
import {startProxy, type RunningProxy} from '../../src/proxy/server.js'
import {TapHub} from '../../src/proxy/tap/index.js'
import {closeServer, quietLog, request, startEchoApp, testConfig, type EchoApp} from './helpers.js'
import {makePki, nameOf, type TestPki} from './test-identity.js'

const exec = promisify(execFile)
const FAMILY = 'mesh_proxy_inbound_policy_refused_total'

function discovery(set: EndpointSet): Discovery {
  return {resolve: () => Promise.resolve({current: () => set, onChange: () => () => {}, close: () => {}}), close: () => {}}
}

/** Writes a request on `sock` and resolves with what came back once the proxy closes it. */
function exchange(sock: net.Socket | tls.TLSSocket): Promise<string> {
  return new Promise((resolve) => {
    let out = ''
    const timer = setTimeout(() => { sock.destroy(); resolve(out) }, 3000)
    sock.on('data', (c: Buffer) => (out += c.toString('latin1')))
    sock.on('error', () => {})
    sock.on('close', () => { clearTimeout(timer); resolve(out) })
  })
}

describe('inbound policy refusals in /metrics', () => {
  let pki: TestPki
  let foreign: TestPki
  let app: EchoApp
  let web: RunningProxy
  let admin: AdminServer
  const clients: RunningProxy[] = []
  const saved = process.env.MESH_PROXY_INBOUND_POLICY

  beforeAll(async () => {
    pki = makePki()
    foreign = makePki()
    app = await startEchoApp()
    const metrics = createProxyMetrics({localLabels: {namespace: 'default', pod: 'web-0'}})
    const hub = new TapHub({registry: metrics.registry})
    process.env.MESH_PROXY_INBOUND_POLICY = `identities:${nameOf('client')}`
    try {
      web = await startProxy(testConfig({inboundForward: {host: '127.0.0.1', port: app.port}}), {
        log: quietLog(), originalDst: null, identity: pki.identity('web'), observers: [metrics.observer, hub],
      })
    } finally {
      if (saved === undefined) delete process.env.MESH_PROXY_INBOUND_POLICY
      else process.env.MESH_PROXY_INBOUND_POLICY = saved
    }
    admin = await startAdmin({
      listen: '127.0.0.1:0', registry: metrics.registry, ready: () => true, onShutdown: () => {}, getLogLevel: () => 'error', setLogLevel: () => {},
    })
  })
  afterAll(async () => {
    await Promise.all([...clients, web].filter(Boolean).map((p) => p.close(100)))
    await admin?.close()
    await closeServer(app?.server)
    pki?.cleanup()
    foreign?.cleanup()
  })

  async function meshedClient(sa: string): Promise<RunningProxy> {
    const p = await startProxy(testConfig(), {
      log: quietLog(), originalDst: null, identity: pki.identity(sa),
      discovery: discovery({endpoints: [{host: '127.0.0.1', port: web.ports.inbound, identity: nameOf('web'), labels: {}}]}),
    })
    clients.push(p)
    return p
  }

  function tlsTo(ctx: tls.SecureContext | undefined): tls.TLSSocket {
    const s = tls.connect({
      host: '127.0.0.1', port: web.ports.inbound, servername: nameOf('web'), rejectUnauthorized: false, ALPNProtocols: ['http/1.1'], ...(ctx ? {secureContext: ctx} : {}),
    }, () => s.write('GET /tls HTTP/1.1\r\nhost: web.local\r\nconnection: close\r\n\r\n'))
    return s
  }

  async function scrape(): Promise<string> {
    const {stdout} = await exec('curl', ['-sS', '--max-time', '5', `http://127.0.0.1:${admin.address.port}/metrics`])
    return stdout
  }

  function refusals(text: string): Record<string, number> {
    const fam = parseMetrics(text).get(FAMILY)
    expect(fam?.type).toBe('counter')
    return Object.fromEntries((fam?.samples ?? []).map((s) => [s.labels.reason, s.value]))
  }

  it('every reason is exposed at 0 before any refusal', async () => {
    expect(refusals(await scrape())).toEqual(Object.fromEntries(REFUSAL_REASONS.map((r) => [r, 0])))
  })

  it('counts each kind of refused connection by reason; served clients are not counted', async () => {
    const before = app.requests
    // unauthenticated: plaintext HTTP (403) from curl, and a plaintext TCP client (closed).
    const {stdout: code} = await exec('curl', ['-sS', '--max-time', '5', '-o', '/dev/null', '-w', '%{http_code}', '-H', 'Host: web.local', `http://127.0.0.1:${web.ports.inbound}/plain`])
    expect(code).toBe('403')
    const tcp = net.connect(web.ports.inbound, '127.0.0.1', () => tcp.write('\x00\x01binary'))
    expect(await exchange(tcp)).toBe('')
    // no_client_certificate: TLS to this proxy without a certificate (403 inside the TLS).
    expect(await exchange(tlsTo(undefined))).toMatch(/^HTTP\/1.1 403/)
    // untrusted_certificate: a certificate from another trust root (closed after the handshake).
    expect(await exchange(tlsTo(foreign.identity('client').clientContext()))).toBe('')
    // identity_not_allowed: a meshed client whose identity the policy does not list.
    const other = await meshedClient('other')
    expect((await request(other.ports.outbound, {path: '/other', headers: {host: 'web.local'}})).status).toBe(403)
    expect(app.requests).toBe(before)
    // The listed identity is served and counts nowhere here.
    const client = await meshedClient('client')
    expect((await request(client.ports.outbound, {path: '/ok', headers: {host: 'web.local'}})).status).toBe(200)
    expect(app.requests).toBe(before + 1)

    const text = await scrape()
    expect(refusals(text)).toEqual({unauthenticated: 2, no_client_certificate: 1, untrusted_certificate: 1, identity_not_allowed: 1})
    expect(text).toContain(`# HELP ${FAMILY} Inbound connections refused by the inbound policy`)

    // promtool accepts the scrape; its one remark is on Linkerd's own family name.
    const r = spawnSync('promtool', ['check', 'metrics'], {input: text, encoding: 'utf8', timeout: 20_000})
    if (r.error) throw new Error(`promtool is required for this test (apt-get install -y prometheus): ${r.error.message}`)
    const problems = `${r.stdout}${r.stderr}`.split('\n').filter((l) => l.trim() !== '')
    expect(problems).toEqual(['response_latency_ms metric names should not contain abbreviated units'])
    const only = spawnSync('promtool', ['check', 'metrics'], {input: text.split('\n').filter((l) => l.includes(FAMILY)).join('\n') + '\n', encoding: 'utf8', timeout: 20_000})
    expect({status: only.status, out: `${only.stdout}${only.stderr}`.trim()}).toEqual({status: 0, out: ''})
  })

  const BOUNDS = 'mesh_proxy_refused_total'
  function bounds(text: string): Record<string, number> {
    const fam = parseMetrics(text).get(BOUNDS)
    expect(fam?.type).toBe('counter')
    return Object.fromEntries((fam?.samples ?? []).map((s) => [`${s.labels.direction}/${s.labels.reason}`, s.value]))
  }

  it('exposes every bound at 0 for both directions, and counts a malformed request under its reason', async () => {
    const start = bounds(await scrape())
    expect(Object.keys(start).sort()).toEqual(['inbound', 'outbound'].flatMap((d) => REFUSAL_REASON_NAMES.map((r) => `${d}/${r}`)).sort())
    // A malformed request inside the mTLS of an allowed client: this proxy's parser refuses it.
    const s = tls.connect({
      host: '127.0.0.1', port: web.ports.inbound, servername: nameOf('web'), rejectUnauthorized: false, ALPNProtocols: ['http/1.1'], secureContext: pki.identity('client').clientContext(),
    }, () => s.write('GET / HTTP/1.1\r\nHost: web.local\r\nBad Header\r\n\r\n'))
    expect(await exchange(s)).toMatch(/^HTTP\/1.1 400/)
    const after = bounds(await scrape())
    expect(after['inbound/malformed_request']).toBe(start['inbound/malformed_request'] + 1)
    expect({...after, 'inbound/malformed_request': 0}).toEqual({...start, 'inbound/malformed_request': 0})
  })
})

