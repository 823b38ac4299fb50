// The data plane of a cluster: pods with a `mesh-proxy` container. Readiness comes from the
// pod's status, version and anchors from its spec; when the pod has an IP, its admin endpoint
// is read through the API server's pod proxy and overrides both readiness and version.
import type {V1Container, V1Pod} from '@kubernetes/client-node'
import {Annotation, PROXY_CONTAINER} from '../../inject/constants.js'
import {ControlPlane} from '../../protocol/control-plane.js'
import {PROXY_PORTS, ProxyEnv} from '../../protocol/proxy-env.js'
import {call} from '../api-errors.js'
import {requireKube} from '../context.js'
import {controlPlaneVersion, readConfigMapKey, readIssuerKey, TRUST_ROOTS_KEY, imageTag} from '../control-plane-objects.js'
import {rawGet} from '../k8s-raw.js'
import type {CheckContext} from '../types.js'
import {MAX_METRICS_BYTES, probeAdmin} from './admin-probe.js'
import type {DataPlaneSource, ProxyInfo} from './source.js'

/** Most pods one run inspects; beyond that, narrow with -n. */
export const MAX_PODS = 10_000
const PAGE = 500
const PROBE_CONCURRENCY = 8
const MAX_PROBE_FAILURES = 3

export function proxyContainerOf(pod: V1Pod): V1Container | undefined {
  return [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])].find((c) => c.name === PROXY_CONTAINER)
}

/** What the pod's spec and status say about its proxy. */
export function proxyFromPod(pod: V1Pod): ProxyInfo {
  const container = proxyContainerOf(pod)
  const status = [...(pod.status?.containerStatuses ?? []), ...(pod.status?.initContainerStatuses ?? [])].find((c) => c.name === PROXY_CONTAINER)
  const phase = pod.status?.phase ?? 'Pending'
  const ready = phase === 'Running' && status?.ready === true
  const info: ProxyInfo = {namespace: pod.metadata?.namespace ?? '', name: pod.metadata?.name ?? '', ready}
  if (!ready) {
    const waiting = status?.state?.waiting?.reason
    info.notReadyReason = phase !== 'Running' ? `pod phase ${phase}` : status ? `container ${PROXY_CONTAINER} not ready${waiting ? ` (${waiting})` : ''}` : `no status for container ${PROXY_CONTAINER}`
  }
  info.version = pod.metadata?.annotations?.[Annotation.PROXY_VERSION] ?? imageTag(container?.image)
  const anchors = container?.env?.find((e) => e.name === ProxyEnv.IDENTITY_TRUST_ANCHORS_PEM)?.value
  if (anchors) info.trustAnchorsPem = anchors
  return info
}

export function clusterSource(ctx: CheckContext): DataPlaneSource {
  const kube = requireKube(ctx)
  const cpNs = ctx.options.controlPlaneNamespace
  return {
    description: `cluster ${kube.server}`,
    async expected() {
      const [version, trustAnchorsPem] = await Promise.all([controlPlaneVersion(ctx), readConfigMapKey(ctx, ControlPlane.trustRootsConfigMap, TRUST_ROOTS_KEY)])
      let issuerPem: string | undefined
      try {
        issuerPem = await readIssuerKey(ctx, 'cert')
      } catch {
        issuerPem = undefined // reading the issuer needs rights on Secrets; the anchors suffice
      }
      return {version, trustAnchorsPem, issuerPem}
    },
    async proxies(namespace) {
      const pods = await listMeshedPods(ctx, namespace, cpNs)
      const infos = pods.map(proxyFromPod)
      // When the API server cannot reach pods (a common managed-cluster setup), stop asking
      // after a few failures without a success: the pods' status is then all there is.
      let failures = 0
      let successes = 0
      await eachLimited(pods, PROBE_CONCURRENCY, async (pod, i) => {
        if (!pod.status?.podIP || pod.status.phase !== 'Running') return
        if (successes === 0 && failures >= MAX_PROBE_FAILURES) return
        const base = `/api/v1/namespaces/${pod.metadata!.namespace}/pods/${pod.metadata!.name}:${PROXY_PORTS.admin}/proxy`
        try {
          const state = await probeAdmin(async (path) => {
            const res = await rawGet(kube, base + path, {timeoutMs: 3000, maxBytes: MAX_METRICS_BYTES})
            // Only the proxy's own answers count; an API server proxy error is "unreachable".
            if (path === '/ready' && !(res.status === 200 && res.body.trim() === 'ready') && !(res.status === 503 && res.body.trim() === 'not ready')) {
              throw new Error(`pod proxy answered ${res.status}`)
            }
            return res
          })
          successes++
          Object.assign(infos[i]!, {ready: state.ready && infos[i]!.ready, ...(state.version ? {version: state.version} : {}), ...(state.detectTimeouts ? {detectTimeouts: state.detectTimeouts} : {}), ...(state.tlsHandshakes !== undefined ? {tlsHandshakes: state.tlsHandshakes} : {})})
          if (!state.ready) infos[i]!.notReadyReason = state.notReadyReason
        } catch {
          failures++ // keep what the pod's status says
        }
      })
      return infos
    },
  }
}

/** Pods with a mesh proxy (in `namespace` when given), bounded by MAX_PODS. */
export async function listMeshedPods(ctx: CheckContext, namespace: string | undefined, cpNs: string): Promise<V1Pod[]> {
  const kube = requireKube(ctx)
  if (namespace) {
    const ns = await kube.core().readNamespace({name: namespace}).catch(() => undefined)
    if (!ns) throw new Error(`namespace ${namespace} not found`)
  }
  const labelSelector = `${ControlPlane.controlPlaneNsLabel}=${cpNs}`
  const out: V1Pod[] = []
  let cont: string | undefined
  do {
    const page = await call(`listing pods${namespace ? ` in ${namespace}` : ''}`, () =>
      namespace
        ? kube.core().listNamespacedPod({namespace, labelSelector, limit: PAGE, _continue: cont})
        : kube.core().listPodForAllNamespaces({labelSelector, limit: PAGE, _continue: cont}),
    )
    out.push(...page.items.filter((p) => proxyContainerOf(p) && !p.metadata?.deletionTimestamp))
    cont = page.metadata?._continue || undefined
    if (out.length > MAX_PODS) throw new Error(`more than ${MAX_PODS} meshed pods: narrow the check with -n <namespace>`)
  } while (cont)
  return out
}

async function eachLimited<T>(items: T[], limit: number, fn: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++
      await fn(items[i]!, i)
    }
  }
  await Promise.all(Array.from({length: Math.min(limit, items.length)}, worker))
}
