// `mesh inject` against a real API server: every injected kind passes a server-side dry run,
// and the way users run it, `mesh inject app.yaml | kubectl apply -f -`, stores workloads
// whose pod templates carry the sidecar.
import {spawn} from 'node:child_process'
import {readFileSync} from 'node:fs'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {parseAllDocuments} from 'yaml'
import {testCluster} from '../cluster/cluster.js'
import {ROOT, spawnMesh} from '../helpers/run.js'

const cluster = testCluster()
const FIXTURES = `${ROOT}test/fixtures/inject`
const ANCHORS = `${FIXTURES}/trust-anchors.pem`
// Fixtures that inject cleanly, one per kind and the flag-heavy ones.
const CASES = [
  'deployment', 'deployment-no-native', 'statefulset', 'daemonset', 'replicaset', 'replicationcontroller',
  'job', 'cronjob', 'multi-doc', 'list', 'flags', 'config-annotations', 'ingress', 'udp-ports', 'namespace',
]

function fixtureArgs(name: string): string[] {
  const first = readFileSync(`${FIXTURES}/${name}.input.yaml`, 'utf8').split('\n')[0]
  const args = first.replace(/^# mesh /, '').split(/\s+/).filter(Boolean)
  return [...args.map((a) => (a === 'ANCHORS' ? ANCHORS : a)), `${FIXTURES}/${name}.input.yaml`]
}

function namespacesOf(yamlText: string): string[] {
  const names = new Set<string>()
  for (const doc of parseAllDocuments(yamlText)) {
    const obj = doc.toJS() as {kind?: string; metadata?: {name?: string; namespace?: string}; items?: {metadata?: {namespace?: string}}[]} | null
    if (!obj) continue
    if (obj.metadata?.namespace) names.add(obj.metadata.namespace)
    for (const item of obj.items ?? []) if (item.metadata?.namespace) names.add(item.metadata.namespace)
  }
  return [...names]
}

function sh(command: string): Promise<{code: number; stdout: string; stderr: string}> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-o', 'pipefail', '-c', command], {
      cwd: ROOT,
      env: {...process.env, NO_COLOR: '1', KUBECONFIG: cluster.kubeconfigPath, PATH: `${cluster.binDir}:${process.env.PATH}`},
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d))
    child.stderr.on('data', (d: Buffer) => (stderr += d))
    child.on('error', reject)
    child.on('close', (code) => resolve({code: code ?? -1, stdout, stderr}))
  })
}

const created = new Set<string>()
async function ensureNamespaces(names: string[]): Promise<void> {
  for (const ns of names) {
    if (created.has(ns)) continue
    const r = await cluster.kubectl(['create', 'namespace', ns], {allowFailure: true})
    if (r.code !== 0 && !/AlreadyExists/.test(r.stderr)) throw new Error(`create namespace ${ns}: ${r.stderr}`)
    created.add(ns)
  }
}

describe('mesh inject output on a real API server', () => {
  beforeAll(async () => {
    await ensureNamespaces(['default'])
  })

  afterAll(async () => {
    for (const ns of created) if (ns !== 'default') await cluster.kubectl(['delete', 'namespace', ns, '--wait=false'], {allowFailure: true})
  })

  it.each(CASES)('%s: the injected stream passes a server-side dry run', async (name) => {
    const injected = await spawnMesh(fixtureArgs(name), {timeoutMs: 60_000})
    expect(injected.exitCode, injected.stderr).toBe(0)
    await ensureNamespaces(namespacesOf(injected.stdout))
    const dry = await cluster.kubectl(['apply', '--dry-run=server', '-f', '-'], {stdin: injected.stdout, allowFailure: true})
    expect(dry.code, dry.stderr).toBe(0)
    expect(dry.stderr).not.toMatch(/error/i)
    expect(dry.stdout).toMatch(/\(server dry run\)/)
  })

  it('pod: the injected bare Pod passes a server-side dry run', async () => {
    const injected = await spawnMesh(fixtureArgs('pod'), {timeoutMs: 60_000})
    expect(injected.exitCode, injected.stderr).toBe(0)
    // A real cluster's ServiceAccount admission plugin sets serviceAccountName: default on a bare
    // Pod, which the projected token volume requires. The test cluster runs without that plugin
    // (it has no controller-manager to create the default ServiceAccounts), so do its part here.
    const docs = parseAllDocuments(injected.stdout).map((d) => d.toJS() as {kind: string; metadata: {namespace?: string}; spec: {serviceAccountName?: string}})
    const pod = docs.find((d) => d?.kind === 'Pod')!
    pod.spec.serviceAccountName ??= 'default'
    await ensureNamespaces(namespacesOf(injected.stdout))
    const dry = await cluster.kubectl(['apply', '--dry-run=server', '-f', '-'], {stdin: JSON.stringify(pod), allowFailure: true})
    expect(dry.code, dry.stderr).toBe(0)
    expect(dry.stdout).toMatch(/pod\/\S+ created \(server dry run\)/)
  })

  it('mesh inject app.yaml | kubectl apply -f - stores a Deployment with the sidecar', async () => {
    const app = `${FIXTURES}/deployment.input.yaml`
    const [ns] = namespacesOf(readFileSync(app, 'utf8'))
    await ensureNamespaces([ns])
    const r = await sh(`node --import tsx --no-warnings bin/dev.js inject --ignore-cluster --identity-trust-anchors-file ${ANCHORS} ${app} | kubectl apply -f -`)
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toMatch(/deployment\.apps\/\S+ created/)
    const name = /deployment\.apps\/(\S+) created/.exec(r.stdout)![1]
    const got = await cluster.kubectl(['get', 'deployment', name, '-n', ns, '-o', 'json'])
    const spec = (JSON.parse(got.stdout) as {spec: {template: {spec: {initContainers?: {name: string; restartPolicy?: string}[]; volumes?: {name: string}[]}}}}).spec.template.spec
    const init = spec.initContainers ?? []
    expect(init.map((c) => c.name)).toEqual(expect.arrayContaining(['mesh-init', 'mesh-proxy']))
    expect(init.find((c) => c.name === 'mesh-proxy')?.restartPolicy).toBe('Always')
    expect((spec.volumes ?? []).map((v) => v.name)).toContain('mesh-identity-token')
    // Applying the same injected output again changes nothing.
    const again = await sh(`node --import tsx --no-warnings bin/dev.js inject --ignore-cluster --identity-trust-anchors-file ${ANCHORS} ${app} | kubectl apply -f -`)
    expect(again.code, again.stderr).toBe(0)
    expect(again.stdout).toMatch(/unchanged/)
  })
})
