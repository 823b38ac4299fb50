// The injector behind a real kube-apiserver: the control plane is installed with the webhook's
// clientConfig.url pointing at an injector running in this process on 127.0.0.1; Pods created
// through the API come back (and are stored) with the sidecar, or untouched when opted out;
// with the injector gone, Pods are still admitted (failurePolicy: Ignore).
import {randomBytes} from 'node:crypto'
import {readFileSync} from 'node:fs'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import type {V1Pod} from '@kubernetes/client-node'
import {injectorComponent, type InjectorComponent} from '../../src/control/injector/component.js'
import {loadIssuer, type IssuerSource} from '../../src/control/identity/issuer.js'
import {createLogger} from '../../src/control/logger.js'
import {CONTROL_PLANE_NAMESPACE} from '../../src/protocol/control-plane.js'
import {fixture} from '../install/helpers.js'
import {cluster, core, finalizeNamespace, fixtureIdentity, mesh, removeControlPlane} from './install-helpers.js'

const suffix = randomBytes(3).toString('hex')
const meshed = `mesh-it-inj-${suffix}`
const plain = `mesh-it-plain-${suffix}`
const logs: string[] = []
let component: InjectorComponent

const issuerState = loadIssuer({
  anchorsPem: readFileSync(fixture('identity', 'ca.crt'), 'utf8'),
  issuerCertPem: readFileSync(fixture('identity', 'issuer.crt'), 'utf8'),
  issuerKeyPem: readFileSync(fixture('identity', 'issuer.key'), 'utf8'),
  source: 'fixtures',
})
const issuer: IssuerSource = {start: async () => {}, current: () => issuerState, onChange: () => () => {}, stop: async () => {}}

beforeAll(async () => {
  await finalizeNamespace(CONTROL_PLANE_NAMESPACE)
  await core.createNamespace({body: {metadata: {name: meshed, annotations: {'mesh.dev/inject': 'enabled', 'config.mesh.dev/proxy-log-level': 'debug'}}}})
  await core.createNamespace({body: {metadata: {name: plain}}})
  component = injectorComponent({
    issuer,
    kube: {kubeconfig: cluster.kubeconfigPath, context: 'admin'},
    host: '127.0.0.1',
    port: 0,
    log: createLogger({level: 'debug', write: (l) => logs.push(l)}),
  })
  await component.start()
  const r = await mesh('install', ...fixtureIdentity, '--webhook-url', `https://127.0.0.1:${component.injector!.port}/inject`, '--apply')
  if (r.exitCode !== 0) throw new Error(`mesh install --apply failed: ${r.stderr}`)
})

afterAll(async () => {
  await component?.stop()
  await removeControlPlane().catch(() => {})
  for (const ns of [meshed, plain]) await finalizeNamespace(ns).catch(() => {})
})

const podBody = (name: string, annotations: Record<string, string> = {}): V1Pod => ({
  metadata: {name, labels: {app: name}, annotations},
  spec: {serviceAccountName: 'default', containers: [{name: 'app', image: 'nginx:1.27', ports: [{containerPort: 80}]}]},
})

const containerNames = (p: V1Pod) => [...(p.spec?.initContainers ?? []), ...(p.spec?.containers ?? [])].map((c) => c.name)

describe('the injector webhook on a real API server', () => {
  it('a Pod created in an annotated namespace is stored with the sidecar', async () => {
    const created = await core.createNamespacedPod({namespace: meshed, body: podBody('web')})
    expect(containerNames(created)).toEqual(expect.arrayContaining(['mesh-init', 'mesh-proxy', 'app']))
    const stored = await core.readNamespacedPod({name: 'web', namespace: meshed})
    expect(containerNames(stored)).toEqual(containerNames(created))
    const proxy = [...(stored.spec?.initContainers ?? []), ...(stored.spec?.containers ?? [])].find((c) => c.name === 'mesh-proxy')!
    expect(proxy.env).toContainEqual({name: 'MESH_PROXY_LOG_LEVEL', value: 'debug'})
    expect(proxy.image).toMatch(/^ghcr\.io\/mesh-dev\/mesh:/)
    expect(stored.metadata?.labels?.['mesh.dev/control-plane-ns']).toBe(CONTROL_PLANE_NAMESPACE)
    expect(stored.metadata?.annotations?.['mesh.dev/created-by']).toMatch(/^mesh\/injector /)
    expect(logs.join('')).toMatch(new RegExp(`INFO .*injected .*namespace=${meshed} pod=web`))
  })

  it('an opted-out Pod stays untouched (the pod annotation wins)', async () => {
    const created = await core.createNamespacedPod({namespace: meshed, body: podBody('opted-out', {'mesh.dev/inject': 'disabled'})})
    expect(containerNames(created)).toEqual(['app'])
    expect(created.metadata?.labels).toEqual({app: 'opted-out'})
  })

  it('a Pod in a namespace without the annotation stays untouched, unless it opts in', async () => {
    const untouched = await core.createNamespacedPod({namespace: plain, body: podBody('plain')})
    expect(containerNames(untouched)).toEqual(['app'])
    const optedIn = await core.createNamespacedPod({namespace: plain, body: podBody('opted-in', {'mesh.dev/inject': 'enabled'})})
    expect(containerNames(optedIn)).toContain('mesh-proxy')
  })

  it('mesh uninstall now counts the meshed pods', async () => {
    const r = await mesh('uninstall')
    expect(r.exitCode).toBe(1)
    expect(r.stderr).toMatch(/\d+ pod\(s\) still run with a mesh proxy: /)
    expect(r.stderr).toContain(`${meshed}/web, ${plain}/opted-in`)
    expect(r.stderr).not.toContain(`${meshed}/opted-out`)
  })

  it('with the injector down, Pods are still admitted without a sidecar (fail open)', async () => {
    await component.stop()
    const created = await core.createNamespacedPod({namespace: meshed, body: podBody('while-down')})
    expect(containerNames(created)).toEqual(['app'])
  })
})

