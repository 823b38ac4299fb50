/**
 * `mesh explain deploy/web svc/<name>` on the real test cluster: the built binary reads
 * discovery through the API server's service proxy (the controller's destination service, in
 * this process, published as mesh-system/mesh-dst) and each proxy's admin server through the
 * pod proxy: /metrics, /identity and /errors as the proxy serves them. The proxies are real
 * (startProxy, the real metrics observer, the /errors ring and the admin server, each with a real
 * identity certified by an identity service) on veth addresses the API server reaches; their
 * pods are objects whose status this file writes (the test cluster has no kubelet). Two identity
 * services in this process certify them: one over the cluster's anchor and issuer (also written
 * to mesh-system, as `mesh install` does) and, for the untrusted case, one over a foreign anchor.
 * web's proxy finds its endpoints with its own destination client (mTLS to the destination
 * service, as in a pod). `mesh identity` reads the same proxies.
 * One failing pair per cause; `explain` must name it: no endpoints, all endpoints ejected, policy
 * denied, protocol detection timeout, untrusted certificate, an mTLS handshake a client left
 * unfinished.
 * Root only (veth, network namespace).
 */
import {randomBytes} from 'node:crypto'
import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import * as k8s from '@kubernetes/client-node'
import {KubernetesRegistry} from '../../src/control/destination/k8s-registry.js'
import {startDestinationService, type DestinationService} from '../../src/control/destination/index.js'
import {controllerIdentityName} from '../../src/control/identity/index.js'
import {silentLogger} from '../../src/control/logger.js'
import {createProxyMetrics} from '../../src/metrics/proxy-metrics.js'
import {CONTROL_PLANE_NAMESPACE, ControlPlane, ControlPlanePorts} from '../../src/protocol/control-plane.js'
import {ISSUER_SECRET_KEYS, TRUST_ROOTS_CONFIGMAP_KEY} from '../../src/protocol/identity.js'
import {identityName, ProxyEnv} from '../../src/protocol/proxy-env.js'
import {ErrorRing, startAdmin, type AdminServer} from '../../src/proxy/admin/index.js'
import {loadProxyConfig} from '../../src/proxy/config/config.js'
import {DestinationClient} from '../../src/proxy/discovery/destination-client.js'
import {parseInboundPolicy} from '../../src/proxy/config/inbound-policy.js'
import type {ProxyIdentity} from '../../src/proxy/identity/index.js'
import {startProxy, type RunningProxy} from '../../src/proxy/server.js'
import {generateIssuer, generateTrustAnchor, type CaMaterial} from '../../src/tls/index.js'
import {sha256Hex} from '../../src/tls/anchor-info.js'
import {X509Certificate} from 'node:crypto'
import {startLocalIdentity, type LocalIdentity} from '../helpers/local-identity.js'
import {eventuallyWith} from '../helpers/eventually.js'
import {requireRoot} from '../helpers/needs.js'
import {stalledHandshake} from '../helpers/tls-handshake.js'
import {closeServer, quietLog, request, startEchoApp, type EchoApp} from '../proxy/helpers.js'
import {serviceProxyRoute, type ServiceProxyRoute} from '../tap/service-proxy.js'
import {core, finalizeNamespace, kc, mesh} from './install-helpers.js'
import {createMeshedPod, setEndpointSlice} from './meshed-pods.js'

requireRoot('test/integration/explain.test.ts', 'it creates a veth pair and a network namespace so the API server can reach in-process proxies')
const eventually = eventuallyWith({timeoutMs: 30_000, intervalMs: 250})
const ns = `mesh-explain-${randomBytes(3).toString('hex')}`
const PORT = 8080
const authority = (svc: string): string => `${svc}.${ns}.svc.cluster.local:${PORT}`
const idOf = (sa: string): string => identityName(sa, ns, CONTROL_PLANE_NAMESPACE, 'cluster.local')

interface Pki {
  anchor: CaMaterial
  issuer: CaMaterial
}

/** An identity service over `pki` (its files written as `mesh controller --mode local` keeps them), certifying proxies of `ns`. */
async function identityService(pki: Pki, name: string): Promise<LocalIdentity> {
  const dir = path.join(tmp, name)
  mkdirSync(path.join(dir, 'id'), {recursive: true})
  writeFileSync(path.join(dir, 'id', 'ca.crt'), pki.anchor.certPem)
  writeFileSync(path.join(dir, 'id', 'issuer.crt'), pki.issuer.certPem)
  writeFileSync(path.join(dir, 'id', 'issuer.key'), pki.issuer.keyPem)
  return startLocalIdentity(dir)
}

interface PodProxy {
  proxy: RunningProxy
  admin: AdminServer
  app: EchoApp
  close(): Promise<void>
}

/**
 * A meshed pod: a real proxy whose inbound listens on `ip`:8080 (its pod IP and the Service's
 * target port) in front of an echo app, the admin server on `ip`, and the pod object saying so.
 */
async function meshedPod(name: string, o: {sa: string; ip: string; ids: LocalIdentity; policy?: string; discover?: boolean}): Promise<PodProxy> {
  const app = await startEchoApp()
  const identity: ProxyIdentity = await o.ids.proxyIdentity(o.sa, ns)
  const errors = new ErrorRing()
  const cfg = loadProxyConfig({}, {inbound: `${o.ip}:${PORT}`, outbound: '127.0.0.1:0', admin: '127.0.0.1:0', tap: '127.0.0.1:0'})
  cfg.limits.detectTimeoutMs = 300
  cfg.inboundForward = {host: '127.0.0.1', port: app.port}
  cfg.retry.limit = 0
  if (o.policy) cfg.inboundPolicy = parseInboundPolicy(o.policy)
  const metrics = createProxyMetrics({localLabels: {namespace: ns, pod: name}})
  // The source's discovery: its own destination client, over mTLS to the destination service (as in a pod).
  const discovery = o.discover ? new DestinationClient({addr: `wss://${route.ip}:${destination.port}`, namespace: ns, identity, serverName: controllerIdentityName(), trustAnchorsPem: o.ids.local.anchorsPem}) : undefined
  const proxy = await startProxy(cfg, {log: quietLog(), originalDst: null, identity, observers: [metrics.observer, errors], discovery})
  const admin = await startAdmin({
    listen: `${o.ip}:0`, registry: metrics.registry, ready: () => proxy.isReady(), onShutdown: () => {}, getLogLevel: () => 'error', setLogLevel: () => {},
    identityReport: () => identity.report(), errors,
  })
  await createMeshedPod(ns, name, {
    sa: o.sa, ip: o.ip,
    env: {
      [ProxyEnv.IDENTITY_TRUST_ANCHORS_PEM]: o.ids.local.anchorsPem,
      [ProxyEnv.ADMIN_LISTEN_ADDR]: `0.0.0.0:${admin.address.port}`,
      ...(o.policy ? {[ProxyEnv.INBOUND_POLICY]: o.policy} : {}),
    },
  })
  return {proxy, admin, app, close: async () => { discovery?.close(); await Promise.all([proxy.close(100), admin.close(), closeServer(app.server)]) }}
}

interface Explanation {
  steps: Array<{step: string; state: string; summary: string; details: string[]; ports?: number[]}>
  cause?: {step: string; summary: string; fix: string}
}

async function explain(svc: string, ...args: string[]): Promise<Explanation> {
  const r = await mesh('explain', 'deploy/web', `svc/${svc}`, '-n', ns, '-o', 'json', ...args)
  if (r.exitCode !== 0) throw new Error(`exit ${r.exitCode}: ${r.stderr}`)
  return JSON.parse(r.stdout) as Explanation
}

const stepOf = (e: Explanation, step: string) => e.steps.find((s) => s.step === step)!

let route: ServiceProxyRoute
let destination: DestinationService
let cluster: Pki
let foreign: Pki
let clusterIds: LocalIdentity
let foreignIds: LocalIdentity
let tmp: string
const pods: PodProxy[] = []
let web: PodProxy
let ip: Record<'web' | 'dead' | 'locked' | 'db' | 'vault' | 'gate', string>
const saved: {configMap?: k8s.V1ConfigMap; secret?: k8s.V1Secret} = {}

/** The cluster's anchors and issuer in mesh-system, as `mesh install` writes them (the old ones kept to put back). */
async function writeControlPlaneIdentity(): Promise<void> {
  const cpNs = CONTROL_PLANE_NAMESPACE
  saved.configMap = await core.readNamespacedConfigMap({name: ControlPlane.trustRootsConfigMap, namespace: cpNs}).catch(() => undefined)
  saved.secret = await core.readNamespacedSecret({name: ControlPlane.issuerSecret, namespace: cpNs}).catch(() => undefined)
  await core.deleteNamespacedConfigMap({name: ControlPlane.trustRootsConfigMap, namespace: cpNs}).catch(() => {})
  await core.deleteNamespacedSecret({name: ControlPlane.issuerSecret, namespace: cpNs}).catch(() => {})
  await core.createNamespacedConfigMap({namespace: cpNs, body: {metadata: {name: ControlPlane.trustRootsConfigMap}, data: {[TRUST_ROOTS_CONFIGMAP_KEY]: cluster.anchor.certPem}}})
  const b64 = (s: string) => Buffer.from(s).toString('base64')
  await core.createNamespacedSecret({namespace: cpNs, body: {
    metadata: {name: ControlPlane.issuerSecret},
    data: {[ISSUER_SECRET_KEYS.anchor]: b64(cluster.anchor.certPem), [ISSUER_SECRET_KEYS.cert]: b64(cluster.issuer.certPem), [ISSUER_SECRET_KEYS.key]: b64(cluster.issuer.keyPem)},
  }})
}

async function restoreControlPlaneIdentity(): Promise<void> {
  const cpNs = CONTROL_PLANE_NAMESPACE
  await core.deleteNamespacedConfigMap({name: ControlPlane.trustRootsConfigMap, namespace: cpNs}).catch(() => {})
  await core.deleteNamespacedSecret({name: ControlPlane.issuerSecret, namespace: cpNs}).catch(() => {})
  const strip = <T extends {metadata?: k8s.V1ObjectMeta}>(o: T): T => ({...o, metadata: {name: o.metadata!.name, labels: o.metadata!.labels, annotations: o.metadata!.annotations}})
  if (saved.configMap) await core.createNamespacedConfigMap({namespace: cpNs, body: strip(saved.configMap)}).catch(() => {})
  if (saved.secret) await core.createNamespacedSecret({namespace: cpNs, body: strip(saved.secret)}).catch(() => {})
}

async function service(name: string, backends: Array<{name: string; ip: string}>): Promise<void> {
  await core.createNamespacedService({namespace: ns, body: {metadata: {name}, spec: {selector: {app: name}, ports: [{name: 'http', port: PORT, targetPort: PORT}]}}})
  if (backends.length > 0) await setEndpointSlice(ns, name, PORT, backends)
}


beforeAll(async () => {
  route = await serviceProxyRoute(kc, {podIps: 6})
  const [w, d, l, b, v, g] = route.podIps
  ip = {web: w!, dead: d!, locked: l!, db: b!, vault: v!, gate: g!}
  const anchor = await generateTrustAnchor({keyType: 'ecdsa', commonName: 'root.explain.test'})
  cluster = {anchor, issuer: await generateIssuer(anchor, {keyType: 'ecdsa'})}
  const other = await generateTrustAnchor({keyType: 'ecdsa', commonName: 'foreign.explain.test'})
  foreign = {anchor: other, issuer: await generateIssuer(other, {keyType: 'ecdsa', commonName: 'foreign-issuer'})}
  tmp = mkdtempSync(path.join(os.tmpdir(), 'mesh-it-explain-'))
  clusterIds = await identityService(cluster, 'cluster')
  foreignIds = await identityService(foreign, 'foreign')
  await core.createNamespace({body: {metadata: {name: ns}}})
  for (const sa of ['web', 'dead', 'locked', 'db', 'vault', 'gate']) await core.createNamespacedServiceAccount({namespace: ns, body: {metadata: {name: sa}}})
  await kc.makeApiClient(k8s.AppsV1Api).createNamespacedDeployment({namespace: ns, body: {
    metadata: {name: 'web'},
    spec: {selector: {matchLabels: {app: 'web'}}, template: {metadata: {labels: {app: 'web'}}, spec: {containers: [{name: 'app', image: 'app'}]}}},
  }})
  // The destination service serves with the controller's certificate from the cluster's issuer, as the controller does.
  destination = await startDestinationService({registry: new KubernetesRegistry({lib: k8s, kc, log: silentLogger}), serving: clusterIds.service.serving, host: route.ip, port: 0, log: silentLogger})
  await route.publish(destination.port, {name: 'mesh-dst', port: ControlPlanePorts.destination, portName: 'destination'})
  await writeControlPlaneIdentity()

  // dead-0 is listed but nothing listens at its address: connections are refused.
  await createMeshedPod(ns, 'dead-0', {sa: 'dead', ip: ip.dead, env: {[ProxyEnv.IDENTITY_TRUST_ANCHORS_PEM]: cluster.anchor.certPem}})
  pods.push(await meshedPod('locked-0', {sa: 'locked', ip: ip.locked, ids: clusterIds, policy: `identities:${idOf('db')}`}))
  pods.push(await meshedPod('db-0', {sa: 'db', ip: ip.db, ids: clusterIds}))
  // vault-0 was injected (and certified) under another anchor.
  pods.push(await meshedPod('vault-0', {sa: 'vault', ip: ip.vault, ids: foreignIds}))
  // gate-0: a client will begin an mTLS handshake with its proxy and stall.
  pods.push(await meshedPod('gate-0', {sa: 'gate', ip: ip.gate, ids: clusterIds}))
  web = await meshedPod('web-0', {sa: 'web', ip: ip.web, ids: clusterIds, discover: true})
  pods.push(web)
  await service('empty', [])
  await service('dead', [{name: 'dead-0', ip: ip.dead}])
  await service('locked', [{name: 'locked-0', ip: ip.locked}])
  await service('db', [{name: 'db-0', ip: ip.db}])
  await service('vault', [{name: 'vault-0', ip: ip.vault}])
  await service('gate', [{name: 'gate-0', ip: ip.gate}])
}, 120_000)

afterAll(async () => {
  await Promise.all(pods.map((p) => p.close()))
  await destination?.stop()
  await route?.close()
  await restoreControlPlaneIdentity()
  await finalizeNamespace(ns).catch(() => {})
  await clusterIds?.stop()
  await foreignIds?.stop()
  if (tmp) rmSync(tmp, {recursive: true, force: true})
})

/** A request from web's application through its proxy to the Service. */
const call = (svc: string) => request(web.proxy.ports.outbound, {path: '/', headers: {host: authority(svc)}})

describe('mesh explain names the cause of a failing pair', () => {
  it('no endpoints: discovery has none for the Service', async () => {
    const e = await explain('empty')
    expect(e.cause).toMatchObject({step: 'discovery'})
    expect(e.cause!.summary).toContain(`no endpoints for ${authority('empty')}`)
    expect(e.cause!.fix).toContain('kubectl get endpointslices')
    expect(stepOf(e, 'discovery').state).toBe('problem')
  })

  it('all endpoints ejected: discovery lists them, the source proxy cannot connect and ejects them', async () => {
    await eventually('a 503 once every endpoint is ejected', async () => ((await call('dead')).status === 503 ? true : undefined))
    const e = await explain('dead')
    expect(stepOf(e, 'discovery')).toMatchObject({state: 'ok'})
    expect(stepOf(e, 'policy').state).toBe('ok')
    expect(stepOf(e, 'certificates').state).toBe('ok')
    expect(e.cause).toMatchObject({step: 'endpoints'})
    expect(e.cause!.summary).toMatch(/could not reach them \(\d+ connect failures, then \d+ answers 503: every endpoint ejected; every endpoint is ejected now\)/)
    const endpoints = stepOf(e, 'endpoints').details.join('\n')
    expect(endpoints).toMatch(/source web-0: [1-9]\d* answered 502/)
    // Counted for this authority, and which endpoint is ejected now: the source proxy's own answer.
    expect(endpoints).toMatch(new RegExp(`[1-9]\\d* endpoint ejections? counted, ejected now: ${ip.dead.replaceAll('.', '\\.')}:${PORT}`))
    expect(endpoints).not.toContain('(all authorities)')
    // The errors both proxies recorded for the pair: the source's connect failures, naming dead's identity.
    const errors = stepOf(e, 'errors')
    expect(errors.state).toBe('problem')
    expect(errors.details.join('\n')).toMatch(new RegExp(`web-0 outbound ${idOf('dead').replaceAll('.', '\\.')} ${authority('dead').replaceAll('.', '\\.')}: (CONNECT_FAILED: connecting to ${ip.dead.replaceAll('.', '\\.')}:${PORT}: ECONNREFUSED|ALL_EJECTED)`))
  })

  it('policy denied: the destination\'s inbound policy does not list the source, and its proxy refused it', async () => {
    const r = await call('locked')
    expect(r.status).toBe(403)
    const e = await eventually('the refusal counted', async () => {
      const x = await explain('locked')
      return stepOf(x, 'policy').details.some((d) => /refused 1 \(identity_not_allowed\)/.test(d)) ? x : undefined
    })
    expect(e.cause).toMatchObject({step: 'policy'})
    expect(stepOf(e, 'policy').details).toContain(`locked-0: identities:${idOf('db')} does not list ${idOf('web')}`)
    expect(e.cause!.fix).toContain('config.mesh.dev/inbound-policy')
    expect(stepOf(e, 'discovery').state).toBe('ok')
    // The refusing proxy recorded it, with the source's verified identity.
    expect(stepOf(e, 'errors').details.join('\n')).toContain(`locked-0 inbound ${idOf('web')} ${ip.locked}:${PORT}: identity_not_allowed: the client identity ${idOf('web')} is not allowed by the inbound policy`)
  })

  it('detection timeout: a client that waits for the server to speak first stalls detection on a port not marked opaque', async () => {
    const sock = net.connect(PORT, ip.db)
    sock.on('error', () => {})
    try {
      const e = await eventually('the detection timeout counted', async () => {
        const x = await explain('db')
        return stepOf(x, 'detection').state === 'problem' ? x : undefined
      })
      expect(e.cause).toMatchObject({step: 'detection'})
      expect(e.cause!.summary).toContain(`on port ${PORT} that discovery does not mark opaque`)
      // The destination proxy counts by port: the port is its answer, not a guess from discovery.
      expect(stepOf(e, 'detection').details).toContain(`destination db-0: 1 inbound connection sent nothing recognisable within the detect timeout (port ${PORT})`)
      expect(stepOf(e, 'detection').ports).toEqual([PORT])
      expect(e.cause!.fix).toContain(`kubectl annotate svc/db -n ${ns} config.mesh.dev/opaque-ports=${PORT}`)
      for (const s of ['discovery', 'policy', 'certificates']) expect(stepOf(e, s).state, s).toBe('ok')
    } finally {
      sock.destroy()
    }
  })

  it('untrusted certificate: the destination trusts another anchor than the one the source\'s certificate chains to', async () => {
    const r = await call('vault')
    expect(r.status).toBe(502)
    const e = await explain('vault')
    expect(e.cause).toMatchObject({step: 'certificates'})
    const details = stepOf(e, 'certificates').details.join('\n')
    expect(details).toContain('destination vault-0 does not trust CN=root.explain.test')
    expect(details).toContain('which web-0\'s certificate chains to (as its proxy reports)')
    expect(e.cause!.fix).toContain('mesh identity rotate-anchor')
    // The source proxy recorded the server certificate that did not verify, naming vault's identity.
    expect(stepOf(e, 'errors').details.join('\n')).toMatch(new RegExp(`web-0 outbound ${idOf('vault').replaceAll('.', '\\.')} ${authority('vault').replaceAll('.', '\\.')}: untrusted_certificate: `))
  })

  it('unfinished mTLS handshake: a client (from web-0\'s address) began one with the destination\'s proxy and stalled until the handshake timeout', async () => {
    // A ClientHello naming gate's identity, then nothing: gate's proxy closes it at its handshake timeout (300 ms here) and counts tls_handshake.
    await stalledHandshake({host: ip.gate, port: PORT, servername: idOf('gate'), localAddress: ip.web})
    const e = await eventually('the unfinished handshake counted', async () => {
      const x = await explain('gate')
      return stepOf(x, 'certificates').state === 'problem' ? x : undefined
    })
    for (const s of ['discovery', 'policy']) expect(stepOf(e, s).state, s).toBe('ok')
    expect(e.cause).toMatchObject({step: 'certificates', summary: 'the destination proxy closed 1 mTLS handshake that did not finish (gate-0): a client began one and stalled, half-closed or sent bytes that are not TLS'})
    expect(stepOf(e, 'certificates').details).toContain('destination gate-0: its proxy closed 1 inbound mTLS handshake that did not finish (tls_handshake): a client stalled past the handshake timeout, half-closed, or sent bytes that are not TLS')
    // The fix finds the client: the proxy's GET /errors through the pod proxy, the client's proxy log, whether the count moves.
    const admin = pods.find((p) => p.admin.address.host === ip.gate)!.admin.address.port
    expect(e.cause!.fix).toContain(`\`kubectl get --raw /api/v1/namespaces/${ns}/pods/gate-0:${admin}/proxy/errors\``)
    expect(e.cause!.fix).toContain('kubectl logs <client pod> -c mesh-proxy')
    expect(e.cause!.fix).toContain(`mesh diagnostics proxy-metrics po/gate-0 -n ${ns} | grep tls_handshake`)
    expect(e.cause!.fix).not.toContain('rotate-anchor')
    // gate's proxy recorded it with the client's address, web-0's: an error of this pair.
    expect(stepOf(e, 'errors').details.join('\n')).toMatch(new RegExp(`gate-0 inbound ${ip.web.replaceAll('.', '\\.')}:\\d+( \\S+)?: tls_handshake: the mTLS handshake did not finish: `))
    // The table: the step marked a problem, and the cause.
    const r = await mesh('explain', 'deploy/web', 'svc/gate', '-n', ns)
    expect(r.exitCode, r.stderr).toBe(0)
    expect(r.stdout).toContain('× certificates the destination proxy closed 1 mTLS handshake that did not finish (gate-0)')
    expect(r.stdout).toContain('Cause: certificates: the destination proxy closed 1 mTLS handshake')
  })

  it('no endpoints: the source proxy\'s NO_ENDPOINTS answers are the pair\'s errors (they name the Service, no peer)', async () => {
    expect((await call('empty')).status).toBe(503)
    const e = await explain('empty')
    expect(stepOf(e, 'errors').details.join('\n')).toContain(`web-0 outbound`)
    expect(stepOf(e, 'errors').details.join('\n')).toContain(`${authority('empty')}: NO_ENDPOINTS: service ${authority('empty')} has no endpoints`)
  })

  it('prints one reason chain as a table; refuses what is not a workload or a Service (exit 2)', async () => {
    const r = await mesh('explain', 'deploy/web', 'svc/empty', '-n', ns)
    expect(r.exitCode, r.stderr).toBe(0)
    const lines = r.stdout.split('\n')
    expect(lines[0]).toBe(`deploy/web (1 pod) -> svc/empty in ${ns} (${authority('empty')})`)
    expect(lines.filter((l) => /^[√×?] /.test(l)).map((l) => l.slice(2).split(/\s+/)[0])).toEqual(['discovery', 'policy', 'certificates', 'detection', 'endpoints', 'errors'])
    expect(r.stdout).toContain(`Cause: discovery: no endpoints for ${authority('empty')}`)
    expect(r.stdout).toMatch(/^Fix: /m)
    const bad = await mesh('explain', 'deploy/web', 'deploy/books', '-n', ns)
    expect(bad.exitCode).toBe(2)
    expect(bad.stdout).toBe('')
    expect(bad.stderr).toContain('destination "deploy/books" must name one service')
    const missing = await mesh('explain', 'deploy/web', 'svc/nothing', '-n', ns)
    expect(missing.exitCode).toBe(1)
    expect(missing.stderr).toContain(`svc/nothing not found in namespace ${ns}`)
  })
})

describe('mesh identity reads the same proxies\' GET /identity', () => {
  interface Row {pod: string; source: string; identity: string; certificate?: {issuer: string; sha256: string; notAfter: string}; anchor?: {sha256: string}; chainProblem?: string; trustedAnchors: Array<{sha256: string}>; missingCurrentAnchors: Array<{sha256: string}>}
  const rows = async (target: string): Promise<Row[]> => {
    const r = await mesh('identity', target, '-n', ns, '-o', 'json')
    if (r.exitCode !== 0) throw new Error(r.stderr)
    return (JSON.parse(r.stdout) as {pods: Row[]}).pods
  }
  const sha = (pem: string) => sha256Hex(new X509Certificate(pem))

  it('source proxy: the certificate each proxy presents, the anchor it chains to, what it trusts now', async () => {
    const [w] = await rows('deploy/web')
    expect(w).toMatchObject({pod: 'web-0', source: 'proxy', identity: idOf('web'), anchor: {sha256: sha(cluster.anchor.certPem)}, trustedAnchors: [{sha256: sha(cluster.anchor.certPem)}], missingCurrentAnchors: []})
    expect(w!.certificate!.issuer).toBe(new X509Certificate(cluster.issuer.certPem).subject.replace(/\n/g, ', '))
    const [v] = await rows('po/vault-0')
    expect(v).toMatchObject({pod: 'vault-0', source: 'proxy', trustedAnchors: [{sha256: sha(foreign.anchor.certPem)}], missingCurrentAnchors: [{sha256: sha(cluster.anchor.certPem)}]})
    expect(v!.chainProblem).toBeTruthy()
    const table = await mesh('identity', 'po/web-0', '-n', ns)
    expect(table.stdout).toMatch(/web-0\s+web\.\S+\s+.*\s+all current\s+proxy/)
  })
})
