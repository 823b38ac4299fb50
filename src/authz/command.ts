// `mesh authz <workload>` and `mesh authz suggest <workload>` end to end: check the input, ask
// the tap server (through the API server's service proxy, or the local demo), render.
import {MeshError, UsageError} from '../lib/errors.js'
import {printable, type Output} from '../lib/output.js'
import {TapApi} from '../control/tap/api.js'
import {formatResource, parseResource, type ResourceRef} from '../control/tap/resource.js'
import {getJson} from '../tapclient/client.js'
import {resolveControlPlane, type ControlPlaneFlags} from '../tapclient/target.js'
import {AuthzMetrics, type AuthzPolicy, type AuthzRule} from '../protocol/authz.js'
import {INBOUND_REFUSED_FAMILY} from './observed.js'
import {verdictFor, type AuthzReport} from './report.js'
import {meshSuffix, suggest, suggestionYaml} from './suggest.js'

const WORKLOAD_KINDS: ResourceRef['kind'][] = ['deployment', 'statefulset', 'daemonset', 'replicaset', 'job', 'pod']

/** A named workload (deploy/books, sts/db, po/x): anything else is a usage error. */
export function parseWorkload(input: string): ResourceRef {
  const ref = parseResource(input, 'workload')
  if (!WORKLOAD_KINDS.includes(ref.kind) || !ref.name) {
    throw new UsageError(`"${input.slice(0, 80)}" is not one workload: authorization policy is per workload`, {suggestions: ['Name one: deploy/<name>, sts/<name>, ds/<name>, job/<name>, rs/<name> or po/<name>, e.g. mesh authz deploy/books -n shop']})
  }
  return ref
}

export async function fetchAuthz(workload: string, flags: ControlPlaneFlags): Promise<AuthzReport> {
  const ref = parseWorkload(workload)
  const target = await resolveControlPlane(flags)
  const report = await getJson<AuthzReport>(target, TapApi.authz, {resource: formatResource(ref), namespace: target.namespace})
  if (report.pods.length === 0) {
    throw new MeshError(`${workload} has no meshed pods in namespace ${report.namespace}`, {suggestions: ['Mesh it first (`mesh inject`, or mesh.dev/inject: enabled on its namespace), or pass -n <namespace>.']})
  }
  return report
}

// ---- rendering ---------------------------------------------------------------------------------

/** `web.shop.serviceaccount.identity.mesh-system.cluster.local` -> `sa/web.shop` when it is this cluster's. */
function shortId(id: string, suffix: string | undefined, wide: boolean): string {
  if (wide || !suffix) return id
  if (id === '*') return 'any identity'
  const tail = `.serviceaccount.identity.${suffix}`
  const star = id.startsWith('*.')
  const body = star ? id.slice(2) : id
  if (!body.endsWith(tail)) return id
  const head = body.slice(0, -tail.length)
  if (star) return head.includes('.') ? id : `ns/${head}`
  const dot = head.lastIndexOf('.')
  return dot > 0 ? `sa/${head.slice(0, dot)}.${head.slice(dot + 1)}` : id
}

function describeFrom(r: AuthzRule, suffix: string | undefined, wide: boolean): string {
  const parts = r.from.map((s) => {
    const ids = s.identities?.map((i) => shortId(i, suffix, wide)).join(', ')
    const nets = s.networks?.map((n) => `${n.cidr}${n.except ? ` except ${n.except.join(', ')}` : ''}`).join(', ')
    return ids && nets ? `(${ids}) from ${nets}` : ids ?? nets ?? ''
  })
  const text = parts.join('; ')
  return wide || text.length <= 60 ? text : `${text.slice(0, 57)}...`
}

function describeTo(r: AuthzRule): string {
  if (r.to.length === 0) return 'everything'
  return r.to.map((op) => [op.methods?.join(',') ?? '', op.ports ? (op.ports.length === 0 ? '(no port)' : op.ports.join(',')) : '', ...(op.paths ?? []).map((p) => (p.type === 'exact' ? `=${p.value}` : p.type === 'prefix' ? `${p.value === '/' ? '' : p.value}/*` : `~${p.value}`))].filter(Boolean).join(' ')).join('; ')
}

function describeTarget(r: AuthzRule): string {
  const t = r.target
  if (t.kind === 'workload') return 'the workload'
  if (t.kind === 'service') return `Service ports -> ${t.ports.join(',')}`
  return `${t.route.kind} ${t.route.name} on ${t.ports.join(',')}`
}

const SOURCE: Record<string, string> = {cluster: 'the cluster\'s (mesh install)', namespace: 'its namespace\'s annotation', 'inbound-policy': 'the pod\'s config.mesh.dev/inbound-policy', workload: 'the pod template\'s annotation'}

export interface AuthzFlags extends ControlPlaneFlags {
  output: 'table' | 'json' | 'wide'
}

export async function runAuthzCommand(out: Output, workload: string, flags: AuthzFlags): Promise<void> {
  const report = await fetchAuthz(workload, flags)
  if (flags.output === 'json') {
    out.json(report)
    return
  }
  const wide = flags.output === 'wide'
  for (const p of report.pods) if (p.metricsError) out.warn(printable(`pod ${p.pod}: metrics unavailable: ${p.metricsError}`))
  const withPolicy = report.pods.filter((p) => p.policy)
  const policy: AuthzPolicy | undefined = withPolicy[0]?.policy
  const revisions = new Set(withPolicy.map((p) => p.policy!.revision))
  out.data(`${report.resource} in namespace ${report.namespace}: ${report.pods.length} meshed pod${report.pods.length === 1 ? '' : 's'} (${report.pods.map((p) => p.pod).slice(0, 5).join(', ')}${report.pods.length > 5 ? ', ...' : ''})`)
  if (!policy) {
    out.warn('the controller has no authorization policy for these pods (it does not know them yet, or this tap server is not the controller\'s, as in `mesh demo`): only what the proxies counted is shown')
  } else {
    if (revisions.size > 1) out.warn(`the pods do not all have the same policy (${revisions.size} revisions): showing ${withPolicy[0]!.pod}'s; see -o json for each`)
    const d = policy.default
    out.data(`Default inbound policy: ${d.policy}${d.identities ? ` except ${d.identities.map((i) => shortId(i, meshSuffixOf(policy), wide)).join(', ')}` : ''}, from ${SOURCE[d.source] ?? d.source}`)
    if (policy.probes.length > 0) out.data(`Kubelet probes, always allowed: ${policy.probes.map((p) => `${p.port} ${p.method} ${p.path}`).join(', ')}`)
    for (const n of policy.notes ?? []) out.warn(printable(n, 1000))
  }
  for (const r of report.refused) out.warn(`AuthorizationPolicy ${report.namespace}/${r.name} (generation ${r.generation}) is refused by the controller and applies nothing: ${r.message}`)
  const counts = report.observed.policies
  const count = (label: string, field: 'allowed' | 'denied' | 'audit'): string => (counts ? String(counts[label]?.[field] ?? 0) : '-')
  if (policy) {
    const suffix = meshSuffixOf(policy)
    const rows = policy.rules.map((r) => {
      const label = `${r.policy.namespace}/${r.policy.name}`
      return [r.policy.name, r.mode, describeTarget(r), describeFrom(r, suffix, wide), describeTo(r), count(label, 'allowed'), count(label, 'denied'), count(label, 'audit')]
    })
    const dl = `default:${policy.default.policy}`
    rows.push(['(default)', policy.default.policy, policy.rules.some((r) => r.mode === 'enforce' && r.target.kind === 'workload') ? 'nothing left' : 'what no enforce policy covers', '-', '-', count(dl, 'allowed'), count(dl, 'denied'), count(dl, 'audit')])
    out.data('')
    out.stdout.write(await out.table(['POLICY', 'MODE', 'COVERS', 'FROM', 'TO', 'ALLOWED', 'DENIED', 'AUDIT'], rows.map((r) => r.map((c) => printable(c, wide ? 4096 : 300)))))
    if (!counts) out.info(`Allowed, denied and audit counts per policy: not available: these proxies do not export ${AuthzMetrics.allowed} and its siblings (they have not applied a policy from the controller: an older proxy, or one that enforces its MESH_PROXY_INBOUND_POLICY).`)
  }
  const callers = report.observed.callers
  if (report.observed.omitted) out.warn(`${report.observed.omitted} less active callers are left out of this report (it holds at most ${callers.length}); -o json has the same`)
  out.data('')
  if (callers.length === 0) {
    out.data(`No inbound traffic counted by the proxies of ${report.scraped} pod${report.scraped === 1 ? '' : 's'} yet.`)
  } else {
    const suffix = policy ? meshSuffixOf(policy) : undefined
    const rows = callers.map((c) => {
      const who = c.clientId ? shortId(c.clientId, suffix, wide) : `no identity (${c.noTlsReason ?? 'plaintext'})`
      const verdicts = policy ? (c.ports.length > 0 ? c.ports : [undefined]).map((port) => {
        if (port === undefined) return 'unknown port'
        const v = verdictFor(policy, c, port)
        return `${c.ports.length > 1 ? `${port}: ` : ''}${v.verdict === 'depends' ? `depends on ${v.on}` : `${v.verdict} by ${v.by}${v.audit ? ` (audit: ${v.audit.join(', ')} would deny)` : ''}`}`
      }).join('; ') : '-'
      const row = [who, c.ports.join(',') || '-', String(c.requests), String(c.connections), verdicts]
      if (wide) row.push(c.routes.map((r) => `${r.kind} ${r.name}: ${r.requests}`).join(', ') || '-')
      return row
    })
    out.data(`Who called it, as its proxies counted since they started (${report.scraped} of ${report.pods.length} pods read):`)
    out.stdout.write(await out.table(['CLIENT', 'PORTS', 'REQUESTS', 'CONNECTIONS', 'UNDER THE POLICY IN FORCE', ...(wide ? ['ROUTES'] : [])], rows.map((r) => r.map((c) => printable(c, wide ? 4096 : 300)))))
  }
  const refused = report.observed.refused
  if (refused) {
    const total = Object.values(refused).reduce((a, b) => a + b, 0)
    out.data(`Connections the proxies' inbound policy refused (${INBOUND_REFUSED_FAMILY}): ${total === 0 ? 'none' : Object.entries(refused).filter(([, v]) => v > 0).map(([k, v]) => `${printable(k, 60)} ${v}`).join(', ')}`)
  }
}

function meshSuffixOf(policy: AuthzPolicy): string | undefined {
  const m = meshSuffix(policy.workload.identity)
  return m ? `${m.controlPlaneNamespace}.${m.trustDomain}` : undefined
}

export interface SuggestFlags extends ControlPlaneFlags {
  mode: 'audit' | 'enforce'
  name?: string
  output: 'yaml' | 'json'
}

export async function runSuggestCommand(out: Output, workload: string, flags: SuggestFlags): Promise<void> {
  if (flags.name !== undefined && !/^[a-z0-9]([-a-z0-9.]{0,200}[a-z0-9])?$/.test(flags.name)) {
    throw new UsageError(`--name "${flags.name.slice(0, 80)}" is not an object name`, {suggestions: ['Use lower-case letters, digits, - and ., e.g. --name books-callers']})
  }
  const report = await fetchAuthz(workload, flags)
  for (const p of report.pods) if (p.metricsError) out.warn(printable(`pod ${p.pod}: metrics unavailable: ${p.metricsError}`))
  const s = suggest(report, {mode: flags.mode, name: flags.name, now: new Date().toISOString().replace(/\.\d+Z$/, 'Z')})
  if (s.policies.length === 0) {
    const anon = s.unauthenticated.requests + s.unauthenticated.connections > 0 ? `; only clients without a mesh identity (${s.unauthenticated.requests} requests, ${s.unauthenticated.connections} connections), which a policy names by address, and the metrics carry none` : ''
    throw new MeshError(`the proxies of ${report.resource} (${report.scraped} of ${report.pods.length} pods read) counted no caller with a mesh identity${anon}: nothing to suggest`, {
      suggestions: ['Let the workload serve its usual traffic for a while (the counters start with each proxy), then run this again; or write the policy by hand (docs/architecture/authz.md).'],
    })
  }
  if (flags.output === 'json') {
    out.json({apiVersion: 'v1', kind: 'List', items: s.policies.map((p) => p.object)})
  } else {
    out.stdout.write(suggestionYaml(s))
  }
  out.info(`${s.policies.length} AuthorizationPolic${s.policies.length === 1 ? 'y' : 'ies'} in ${flags.mode} mode; review, then \`kubectl apply -f -\`.`)
}
