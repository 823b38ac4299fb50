// `mesh install --set prometheus.podMonitor=true` against the real kube-apiserver: without the
// Prometheus Operator's CRD, --apply refuses before applying anything (the PodMonitor comes just
// before the webhook) and a render for the cluster warns; with the operator's real CRD (from its
// Go module, test/cluster/prometheus-operator.ts; mesh never installs it) the PodMonitor applies
// and reads back field for field (a structural schema prunes what it does not know, so nothing
// of ours is outside the operator's schema), and `mesh uninstall` deletes it.
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import YAML from 'yaml'
import {PODMONITOR_CRD} from '../../src/install/cluster.js'
import {CONTROL_PLANE_NAMESPACE, ControlPlane} from '../../src/protocol/control-plane.js'
import {podMonitorCrdFile} from '../cluster/prometheus-operator.js'
import {eventually} from '../helpers/eventually.js'
import {cluster, fixtureIdentity, mesh, objects, removeControlPlane} from './install-helpers.js'

const podMonitor = {apiVersion: 'monitoring.coreos.com/v1', kind: 'PodMonitor', metadata: {name: ControlPlane.podMonitor, namespace: CONTROL_PLANE_NAMESPACE}}
const crd = {apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', metadata: {name: PODMONITOR_CRD}}

async function exists(o: {apiVersion: string; kind: string; metadata: {name: string; namespace?: string}}): Promise<boolean> {
  try {
    await objects.read(o)
    return true
  } catch (error) {
    if ((error as {code?: number}).code === 404) return false
    throw error
  }
}

async function removeCrd(): Promise<void> {
  await cluster.kubectl(['delete', 'crd', PODMONITOR_CRD, '--ignore-not-found', '--wait=true'], {allowFailure: true})
  await eventually('the PodMonitor CRD to be gone', async () => ((await exists(crd)) ? undefined : true), {timeoutMs: 60_000})
}

beforeAll(async () => {
  await removeControlPlane()
  await removeCrd()
}, 180_000)

afterAll(async () => {
  await removeControlPlane().catch(() => {})
  await removeCrd().catch(() => {})
}, 180_000)

describe('mesh install --set prometheus.podMonitor=true on a real API server', () => {
  it('without the operator\'s CRD: --apply refuses before applying anything, naming the CRD and the fix', async () => {
    const r = await mesh('install', ...fixtureIdentity, '--set', 'prometheus.podMonitor=true', '--apply')
    expect(r.exitCode).toBe(1)
    expect(r.stdout).toBe('')
    expect(r.stderr).toContain(`prometheus.podMonitor=true renders a PodMonitor, but ${cluster.server} has no PodMonitor CRD (${PODMONITOR_CRD})`)
    expect(r.stderr).toContain('Install the Prometheus Operator')
    expect(r.stderr).not.toMatch(/ created$/m)
    expect(await exists({apiVersion: 'v1', kind: 'Namespace', metadata: {name: CONTROL_PLANE_NAMESPACE}})).toBe(false)
  })

  it('without it, a render for this cluster warns on stderr and still prints the whole stream', async () => {
    const r = await mesh('install', ...fixtureIdentity, '--set', 'prometheus.podMonitor=true')
    expect(r.exitCode, r.stderr).toBe(0)
    expect(r.stderr).toContain('has no PodMonitor CRD')
    expect(r.stdout).toMatch(/^kind: PodMonitor$/m)
  })

  it('with the operator\'s real CRD: applies, reads back unpruned, re-applies unchanged, and mesh uninstall deletes it', async () => {
    const {file} = podMonitorCrdFile()
    const applied = await cluster.kubectl(['apply', '--server-side', '-f', file], {allowFailure: true})
    expect(applied.code, applied.stderr).toBe(0)
    await cluster.kubectl(['wait', '--for=condition=Established', `crd/${PODMONITOR_CRD}`, '--timeout=60s'])
    const rendered = YAML.parseAllDocuments((await mesh('install', '--ignore-cluster', ...fixtureIdentity, '--set', 'prometheus.podMonitor=true')).stdout)
      .map((d) => d.toJS()).find((o) => o?.kind === 'PodMonitor')
    const r = await mesh('install', ...fixtureIdentity, '--set', 'prometheus.podMonitor=true', '--apply')
    expect(r.exitCode, r.stderr).toBe(0)
    expect(r.stderr).toContain(`PodMonitor ${CONTROL_PLANE_NAMESPACE}/${ControlPlane.podMonitor} created`)
    const stored = (await objects.read(podMonitor)) as unknown as {metadata: {labels: Record<string, string>}; spec: unknown}
    expect(stored.spec).toEqual(rendered.spec)
    expect(stored.metadata.labels).toEqual(rendered.metadata.labels)
    const again = await mesh('upgrade', '--apply')
    expect(again.exitCode, again.stderr).toBe(0)
    expect(again.stderr).toContain(`PodMonitor ${CONTROL_PLANE_NAMESPACE}/${ControlPlane.podMonitor} unchanged`)
    const un = await mesh('uninstall', '--apply', '--force')
    expect(un.exitCode, un.stderr).toBe(0)
    expect(un.stderr).toContain(`PodMonitor ${CONTROL_PLANE_NAMESPACE}/${ControlPlane.podMonitor} deleted`)
    expect(await exists(podMonitor)).toBe(false)
  })
})
