// mesh-authz (--proxy, in a cluster): what would make authorization policy surprise its users,
// as warnings: a workload whose default refuses plaintext clients, with kubelet probes its proxy
// cannot let through (they would fail once the proxy enforces the policy), and
// AuthorizationPolicies naming ServiceAccounts that do not exist (a typo allows nobody).
import type {V1Pod} from '@kubernetes/client-node'
import {resolveDefault} from '../../authz/compile.js'
import {podFacts} from '../../authz/pod.js'
import {AUTHZ_GROUP, AUTHZ_PLURAL, AUTHZ_VERSION, DEFAULT_INBOUND_POLICIES, type DefaultInboundPolicy} from '../../protocol/authz.js'
import {call, readOptional} from '../api-errors.js'
import {requireKube} from '../context.js'
import {readController} from '../control-plane-objects.js'
import {listMeshedPods} from '../data-plane/cluster-source.js'
import type {Category, CheckContext} from '../types.js'

/** Defaults under which a plaintext request (a kubelet probe) is refused unless it is a probe the proxy knows. */
const REFUSES_PLAINTEXT = new Set<DefaultInboundPolicy>(['deny', 'all-authenticated', 'cluster-authenticated'])

/** The controller's --default-inbound-policy (the cluster's default), from its Deployment. */
export async function clusterDefault(ctx: CheckContext): Promise<DefaultInboundPolicy> {
  const d = await readController(ctx)
  const args = d.spec?.template?.spec?.containers?.flatMap((c) => [...(c.command ?? []), ...(c.args ?? [])]) ?? []
  const v = args.find((a) => a.startsWith('--default-inbound-policy='))?.slice('--default-inbound-policy='.length)
  return (DEFAULT_INBOUND_POLICIES as readonly string[]).includes(v ?? '') ? (v as DefaultInboundPolicy) : 'all-unauthenticated'
}

function summarize(problems: string[], one: string, many: string): void {
  if (problems.length === 0) return
  throw new Error(`${problems.length} ${problems.length === 1 ? one : many}: ${problems.slice(0, 5).join('; ')}${problems.length > 5 ? `; and ${problems.length - 5} more` : ''}`)
}

/** Pods whose default refuses plaintext and whose probes the proxy cannot recognise, each said once. */
export function probeWarnings(pods: V1Pod[], namespaceAnnotations: ReadonlyMap<string, Record<string, string>>, cluster: DefaultInboundPolicy, cpNs: string): string[] {
  const out: string[] = []
  for (const pod of pods) {
    const f = podFacts(pod, cpNs, 'cluster.local')
    if (f.probeProblems.length === 0) continue
    const d = resolveDefault(f, namespaceAnnotations.get(f.namespace), cluster)
    if (!REFUSES_PLAINTEXT.has(d.policy)) continue
    const p = f.probeProblems[0]!
    out.push(`${f.namespace}/${f.name} (default ${d.policy}, from the ${d.source}): ${p.probe} probe of container ${p.container} on port ${p.port}: ${p.problem}${f.probeProblems.length > 1 ? ` (and ${f.probeProblems.length - 1} more)` : ''}`)
  }
  return out
}

interface RawPolicy {
  metadata?: {name?: string; namespace?: string}
  spec?: {from?: Array<{serviceAccounts?: Array<{name?: unknown; namespace?: unknown}>}>}
}

/** `ns/name` of every ServiceAccount a policy names that is not in `existing` (keys `ns/name`). */
export function missingServiceAccounts(policies: RawPolicy[], existing: ReadonlySet<string>): string[] {
  const out: string[] = []
  for (const p of policies) {
    const ns = p.metadata?.namespace ?? ''
    const missing = new Set<string>()
    for (const from of Array.isArray(p.spec?.from) ? p.spec.from : []) {
      for (const sa of Array.isArray(from?.serviceAccounts) ? from.serviceAccounts : []) {
        if (typeof sa?.name !== 'string') continue
        const key = `${typeof sa.namespace === 'string' ? sa.namespace : ns}/${sa.name}`
        if (!existing.has(key)) missing.add(key)
      }
    }
    if (missing.size > 0) out.push(`${ns}/${p.metadata?.name ?? '?'} names ${[...missing].slice(0, 5).join(', ')}${missing.size > 5 ? ` and ${missing.size - 5} more` : ''}`)
  }
  return out
}

export function authz(): Category {
  return {
    name: 'mesh-authz',
    checks: [
      {
        id: 'MESH3101',
        description: 'workloads whose default refuses plaintext let their kubelet probes through',
        hint: 'Give the probe an httpGet or grpc handler on a port the proxy serves (not in skip-inbound-ports or opaque-ports), or a tcpSocket/exec probe; see docs/architecture/authz.md.',
        warning: true,
        async run(ctx) {
          const kube = requireKube(ctx)
          const [pods, cluster] = await Promise.all([listMeshedPods(ctx, ctx.options.namespace, ctx.options.controlPlaneNamespace), clusterDefault(ctx)])
          const annotations = new Map<string, Record<string, string>>()
          for (const ns of new Set(pods.map((p) => p.metadata?.namespace ?? ''))) {
            const n = await call(`reading namespace ${ns}`, () => kube.core().readNamespace({name: ns}))
            annotations.set(ns, n.metadata?.annotations ?? {})
          }
          summarize(probeWarnings(pods, annotations, cluster, ctx.options.controlPlaneNamespace), 'pod has probes its proxy would refuse under its default', 'pods have probes their proxy would refuse under their default')
        },
      },
      {
        id: 'MESH3102',
        description: 'AuthorizationPolicies name ServiceAccounts that exist',
        hint: 'Create the ServiceAccount, or fix the policy\'s from entry (a name that does not exist allows nobody): `kubectl edit authorizationpolicy -n <ns> <name>`.',
        warning: true,
        async run(ctx) {
          const kube = requireKube(ctx)
          const {CustomObjectsApi} = await import('@kubernetes/client-node')
          const custom = kube.api(CustomObjectsApi)
          const ns = ctx.options.namespace
          // Without the CRD (installed by mesh install) there is no policy to check.
          const list = (await readOptional(`listing ${AUTHZ_PLURAL}.${AUTHZ_GROUP}`, () =>
            ns
              ? custom.listNamespacedCustomObject({group: AUTHZ_GROUP, version: AUTHZ_VERSION, plural: AUTHZ_PLURAL, namespace: ns})
              : custom.listClusterCustomObject({group: AUTHZ_GROUP, version: AUTHZ_VERSION, plural: AUTHZ_PLURAL}),
          )) as {items?: RawPolicy[]} | undefined
          const policies = list?.items ?? []
          const namespaces = new Set(policies.flatMap((p) => (p.spec?.from ?? []).flatMap((f) => (f?.serviceAccounts ?? []).map((s) => (typeof s?.namespace === 'string' ? s.namespace : p.metadata?.namespace ?? '')))))
          const existing = new Set<string>()
          for (const n of namespaces) {
            const sas = await call(`listing ServiceAccounts in ${n}`, () => kube.core().listNamespacedServiceAccount({namespace: n}))
            for (const sa of sas.items) existing.add(`${n}/${sa.metadata?.name ?? ''}`)
          }
          summarize(missingServiceAccounts(policies, existing), 'AuthorizationPolicy names ServiceAccounts that do not exist', 'AuthorizationPolicies name ServiceAccounts that do not exist')
        },
      },
    ],
  }
}
