// The cluster data plane source's admin probing through the API server's pod proxy. The real
// API server refuses to proxy to loopback pod IPs, and pods with real IPs are the e2e suite's
// (network namespaces); here a small HTTP server on 127.0.0.1 plays the API server for the few
// paths the source calls and forwards the pod-proxy paths to real proxy admin servers.
import {mkdtempSync, writeFileSync} from 'node:fs'
import {createServer, request, type Server} from 'node:http'
import type {AddressInfo} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import type {V1Pod} from '@kubernetes/client-node'
import {createContext} from '../../src/check/context.js'
import {clusterSource} from '../../src/check/data-plane/cluster-source.js'
import {loadKube} from '../../src/k8s/client.js'
import {createProxyMetrics} from '../../src/metrics/index.js'
import {startAdmin, type AdminServer} from '../../src/proxy/admin/index.js'

const admins = new Map<string, AdminServer>()
let api: Server
let kubeconfig: string
const proxied: string[] = []

function pod(name: string, o: {ip?: string; version: string}): V1Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {name, namespace: 'app', labels: {'mesh.dev/control-plane-ns': 'mesh-system'}, annotations: {'mesh.dev/proxy-version': o.version}},
    spec: {containers: [{name: 'app', image: 'nginx'}, {name: 'mesh-proxy', image: `ghcr.io/mesh-dev/mesh:${o.version}`}]},
    status: {phase: 'Running', podIP: o.ip, containerStatuses: ['app', 'mesh-proxy'].map((n) => ({name: n, image: 'i', imageID: '', ready: true, restartCount: 0}))},
  }
}

const pods = [pod('slow-start', {ip: '10.244.0.5', version: '0.1.0'}), pod('unreachable', {ip: '10.244.0.6', version: '0.1.0'}), pod('no-ip', {version: '0.1.0'})]

beforeAll(async () => {
  for (const [name, ready, version] of [['slow-start', false, '0.2.0']] as const) {
    const {registry, observer} = createProxyMetrics({version})
    // Two inbound mTLS handshakes it closed unfinished, as its inbound counts them.
    observer.refused('inbound', 'tls_handshake')
    observer.refused('inbound', 'tls_handshake')
    admins.set(name, await startAdmin({listen: '127.0.0.1:0', registry, ready: () => ready, onShutdown: () => {}, getLogLevel: () => 'info', setLogLevel: () => {}}))
  }
  api = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x')
    const json = (status: number, body: unknown) => res.writeHead(status, {'content-type': 'application/json'}).end(JSON.stringify(body))
    if (url.pathname === '/api/v1/namespaces/app') return json(200, {apiVersion: 'v1', kind: 'Namespace', metadata: {name: 'app'}})
    if (url.pathname === '/api/v1/namespaces/app/pods') {
      expect(url.searchParams.get('labelSelector')).toBe('mesh.dev/control-plane-ns=mesh-system')
      return json(200, {apiVersion: 'v1', kind: 'PodList', metadata: {}, items: pods})
    }
    const m = /^\/api\/v1\/namespaces\/app\/pods\/([^/:]+):4191\/proxy(\/.*)$/.exec(url.pathname)
    if (m) {
      proxied.push(`${m[1]} ${m[2]}`)
      const admin = admins.get(m[1]!)
      if (!admin) return res.writeHead(503, {'content-type': 'text/plain'}).end('Error trying to reach service: dial tcp 10.244.0.6:4191: connect: no route to host')
      const fwd = request(`${admin.url}${m[2]}`, (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers)
        up.pipe(res)
      })
      fwd.end()
      return
    }
    json(404, {kind: 'Status', code: 404, message: 'not found'})
  })
  await new Promise<void>((r) => api.listen(0, '127.0.0.1', r))
  kubeconfig = join(mkdtempSync(join(tmpdir(), 'mesh-check-')), 'kubeconfig')
  writeFileSync(
    kubeconfig,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{name: 'c', cluster: {server: `http://127.0.0.1:${(api.address() as AddressInfo).port}`, 'insecure-skip-tls-verify': true}}],
      users: [{name: 'u', user: {token: 't'}}],
      contexts: [{name: 'x', context: {cluster: 'c', user: 'u'}}],
      'current-context': 'x',
    }),
  )
})

afterAll(async () => {
  for (const a of admins.values()) await a.close()
  await new Promise<void>((r) => api.close(() => r()))
})

describe('clusterSource', () => {
  it("reads a proxy's admin endpoint through the pod proxy, and keeps the pod's status when the API server cannot reach it", async () => {
    const ctx = createContext({kubeconfig})
    ctx.kube = await loadKube({kubeconfig})
    const proxies = await clusterSource(ctx).proxies('app')
    expect(proxies.map((p) => [p.name, p.ready, p.version, p.notReadyReason])).toEqual([
      // the status says ready, its admin endpoint says not (yet): the proxy wins; its /metrics gives the version it runs
      ['slow-start', false, '0.2.0', '/ready answered 503 (not ready)'],
      // an API server proxy error is not the proxy's answer: the status stands
      ['unreachable', true, '0.1.0', undefined],
      // no IP: status only, nothing proxied
      ['no-ip', true, '0.1.0', undefined],
    ])
    expect(proxied.sort()).toEqual(['slow-start /metrics', 'slow-start /ready', 'unreachable /ready'])
    // What its /metrics counted comes with it (MESH3004, MESH3005); the others' metrics were not read.
    expect(proxies.map((p) => [p.name, p.tlsHandshakes, p.detectTimeouts?.inbound])).toEqual([['slow-start', 2, 0], ['unreachable', undefined, undefined], ['no-ip', undefined, undefined]])
  })
})
