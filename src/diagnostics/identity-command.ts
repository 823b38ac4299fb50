// `mesh identity deploy/web`: per pod, the identity its proxy holds, the issuer and not-after
// of its certificate, the anchor that certificate chains to, and whether it trusts every
// current anchor. Facts come from the proxy's GET /identity through the API server; for proxies
// that do not serve it yet, from the pod spec (the identity its ServiceAccount gives, the anchors
// it was injected with), and the certificate columns say they are unknown.
import type {X509Certificate} from 'node:crypto'
import {loadKube, type Kube, type KubeOptions} from '../k8s/client.js'
import type {Output} from '../lib/output.js'
import {ControlPlane} from '../protocol/control-plane.js'
import {TRUST_ROOTS_CONFIGMAP_KEY} from '../protocol/identity.js'
import {parseCertificates} from '../tls/pem.js'
import {verifyChain} from '../tls/verify.js'
import {readProxyIdentities, sha256Of, type ProxyIdentityState} from './identity-report.js'
import {parseTarget, podsOf, requireMeshed} from './pods.js'

export interface IdentityFlags {
  target: string
  namespace?: string
  controlPlaneNamespace: string
  trustDomain: string
  output: 'table' | 'json'
  kube: KubeOptions
}

export interface AnchorRef {
  subject: string
  sha256: string
  notAfter: string
}

export interface PodIdentity {
  namespace: string
  pod: string
  meshed: boolean
  running: boolean
  identity?: string
  source: ProxyIdentityState['source']
  /** Why the proxy itself could not tell (the rest then comes from the pod spec). */
  unreachable?: string
  certificate?: {notBefore: string; notAfter: string; serial: string; sha256: string; issuer: string}
  /** The anchor its certificate chains to (among the current ones and those it trusts). */
  anchor?: AnchorRef
  /** Why its certificate does not chain to any of them. */
  chainProblem?: string
  trustedAnchors: AnchorRef[]
  /** Current anchors (the trust-roots ConfigMap) it does not trust. */
  missingCurrentAnchors: AnchorRef[]
}

export interface IdentityReport {
  namespace: string
  target: string
  /** The current trust anchors, when they could be read. */
  currentAnchors?: AnchorRef[]
  pods: PodIdentity[]
}

const ref = (c: X509Certificate): AnchorRef => ({subject: c.subject.replace(/\n/g, ', '), sha256: sha256Of(c), notAfter: new Date(c.validTo).toISOString()})

export async function readCurrentAnchors(kube: Kube, cpNs: string): Promise<X509Certificate[] | undefined> {
  try {
    const cm = await kube.core().readNamespacedConfigMap({name: ControlPlane.trustRootsConfigMap, namespace: cpNs})
    const pem = cm.data?.[TRUST_ROOTS_CONFIGMAP_KEY]
    return pem ? parseCertificates(pem) : undefined
  } catch {
    return undefined
  }
}

/** One pod's row from its state and the current anchors (pure: tested without a cluster). */
export function podIdentity(s: ProxyIdentityState, current: X509Certificate[] | undefined, now = new Date()): PodIdentity {
  const trusted: AnchorRef[] = s.trustAnchors.map((a) => ('raw' in a ? ref(a as X509Certificate) : {subject: a.subject, sha256: a.sha256, notAfter: a.notAfter}))
  const row: PodIdentity = {
    namespace: s.namespace, pod: s.name, meshed: s.meshed, running: s.running, identity: s.identity, source: s.source,
    ...(s.unreachable ? {unreachable: s.unreachable} : {}),
    trustedAnchors: trusted,
    missingCurrentAnchors: (current ?? []).filter((a) => !s.trustedSha256.includes(sha256Of(a))).map(ref),
  }
  const [leaf, ...rest] = s.chain ?? []
  if (leaf) {
    row.certificate = {
      notBefore: new Date(leaf.validFrom).toISOString(),
      notAfter: new Date(leaf.validTo).toISOString(),
      serial: leaf.serialNumber.toLowerCase(),
      sha256: sha256Of(leaf),
      issuer: (rest[0]?.subject ?? leaf.issuer).replace(/\n/g, ', '),
    }
    const candidates = [...(current ?? []), ...s.trustAnchors.filter((a): a is X509Certificate => 'raw' in a)]
    for (const anchor of candidates) {
      if (!verifyChain({leaf, intermediates: rest, anchors: [anchor], at: now})) {
        row.anchor = ref(anchor)
        break
      }
    }
    if (!row.anchor) row.chainProblem = candidates.length ? verifyChain({leaf, intermediates: rest, anchors: candidates, at: now}) : 'no anchors to check it against'
  }
  return row
}

export async function identityReport(kube: Kube, f: IdentityFlags): Promise<IdentityReport> {
  const ns = f.namespace ?? kube.namespace
  const target = parseTarget(f.target, 'target')
  const pods = requireMeshed(await podsOf(kube, target, {namespace: ns, controlPlaneNamespace: f.controlPlaneNamespace, trustDomain: f.trustDomain}), `${f.target} in namespace ${ns}`)
  const [states, current] = await Promise.all([readProxyIdentities(kube, pods), readCurrentAnchors(kube, f.controlPlaneNamespace)])
  return {namespace: ns, target: f.target, ...(current ? {currentAnchors: current.map(ref)} : {}), pods: states.map((s) => podIdentity(s, current))}
}

const short = (sha: string): string => sha.slice(0, 12)

export async function runIdentityCommand(f: IdentityFlags, out: Output): Promise<void> {
  const kube = await loadKube(f.kube)
  const report = await identityReport(kube, f)
  if (f.output === 'json') {
    out.json(report)
    return
  }
  const rows = report.pods.map((p) => {
    if (!p.meshed) return [p.pod, '-', '-', '-', '-', '-', 'not meshed']
    const trusts = report.currentAnchors ? (p.missingCurrentAnchors.length === 0 ? 'all current' : `missing ${p.missingCurrentAnchors.map((a) => short(a.sha256)).join(',')}`) : `${p.trustedAnchors.length} anchor(s)`
    const cert = p.certificate
    return [
      p.pod,
      p.identity ?? '-',
      cert ? cert.issuer : 'unknown',
      cert ? cert.notAfter : 'unknown',
      p.anchor ? `${p.anchor.subject} (${short(p.anchor.sha256)})` : cert ? `none: ${p.chainProblem}` : 'unknown',
      trusts,
      p.source === 'proxy' ? 'proxy' : `pod spec${p.running ? '' : ' (not running)'}`,
    ]
  })
  out.stdout.write(await out.table(['POD', 'IDENTITY', 'ISSUER', 'NOT AFTER', 'ANCHOR', 'TRUSTS', 'SOURCE'], rows))
  const unknown = report.pods.filter((p) => p.meshed && p.source !== 'proxy' && p.unreachable)
  if (unknown.length > 0) {
    out.info(`${unknown.length} of ${report.pods.length} pods: certificate unknown, anchors as injected (${unknown[0]!.unreachable}).`)
  }
  if (!report.currentAnchors) out.info(`The current anchors (ConfigMap ${f.controlPlaneNamespace}/${ControlPlane.trustRootsConfigMap}) could not be read: TRUSTS counts the pods' own.`)
  else out.info(`Current anchors: ${report.currentAnchors.map((a) => `${a.subject} (${short(a.sha256)}, until ${a.notAfter})`).join('; ')}`)
}
