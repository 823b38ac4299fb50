// `mesh explain deploy/web svc/books`: one reason chain for a pair that fails. Each step is read
// from the real thing and says ok, problem or unknown (and why it cannot tell):
//   discovery     what the destination service tells a proxy (no such service, no endpoints)
//   policy        each destination pod's inbound policy against the source's identity, and the
//                 refusals its proxy counted (mesh_proxy_inbound_policy_refused_total)
//   certificates  whether each side trusts the anchor the other's certificate chains to, the
//                 untrusted_certificate refusals counted, and the mTLS handshakes each destination
//                 proxy closed unfinished (mesh_proxy_refused_total{direction="inbound",
//                 reason="tls_handshake"}: a client stalled, half-closed or sent what is not TLS)
//   detection     protocol detection timeouts counted on the Service's ports
//                 (mesh_proxy_detect_timeouts_total{port}; older proxies: mesh_proxy_refused_total
//                 {reason="detect_timeout"}, any port) that discovery does not mark opaque
//   endpoints     the source proxies' answers for the authority: 502 (connect failed), the
//                 ejections they counted for it and the endpoints ejected now (an endpoint is
//                 ejected after consecutive failures; when all are, the proxy answers 503)
//   errors        the last errors both proxies recorded for the pair (GET /errors; proxies
//                 before it answer 404, and the step says so)
// The cause is the first step with a problem, in that order, with its fix.
import type {X509Certificate} from 'node:crypto'
import {loadKube, type Kube, type KubeOptions} from '../k8s/client.js'
import {ClusterError, UsageError} from '../lib/errors.js'
import type {Output} from '../lib/output.js'
import {parseMetrics, type MetricFamily} from '../metrics/parse.js'
import {DETECT_TIMEOUTS_FAMILY} from '../metrics/detect-families.js'
import {sumOf, type LabelFilter} from '../metrics/query.js'
import {EJECTED_FAMILY, EJECTIONS_FAMILY} from '../metrics/reliability-families.js'
import {ControlPlane} from '../protocol/control-plane.js'
import {ADMIN_ERRORS_PATH, ERRORS_REPORT_MAX_BYTES, ERRORS_RING_SIZE, type ProxyErrorEntry} from '../protocol/proxy-admin.js'
import {ProxyEnv} from '../protocol/proxy-env.js'
import {parseInboundPolicy} from '../proxy/config/inbound-policy.js'
import {readIssuerChain} from './explain-issuer.js'
import {queryDestination, type DestinationView} from './destination-view.js'
import {readCurrentAnchors} from './identity-command.js'
import {parseJsonObject, readProxyIdentities, sha256Of, type ProxyIdentityState} from './identity-report.js'
import {adminGet, parseTarget, podProxyBase, podsOf, proxyEnv, proxyPod, type ProxyPod} from './pods.js'
import {verifyChain} from '../tls/verify.js'

export type StepName = 'discovery' | 'policy' | 'certificates' | 'detection' | 'endpoints' | 'errors'

export interface ExplainStep {
  step: StepName
  state: 'ok' | 'problem' | 'unknown'
  summary: string
  details: string[]
  /** detection: the ports to mark opaque. */
  ports?: number[]
}

/** A step as built: `fix`, when the step knows its own, is the cause's fix instead of fixFor's (not printed with the step). */
type BuiltStep = ExplainStep & {fix?: string}

export interface Explanation {
  namespace: string
  from: {target: string; pods: string[]; identities: string[]}
  to: {service: string; namespace: string; authorities: string[]; pods: string[]}
  steps: ExplainStep[]
  cause?: {step: StepName; summary: string; fix: string}
}

export interface ExplainFlags {
  from: string
  to: string
  namespace?: string
  toNamespace?: string
  port?: number
  controlPlaneNamespace: string
  trustDomain: string
  clusterDomain: string
  output: 'table' | 'json'
  kube: KubeOptions
}

interface Side {
  pods: ProxyPod[]
  metrics: Map<string, Map<string, MetricFamily>>
  unreadable: string[]
}

const sum = (families: Map<string, MetricFamily> | undefined, name: string, where: LabelFilter): number => sumOf(families?.get(name), where) ?? 0

async function readMetrics(kube: Kube, pods: ProxyPod[]): Promise<Side> {
  const side: Side = {pods, metrics: new Map(), unreadable: []}
  await Promise.all(pods.filter((p) => p.proxy && p.running).map(async (p) => {
    try {
      const res = await adminGet(kube, p, '/metrics')
      if (!res.fromProxy || res.status !== 200) throw new Error(`HTTP ${res.status}`)
      side.metrics.set(p.name, parseMetrics(res.body))
    } catch (error) {
      side.unreadable.push(`${p.name} (${(error as Error).message.split('\n')[0]})`)
    }
  }))
  return side
}

/** The authority label values a client may have used for the Service port. */
function authorityMatcher(service: string, ns: string, clusterIps: string[], port: number, clusterDomain: string): (a: string | undefined) => boolean {
  const hosts = new Set([service, `${service}.${ns}`, `${service}.${ns}.svc`, `${service}.${ns}.svc.${clusterDomain}`, ...clusterIps])
  return (a) => {
    if (!a) return false
    const m = /^(.*?)(?::(\d+))?$/.exec(a.toLowerCase())!
    return hosts.has(m[1]!) && Number(m[2] ?? 80) === port
  }
}

function fmtCount(n: number, what: string): string {
  return `${n} ${what}${n === 1 ? '' : 's'}`
}

export async function explain(kube: Kube, f: ExplainFlags): Promise<Explanation> {
  const ns = f.namespace ?? kube.namespace
  const toNs = f.toNamespace ?? ns
  const scope = {namespace: ns, controlPlaneNamespace: f.controlPlaneNamespace, trustDomain: f.trustDomain}
  const source = parseTarget(f.from, 'source', ['deployment', 'statefulset', 'daemonset', 'replicaset', 'job', 'pod'])
  const target = parseTarget(f.to, 'destination', ['service'])
  const fromPods = (await podsOf(kube, source, scope)).filter((p) => p.running)
  if (fromPods.length === 0) throw new ClusterError(`${f.from} in namespace ${ns} has no running pods`, {code: 'MESH_NO_PODS'})
  let svc
  try {
    svc = await kube.core().readNamespacedService({name: target.name, namespace: toNs})
  } catch (error) {
    if ((error as {code?: number}).code === 404) throw new ClusterError(`svc/${target.name} not found in namespace ${toNs}`, {code: 'MESH_NOT_FOUND', suggestions: [`Check the name: \`kubectl get svc -n ${toNs}\`.`]})
    throw error
  }
  const ports = (svc.spec?.ports ?? []).map((p) => p.port).filter((p) => f.port === undefined || p === f.port)
  if (ports.length === 0) throw new UsageError(`svc/${target.name} has no port ${f.port ?? ''}`.trim(), {suggestions: [`Its ports: ${(svc.spec?.ports ?? []).map((p) => p.port).join(', ') || 'none'}.`]})
  const authorities = ports.map((p) => `${target.name}.${toNs}.svc.${f.clusterDomain}:${p}`)
  const views: DestinationView[] = []
  for (const a of authorities) views.push(await queryDestination(kube, {authority: a, namespace: toNs, controlPlaneNamespace: f.controlPlaneNamespace, clusterDomain: f.clusterDomain}))
  const destNames = [...new Set(views.flatMap((v) => v.endpoints.map((e) => e.labels.dst_pod).filter((x): x is string => !!x)))].sort()
  const toPods: ProxyPod[] = []
  for (const name of destNames) {
    try {
      toPods.push(proxyPod(await kube.core().readNamespacedPod({name, namespace: toNs}), {...scope, namespace: toNs}))
    } catch {
      // gone since discovery answered
    }
  }
  const [fromSide, toSide, fromIds, toIds, current, issuerChain] = await Promise.all([
    readMetrics(kube, fromPods), readMetrics(kube, toPods), readProxyIdentities(kube, fromPods), readProxyIdentities(kube, toPods),
    readCurrentAnchors(kube, f.controlPlaneNamespace), readIssuerChain(kube, f.controlPlaneNamespace),
  ])
  const clusterIps = [...(svc.spec?.clusterIPs ?? []), svc.spec?.clusterIP ?? ''].filter((x) => x && x !== 'None')
  const matchPort = (a: string | undefined): boolean => ports.some((p) => authorityMatcher(target.name, toNs, clusterIps, p, f.clusterDomain)(a))
  const built: BuiltStep[] = [
    discoveryStep(views),
    policyStep(fromPods, toPods, toSide, views),
    certificateStep(fromIds, toIds, toSide, current, issuerChain, toPods),
    detectionStep(fromSide, toSide, views, ports),
    endpointsStep(fromSide, views, matchPort),
    await errorsStep(kube, fromPods, toPods, matchPort),
  ]
  const first = built.find((s) => s.state === 'problem' && s.step !== 'errors')
  return {
    namespace: ns,
    from: {target: f.from, pods: fromPods.map((p) => p.name), identities: [...new Set(fromPods.map((p) => p.identity ?? 'not meshed'))]},
    to: {service: target.name, namespace: toNs, authorities, pods: toPods.map((p) => p.name)},
    steps: built.map(({fix: _fix, ...s}) => s),
    ...(first ? {cause: {step: first.step, summary: first.summary, fix: first.fix ?? fixFor(first, target.name, toNs, views)}} : {}),
  }
}

function discoveryStep(views: DestinationView[]): ExplainStep {
  const details = views.map((v) => {
    if (v.result === 'endpoints') return `${v.authority}: ${fmtCount(v.endpoints.length, 'endpoint')} (${v.endpoints.map((e) => `${e.labels.dst_pod ?? e.address} ${e.address}:${e.port}${e.identity ? '' : ' plaintext'}${e.opaque ? ' opaque' : ''}`).join(', ')})`
    if (v.result === 'noEndpoints') return `${v.authority}: no endpoints${v.exists === false ? ' (the Service was deleted)' : ': no ready pod backs it'}`
    if (v.result === 'noSuchService') return `${v.authority}: ${v.external ? 'not a cluster name' : 'no such Service port'}`
    return `${v.authority}: the destination service refused the stream (${v.error?.code}: ${v.error?.message})`
  })
  const bad = views.filter((v) => v.result !== 'endpoints')
  if (bad.length === 0) return {step: 'discovery', state: 'ok', summary: `${fmtCount(views.reduce((a, v) => a + v.endpoints.length, 0), 'endpoint')} for ${views.length === 1 ? views[0]!.authority : `${views.length} ports`}`, details}
  const noEp = bad.find((v) => v.result === 'noEndpoints')
  return {step: 'discovery', state: 'problem', summary: noEp ? `no endpoints for ${noEp.authority}: proxies answer 503 at once` : `${bad[0]!.authority} is not a Service port discovery knows: proxies answer 503`, details}
}

function policyStep(from: ProxyPod[], to: ProxyPod[], toSide: Side, views: DestinationView[]): ExplainStep {
  const details: string[] = []
  let denied = 0
  const targetPorts = new Set(views.flatMap((v) => v.endpoints.map((e) => e.port)))
  for (const pod of to) {
    if (!pod.proxy) {
      details.push(`${pod.name}: not meshed, no inbound policy`)
      continue
    }
    const raw = proxyEnv(pod, ProxyEnv.INBOUND_POLICY) ?? pod.pod.metadata?.annotations?.['config.mesh.dev/inbound-policy']
    let policy
    try {
      policy = parseInboundPolicy(raw, `${ProxyEnv.INBOUND_POLICY} of ${pod.name}`)
    } catch (error) {
      details.push(`${pod.name}: its inbound policy cannot be read: ${(error as Error).message}`)
      continue
    }
    const skipped = (proxyEnv(pod, ProxyEnv.INBOUND_PORTS_TO_IGNORE) ?? '').split(',').map((p) => Number(p.trim())).filter((p) => targetPorts.has(p))
    for (const src of from) {
      let verdict: string | undefined
      if (skipped.length > 0) verdict = undefined
      else if (policy.kind === 'all-unauthenticated') verdict = undefined
      else if (!src.identity) verdict = `${policy.kind === 'all-authenticated' ? 'all-authenticated' : 'identities:...'} refuses ${src.name}: it is not meshed (plaintext)`
      else if (policy.kind === 'identities' && !policy.identities.has(src.identity)) verdict = `identities:${[...policy.identities].join(',')} does not list ${src.identity}`
      if (verdict) {
        denied++
        details.push(`${pod.name}: ${verdict}`)
      }
    }
    const refusals = toSide.metrics.get(pod.name)
    const counted = ['identity_not_allowed', 'unauthenticated', 'no_client_certificate'].map((r) => [r, sum(refusals, 'mesh_proxy_inbound_policy_refused_total', (l) => l.reason === r)] as const).filter(([, n]) => n > 0)
    if (counted.length > 0) details.push(`${pod.name}: its proxy refused ${counted.map(([r, n]) => `${n} (${r})`).join(', ')} connections`)
    if (policy.kind === 'all-unauthenticated' && counted.length === 0) details.push(`${pod.name}: all-unauthenticated (serves every client)`)
  }
  const refusedTotal = to.reduce((a, p) => a + ['identity_not_allowed', 'unauthenticated', 'no_client_certificate'].reduce((b, r) => b + sum(toSide.metrics.get(p.name), 'mesh_proxy_inbound_policy_refused_total', (l) => l.reason === r), 0), 0)
  if (to.length === 0) return {step: 'policy', state: 'unknown', summary: 'no destination pods to ask', details}
  if (denied > 0 || refusedTotal > 0) return {step: 'policy', state: 'problem', summary: denied > 0 ? `the inbound policy of ${fmtCount(new Set(details.filter((d) => /does not list|refuses/.test(d)).map((d) => d.split(':')[0])).size, 'destination pod')} refuses the source` : `the destination proxies refused ${refusedTotal} connections by policy`, details}
  return {step: 'policy', state: 'ok', summary: 'every destination pod\'s inbound policy allows the source', details}
}

function trustedSet(s: ProxyIdentityState): Set<string> {
  return new Set(s.trustedSha256)
}

/** The anchor (among `anchors`) a chain verifies to, ignoring validity (expiry is its own finding). */
function anchorOf(chain: X509Certificate[], anchors: X509Certificate[]): X509Certificate | undefined {
  const [leaf, ...rest] = chain
  return anchors.find((a) => leaf && !verifyChain({leaf, intermediates: rest, anchors: [a], ignoreValidity: true}))
}

function certificateStep(from: ProxyIdentityState[], to: ProxyIdentityState[], toSide: Side, current: X509Certificate[] | undefined, issuer: X509Certificate[] | undefined, toPods: ProxyPod[]): BuiltStep {
  const details: string[] = []
  let problems = 0
  const allAnchors = [...(current ?? []), ...from.flatMap((s) => s.trustAnchors.filter((a): a is X509Certificate => 'raw' in a)), ...to.flatMap((s) => s.trustAnchors.filter((a): a is X509Certificate => 'raw' in a))]
  const issuerAnchor = issuer ? anchorOf(issuer, allAnchors) : undefined
  const anchorFor = (s: ProxyIdentityState): X509Certificate | undefined => (s.chain ? anchorOf(s.chain, allAnchors) : issuerAnchor)
  const name = (a: X509Certificate) => `${a.subject.replace(/\n/g, ', ')} (${sha256Of(a).slice(0, 12)})`
  for (const [side, peers, mine] of [['destination', from, to], ['source', to, from]] as const) {
    for (const holder of mine) {
      if (!holder.meshed) continue
      const trusts = trustedSet(holder)
      for (const peer of peers) {
        if (!peer.meshed) continue
        const anchor = anchorFor(peer)
        if (!anchor) continue
        if (!trusts.has(sha256Of(anchor))) {
          problems++
          details.push(`${side} ${holder.name} does not trust ${name(anchor)}, which ${peer.name}'s certificate chains to (${holder.source === 'proxy' ? 'as its proxy reports' : 'from the anchors it was injected with'})`)
        }
      }
    }
  }
  const untrusted = to.reduce((a, s) => a + sum(toSide.metrics.get(s.name), 'mesh_proxy_inbound_policy_refused_total', (l) => l.reason === 'untrusted_certificate'), 0)
  if (untrusted > 0) details.push(`the destination proxies closed ${untrusted} connections whose client certificate did not verify (untrusted_certificate)`)
  // Handshakes a client began with a destination proxy (its ClientHello named the proxy) and did
  // not finish: counted by the proxy that closed them, whoever the client was (the counter has no
  // peer; its GET /errors entries, in the errors step, name the clients of this pair).
  const unfinished = to.map((s) => [s.name, sum(toSide.metrics.get(s.name), 'mesh_proxy_refused_total', (l) => l.reason === 'tls_handshake' && l.direction === 'inbound')] as const).filter(([, n]) => n > 0)
  const handshakes = unfinished.reduce((a, [, n]) => a + n, 0)
  for (const [pod, n] of unfinished) details.push(`destination ${pod}: its proxy closed ${fmtCount(n, 'inbound mTLS handshake')} that did not finish (tls_handshake): a client stalled past the handshake timeout, half-closed, or sent bytes that are not TLS`)
  if (!issuerAnchor && !from.some((s) => s.chain)) details.push('the issuer could not be read (Secret access) and no proxy reports its certificate: the anchors were compared with what each side trusts only')
  if (problems > 0 || untrusted > 0) return {step: 'certificates', state: 'problem', summary: problems > 0 ? 'a side does not trust the anchor the other\'s certificate chains to: the handshake fails' : `${untrusted} client certificates did not verify`, details}
  // Unfinished handshakes are a problem of this step, as untrusted_certificate refusals are (a
  // count > 0 since the proxy started), but the least certain one: a trust finding above is the
  // summary and the fix when there is one, and an earlier step's problem is the cause before this
  // step's (the first problem is the cause). So they are the cause only when nothing before them
  // is a problem: the count > 0, and discovery, policy and the anchors are fine (or, for the
  // anchors, unknown).
  if (handshakes > 0) {
    const pods = unfinished.map(([pod]) => pod)
    const pod = toPods.find((p) => p.name === pods[0])!
    return {
      step: 'certificates', state: 'problem', details,
      summary: `the destination ${pods.length === 1 ? 'proxy' : 'proxies'} closed ${fmtCount(handshakes, 'mTLS handshake')} that did not finish (${pods.join(', ')}): a client began one and stalled, half-closed or sent bytes that are not TLS`,
      fix: `Find the client: the errors step lists the source's unfinished handshakes (kind tls_handshake, with its address), and the destination proxy's GET /errors every client's: \`kubectl get --raw ${podProxyBase(pod.namespace, pod.name, pod.adminPort)}${ADMIN_ERRORS_PATH}\`. Read that client's proxy log (\`kubectl logs <client pod> -c mesh-proxy\`) and look at the path between them: one that drops large packets stalls a handshake at the certificates. The counts are totals since each proxy started: \`mesh diagnostics proxy-metrics po/${pod.name} -n ${pod.namespace} | grep tls_handshake\` shows whether they move.`,
    }
  }
  if (!issuerAnchor && !from.some((s) => s.chain)) return {step: 'certificates', state: 'unknown', summary: 'cannot tell which anchor certificates chain to', details}
  return {step: 'certificates', state: 'ok', summary: 'both sides trust the anchor the other\'s certificate chains to', details}
}

/** Series of a family whose samples carry `label` (proxies since issue 24); undefined when the family is absent. */
function familyWith(m: Map<string, MetricFamily> | undefined, name: string, label: string): MetricFamily | undefined {
  const f = m?.get(name)
  return f && f.samples.some((s) => label in s.labels) ? f : undefined
}

function detectionStep(from: Side, to: Side, views: DestinationView[], servicePorts: number[]): ExplainStep {
  const details: string[] = []
  // Inbound timeouts count at the destination on the Service's target ports; outbound ones at the
  // source on the Service's own ports. Proxies that count by port tell which; older ones only how many.
  const targetPorts = new Set(views.flatMap((v) => v.endpoints.map((e) => e.port)))
  const found: Array<{pod: string; direction: 'inbound' | 'outbound'; n: number; ports?: number[]}> = []
  for (const [side, direction, keep] of [[to, 'inbound', targetPorts], [from, 'outbound', new Set(servicePorts)]] as const) {
    for (const [pod, m] of side.metrics) {
      const byPort = familyWith(m, DETECT_TIMEOUTS_FAMILY, 'port')
      if (byPort) {
        const hits = byPort.samples.filter((x) => x.labels.direction === direction && x.value > 0 && keep.has(Number(x.labels.port)))
        const n = hits.reduce((a, x) => a + x.value, 0)
        if (n > 0) found.push({pod, direction, n, ports: hits.map((x) => Number(x.labels.port)).sort((a, b) => a - b)})
        continue
      }
      const n = sum(m, 'mesh_proxy_refused_total', (l) => l.reason === 'detect_timeout' && l.direction === direction)
      if (n > 0) found.push({pod, direction, n})
    }
  }
  for (const f of found) {
    details.push(`${f.direction === 'inbound' ? 'destination' : 'source'} ${f.pod}: ${fmtCount(f.n, `${f.direction} connection`)} sent nothing recognisable within the detect timeout${f.ports ? ` (port ${f.ports.join(', ')})` : ''}`)
  }
  if (to.unreadable.length + from.unreadable.length > 0) details.push(`metrics not read from: ${[...from.unreadable, ...to.unreadable].join(', ')}`)
  if (found.length === 0) {
    if (to.metrics.size + from.metrics.size === 0) return {step: 'detection', state: 'unknown', summary: 'no proxy\'s metrics could be read', details}
    return {step: 'detection', state: 'ok', summary: 'no protocol detection timeouts', details}
  }
  // Where the proxies name the ports, those; else every target port discovery does not mark opaque.
  const named = found.flatMap((f) => (f.direction === 'inbound' ? f.ports ?? [] : []))
  const notOpaque = views.flatMap((v) => v.endpoints.filter((e) => !e.opaque).map((e) => e.port))
  const ports = [...new Set(named.length > 0 ? named : notOpaque)].sort((a, b) => a - b)
  return {step: 'detection', state: 'problem', ports, summary: `protocol detection timed out (${found.length} prox${found.length === 1 ? 'y' : 'ies'}), on port${ports.length === 1 ? '' : 's'} ${ports.join(', ') || 'unknown'} that discovery does not mark opaque: a server-speaks-first protocol stalls the detect timeout on each connection`, details}
}

function endpointsStep(from: Side, views: DestinationView[], matchPort: (a: string | undefined) => boolean): ExplainStep {
  const details: string[] = []
  let connectFailed = 0
  let unavailable = 0
  let ejections = 0
  let ejectedNow = 0
  let byAuthority = true
  for (const [pod, m] of from.metrics) {
    const byStatus = (code: string) => sum(m, 'response_total', (l) => l.direction === 'outbound' && l.status_code === code && matchPort(l.authority))
    const c502 = byStatus('502')
    const c503 = byStatus('503')
    // Proxies since issue 24 count ejections by authority; older ones for every authority together.
    const perAuthority = familyWith(m, EJECTIONS_FAMILY, 'authority') !== undefined
    if (!perAuthority) byAuthority = false
    const ej = sum(m, EJECTIONS_FAMILY, (l) => l.direction === 'outbound' && (!perAuthority || matchPort(l.authority)))
    const ejected = (m.get(EJECTED_FAMILY)?.samples ?? []).filter((s) => s.value > 0 && s.labels.direction === 'outbound' && matchPort(s.labels.authority)).map((s) => printable(s.labels.endpoint ?? '?'))
    connectFailed += c502
    unavailable += c503
    ejections += ej
    ejectedNow += ejected.length
    if (c502 + c503 + ej + ejected.length > 0) details.push(`source ${pod}: ${c502} answered 502 (connect failed or reset), ${c503} answered 503${ej ? `, ${fmtCount(ej, 'endpoint ejection')} counted${perAuthority ? '' : ' (all authorities)'}` : ''}${ejected.length ? `, ejected now: ${ejected.join(', ')}` : ''}`)
  }
  if (from.metrics.size === 0) return {step: 'endpoints', state: 'unknown', summary: 'the source proxies\' metrics could not be read', details: from.unreadable.map((u) => `not read: ${u}`)}
  const listed = views.some((v) => v.endpoints.length > 0)
  if (listed && (connectFailed > 0 || ejections > 0)) {
    const all = listed && ejectedNow > 0 && ejectedNow >= views.reduce((a, v) => a + v.endpoints.length, 0) * Math.max(1, from.metrics.size)
    return {step: 'endpoints', state: 'problem', summary: `discovery lists endpoints but the source proxies could not reach them (${connectFailed} connect failures${unavailable ? `, then ${unavailable} answers 503: every endpoint ejected` : ''}${all ? '; every endpoint is ejected now' : ''})`, details}
  }
  if (listed && unavailable > 0) {
    if (byAuthority) return {step: 'endpoints', state: 'unknown', summary: `${unavailable} answers 503 for this Service, and no endpoint of it was ejected: the application answered them (or discovery had no endpoints then)`, details}
    return {step: 'endpoints', state: 'unknown', summary: `${unavailable} answers 503 for this Service: from the application, or from the proxy with every endpoint ejected (proxies of this version do not tell which)`, details}
  }
  return {step: 'endpoints', state: 'ok', summary: 'no connect failures or ejections seen by the source proxies', details}
}

const ERROR_FIELD_MAX = {peer: 512, authority: 512, kind: 64, message: 1024} as const

/** What a proxy wrote, made safe for a terminal: control characters (escape sequences) become U+FFFD. */
function printable(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g, '\uFFFD')
}

/**
 * Validates a GET /errors answer (src/protocol/proxy-admin.ts): a proxy is not trusted to send
 * well-formed JSON. Returns the entries, newest first; throws naming the first problem.
 */
export function parseErrorsReport(body: string): ProxyErrorEntry[] {
  const o = parseJsonObject(body, ERRORS_REPORT_MAX_BYTES)
  if (o.version !== 1) throw new Error(`version ${JSON.stringify(o.version)?.slice(0, 20)} is not 1`)
  if (!Array.isArray(o.errors) || o.errors.length > ERRORS_RING_SIZE) throw new Error(`errors must be a list of at most ${ERRORS_RING_SIZE}`)
  const out: Array<ProxyErrorEntry & {at: number}> = []
  for (const [i, e] of (o.errors as unknown[]).entries()) {
    const x = e as Record<string, unknown>
    if (!x || typeof x !== 'object' || Array.isArray(x)) throw new Error(`errors[${i}] is not an object`)
    const at = typeof x.time === 'string' && x.time.length <= 40 ? Date.parse(x.time) : NaN
    if (!Number.isFinite(at)) throw new Error(`errors[${i}].time is not a date`)
    if (x.direction !== 'inbound' && x.direction !== 'outbound') throw new Error(`errors[${i}].direction must be inbound or outbound`)
    for (const k of ['peer', 'kind', 'message'] as const) {
      if (typeof x[k] !== 'string' || (x[k] as string).length > ERROR_FIELD_MAX[k]) throw new Error(`errors[${i}].${k} must be a string of at most ${ERROR_FIELD_MAX[k]} characters`)
    }
    if (x.authority !== undefined && (typeof x.authority !== 'string' || x.authority.length > ERROR_FIELD_MAX.authority)) throw new Error(`errors[${i}].authority must be a string of at most ${ERROR_FIELD_MAX.authority} characters`)
    out.push({
      at, time: new Date(at).toISOString(), direction: x.direction, peer: printable(x.peer as string), kind: printable(x.kind as string), message: printable(x.message as string),
      ...(x.authority === undefined ? {} : {authority: printable(x.authority as string)}),
    })
  }
  return out.sort((a, b) => b.at - a.at).map(({at: _at, ...e}) => e)
}

/** Who a proxy's /errors entries must name to be about the pair: the other side's identities and pod IPs, or (source side) the Service's authority. */
interface PairFilter {
  peers: Set<string>
  ips: Set<string>
  authority?: (a: string | undefined) => boolean
}

function aboutPair(e: ProxyErrorEntry, f: PairFilter): boolean {
  if (f.peers.has(e.peer)) return true
  const i = e.peer.lastIndexOf(':')
  if (i > 0 && f.ips.has(e.peer.slice(0, i).replace(/^\[|\]$/g, ''))) return true
  return f.authority?.(e.authority) === true
}

async function errorsStep(kube: Kube, from: ProxyPod[], to: ProxyPod[], matchPort: (a: string | undefined) => boolean): Promise<ExplainStep> {
  const details: string[] = []
  let answered = 0
  let notServed = 0
  const entries: Array<ProxyErrorEntry & {pod: string}> = []
  const filterOf = (peers: ProxyPod[], authority?: PairFilter['authority']): PairFilter => ({
    peers: new Set(peers.map((p) => p.identity).filter((x): x is string => !!x)),
    ips: new Set(peers.map((p) => p.ip).filter((x): x is string => !!x)),
    authority,
  })
  // The whole ring (at most ERRORS_RING_SIZE entries), kept when about the pair: a failure with no
  // endpoint (no endpoints, every one ejected) names the Service's authority, not a peer.
  for (const [pods, filter] of [[from, filterOf(to, matchPort)], [to, filterOf(from)]] as const) {
    for (const pod of pods.filter((p) => p.proxy && p.running)) {
      try {
        const res = await adminGet(kube, pod, ADMIN_ERRORS_PATH, {maxBytes: ERRORS_REPORT_MAX_BYTES})
        if (!res.fromProxy) continue
        if (res.status === 404) {
          notServed++
          continue
        }
        if (res.status !== 200) continue
        let report: ProxyErrorEntry[]
        try {
          report = parseErrorsReport(res.body)
        } catch (error) {
          details.push(`${pod.name}: its ${ADMIN_ERRORS_PATH} answer was refused: ${(error as Error).message}`)
          continue
        }
        answered++
        for (const e of report.filter((x) => aboutPair(x, filter)).slice(0, 10)) entries.push({...e, pod: pod.name})
      } catch {
        // not answered (the API server could not reach it, or the deadline passed)
      }
    }
  }
  if (answered === 0) {
    return {step: 'errors', state: 'unknown', summary: notServed > 0 ? `not available: the proxies do not serve ${ADMIN_ERRORS_PATH} (a version before it); see their logs: \`kubectl logs <pod> -c mesh-proxy\`` : `the proxies' ${ADMIN_ERRORS_PATH} could not be read; see their logs: \`kubectl logs <pod> -c mesh-proxy\``, details}
  }
  entries.sort((a, b) => b.time.localeCompare(a.time))
  for (const e of entries.slice(0, 10)) details.push(`${e.time} ${e.pod} ${e.direction} ${e.peer}${e.authority ? ` ${e.authority}` : ''}: ${e.kind}: ${e.message}`)
  return {step: 'errors', state: entries.length > 0 ? 'problem' : 'ok', summary: entries.length > 0 ? `${entries.length} recent errors for this pair (the last ${ERRORS_RING_SIZE} each proxy keeps)` : 'no recent errors for this pair', details}
}

function fixFor(step: ExplainStep, service: string, ns: string, views: DestinationView[]): string {
  const ports = (step.ports ?? [...new Set(views.flatMap((v) => v.endpoints.map((e) => e.port)))]).join(',')
  switch (step.step) {
    case 'discovery':
      return `Check that svc/${service} selects ready pods: \`kubectl get endpointslices -n ${ns} -l kubernetes.io/service-name=${service}\` and \`kubectl get pods -n ${ns}\`.`
    case 'policy':
      return `Allow the source in the destination's inbound policy (annotation config.mesh.dev/inbound-policy on the destination's pod template, e.g. identities:<source identity>,...), or mesh the source.`
    case 'certificates':
      return 'Make both sides trust the current anchors: restart the side that lacks them (`kubectl rollout restart`), or finish the anchor rotation (`mesh identity rotate-anchor --new <anchor>`); `mesh check --proxy` lists every proxy that disagrees.'
    case 'detection':
      return `Mark the port opaque so no detection runs: \`kubectl annotate svc/${service} -n ${ns} config.mesh.dev/opaque-ports=${ports || '<port>'}\` and the same annotation on the destination's pod template (then restart it).`
    case 'endpoints':
      return `The endpoints refuse or reset connections: check the destination pods listen on ${ports || 'the target port'} (\`kubectl logs\`), and their readiness probes.`
    default:
      return 'See the proxies\' logs.'
  }
}

const MARK = {ok: '√', problem: '×', unknown: '?'} as const

export async function runExplain(f: ExplainFlags, out: Output): Promise<void> {
  const kube = await loadKube(f.kube)
  const e = await explain(kube, f)
  if (f.output === 'json') {
    out.json(e)
    return
  }
  out.data(`${f.from} (${fmtCount(e.from.pods.length, 'pod')}) -> svc/${e.to.service} in ${e.to.namespace} (${e.to.authorities.join(', ')})`)
  for (const s of e.steps) {
    out.data(`${MARK[s.state]} ${s.step.padEnd(12)} ${s.summary}`)
    for (const d of s.details) out.data(`    ${d}`)
  }
  if (e.cause) out.data(`Cause: ${e.cause.step}: ${e.cause.summary}\nFix: ${e.cause.fix}`)
  else out.data(`No cause found in what the mesh reports${e.steps.some((s) => s.state === 'unknown') ? ' (some steps could not be read: marked ?)' : ''}. ${ControlPlane.controller} logs and the application's own logs are next.`)
}
