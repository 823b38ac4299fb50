// `mesh install --set prometheus.podMonitor=true`: the PodMonitor for the Prometheus Operator
// (monitoring.coreos.com/v1; its CRD is the operator's, never rendered). It must be README's
// PodMonitor, do what README's scrape configuration does (the operator adds namespace and pod
// itself), and select what `mesh inject` writes: the pod label, the proxy container, the admin
// port, and the workload label the labelmap turns into `deployment`.
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'
import YAML from 'yaml'
import {runMesh, ROOT} from '../helpers/run.js'
import {identityArgs} from './helpers.js'

const install = (...args: string[]) => runMesh(['install', '--ignore-cluster', ...identityArgs(), ...args])
const docs = (yaml: string): any[] => YAML.parseAllDocuments(yaml, {version: '1.1'}).map((d) => d.toJS()).filter((d) => d !== null)
const tmp = mkdtempSync(path.join(tmpdir(), 'mesh-podmonitor-'))

afterAll(() => rmSync(tmp, {recursive: true, force: true}))

function readmeBlock(marker: string): string {
  const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8')
  const m = new RegExp(`<!-- ${marker} -->\\n\`\`\`yaml\\n([\\s\\S]*?)\`\`\`\\n<!-- /${marker} -->`).exec(readme)
  if (!m) throw new Error(`README.md has no ${marker} block`)
  return m[1]!
}

/** A relabel rule of the operator's (camelCase) in Prometheus' own form, defaults left out as Prometheus leaves them. */
function asPrometheusRule(r: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(r)) out[k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)] = v
  return out
}

/** What Prometheus' Kubernetes discovery names a pod label (every character a label name cannot hold becomes `_`). */
const metaLabel = (podLabel: string): string => `__meta_kubernetes_pod_label_${podLabel.replace(/[^a-zA-Z0-9_]/g, '_')}`

/** Prometheus' labelmap on one label name: the replacement ($1) when the whole name matches. */
function labelmap(regex: string, name: string): string | undefined {
  const m = new RegExp(`^(?:${regex})$`).exec(name)
  return m ? m[1] : undefined
}

describe('mesh install --set prometheus.podMonitor=true', () => {
  it('renders one PodMonitor (after the control plane, before the webhook) and never its CRD; none by default', async () => {
    const plain = await install()
    expect(plain.exitCode).toBe(0)
    expect(docs(plain.stdout).filter((o) => o.kind === 'PodMonitor')).toEqual([])
    const r = await install('--set', 'prometheus.podMonitor=true')
    expect(r.exitCode, r.stderr).toBe(0)
    const objs = docs(r.stdout)
    expect(objs.filter((o) => o.kind === 'PodMonitor')).toHaveLength(1)
    expect(objs.filter((o) => o.kind === 'CustomResourceDefinition').map((o) => o.metadata.name)).not.toContain('podmonitors.monitoring.coreos.com')
    expect(objs.at(-1).kind).toBe('MutatingWebhookConfiguration')
    expect(objs.at(-2).kind).toBe('PodMonitor')
    // Only that object differs.
    expect(objs.filter((o) => o.kind !== 'PodMonitor' && o.kind !== 'ConfigMap')).toEqual(docs(plain.stdout).filter((o) => o.kind !== 'ConfigMap'))
    // -o json and values files say the same.
    const values = path.join(tmp, 'values.yaml')
    writeFileSync(values, 'prometheus:\n  podMonitor: true\n')
    const fromFile = docs((await install('-f', values)).stdout).find((o) => o.kind === 'PodMonitor')
    expect(fromFile).toEqual(objs.at(-2))
    const json = JSON.parse((await install('--set', 'prometheus.podMonitor=true', '-o', 'json')).stdout)
    expect(json.items.find((o: any) => o.kind === 'PodMonitor')).toEqual(objs.at(-2))
  })

  it('is README\'s PodMonitor, and does what README\'s scrape configuration does (the operator doing its share)', async () => {
    const pm = docs((await install('--set', 'prometheus.podMonitor=true')).stdout).find((o) => o.kind === 'PodMonitor')
    expect(pm).toEqual(YAML.parse(readmeBlock('prometheus-podmonitor'), {version: '1.1'}))
    const job = (YAML.parse(readmeBlock('prometheus-scrape-config')) as {scrape_configs: any[]}).scrape_configs[0]
    const ep = pm.spec.podMetricsEndpoints[0]
    expect(ep.honorLabels).toBe(job.honor_labels)
    const [keep, map] = ep.relabelings.map(asPrometheusRule)
    expect(job.relabel_configs).toContainEqual(map)
    // The scrape configuration keeps one container's one port; the PodMonitor names the port
    // (`port`) and keeps the container.
    expect(keep).toEqual({source_labels: ['__meta_kubernetes_pod_container_name'], regex: expect.any(String), action: 'keep'})
    expect(job.relabel_configs).toContainEqual({
      source_labels: ['__meta_kubernetes_pod_container_name', '__meta_kubernetes_pod_container_port_name'], regex: `${keep.regex};${ep.port}`, action: 'keep',
    })
    // What the operator does itself: the namespace and pod labels, and leaving finished pods out
    // (filterRunning, its default).
    const rest = job.relabel_configs.filter((r: any) => r.action !== 'labelmap' && !(r.source_labels.length === 2))
    expect(rest).toEqual([
      {source_labels: ['__meta_kubernetes_pod_phase'], regex: 'Pending|Running', action: 'keep'},
      {source_labels: ['__meta_kubernetes_namespace'], target_label: 'namespace'},
      {source_labels: ['__meta_kubernetes_pod_name'], target_label: 'pod'},
    ])
  })

  it('selects what `mesh inject` writes: the pod label, the proxy container, its admin port, and the workload as `deployment`', async () => {
    const deployment = path.join(tmp, 'web.yaml')
    writeFileSync(deployment, YAML.stringify({
      apiVersion: 'apps/v1', kind: 'Deployment', metadata: {name: 'web', namespace: 'shop'},
      spec: {selector: {matchLabels: {app: 'web'}}, template: {metadata: {labels: {app: 'web'}}, spec: {containers: [{name: 'web', image: 'web:1', ports: [{name: 'http', containerPort: 8080}]}]}}},
    }))
    const injected = await runMesh(['inject', '--ignore-cluster', ...identityArgs().slice(0, 2), deployment])
    expect(injected.exitCode, injected.stderr).toBe(0)
    const template = docs(injected.stdout)[0].spec.template
    const pm = docs((await install('--set', 'prometheus.podMonitor=true')).stdout).find((o) => o.kind === 'PodMonitor')
    const podLabels: Record<string, string> = template.metadata.labels
    for (const e of pm.spec.selector.matchExpressions) {
      expect(e.operator).toBe('In')
      expect(e.values).toContain(podLabels[e.key])
    }
    const ep = pm.spec.podMetricsEndpoints[0]
    const containerKeep = ep.relabelings.find((r: any) => r.action === 'keep')
    const containers = [...(template.spec.initContainers ?? []), ...template.spec.containers]
    const kept = containers.filter((c: any) => new RegExp(`^(?:${containerKeep.regex})$`).test(c.name))
    expect(kept.map((c: any) => c.name)).toEqual(['mesh-proxy'])
    expect(kept[0].ports.map((p: any) => p.name)).toContain(ep.port)
    expect(kept[0].ports.find((p: any) => p.name === ep.port).containerPort).toBe(4191)
    // The labelmap: exactly the workload label becomes a target label, named as the proxy names it.
    const map = ep.relabelings.find((r: any) => r.action === 'labelmap')
    const mapped = Object.entries(podLabels).flatMap(([k, v]) => {
      const to = labelmap(map.regex, metaLabel(k))
      return to === undefined ? [] : [[to, v]]
    })
    expect(mapped).toEqual([['deployment', 'web']])
  })

  it('--set prometheus.podMonitor=maybe is a usage error naming the key', async () => {
    const r = await install('--set', 'prometheus.podMonitor=maybe')
    expect(r.exitCode).toBe(2)
    expect(r.stdout).toBe('')
    expect(r.stderr).toContain('prometheus.podMonitor')
  })
})
