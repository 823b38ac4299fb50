// `mesh install`, `mesh upgrade` and `mesh uninstall` against the real kube-apiserver: the
// rendered stream passes a server-side dry run with the real kubectl, applies, re-applies as a
// no-op, upgrades keeping values and identity, and uninstalls leaving nothing of ours behind.
import {randomBytes} from 'node:crypto'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {ControlPlane, CONTROL_PLANE_NAMESPACE} from '../../src/protocol/control-plane.js'
import {controlPlaneHeaders} from '../../src/install/uninstall.js'
import {meshVersion} from '../../src/lib/version.js'
import type {KubeObject} from '../../src/install/render.js'
import {eventually} from '../helpers/eventually.js'
import {cluster, core, finalizeNamespace, fixtureIdentity, mesh, objects, removeControlPlane} from './install-helpers.js'

const appNs = `mesh-it-app-${randomBytes(3).toString('hex')}`

async function resourceVersions(): Promise<Record<string, string>> {
  const out: Record<string, string> = {}
  for (const h of await controlPlaneHeaders()) {
    try {
      const o = await objects.read(h)
      out[`${h.kind}/${h.metadata.name}`] = o.metadata!.resourceVersion!
    } catch (error) {
      if ((error as {code?: number}).code !== 404) throw error
    }
  }
  return out
}

const docCount = (yaml: string) => yaml.split(/^---\n/m).length - 1

async function present(headers: KubeObject[]): Promise<string[]> {
  const found: string[] = []
  for (const h of headers) {
    try {
      await objects.read(h)
      found.push(`${h.kind}/${h.metadata.name}`)
    } catch (error) {
      if ((error as {code?: number}).code !== 404) throw error
    }
  }
  return found
}

beforeAll(async () => {
  // The suites share one cluster: start from no control plane, whatever an earlier suite left.
  const left = await mesh('uninstall', '--force')
  if (/^kind:/m.test(left.stdout)) process.stderr.write(`install.test: an earlier suite left control plane objects:\n${left.stdout.split('\n').filter((l) => /^\s*(kind|name):/.test(l)).join('\n')}\n`)
  await removeControlPlane()
  await core.createNamespace({body: {metadata: {name: appNs}}})
})

afterAll(async () => {
  await removeControlPlane().catch(() => {})
  await finalizeNamespace(appNs).catch(() => {})
})

const failurePolicy = async (): Promise<string | undefined> =>
  ((await objects.read({apiVersion: 'admissionregistration.k8s.io/v1', kind: 'MutatingWebhookConfiguration', metadata: {name: ControlPlane.webhookConfiguration}})) as unknown as {webhooks: Array<{failurePolicy?: string}>}).webhooks[0]?.failurePolicy

describe('mesh install on a real API server', () => {
  it('mesh upgrade and mesh uninstall say there is nothing installed yet', async () => {
    const up = await mesh('upgrade')
    expect(up.exitCode).toBe(1)
    expect(up.stdout).toBe('')
    expect(up.stderr).toContain('no mesh control plane is installed')
    expect(up.stderr).toContain('mesh install')
    const un = await mesh('uninstall')
    expect(un.exitCode).toBe(0)
    expect(un.stderr).toContain('nothing to uninstall')
    const version = await mesh('version')
    expect(version.exitCode).toBe(0)
    expect(version.stdout).toBe(`Client version: ${meshVersion()}\nServer version: unavailable\n`)
    expect(version.stderr).toContain(`server version unavailable: no mesh control plane is installed on ${cluster.server}`)
  })

  it('runs the pre-install checks: a namespace left in the way stops the install, naming the check and its hint', async () => {
    await core.createNamespace({body: {metadata: {name: CONTROL_PLANE_NAMESPACE}}})
    try {
      const r = await mesh('install', ...fixtureIdentity)
      expect(r.exitCode).toBe(1)
      expect(r.stdout).toBe('')
      expect(r.stderr).toContain(`pre-install checks failed: control plane namespace does not already exist: namespace ${CONTROL_PLANE_NAMESPACE} already exists`)
      expect(r.stderr).toContain('Try this: mesh is already installed here')
      expect(r.stderr).toContain('mesh check --pre')
    } finally {
      await finalizeNamespace(CONTROL_PLANE_NAMESPACE)
    }
  })

  it('renders a stream that passes `kubectl apply --server-side --dry-run=server`', async () => {
    const r = await mesh('install', ...fixtureIdentity, '--ha')
    expect(r.exitCode, r.stderr).toBe(0)
    expect(r.stderr).toContain('Pre-install checks passed')
    // A dry run cannot create the namespace the other objects go into: create it for real
    // (the stream's first document), dry-run the whole stream, then remove the namespace.
    const nsDoc = r.stdout.split(/^---\n/m)[1]!
    expect(nsDoc).toMatch(/^apiVersion: v1\nkind: Namespace\n/)
    const ns = await cluster.kubectl(['apply', '--server-side', '--field-manager=mesh', '-f', '-'], {stdin: nsDoc, allowFailure: true})
    expect(ns.code, ns.stderr).toBe(0)
    const dry = await cluster.kubectl(['apply', '--server-side', '--field-manager=mesh', '--dry-run=server', '-f', '-'], {stdin: r.stdout, allowFailure: true})
    expect(dry.code, dry.stderr).toBe(0)
    expect(dry.stdout).toContain('deployment.apps/mesh-controller serverside-applied (server dry run)')
    expect(dry.stdout).toContain('poddisruptionbudget.policy/mesh-controller serverside-applied (server dry run)')
    expect(dry.stdout).toContain('mutatingwebhookconfiguration.admissionregistration.k8s.io/mesh-proxy-injector-webhook-config serverside-applied (server dry run)')
    expect(dry.stdout.trim().split('\n')).toHaveLength(docCount(r.stdout))
    await finalizeNamespace(CONTROL_PLANE_NAMESPACE)
    expect(await present(await controlPlaneHeaders())).toEqual([])
  })

  it('--apply creates every object in order, with progress on stderr and nothing on stdout', async () => {
    const r = await mesh('install', ...fixtureIdentity, '--set', 'proxy.logLevel=debug', '--apply')
    expect(r.exitCode, r.stderr).toBe(0)
    expect(r.stdout).toBe('')
    const lines = r.stderr.split('\n').filter((l) => / (created|configured|unchanged)$/.test(l))
    expect(lines[0]).toBe(`Namespace ${CONTROL_PLANE_NAMESPACE} created`)
    expect(lines.at(-1)).toBe(`MutatingWebhookConfiguration ${ControlPlane.webhookConfiguration} created`)
    expect(r.stderr).toContain('Next, run `mesh check`')
    const cm = await core.readNamespacedConfigMap({name: ControlPlane.configMap, namespace: CONTROL_PLANE_NAMESPACE})
    expect(JSON.parse(cm.data!.values!).proxyLogLevel).toBe('debug')
    const deploy = await objects.read({apiVersion: 'apps/v1', kind: 'Deployment', metadata: {name: ControlPlane.controller, namespace: CONTROL_PLANE_NAMESPACE}})
    expect(deploy.metadata?.managedFields?.map((f) => f.manager)).toContain('mesh')
    // The CRD is stored as rendered: its schema keeps the keys the client's models spell
    // differently (x-kubernetes-validations, enum, default), which a plain object sent through
    // the client would lose.
    const rendered = JSON.parse((await mesh('install', '--crds', '-o', 'json')).stdout) as {items: Array<{metadata: {name: string}; spec: {versions: Array<{schema: unknown}>}}>}
    expect(rendered.items).toHaveLength(1)
    const stored = JSON.parse((await cluster.kubectl(['get', 'crd', rendered.items[0]!.metadata.name, '-o', 'json'])).stdout) as {spec: {versions: Array<{schema: unknown}>}}
    expect(JSON.stringify(rendered.items[0]!.spec.versions[0]!.schema)).toContain('x-kubernetes-validations')
    expect(stored.spec.versions.map((v) => v.schema)).toEqual(rendered.items[0]!.spec.versions.map((v) => v.schema))
  })

  it('mesh version reads the installed version back from the cluster', async () => {
    const r = await mesh('version')
    expect(r.exitCode, r.stderr).toBe(0)
    expect(r.stderr).toBe('')
    // the image tag the control plane was rendered with, which follows the CLI by default
    expect(r.stdout).toBe(`Client version: ${meshVersion()}\nServer version: ${meshVersion()}\n`)
    const json = await mesh('version', '-o', 'json')
    expect(JSON.parse(json.stdout)).toEqual({client: meshVersion(), server: meshVersion()})
    // a user who may not read the control plane's ConfigMap: unavailable, and why
    const restricted = await mesh('version', '--context', 'restricted')
    expect(restricted.exitCode).toBe(0)
    expect(restricted.stdout).toBe(`Client version: ${meshVersion()}\nServer version: unavailable\n`)
    expect(restricted.stderr).toMatch(/server version unavailable: the API server at \S+ answered 403 to GET \/api\/v1\/namespaces\/\S+\/configmaps\//)
  })

  it('refuses a second install and points at `mesh upgrade`', async () => {
    const r = await mesh('install', ...fixtureIdentity)
    expect(r.exitCode).toBe(1)
    expect(r.stdout).toBe('')
    expect(r.stderr).toContain('already installed')
    expect(r.stderr).toContain('mesh upgrade')
  })

  it('re-applying the same output is a no-op (no resourceVersion changes)', async () => {
    const before = await resourceVersions()
    const rendered = await mesh('install', ...fixtureIdentity, '--set', 'proxy.logLevel=debug', '--ignore-cluster')
    expect(rendered.exitCode).toBe(0)
    const apply = await cluster.kubectl(['apply', '--server-side', '--field-manager=mesh', '-f', '-'], {stdin: rendered.stdout, allowFailure: true})
    expect(apply.code, apply.stderr).toBe(0)
    expect(await resourceVersions()).toEqual(before)
  })

  it('mesh upgrade keeps the installed values and identity: same output, --apply changes nothing', async () => {
    const install = await mesh('install', ...fixtureIdentity, '--set', 'proxy.logLevel=debug', '--ignore-cluster')
    const up = await mesh('upgrade')
    expect(up.exitCode, up.stderr).toBe(0)
    expect(up.stderr).toContain('Keeping the installed trust anchors and issuer')
    const body = (s: string) => s.split('\n').slice(1).join('\n')
    expect(body(up.stdout)).toBe(body(install.stdout))
    const before = await resourceVersions()
    const applied = await mesh('upgrade', '--apply')
    expect(applied.exitCode, applied.stderr).toBe(0)
    expect(applied.stderr).toMatch(/0 created, 0 configured, \d+ unchanged/)
    expect(await resourceVersions()).toEqual(before)
  })

  it('mesh upgrade --ha --apply adds the PodDisruptionBudget and scales the controller', async () => {
    const r = await mesh('upgrade', '--ha', '--apply')
    expect(r.exitCode, r.stderr).toBe(0)
    expect(r.stderr).toContain(`PodDisruptionBudget ${CONTROL_PLANE_NAMESPACE}/${ControlPlane.controller} created`)
    const deploy = (await objects.read({apiVersion: 'apps/v1', kind: 'Deployment', metadata: {name: ControlPlane.controller, namespace: CONTROL_PLANE_NAMESPACE}})) as {spec: {replicas: number}}
    expect(deploy.spec.replicas).toBe(3)
    const cm = await core.readNamespacedConfigMap({name: ControlPlane.configMap, namespace: CONTROL_PLANE_NAMESPACE})
    expect(JSON.parse(cm.data!.values!).proxyLogLevel).toBe('debug')
    // HA: the webhook fails closed (as Linkerd's): with no injector answering (none runs on this
    // cluster), a Pod is refused rather than created without its sidecar.
    expect(await failurePolicy()).toBe('Fail')
    await expect(core.createNamespacedPod({namespace: appNs, body: {metadata: {name: 'unmeshed'}, spec: {containers: [{name: 'app', image: 'nginx'}]}}}))
      .rejects.toThrow(/failed calling webhook .{0,8}mesh-proxy-injector\.mesh\.dev/)
  })

  it('mesh uninstall refuses while a meshed pod runs, then --force deletes everything of ours', async () => {
    // Back to one replica: the webhook fails open again, so pods are created with no injector running.
    const down = await mesh('upgrade', '--set', 'ha=false', '--apply')
    expect(down.exitCode, down.stderr).toBe(0)
    expect(await failurePolicy()).toBe('Ignore')
    await core.createNamespacedPod({
      namespace: appNs,
      body: {metadata: {name: 'meshed', labels: {[ControlPlane.controlPlaneNsLabel]: CONTROL_PLANE_NAMESPACE}}, spec: {containers: [{name: 'app', image: 'nginx'}]}},
    })
    const refused = await mesh('uninstall', '--apply')
    expect(refused.exitCode).toBe(1)
    expect(refused.stderr).toContain(`1 pod(s) still run with a mesh proxy: ${appNs}/meshed`)
    expect(refused.stderr).toContain('--force')
    expect((await present(await controlPlaneHeaders())).length).toBeGreaterThan(10)

    const listed = await mesh('uninstall', '--force')
    expect(listed.exitCode).toBe(0)
    expect(listed.stdout).toMatch(/^# .*\n---\napiVersion: admissionregistration.k8s.io\/v1\nkind: MutatingWebhookConfiguration/)
    expect(listed.stdout.trimEnd()).toMatch(/kind: Namespace\nmetadata:\n {2}name: mesh-system$/)

    const r = await mesh('uninstall', '--apply', '--force')
    expect(r.exitCode, r.stderr).toBe(0)
    expect(r.stderr.split('\n').filter((l) => l.endsWith(' deleted')).at(-1)).toBe(`Namespace ${CONTROL_PLANE_NAMESPACE} deleted`)
    // Nothing of ours but the namespace, which waits for the namespace controller, and the CRD
    // while the API server's cleanup (its finalizer: the AuthorizationPolicies go first) runs.
    const crds = (await controlPlaneHeaders()).filter((h) => h.kind === 'CustomResourceDefinition')
    expect(crds.length).toBeGreaterThan(0)
    const left = await present(await controlPlaneHeaders())
    expect(left.filter((k) => !k.startsWith('CustomResourceDefinition/'))).toEqual([`Namespace/${CONTROL_PLANE_NAMESPACE}`])
    for (const crd of crds) {
      await eventually(`CustomResourceDefinition ${crd.metadata.name} to be gone`, async () => {
        try {
          const o = await objects.read(crd)
          expect(o.metadata?.deletionTimestamp, 'a CRD mesh uninstall --apply did not delete').toBeDefined()
          return undefined
        } catch (error) {
          if ((error as {code?: number}).code === 404) return true
          throw error
        }
      })
    }
    const ns = await core.readNamespace({name: CONTROL_PLANE_NAMESPACE})
    expect(ns.metadata?.deletionTimestamp).toBeDefined()
    await finalizeNamespace(CONTROL_PLANE_NAMESPACE)
    expect(await present(await controlPlaneHeaders())).toEqual([])

    // With nothing installed there is nothing to refuse, meshed pod or not.
    const again = await mesh('uninstall', '--apply')
    expect(again.exitCode, again.stderr).toBe(0)
    expect(again.stderr).toContain('nothing to uninstall')
  })
})

describe('the controller\'s RBAC, exercised as its ServiceAccount', () => {
  const as = ['--as', `system:serviceaccount:${CONTROL_PLANE_NAMESPACE}:${ControlPlane.controller}`]
  beforeAll(async () => {
    const r = await mesh('install', ...fixtureIdentity, '--apply')
    if (r.exitCode !== 0) throw new Error(r.stderr)
  })
  afterAll(async () => removeControlPlane())

  it('may watch its issuer Secret by name, and no other Secret', async () => {
    const mine = await cluster.kubectl(['get', 'secrets', '-n', CONTROL_PLANE_NAMESPACE, '--field-selector', `metadata.name=${ControlPlane.issuerSecret}`, '-o', 'name', ...as], {allowFailure: true})
    expect(mine.code, mine.stderr).toBe(0)
    expect(mine.stdout.trim()).toBe(`secret/${ControlPlane.issuerSecret}`)
    const all = await cluster.kubectl(['get', 'secrets', '-n', CONTROL_PLANE_NAMESPACE, ...as], {allowFailure: true})
    expect(all.code).not.toBe(0)
    expect(all.stderr).toMatch(/forbidden/i)
  })

  it('may do what identity, destination and the injector need, and nothing it does not', async () => {
    const can = async (...args: string[]) => (await cluster.kubectl(['auth', 'can-i', ...args, ...as], {allowFailure: true})).stdout.trim()
    expect(await can('create', 'tokenreviews.authentication.k8s.io')).toBe('yes')
    expect(await can('watch', 'endpointslices.discovery.k8s.io', '--all-namespaces')).toBe('yes')
    expect(await can('list', 'pods', '--all-namespaces')).toBe('yes')
    expect(await can('get', 'namespaces')).toBe('yes')
    expect(await can('create', 'events', '-n', appNs)).toBe('yes')
    expect(await can('get', `configmaps/${ControlPlane.configMap}`, '-n', CONTROL_PLANE_NAMESPACE)).toBe('yes')
    expect(await can('create', 'pods', '-n', appNs)).toBe('no')
    expect(await can('get', 'secrets', '-n', appNs)).toBe('no')
    expect(await can('update', 'mutatingwebhookconfigurations.admissionregistration.k8s.io')).toBe('no')
  })
})
