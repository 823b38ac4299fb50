// Real proxy parts on 127.0.0.1 for the local data plane tests: the proxy admin server
// (src/proxy/admin) and a TLS listener presenting a leaf signed by the given issuer.
import type {AddressInfo} from 'node:net'
import {createServer} from 'node:tls'
import type {LocalProxy} from '../../src/check/data-plane/local-source.js'
import {createProxyMetrics} from '../../src/metrics/index.js'
import {startAdmin} from '../../src/proxy/admin/index.js'
import {generateRsaKey, signLeaf, type CaMaterial} from '../../src/tls/index.js'

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
