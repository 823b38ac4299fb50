import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import net from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'
import {kubeconfigYaml} from '../helpers/kubeconfig.js'
import {runMesh, spawnMesh} from '../helpers/run.js'
import {schemaProblems} from './schema.js'

const FIXTURE = 'test/check/fixtures/workloads.yaml'
const NO_CLUSTER = ['--kubeconfig', '/nonexistent/kubeconfig']

describe('mesh check: flags', () => {
  it('--pre and --proxy together exit 2 with nothing on stdout', async () => {
    const r = await runMesh(['check', '--pre', '--proxy'])
    expect(r.exitCode).toBe(2)
    expect(r.stdout).toBe('')
    expect(r.stderr).toBe(
      'Error: --pre and --proxy cannot be used together\n  Try this: Run `mesh check --pre` before installing, `mesh check --proxy` after; one at a time.\n',
    )
  })

  it('--inject with --pre exits 2', async () => {
    const r = await runMesh(['check', '--pre', '--inject', FIXTURE])
    expect(r.exitCode).toBe(2)
    expect(r.stderr).toContain('--pre and --inject cannot be used together')
  })

  it('a bad --wait exits 2 naming the value', async () => {
    const r = await runMesh(['check', '--wait', 'soon', ...NO_CLUSTER])
    expect(r.exitCode).toBe(2)
    expect(r.stdout).toBe('')
    expect(r.stderr).toMatch(/^Error: --wait "soon" is not a duration\n {2}Try this: /)
  })

  it('an unknown -o exits 2', async () => {
    const r = await runMesh(['check', '-o', 'yaml'])
    expect(r.exitCode).toBe(2)
    expect(r.stdout).toBe('')
  })
})

describe('mesh check without a cluster', () => {
  it('--wait off a terminal says once per check that it is retrying, on stderr', async () => {
    // An API server that refuses connections: "can query the Kubernetes API" is retried.
    const closed = net.createServer()
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve))
    const port = (closed.address() as net.AddressInfo).port
    await new Promise<void>((resolve) => closed.close(() => resolve()))
    const dir = mkdtempSync(join(tmpdir(), 'mesh-check-wait-'))
    try {
      const kubeconfig = join(dir, 'config')
      writeFileSync(kubeconfig, kubeconfigYaml(`https://127.0.0.1:${port}`))
      const r = await spawnMesh(['check', '--wait', '10s', '--kubeconfig', kubeconfig], {compiled: true})
      expect(r.exitCode).toBe(1)
      expect(r.stderr).toMatch(/^waiting for "can query the Kubernetes API" \(--wait 10s\): cannot reach the API server at https:\/\/127\.0\.0\.1:\d+: .*ECONNREFUSED.*\n$/)
      expect(r.stdout).toContain('× can query the Kubernetes API')
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  })

  it('fails the first, fatal check: exit 1, a table with the error and hint', async () => {
    const r = await runMesh(['check', ...NO_CLUSTER])
    expect(r.exitCode).toBe(1)
    expect(r.stdout).toBe(
      [
        'kubernetes-api',
        '--------------',
        '× can initialize the client',
        '    no kubeconfig at /nonexistent/kubeconfig',
        '    see MESH1001: Check the kubeconfig: pass --kubeconfig/--context, or set KUBECONFIG.',
        '',
        'Status check results are ×',
        '',
      ].join('\n'),
    )
    expect(r.stderr).toBe('')
  })

  it('-o json prints a document valid against the schema, with success false', async () => {
    const r = await runMesh(['check', '--pre', '-o', 'json', ...NO_CLUSTER])
    expect(r.exitCode).toBe(1)
    const doc = JSON.parse(r.stdout) as {success: boolean; categories: Array<{checks: Array<{id: string; result: string}>}>}
    expect(schemaProblems(doc)).toEqual([])
    expect(doc.success).toBe(false)
    expect(doc.categories[0]!.checks).toEqual([expect.objectContaining({id: 'MESH1001', result: 'error'})])
  })

  it('the real binary: exit 1, no stack trace, short output', async () => {
    const r = await spawnMesh(['check', '-o', 'short', ...NO_CLUSTER])
    expect(r.exitCode).toBe(1)
    expect(r.stdout).toContain('× can initialize the client')
    expect(r.stdout).toMatch(/Status check results are ×\n$/)
    expect(r.stderr).not.toMatch(/\n\s+at /)
  })
})

describe('mesh check --inject FILE', () => {
  it('explains each workload with the namespace annotations from the file', async () => {
    const r = await runMesh(['check', '--inject', FIXTURE, ...NO_CLUSTER])
    expect(r.exitCode).toBe(0)
    const lines = r.stdout.trimEnd().split('\n')
    expect(lines[0]).toMatch(/^KIND\s+NAMESPACE\s+NAME\s+INJECTED\s+REASON$/)
    expect(lines.slice(1).map((l) => l.split(/\s{2,}/))).toEqual([
      ['deployment', 'shop', 'web', 'yes', 'namespace "shop" has mesh.dev/inject: enabled'],
      ['deployment', 'shop', 'batch', 'no', 'the pod has mesh.dev/inject: disabled'],
      ['daemonset', 'shop', 'node-agent', 'no', 'the pod uses host networking (hostNetwork: true)'],
      ['service', 'shop', 'web', 'no', 'kind Service has no pods to inject'],
    ])
    expect(r.stderr).toContain('note: no cluster')
  })

  it('-o json lists the workloads with their source document', async () => {
    const r = await runMesh(['check', '--inject', FIXTURE, '-o', 'json', ...NO_CLUSTER])
    const doc = JSON.parse(r.stdout) as {workloads: Array<Record<string, unknown>>}
    expect(doc.workloads[0]).toEqual({
      source: `${FIXTURE}:2`,
      kind: 'deployment',
      namespace: 'shop',
      name: 'web',
      inject: true,
      reason: 'namespace "shop" has mesh.dev/inject: enabled',
    })
    expect(doc.workloads.map((w) => w.inject)).toEqual([true, false, false, false])
  })

  it('a missing file exits 1 naming it', async () => {
    const r = await runMesh(['check', '--inject', 'nope.yaml', ...NO_CLUSTER])
    expect(r.exitCode).toBe(1)
    expect(r.stdout).toBe('')
    expect(r.stderr).toContain('nope.yaml: no such file or directory')
  })
})
