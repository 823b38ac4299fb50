// `mesh install` rendering: golden files, byte-identical output for the same inputs, and the
// shape of the objects the other parts rely on (mesh-config, the webhook, the Deployment).
import {readFileSync} from 'node:fs'
import {X509Certificate} from 'node:crypto'
import {describe, expect, it} from 'vitest'
import YAML from 'yaml'
import {configFromConfigMapData} from '../../src/inject/config.js'
import {ControlPlane} from '../../src/protocol/control-plane.js'
import {runMesh} from '../helpers/run.js'
import {expectGolden, fixture, identityArgs} from './helpers.js'

const install = (...args: string[]) => runMesh(['install', '--ignore-cluster', ...identityArgs(), ...args])

function docs(yaml: string): any[] {
  return YAML.parseAllDocuments(yaml, {version: '1.1'}).map((d) => d.toJS()).filter((d) => d !== null)
}

const find = (objs: any[], kind: string, name?: string) => objs.find((o) => o.kind === kind && (name === undefined || o.metadata.name === name))

describe('mesh install rendering', () => {
  it('matches the golden YAML (defaults)', async () => {
    const r = await install()
    expect(r.exitCode).toBe(0)
    expectGolden('default.yaml', r.stdout)
    expect(r.stderr).toContain('Next, apply it with `kubectl apply -f -`')
    expect(r.stderr).toContain('mesh check')
    expect(r.stderr).not.toContain('PRIVATE KEY')
  })

  it('matches the golden YAML (--ha, registry, --set, -f)', async () => {
    const r = await install('--ha', '--registry', 'registry.example.com/mesh/', '--image-tag', '9.9.9', '-f', fixture('values.yaml'), '--set', 'proxy.logLevel=debug')
    expect(r.exitCode).toBe(0)
    expectGolden('ha.yaml', r.stdout)
  })

  it('matches the golden JSON List with -o json', async () => {
    const r = await install('-o', 'json')
    expect(r.exitCode).toBe(0)
    expectGolden('default.json', r.stdout)
    const list = JSON.parse(r.stdout)
    expect(list.kind).toBe('List')
    expect(list.items.map((o: any) => o.kind)).toEqual(docs((await install()).stdout).map((o) => o.kind))
  })

  it('is deterministic: the same inputs give byte-identical output', async () => {
    const args = ['--ha', '--set', 'proxy.opaquePorts=3306', '--webhook-url', 'https://127.0.0.1:9443/inject']
    const a = await install(...args)
    const b = await install(...args)
    expect(a.exitCode).toBe(0)
    expect(a.stdout).toBe(b.stdout)
    expect(a.stdout.length).toBeGreaterThan(1000)
  })

  it('generated identity differs per run, and says so on stderr', async () => {
    const a = await runMesh(['install', '--ignore-cluster'])
    const b = await runMesh(['install', '--ignore-cluster'])
    expect(a.exitCode).toBe(0)
    expect(a.stderr).toMatch(/Generated a new trust anchor/)
    expect(a.stdout).not.toBe(b.stdout)
  })

  it('orders the objects: namespace first, webhook last; PDB only with --ha', async () => {
    const plain = docs((await install()).stdout)
    expect(plain[0].kind).toBe('Namespace')
    expect(plain.at(-1).kind).toBe('MutatingWebhookConfiguration')
    expect(find(plain, 'PodDisruptionBudget')).toBeUndefined()
    expect(find(plain, 'Deployment').spec.replicas).toBe(1)
    expect(find(plain, 'Deployment').spec.template.spec.affinity).toBeUndefined()
    const ha = docs((await install('--ha')).stdout)
    expect(find(ha, 'PodDisruptionBudget').spec.selector.matchLabels).toEqual(find(ha, 'Deployment').spec.selector.matchLabels)
    expect(find(ha, 'Deployment').spec.replicas).toBe(3)
    expect(find(ha, 'Deployment').spec.template.spec.affinity.podAntiAffinity).toBeDefined()
  })

  it('writes a mesh-config that the inject library reads back', async () => {
    const objs = docs((await install('--image', 'reg.example.com:5000/team/mesh:2.0.0', '--set', 'proxy.resources.cpuRequest=50m')).stdout)
    const cm = find(objs, 'ConfigMap', ControlPlane.configMap)
    const config = configFromConfigMapData(cm.data, 'test')
    expect(config.proxyImage).toBe('reg.example.com:5000/team/mesh')
    expect(config.proxyVersion).toBe('2.0.0')
    expect(config.trustAnchorsPEM).toBe(readFileSync(fixture('identity', 'ca.crt'), 'utf8'))
    expect(config.proxyResources).toEqual({cpuRequest: '50m'})
    expect(find(objs, 'Deployment').spec.template.spec.containers[0].image).toBe('reg.example.com:5000/team/mesh:2.0.0')
  })

  it('the webhook calls the Service by default, the URL with --webhook-url, fails open, and trusts the anchors', async () => {
    const svc = find(docs((await install()).stdout), 'MutatingWebhookConfiguration').webhooks[0]
    expect(svc.clientConfig.service).toEqual({name: ControlPlane.injectorService, namespace: ControlPlane.namespace, path: '/inject', port: 443})
    expect(svc.failurePolicy).toBe('Ignore')
    expect(svc.namespaceSelector.matchExpressions[0].values).toEqual([ControlPlane.namespace, 'kube-system'])
    const ca = new X509Certificate(Buffer.from(svc.clientConfig.caBundle, 'base64'))
    expect(ca.subject).toContain('root.fixture.mesh.dev')
    const url = find(docs((await install('--webhook-url', 'https://127.0.0.1:9443/inject')).stdout), 'MutatingWebhookConfiguration').webhooks[0]
    expect(url.clientConfig).toEqual({url: 'https://127.0.0.1:9443/inject', caBundle: svc.clientConfig.caBundle})
  })

  it('--crds renders only the AuthorizationPolicy CRD (no cluster, no identity needed), the same one the full stream holds', async () => {
    const r = await runMesh(['install', '--crds'])
    expect(r.exitCode).toBe(0)
    const crds = docs(r.stdout)
    expect(crds.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual(['CustomResourceDefinition/authorizationpolicies.policy.mesh.dev'])
    expect(r.stderr).toContain('then run `mesh install`')
    const all = docs((await install()).stdout)
    expect(find(all, 'CustomResourceDefinition')).toEqual(crds[0])
    // Applied right after the namespace, before anything that could name it.
    expect(all.findIndex((o) => o.kind === 'CustomResourceDefinition')).toBe(1)
  })

  it('passes the default inbound policy and the cluster networks to the controller (--set policy.*)', async () => {
    const r = await install('--set', 'policy.defaultInbound=deny', '--set', 'policy.clusterNetworks=10.0.0.0/16,fd00::/8')
    expect(r.exitCode).toBe(0)
    const args = find(docs(r.stdout), 'Deployment', ControlPlane.controller).spec.template.spec.containers[0].args
    expect(args).toContain('--default-inbound-policy=deny')
    expect(args).toContain('--cluster-networks=10.0.0.0/16,fd00::/8')
  })
})
