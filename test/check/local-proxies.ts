// Real proxy parts on 127.0.0.1 for the local data plane tests: the proxy admin server
// (src/proxy/admin) and a TLS listener presenting a leaf signed by the given issuer; or a whole
// real proxy (startProxy) whose inbound terminates mTLS, and a client that leaves its handshake
// unfinished.
import type {AddressInfo} from 'node:net'
import {createServer} from 'node:tls'
import type {LocalProxy} from '../../src/check/data-plane/local-source.js'
import {createProxyMetrics} from '../../src/metrics/index.js'
import {parseMetrics} from '../../src/metrics/parse.js'
import {startAdmin} from '../../src/proxy/admin/index.js'
import {startProxy} from '../../src/proxy/server.js'
import {generateRsaKey, signLeaf, type CaMaterial} from '../../src/tls/index.js'
import {eventually} from '../helpers/eventually.js'
import {stalledHandshake} from '../helpers/tls-handshake.js'
import {closeServer, quietLog, startEchoApp, testConfig} from '../proxy/helpers.js'
import {TestIdentity} from '../proxy/test-identity.js'

export interface ProxyOptions {
  version?: string
  ready?: () => boolean
  signer: CaMaterial
  tls?: boolean
}

export async function startLocalProxy(name: string, o: ProxyOptions, closers: Array<() => Promise<void>>): Promise<LocalProxy> {
  const {registry} = createProxyMetrics({version: o.version ?? '0.1.0'})
  const admin = await startAdmin({
    listen: '127.0.0.1:0',
    registry,
    ready: o.ready ?? (() => true),
    onShutdown: () => {},
    getLogLevel: () => 'info',
    setLogLevel: () => {},
  })
  closers.push(() => admin.close())
  const p: LocalProxy = {name, namespace: 'demo', adminUrl: admin.url}
  if (o.tls !== false) {
    const key = await generateRsaKey()
    const leaf = signLeaf(o.signer, {publicKeyPem: key.publicKeyPem, dnsName: `${name}.demo.serviceaccount.identity.mesh-system.cluster.local`})
    const server = createServer({key: key.keyPem, cert: leaf.certPem + o.signer.certPem})
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    closers.push(() => new Promise((r) => server.close(() => r())))
    p.inbound = {host: '127.0.0.1', port: (server.address() as AddressInfo).port}
  }
  return p
}

export interface RealProxy {
  /** What a `mesh demo` state file lists for it: the admin URL, and the inbound with its identity name as SNI. */
  local: LocalProxy
  /** Its inbound port's `mesh_proxy_refused_total{direction="inbound",reason="tls_handshake"}`, read from its /metrics. */
  tlsHandshakes(): Promise<number>
}

/**
 * A real proxy as `mesh proxy` wires it (startProxy with the metrics observer, the admin server
 * on its registry) in front of an echo app; its inbound terminates mTLS with a leaf from `signer`
 * (trusting `anchorPem`); its detect timeout, and so its TLS handshake timeout, is 500 ms.
 */
export async function startRealProxy(name: string, o: {signer: CaMaterial; anchorPem: string}, closers: Array<() => Promise<void>>): Promise<RealProxy> {
  const localName = `${name}.demo.serviceaccount.identity.mesh-system.cluster.local`
  const key = await generateRsaKey()
  const leaf = signLeaf(o.signer, {publicKeyPem: key.publicKeyPem, dnsName: localName})
  const identity = new TestIdentity(localName, key.keyPem, leaf.certPem + o.signer.certPem, o.anchorPem)
  const metrics = createProxyMetrics({version: '0.1.0'})
  const app = await startEchoApp()
  const running = await startProxy(testConfig({inboundForward: {host: '127.0.0.1', port: app.port}}), {log: quietLog(), originalDst: null, identity, observers: [metrics.observer]})
  const admin = await startAdmin({listen: '127.0.0.1:0', registry: metrics.registry, ready: () => true, onShutdown: () => {}, getLogLevel: () => 'info', setLogLevel: () => {}})
  closers.push(async () => { await running.close(100) }, () => admin.close(), () => closeServer(app.server))
  return {
    local: {name, namespace: 'demo', adminUrl: admin.url, inbound: {host: '127.0.0.1', port: running.ports.inbound, servername: localName}},
    async tlsHandshakes() {
      const text = await (await fetch(new URL('/metrics', admin.url))).text()
      const samples = parseMetrics(text).get('mesh_proxy_refused_total')?.samples ?? []
      return samples.filter((s) => s.labels.direction === 'inbound' && s.labels.reason === 'tls_handshake').reduce((a, s) => a + s.value, 0)
    },
  }
}

/**
 * A client that begins an mTLS handshake with the proxy's inbound (a ClientHello naming its
 * identity) and stalls: the proxy closes it at its handshake timeout. Resolves once the proxy's
 * /metrics counted it (bounded, 10 s).
 */
export async function unfinishedHandshake(p: RealProxy): Promise<void> {
  const before = await p.tlsHandshakes()
  await stalledHandshake({host: '127.0.0.1', port: p.local.inbound!.port, servername: p.local.inbound!.servername!})
  await eventually('the proxy counted the unfinished handshake', async () => ((await p.tlsHandshakes()) > before ? true : undefined), {timeoutMs: 10_000, intervalMs: 20})
}
