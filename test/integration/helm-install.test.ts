/**
 * The Helm chart (charts/mesh) installed on the real test cluster with the real `helm` binary
 * (test/cluster/helm-build): `mesh check` passes on what Helm installed, `mesh version` reads the
 * installed version back, and `mesh upgrade` (which reads the install values from mesh-config)
 * renders the same documents as `helm template`, so a Helm install can be taken over by the CLI.
 * The test cluster has no kubelet: the controller's pod is written Running and Ready by the test,
 * as the install suites do.
 */
import {execFileSync, spawnSync} from 'node:child_process'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {CONTROL_PLANE_NAMESPACE} from '../../src/protocol/control-plane.js'
import {meshVersion} from '../../src/lib/version.js'
import {fixture} from '../install/helpers.js'
import {checkResults, cluster, controllerPodReady, core, mesh, removeControlPlane} from './install-helpers.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const CHART = path.join(ROOT, 'charts/mesh')
const RELEASE = 'mesh'
const RELEASE_NS = 'default'
const identity = ['--set-file', `identity.trustAnchorsPEM=${fixture('identity', 'ca.crt')}`, '--set-file', `identity.issuer.certPEM=${fixture('identity', 'issuer.crt')}`, '--set-file', `identity.issuer.keyPEM=${fixture('identity', 'issuer.key')}`]
let helmBin: string
let tmp: string

function helm(...args: string[]): {status: number; stdout: string; stderr: string} {
  const r = spawnSync(helmBin, [...args, '--kubeconfig', cluster.kubeconfigPath, '--kube-context', 'admin'], {
    encoding: 'utf8',
    timeout: 120_000,
    env: {...process.env, HELM_CACHE_HOME: path.join(tmp, 'cache'), HELM_CONFIG_HOME: path.join(tmp, 'config'), HELM_DATA_HOME: path.join(tmp, 'data')},
  })
  return {status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr}
}

/** The documents of a stream, Helm's `# Source:` lines and mesh's header set aside, sorted. */
const documents = (stream: string): string[] =>
  stream.replace(/^# mesh [^\n]*\n/, '').split(/^---\n(?:# Source: [^\n]*\n)?/m).map((d) => d.replace(/\n+$/, '')).filter((d) => d !== '').sort()

beforeAll(async () => {
  tmp = mkdtempSync(path.join(tmpdir(), 'mesh-helm-install-'))
  helmBin = execFileSync('bash', [path.join(ROOT, 'test/cluster/helm-build')], {encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 1_200_000}).trim().split('\n').at(-1)!
  await removeControlPlane()
}, 1_200_000)

afterAll(async () => {
  if (helmBin) helm('uninstall', RELEASE, '-n', RELEASE_NS)
  await removeControlPlane().catch(() => {})
  if (tmp) rmSync(tmp, {recursive: true, force: true})
})

describe('helm install charts/mesh', {timeout: 180_000}, () => {
  it('installs a control plane that mesh check passes, and mesh version and mesh upgrade read back', async () => {
    const installed = helm('install', RELEASE, CHART, '-n', RELEASE_NS, '--wait=false', ...identity)
    expect(installed.status, installed.stderr).toBe(0)
    expect(installed.stdout).toContain('STATUS: deployed')
    await core.readNamespace({name: CONTROL_PLANE_NAMESPACE})
    await controllerPodReady('mesh-controller-helm')

    const check = await checkResults()
    // MESH13xx: the Gateway API CRDs (a warning while they are absent; not the chart's business).
    expect(Object.entries(check.results).filter(([id, r]) => r !== 'success' && !id.startsWith('MESH13'))).toEqual([])
    expect(check.exitCode).toBe(0)

    const version = await mesh('version', '-o', 'json')
    expect(version.exitCode, version.stderr).toBe(0)
    expect(JSON.parse(version.stdout)).toMatchObject({server: meshVersion()})

    // The CLI takes over: `mesh upgrade` renders from the values Helm installed, the same documents.
    const upgrade = await mesh('upgrade')
    expect(upgrade.exitCode, upgrade.stderr).toBe(0)
    const template = helm('template', RELEASE, CHART, '-n', RELEASE_NS, ...identity)
    expect(template.status, template.stderr).toBe(0)
    expect(documents(upgrade.stdout)).toEqual(documents(template.stdout))
  })
})
