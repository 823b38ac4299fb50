// `mesh diagnostics endpoints <authority>` and `mesh diagnostics proxy-metrics <target>`.
import {loadKube, type KubeOptions} from '../k8s/client.js'
import {ClusterError} from '../lib/errors.js'
import type {Output} from '../lib/output.js'
import {queryDestination, protocolHint, type DestinationView} from './destination-view.js'
import {adminGet, parseTarget, podsOf} from './pods.js'

export interface EndpointsFlags {
  authority: string
  namespace?: string
  controlPlaneNamespace: string
  clusterDomain: string
  output: 'table' | 'json'
  kube: KubeOptions
}

function describeRule(view: DestinationView, index: number): string {
  const rule = view.routes!.rules[index]!
  const backends = rule.backends.map((b) => `${b.service ? `${b.service.name}:${b.service.port}` : (b.problem ?? 'invalid')} weight ${b.weight}`).join(', ')
  return `${rule.route.kind} ${rule.route.namespace}/${rule.route.name} rule ${rule.route.rule}${rule.route.ruleName ? ` (${rule.route.ruleName})` : ''} -> ${backends}`
}

export async function runEndpoints(f: EndpointsFlags, out: Output): Promise<void> {
  const kube = await loadKube(f.kube)
  const view = await queryDestination(kube, {authority: f.authority, namespace: f.namespace ?? kube.namespace, controlPlaneNamespace: f.controlPlaneNamespace, clusterDomain: f.clusterDomain})
  if (f.output === 'json') {
    out.json(view)
    return
  }
  if (view.result === 'noSuchService') {
    out.data(`${view.authority}: ${view.external ? 'not a cluster name: proxies send it to DNS / the original destination' : 'no such Service or port: proxies answer 503 at once'}`)
  } else if (view.result === 'noEndpoints') {
    out.data(`${view.authority}: no endpoints${view.exists === false ? ' (the Service was deleted)' : ' (no ready pod backs it): proxies answer 503'}`)
  } else if (view.result === 'error') {
    out.data(`${view.authority}: the destination service refused the stream: ${view.error?.code} ${view.error?.message}`)
  } else {
    const rows = view.endpoints.map((e) => [e.address, e.port, e.labels.dst_pod ?? '-', e.identity ?? '- (plaintext)', protocolHint(e)])
    out.stdout.write(await out.table(['ADDRESS', 'PORT', 'POD', 'IDENTITY', 'PROTOCOL'], rows))
  }
  if (view.routes) {
    if (view.routes.rules.length === 0) out.info('Routes: none; every request goes to these endpoints (the default route).')
    else {
      out.data('')
      out.data(`ROUTES (revision ${view.routes.revision}), in the order proxies try them:`)
      for (const e of view.routes.http) out.data(`  http ${JSON.stringify(e.match)}: ${describeRule(view, e.rule)}`)
      for (const e of view.routes.grpc) out.data(`  grpc ${JSON.stringify(e.match)}: ${describeRule(view, e.rule)}`)
    }
  } else if (view.routesError) out.info(`Routes: not available (${view.routesError}).`)
}

export interface ProxyMetricsFlags {
  target: string
  namespace?: string
  controlPlaneNamespace: string
  kube: KubeOptions
}

/** Each pod's /metrics as its proxy serves it, through the API server's pod proxy. */
export async function runProxyMetrics(f: ProxyMetricsFlags, out: Output): Promise<void> {
  const kube = await loadKube(f.kube)
  const ns = f.namespace ?? kube.namespace
  const pods = (await podsOf(kube, parseTarget(f.target, 'target'), {namespace: ns, controlPlaneNamespace: f.controlPlaneNamespace, trustDomain: 'cluster.local'})).filter((p) => p.proxy)
  if (pods.length === 0) throw new ClusterError(`${f.target} in namespace ${ns} has no meshed pods`, {code: 'MESH_NOT_MESHED', suggestions: ['Inject the workload: `kubectl get deploy web -o yaml | mesh inject - | kubectl apply -f -`.']})
  // Read everything first: a failure leaves stdout empty rather than half a document.
  const texts: string[] = []
  for (const [i, pod] of pods.entries()) {
    if (!pod.running) throw new ClusterError(`pod ${ns}/${pod.name} is not running (phase ${pod.pod.status?.phase ?? 'unknown'})`, {code: 'MESH_POD_NOT_RUNNING'})
    let res
    try {
      res = await adminGet(kube, pod, '/metrics', {timeoutMs: 10_000})
    } catch (error) {
      throw new ClusterError(`cannot read the metrics of ${ns}/${pod.name}: ${(error as Error).message}`, {code: 'MESH_PROXY_UNREACHABLE', suggestions: ['Check that the API server can reach pods (`kubectl get --raw /api/v1/namespaces/<ns>/pods/<pod>:4191/proxy/ready`).']})
    }
    if (!res.fromProxy || res.status !== 200) {
      throw new ClusterError(`the metrics of ${ns}/${pod.name} could not be read: HTTP ${res.status} ${res.body.replace(/\s+/g, ' ').slice(0, 200)}`, {
        code: 'MESH_PROXY_UNREACHABLE',
        suggestions: [res.fromProxy ? 'Look at the proxy: `kubectl logs -c mesh-proxy`.' : 'You need `get pods/proxy` in the namespace, and the API server must reach the pod.'],
      })
    }
    texts.push(`#\n# POD ${pod.name} (${i + 1} of ${pods.length})\n#\n${res.body.endsWith('\n') ? res.body : res.body + '\n'}`)
  }
  out.stdout.write(texts.join(''))
}
