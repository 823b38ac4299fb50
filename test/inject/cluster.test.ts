// The config source: ConfigMap mesh-system/mesh-config read through @kubernetes/client-node
// from an API endpoint on 127.0.0.1 (a stand-in serving that one object; the real API server
// test lives with the test cluster), and the errors when there is no cluster.
import {createServer, type Server} from 'node:http'
import type {AddressInfo} from 'node:net'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {kubeconfigYaml} from '../helpers/kubeconfig.js'
import {runMesh} from '../helpers/run.js'
import {ProxyEnv} from '../../src/protocol/proxy-env.js'
import {ANCHORS} from './golden-helpers.js'

let dir: string
let server: Server
let configMap: object | undefined
const requests: string[] = []
const POD = join(process.cwd(), 'test/fixtures/inject/pod.input.yaml')

function kubeconfig(name: string, server: string): string {
  const file = join(dir, name)
  writeFileSync(file, kubeconfigYaml(server))
  return file
}

beforeAll(async () => {
  process.env.NO_COLOR = '1'
  dir = mkdtempSync(join(tmpdir(), 'mesh-inject-kc-'))
  server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url} ${req.headers.authorization}`)
    if (req.url?.startsWith('/api/v1/namespaces/mesh-system/configmaps/mesh-config') && configMap) {
      res.writeHead(200, {'content-type': 'application/json'}).end(JSON.stringify(configMap))
      return
    }
    res.writeHead(404, {'content-type': 'application/json'}).end(JSON.stringify({kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404}))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
})

afterAll(async () => {
  rmSync(dir, {recursive: true, force: true})
  await new Promise<void>((resolve) => server.close(() => resolve()))
})

describe('config from the cluster', {timeout: 90_000}, () => {
  it('uses the installed control plane config: image, version, anchors, addresses', async () => {
    configMap = {
      apiVersion: 'v1', kind: 'ConfigMap', metadata: {name: 'mesh-config', namespace: 'mesh-system'},
      data: {values: JSON.stringify({
        proxyImage: 'registry.local/mesh', proxyVersion: '7.7.7', trustAnchorsPEM: 'PEM-FROM-CLUSTER\n',
        destinationAddr: 'wss://dst.example:8086', identityAddr: 'https://id.example:8080', trustDomain: 'corp.local',
        proxyResources: {cpuRequest: '10m'},
      })},
    }
    const port = (server.address() as AddressInfo).port
    const kc = kubeconfig('ok.yaml', `http://127.0.0.1:${port}`)
    const r = await runMesh(['inject', '--kubeconfig', kc, '--context', 'ctx', POD])
    expect(r.stderr).toBe('pod "debug" injected\n')
    expect(r.exitCode).toBe(0)
    expect(requests.at(-1)).toBe('GET /api/v1/namespaces/mesh-system/configmaps/mesh-config Bearer test-token')
    expect(r.stdout).toContain('image: registry.local/mesh:7.7.7')
    expect(r.stdout).toContain('mesh.dev/proxy-version: 7.7.7')
    expect(r.stdout).toMatch(new RegExp(`name: ${ProxyEnv.IDENTITY_TRUST_ANCHORS_PEM}\\n\\s+value: \\|\\n\\s+PEM-FROM-CLUSTER`))
    expect(r.stdout).toContain('value: wss://dst.example:8086')
    expect(r.stdout).toContain('value: $(_pod_sa).$(_pod_ns).serviceaccount.identity.mesh-system.corp.local')
    expect(r.stdout).toContain('cpu: 10m')
  })

  it('an installed-looking cluster without mesh-config says to install or pass --ignore-cluster', async () => {
    configMap = undefined
    const port = (server.address() as AddressInfo).port
    const r = await runMesh(['inject', '--kubeconfig', kubeconfig('empty.yaml', `http://127.0.0.1:${port}`), POD])
    expect(r.exitCode).toBe(1)
    expect(r.stdout).toBe('')
    expect(r.stderr).toContain('has no ConfigMap mesh-system/mesh-config: is mesh installed?')
    expect(r.stderr).toContain('--ignore-cluster --identity-trust-anchors-file')
  })

  it('an unreachable cluster fails with the flag to pass', async () => {
    const closed = createServer()
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve))
    const port = (closed.address() as AddressInfo).port
    await new Promise<void>((resolve) => closed.close(() => resolve()))
    const r = await runMesh(['inject', '--kubeconfig', kubeconfig('down.yaml', `http://127.0.0.1:${port}`), POD])
    expect(r.exitCode).toBe(1)
    expect(r.stdout).toBe('')
    expect(r.stderr).toMatch(/^Error: cannot read ConfigMap mesh-system\/mesh-config from http:\/\/127\.0\.0\.1:\d+: /)
    expect(r.stderr).toContain('Try this: To inject without a cluster, pass --ignore-cluster --identity-trust-anchors-file <ca.pem>.')
    expect(r.stderr).not.toMatch(/\n\s+at /)
  })

  it('no kubeconfig at all fails the same way', async () => {
    const r = await runMesh(['inject', '--kubeconfig', join(dir, 'missing'), POD])
    expect(r.exitCode).toBe(1)
    expect(r.stderr).toContain(`no kubeconfig at ${join(dir, 'missing')}`)
    expect(r.stderr).toContain('--ignore-cluster')
  })

  it('--identity-trust-anchors-file overrides the cluster anchors', async () => {
    configMap = {apiVersion: 'v1', kind: 'ConfigMap', metadata: {name: 'mesh-config'}, data: {values: '{"trustAnchorsPEM": "OLD"}'}}
    const port = (server.address() as AddressInfo).port
    const r = await runMesh(['inject', '--kubeconfig', kubeconfig('anchors.yaml', `http://127.0.0.1:${port}`), '--identity-trust-anchors-file', ANCHORS, POD])
    expect(r.exitCode).toBe(0)
    expect(r.stdout).not.toContain('OLD')
    expect(r.stdout).toContain('-----BEGIN CERTIFICATE-----')
  })

  it('a broken config value names the ConfigMap', async () => {
    configMap = {apiVersion: 'v1', kind: 'ConfigMap', metadata: {name: 'mesh-config'}, data: {values: '{not json'}}
    const port = (server.address() as AddressInfo).port
    const r = await runMesh(['inject', '--kubeconfig', kubeconfig('bad.yaml', `http://127.0.0.1:${port}`), POD])
    expect(r.exitCode).toBe(1)
    expect(r.stderr).toMatch(/^Error: ConfigMap mesh-system\/mesh-config key "values" is not valid JSON/)
  })
})
