// The proxy's policy settings as injection options: config.mesh.dev/proxy-routes
// (MESH_PROXY_ROUTES) and config.mesh.dev/inbound-policy (MESH_PROXY_INBOUND_POLICY), on the
// pod template or the Namespace, and the flags --proxy-routes / --inbound-policy; and the pod's
// kubelet probes, which the proxy lets through under any policy (MESH_PROXY_INBOUND_PROBES). Values are
// checked with the proxy's own parsers; what lands in the sidecar's env is read back by the
// proxy's config loader. The webhook is the real injector server over HTTPS.
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import https from 'node:https'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import * as k8s from '@kubernetes/client-node'
import {KubeConfig} from '@kubernetes/client-node'
import {parseAllDocuments} from 'yaml'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {startInjector, type Injector} from '../../src/control/injector/index.js'
import {createLogger} from '../../src/control/logger.js'
import {defaultConfig} from '../../src/inject/config.js'
import {Registry} from '../../src/metrics/index.js'
import {ProxyEnv} from '../../src/protocol/proxy-env.js'
import {loadProxyConfig} from '../../src/proxy/config/config.js'
import {parseInboundPolicy} from '../../src/proxy/config/inbound-policy.js'
import {runMesh} from '../helpers/run.js'
import {fixtureIssuer} from '../install/helpers.js'
import {ANCHORS} from './golden-helpers.js'

const IGNORE = ['--ignore-cluster', '--identity-trust-anchors-file', ANCHORS]
const ROUTES = 'api.shop.svc.cluster.local:80 GET /v1/=timeout:2s,retries:2;* POST=retries:0'
const ID = 'web.shop.serviceaccount.identity.mesh-system.cluster.local'

type Obj = Record<string, any>

function deployment(annotations: Record<string, string>): string {
  const lines = Object.entries(annotations).map(([k, v]) => `        ${k}: ${JSON.stringify(v)}`).join('\n')
  return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
      annotations:
${lines}
    spec:
      containers:
      - name: web
        image: web:1
`
}

let dir: string
let n = 0

async function inject(yaml: string, flags: string[] = []): Promise<{exitCode: number; stdout: string; stderr: string}> {
  const path = join(dir, `in-${++n}.yaml`)
  writeFileSync(path, yaml)
  const r = await runMesh(['inject', ...IGNORE, ...flags, path])
  return {exitCode: r.exitCode, stdout: r.stdout, stderr: r.stderr}
}

function proxyEnv(podSpec: Obj): Record<string, string> {
  const proxy = [...(podSpec.initContainers ?? []), ...podSpec.containers].find((c: Obj) => c.name === 'mesh-proxy')
  return Object.fromEntries((proxy.env as Obj[]).filter((e) => e.value !== undefined).map((e) => [e.name, e.value as string]))
}

beforeAll(() => {
  process.env.NO_COLOR = '1'
  dir = mkdtempSync(join(tmpdir(), 'mesh-policy-inject-'))
})
afterAll(() => rmSync(dir, {recursive: true, force: true}))

describe('mesh inject with the proxy policy options', () => {
  it('writes the annotations into the sidecar env, where the proxy reads them back as written', async () => {
    const r = await inject(deployment({'config.mesh.dev/proxy-routes': ROUTES, 'config.mesh.dev/inbound-policy': `identities:${ID}`}))
    expect(r.exitCode).toBe(0)
    const doc = parseAllDocuments(r.stdout)[0].toJS() as Obj
    const env = proxyEnv(doc.spec.template.spec)
    expect(env[ProxyEnv.ROUTES]).toBe(ROUTES)
    expect(env[ProxyEnv.INBOUND_POLICY]).toBe(`identities:${ID}`)
    // The proxy's own loader takes the injected env as is.
    const cfg = loadProxyConfig({[ProxyEnv.ROUTES]: env[ProxyEnv.ROUTES]})
    expect(cfg.routes.map((rule) => [rule.authority, rule.method, rule.pathPrefix, rule.timeoutMs, rule.retries])).toEqual([
      ['api.shop.svc.cluster.local:80', 'GET', '/v1/', 2000, 2],
      ['*', 'POST', '/', undefined, 0],
    ])
    expect(parseInboundPolicy(env[ProxyEnv.INBOUND_POLICY])).toEqual({kind: 'identities', identities: new Set([ID])})
  })

  it('leaves both variables out when nothing sets them', async () => {
    const r = await inject(deployment({'config.mesh.dev/proxy-log-level': 'info'}))
    expect(r.exitCode).toBe(0)
    const env = proxyEnv((parseAllDocuments(r.stdout)[0].toJS() as Obj).spec.template.spec)
    expect(env[ProxyEnv.ROUTES]).toBeUndefined()
    expect(env[ProxyEnv.INBOUND_POLICY]).toBeUndefined()
  })

  it('flags win over the annotations and stay visible as annotations', async () => {
    const r = await inject(deployment({'config.mesh.dev/inbound-policy': 'all-unauthenticated'}), ['--inbound-policy', 'all-authenticated', '--proxy-routes', 'web:80 /api/=timeout:1s'])
    expect(r.exitCode).toBe(0)
    const doc = parseAllDocuments(r.stdout)[0].toJS() as Obj
    expect(doc.spec.template.metadata.annotations).toMatchObject({'config.mesh.dev/inbound-policy': 'all-authenticated', 'config.mesh.dev/proxy-routes': 'web:80 /api/=timeout:1s'})
    const env = proxyEnv(doc.spec.template.spec)
    expect(env[ProxyEnv.INBOUND_POLICY]).toBe('all-authenticated')
    expect(env[ProxyEnv.ROUTES]).toBe('web:80 /api/=timeout:1s')
  })

  it('a bad annotation refuses the workload, naming it, the annotation, the problem and the fix; nothing on stdout', async () => {
    const r = await inject(deployment({'config.mesh.dev/proxy-routes': 'api:80 GET /v1/=retries:11'}))
    expect(r.exitCode).toBe(1)
    expect(r.stdout).toBe('')
    expect(r.stderr).toContain('deployment "web" not injected: annotation config.mesh.dev/proxy-routes: entry "api:80 GET /v1/=retries:11" has retries "11", which is not a number from 0 to 10. Write e.g. retries:2')
    expect(r.stderr).not.toMatch(/\n\s+at /)
    const p = await inject(deployment({'config.mesh.dev/inbound-policy': 'everyone'}))
    expect(p.exitCode).toBe(1)
    expect(p.stdout).toBe('')
    expect(p.stderr).toContain('deployment "web" not injected: annotation config.mesh.dev/inbound-policy="everyone" is not an inbound policy. Set config.mesh.dev/inbound-policy to all-unauthenticated, all-authenticated, or identities:')
  })

  it('writes the kubelet probes the proxy will see as MESH_PROXY_INBOUND_PROBES, which the proxy reads back; none: no variable', async () => {
    const yaml = deployment({'config.mesh.dev/skip-inbound-ports': '9100', 'config.mesh.dev/opaque-ports': '7000'}).replace('        image: web:1\n', `        image: web:1
        ports: [{name: http, containerPort: 8080}, {name: grpc, containerPort: 9090}]
        readinessProbe: {httpGet: {path: /ready?full=1, port: http}}
        livenessProbe: {httpGet: {path: healthz, port: 8080}}
        startupProbe: {grpc: {port: 9090}}
      - name: side
        image: side:1
        readinessProbe: {httpGet: {path: /metrics, port: 9100}}
        livenessProbe: {httpGet: {path: /secure, port: 8443, scheme: HTTPS}}
        startupProbe: {httpGet: {path: /opaque, port: 7000}}
`)
    const r = await inject(yaml)
    expect(r.exitCode, r.stderr).toBe(0)
    const env = proxyEnv((parseAllDocuments(r.stdout)[0].toJS() as Obj).spec.template.spec)
    const probes = [{port: 8080, method: 'GET', path: '/healthz'}, {port: 8080, method: 'GET', path: '/ready'}, {port: 9090, method: 'POST', path: '/grpc.health.v1.Health/Check'}]
    expect(JSON.parse(env[ProxyEnv.INBOUND_PROBES]!)).toEqual(probes)
    expect(loadProxyConfig({[ProxyEnv.INBOUND_PROBES]: env[ProxyEnv.INBOUND_PROBES]}).inboundProbes).toEqual(probes)
    const none = await inject(deployment({}))
    expect(proxyEnv((parseAllDocuments(none.stdout)[0].toJS() as Obj).spec.template.spec)[ProxyEnv.INBOUND_PROBES]).toBeUndefined()
  })

  it('a bad flag is a usage error naming the flag, with the fix', async () => {
    const r = await inject(deployment({}), ['--proxy-routes', 'web:80=retry-on:404'])
    expect(r.exitCode).toBe(2)
    expect(r.stdout).toBe('')
    expect(r.stderr).toContain('Error: --proxy-routes: entry "web:80=retry-on:404" has retry-on code "404", which is neither an HTTP status 500-599 nor a gRPC status name')
    expect(r.stderr).toContain('Try this: Join codes with +')
    const p = await inject(deployment({}), ['--inbound-policy', 'identities:Not An Id'])
    expect(p.exitCode).toBe(2)
    expect(p.stdout).toBe('')
    expect(p.stderr).toContain('Error: --inbound-policy: "not an id" is not an identity name')
  })
})

describe('the injector webhook with the proxy policy options', () => {
  const {anchorsPem, issuer} = fixtureIssuer()
  const namespaces: Record<string, Record<string, string>> = {
    shop: {'mesh.dev/inject': 'enabled', 'config.mesh.dev/proxy-routes': ROUTES, 'config.mesh.dev/inbound-policy': 'all-authenticated'},
    typo: {'mesh.dev/inject': 'enabled', 'config.mesh.dev/inbound-policy': 'all-authenticate'},
  }
  const logs: string[] = []
  let injector: Injector

  beforeAll(async () => {
    const kc = new KubeConfig()
    kc.loadFromOptions({clusters: [{name: 'c', server: 'https://127.0.0.1:1'}], users: [{name: 'u'}], contexts: [{name: 'x', cluster: 'c', user: 'u'}], currentContext: 'x'})
    injector = await startInjector({
      issuer, kc, lib: k8s, host: '127.0.0.1', port: 0, extraNames: ['127.0.0.1'], registry: new Registry(),
      log: createLogger({level: 'debug', write: (l) => logs.push(l)}),
      deps: {config: async () => defaultConfig({trustAnchorsPEM: anchorsPem}), namespaceAnnotations: async (ns) => namespaces[ns] ?? {}},
    })
  })
  afterAll(async () => injector?.stop())

  function admit(namespace: string, annotations: Record<string, string>): Promise<Obj> {
    return admitPod(namespace, annotations, [{name: 'app', image: 'nginx:1.27'}])
  }

  function admitPod(namespace: string, annotations: Record<string, string>, containers: Obj[]): Promise<Obj> {
    const pod = {
      apiVersion: 'v1', kind: 'Pod', metadata: {generateName: 'web-', labels: {app: 'web'}, annotations},
      spec: {serviceAccountName: 'web', containers},
    }
    const review = {
      apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview',
      request: {uid: `uid-${namespace}-${Object.keys(annotations).length}-${containers.length}`, kind: {group: '', version: 'v1', kind: 'Pod'}, namespace, operation: 'CREATE', object: pod},
    }
    return new Promise((resolve, reject) => {
      const req = https.request({host: '127.0.0.1', port: injector.port, path: '/inject', method: 'POST', ca: anchorsPem, headers: {'content-type': 'application/json'}, agent: false}, (res) => {
        let text = ''
        res.setEncoding('utf8').on('data', (c: string) => (text += c))
        res.on('end', () => resolve(JSON.parse(text).response as Obj))
      })
      req.on('error', reject)
      req.end(JSON.stringify(review))
    })
  }

  function patchedEnv(response: Obj): Record<string, string> {
    const ops = JSON.parse(Buffer.from(response.patch as string, 'base64').toString('utf8')) as Obj[]
    const spec = ops.find((op) => op.path === '/spec/initContainers' || op.path === '/spec')?.value ?? ops.find((op) => op.path === '/spec/initContainers/-')?.value
    const containers = Array.isArray(spec) ? spec : spec?.initContainers ?? [spec]
    return proxyEnv({initContainers: containers, containers: []})
  }

  it('takes both options from the Namespace; the pod template overrides the Namespace', async () => {
    const ns = await admit('shop', {})
    expect(ns.patchType).toBe('JSONPatch')
    expect(patchedEnv(ns)).toMatchObject({[ProxyEnv.ROUTES]: ROUTES, [ProxyEnv.INBOUND_POLICY]: 'all-authenticated'})
    const own = await admit('shop', {'config.mesh.dev/inbound-policy': `identities:${ID}`})
    expect(patchedEnv(own)).toMatchObject({[ProxyEnv.ROUTES]: ROUTES, [ProxyEnv.INBOUND_POLICY]: `identities:${ID}`})
  })

  it('writes the pod\'s probes', async () => {
    const r = await admitPod('shop', {}, [{name: 'app', image: 'nginx:1.27', readinessProbe: {httpGet: {path: '/ready', port: 8080}}}])
    expect(JSON.parse(patchedEnv(r)[ProxyEnv.INBOUND_PROBES]!)).toEqual([{port: 8080, method: 'GET', path: '/ready'}])
  })

  it('does not inject a pod whose option is bad, and says why in its log', async () => {
    const r = await admit('typo', {})
    expect(r.patch).toBeUndefined()
    expect(logs.join('\n')).toContain('annotation config.mesh.dev/inbound-policy=\\"all-authenticate\\" is not an inbound policy')
  })
})
