// The injector's HTTPS server, for real: a TLS handshake verified against the trust anchors
// (the webhook's caBundle) and AdmissionReview v1 POSTs answered with base64 JSON patches.
// Namespace annotations and mesh-config come from in-test functions here; the integration
// suite (test/integration/injector.test.ts) runs the same server behind a real API server.
import {readFileSync} from 'node:fs'
import https from 'node:https'
import tls from 'node:tls'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {KubeConfig} from '@kubernetes/client-node'
import * as k8s from '@kubernetes/client-node'
import {startInjector, type Injector} from '../../src/control/injector/index.js'
import {createLogger} from '../../src/control/logger.js'
import {defaultConfig} from '../../src/inject/config.js'
import {Registry} from '../../src/metrics/index.js'
import {fixture, fixtureIssuer} from '../install/helpers.js'

const {anchorsPem, issuer} = fixtureIssuer()

const namespaces: Record<string, Record<string, string>> = {
  shop: {'mesh.dev/inject': 'enabled', 'config.mesh.dev/proxy-log-level': 'debug'},
  plain: {},
}
const logs: string[] = []
const registry = new Registry()
let injector: Injector

beforeAll(async () => {
  const kc = new KubeConfig()
  kc.loadFromOptions({clusters: [{name: 'c', server: 'https://127.0.0.1:1'}], users: [{name: 'u'}], contexts: [{name: 'x', cluster: 'c', user: 'u'}], currentContext: 'x'})
  injector = await startInjector({
    issuer,
    kc,
    lib: k8s,
    log: createLogger({level: 'debug', write: (l) => logs.push(l)}),
    host: '127.0.0.1',
    port: 0,
    extraNames: ['127.0.0.1'],
    registry,
    deps: {
      config: async () => defaultConfig({trustAnchorsPEM: anchorsPem}),
      namespaceAnnotations: async (ns) => {
        if (ns === 'broken') throw new Error('the API server is down')
        return namespaces[ns] ?? {}
      },
    },
  })
})
afterAll(async () => injector?.stop())

function post(body: string | object, opts: {path?: string; method?: string; servername?: string} = {}): Promise<{status: number; body: string}> {
  const data = typeof body === 'string' ? body : JSON.stringify(body)
  return new Promise((resolve, reject) => {
    const req = https.request(
      // Its own connection: an answer that comes before the whole body was sent (413) ends the
      // request here, instead of a pooled socket still writing into a closing server.
      {host: '127.0.0.1', port: injector.port, path: opts.path ?? '/inject', method: opts.method ?? 'POST', ca: anchorsPem, servername: opts.servername, headers: {'content-type': 'application/json'}, agent: false},
      (res) => {
        let text = ''
        res.setEncoding('utf8').on('data', (c: string) => (text += c))
        res.on('end', () => {
          if (!req.writableFinished) req.destroy()
          resolve({status: res.statusCode ?? 0, body: text})
        })
      },
    )
    req.on('error', reject)
    req.end(data)
  })
}

const pod = (annotations: Record<string, string> = {}) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: {generateName: 'web-', labels: {app: 'web'}, annotations},
  spec: {serviceAccountName: 'web', containers: [{name: 'app', image: 'nginx:1.27', ports: [{containerPort: 80}]}]},
})

function reviewOf(namespace: string, object: object, extra: object = {}) {
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {uid: `uid-${Math.random()}`, kind: {group: '', version: 'v1', kind: 'Pod'}, resource: {group: '', version: 'v1', resource: 'pods'}, namespace, operation: 'CREATE', object, ...extra},
  }
}

/** Applies the webhook's patch (object paths only: the injector replaces arrays whole). */
function applyPatch(doc: any, ops: {op: string; path: string; value?: unknown}[]): any {
  const out = structuredClone(doc)
  for (const op of ops) {
    const keys = op.path.split('/').slice(1).map((k) => k.replaceAll('~1', '/').replaceAll('~0', '~'))
    const last = keys.pop()!
    let node = out
    for (const k of keys) node = node[k]
    if (op.op === 'remove') delete node[last]
    else node[last] = op.value
  }
  return out
}

async function admit(namespace: string, object: object) {
  const review = reviewOf(namespace, object)
  const r = await post(review)
  expect(r.status).toBe(200)
  const body = JSON.parse(r.body)
  expect(body.apiVersion).toBe('admission.k8s.io/v1')
  expect(body.kind).toBe('AdmissionReview')
  expect(body.response.uid).toBe(review.request.uid)
  expect(body.response.allowed).toBe(true)
  const patched = body.response.patch ? applyPatch(object, JSON.parse(Buffer.from(body.response.patch, 'base64').toString('utf8'))) : undefined
  if (body.response.patch) expect(body.response.patchType).toBe('JSONPatch')
  return {response: body.response, patched}
}

const names = (p: any, key: 'containers' | 'initContainers') => (p?.spec?.[key] ?? []).map((c: any) => c.name)
const proxyOf = (p: any) => [...(p.spec.initContainers ?? []), ...p.spec.containers].find((c: any) => c.name === 'mesh-proxy')

describe('injector serving certificate', () => {
  it('chains to the trust anchors and names the Service and the extra IP', async () => {
    for (const servername of ['mesh-proxy-injector.mesh-system.svc', undefined]) {
      const socket = tls.connect({host: '127.0.0.1', port: injector.port, ca: anchorsPem, servername})
      await new Promise<void>((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject))
      expect(socket.authorized).toBe(true)
      const cert = socket.getPeerCertificate()
      expect(cert.subjectaltname).toContain('DNS:mesh-proxy-injector.mesh-system.svc')
      expect(cert.subjectaltname).toContain('IP Address:127.0.0.1')
      socket.destroy()
    }
  })

  it('is refused by a client that trusts another root', async () => {
    const other = readFileSync(fixture('other', 'ca.crt'), 'utf8')
    const socket = tls.connect({host: '127.0.0.1', port: injector.port, ca: other, servername: 'mesh-proxy-injector.mesh-system.svc'})
    const err = await new Promise<Error>((resolve) => socket.once('error', resolve))
    expect(err.message).toMatch(/certificate/i)
  })
})

describe('injector AdmissionReview', () => {
  it('injects a pod in an annotated namespace, with the namespace config.mesh.dev/* merged', async () => {
    const {patched} = await admit('shop', pod())
    expect(patched).toBeDefined()
    expect([...names(patched, 'initContainers'), ...names(patched, 'containers')]).toEqual(expect.arrayContaining(['mesh-init', 'mesh-proxy', 'app']))
    expect(proxyOf(patched).env).toContainEqual({name: 'MESH_PROXY_LOG_LEVEL', value: 'debug'})
    expect(patched.metadata.labels['mesh.dev/control-plane-ns']).toBe('mesh-system')
    expect(patched.metadata.annotations['mesh.dev/created-by']).toMatch(/^mesh\/injector /)
  })

  it('the pod annotation wins over the namespace: disabled in an enabled namespace stays untouched', async () => {
    const {response, patched} = await admit('shop', pod({'mesh.dev/inject': 'disabled'}))
    expect(response.patch).toBeUndefined()
    expect(patched).toBeUndefined()
  })

  it('the pod annotation wins over the namespace: enabled in a plain namespace is injected', async () => {
    const {patched} = await admit('plain', pod({'mesh.dev/inject': 'enabled'}))
    expect(proxyOf(patched)).toBeDefined()
    expect(proxyOf(patched).env).toContainEqual({name: 'MESH_PROXY_LOG_LEVEL', value: 'info'})
  })

  it('leaves plain namespaces, kube-system and the control plane alone', async () => {
    for (const ns of ['plain', 'kube-system', 'mesh-system']) {
      const {response} = await admit(ns, pod(ns === 'plain' ? {} : {'mesh.dev/inject': 'enabled'}))
      expect(response.patch, ns).toBeUndefined()
    }
  })

  it('allows what is not a Pod CREATE without a patch', async () => {
    const r = await post(reviewOf('shop', pod(), {operation: 'UPDATE'}))
    expect(JSON.parse(r.body).response).toEqual({uid: expect.any(String), allowed: true})
    const svc = await post(reviewOf('shop', {kind: 'Service'}, {kind: {group: '', version: 'v1', kind: 'Service'}}))
    expect(JSON.parse(svc.body).response.patch).toBeUndefined()
  })

  it('fails open when the namespace cannot be read: allowed, no patch, a log line and a counter', async () => {
    const before = registry.metrics()
    expect(before).not.toMatch(/mesh_injector_failures_total\{stage="namespace"\} 1/)
    const {response} = await admit('broken', pod())
    expect(response.patch).toBeUndefined()
    expect(response.warnings?.[0]).toMatch(/not injected/)
    expect(logs.join('')).toMatch(/WARN .*injection failed; the pod is admitted without a proxy \(fail open\).*namespace=broken.*the API server is down/)
    expect(registry.metrics()).toMatch(/mesh_injector_failures_total\{stage="namespace"\} 1/)
    expect(registry.metrics()).toMatch(/mesh_injector_requests_total\{result="injected"\} [1-9]/)
  })

  it('admits a pod whose mesh settings are refused without a proxy, and kubectl shows why (a warning naming the annotation)', async () => {
    const {response} = await admit('shop', pod({'mesh.dev/inject': 'enabled', 'config.mesh.dev/proxy-routes': 'api:80 GET /v1/=retries:11'}))
    expect(response.allowed).toBe(true)
    expect(response.patch).toBeUndefined()
    expect(response.warnings).toHaveLength(1)
    expect(response.warnings![0]).toMatch(/^mesh: the proxy was not injected: .*config\.mesh\.dev\/proxy-routes.*retries "11".*Write e\.g\. retries:2/)
    expect(logs.join('')).toMatch(/WARN .*not injected: the pod asks for the mesh but cannot have it.*namespace=shop/)
    // A pod that does not ask for the mesh gets no warning.
    expect((await admit('plain', pod())).response.warnings).toBeUndefined()
  })

  it('answers malformed requests with 4xx and counts them', async () => {
    expect((await post('{not json')).status).toBe(400)
    const wrong = await post({apiVersion: 'admission.k8s.io/v1beta1', kind: 'AdmissionReview', request: {uid: 'x'}})
    expect(wrong.status).toBe(400)
    expect(wrong.body).toContain('expected apiVersion admission.k8s.io/v1')
    expect((await post({apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: {}})).status).toBe(400)
    expect((await post('', {method: 'GET'})).status).toBe(405)
    expect((await post(reviewOf('shop', pod()), {path: '/other'})).status).toBe(404)
    expect((await post('x'.repeat(4 * 1024 * 1024 + 10))).status).toBe(413)
    expect(registry.metrics()).toMatch(/mesh_injector_requests_total\{result="bad_request"\} 4/)
  })
})
