// What each proxy holds and trusts: its answer to GET /identity (src/protocol/proxy-admin.ts)
// when it serves one, else what its pod spec says (the anchors it was injected with, the
// identity its ServiceAccount gives it). Read through the API server's pod proxy, 8 pods at a
// time; after 3 failures without a success no further pod is asked (an API server that cannot
// reach pods would cost 3 s a pod). Answers are bounded and validated: a proxy is not trusted
// to send well-formed JSON.
import {createHash, X509Certificate} from 'node:crypto'
import type {Kube} from '../k8s/client.js'
import {ADMIN_IDENTITY_PATH, IDENTITY_REPORT_MAX_BYTES, type ProxyIdentityReport} from '../protocol/proxy-admin.js'
import {ProxyEnv} from '../protocol/proxy-env.js'
import type {TrustAnchorInfo} from '../protocol/trust.js'
import {parseCertificates} from '../tls/pem.js'
import {adminGet, proxyEnv, type ProxyPod} from './pods.js'

export interface ProxyIdentityState {
  namespace: string
  name: string
  meshed: boolean
  running: boolean
  identity?: string
  /** Where the facts come from: the proxy's own /identity, or the pod spec (proxies without it). */
  source: 'proxy' | 'pod spec' | 'none'
  /** Why the proxy itself could not be asked, when it could not. */
  unreachable?: string
  state?: ProxyIdentityReport['state']
  /** The certificate it presents, leaf first (only from the proxy). */
  chain?: X509Certificate[]
  /** The anchors it verifies with (proxy: now; pod spec: at injection). */
  trustAnchors: X509Certificate[] | TrustAnchorInfo[]
  /** sha256 (hex) of each anchor it trusts. */
  trustedSha256: string[]
  trustBundleRevision?: string
  lastError?: string
}

export const sha256Of = (cert: X509Certificate): string => createHash('sha256').update(cert.raw).digest('hex')

const HEX64 = /^[0-9a-f]{64}$/

/** Validates a /identity answer; throws naming the first problem. */
/** A proxy's JSON answer: at most `maxBytes`, an object; throws naming the problem. */
export function parseJsonObject(body: string, maxBytes: number): Record<string, unknown> {
  if (Buffer.byteLength(body) > maxBytes) throw new Error(`larger than ${maxBytes} bytes`)
  let v: unknown
  try {
    v = JSON.parse(body)
  } catch {
    throw new Error('not JSON')
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error('not a JSON object')
  return v as Record<string, unknown>
}

export function parseIdentityReport(body: string): ProxyIdentityReport {
  const o = parseJsonObject(body, IDENTITY_REPORT_MAX_BYTES)
  if (o.version !== 1) throw new Error(`version ${JSON.stringify(o.version)} is not 1`)
  if (o.state !== 'pending' && o.state !== 'ready' && o.state !== 'disabled') throw new Error('state must be pending, ready or disabled')
  if (o.identity !== undefined && typeof o.identity !== 'string') throw new Error('identity must be a string')
  if (!Array.isArray(o.trustAnchors) || o.trustAnchors.length > 64) throw new Error('trustAnchors must be a list of at most 64')
  for (const a of o.trustAnchors as Array<Record<string, unknown>>) {
    if (!a || typeof a.sha256 !== 'string' || !HEX64.test(a.sha256) || typeof a.subject !== 'string' || typeof a.notAfter !== 'string') throw new Error('each trustAnchors entry needs sha256 (64 hex), subject and notAfter')
  }
  if (o.certificate !== undefined) {
    const c = o.certificate as Record<string, unknown>
    if (!c || typeof c.chainPem !== 'string' || typeof c.notAfter !== 'string') throw new Error('certificate needs chainPem and notAfter')
  }
  for (const k of ['certified', 'failures'] as const) if (typeof o[k] !== 'number') throw new Error(`${k} must be a number`)
  return o as unknown as ProxyIdentityReport
}

/** The pod-spec view: the anchors the injector gave the proxy. */
export function fromPodSpec(pod: ProxyPod): ProxyIdentityState {
  const base = {namespace: pod.namespace, name: pod.name, meshed: pod.proxy !== undefined, running: pod.running, identity: pod.identity}
  if (!pod.proxy) return {...base, source: 'none', trustAnchors: [], trustedSha256: []}
  const pem = proxyEnv(pod, ProxyEnv.IDENTITY_TRUST_ANCHORS_PEM)
  let anchors: X509Certificate[]
  try {
    anchors = pem ? parseCertificates(pem) : []
  } catch {
    anchors = []
  }
  return {...base, source: 'pod spec', trustAnchors: anchors, trustedSha256: anchors.map(sha256Of)}
}

export function fromReport(pod: ProxyPod, report: ProxyIdentityReport): ProxyIdentityState {
  let chain: X509Certificate[] | undefined
  try {
    chain = report.certificate ? parseCertificates(report.certificate.chainPem, `certificate of ${pod.namespace}/${pod.name}`) : undefined
  } catch {
    chain = undefined
  }
  return {
    namespace: pod.namespace,
    name: pod.name,
    meshed: true,
    running: pod.running,
    identity: report.identity ?? pod.identity,
    source: 'proxy',
    state: report.state,
    chain,
    trustAnchors: report.trustAnchors,
    trustedSha256: report.trustAnchors.map((a) => a.sha256),
    trustBundleRevision: report.trustBundleRevision,
    lastError: report.lastError,
  }
}

/** Every pod's state: the proxy's report where it serves one, else its spec. */
export async function readProxyIdentities(kube: Kube, pods: ProxyPod[], o: {concurrency?: number} = {}): Promise<ProxyIdentityState[]> {
  const out: ProxyIdentityState[] = pods.map(fromPodSpec)
  let failures = 0
  let successes = 0
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < pods.length) {
      const i = next++
      const pod = pods[i]!
      if (!pod.proxy || !pod.running) continue
      if (successes === 0 && failures >= 3) {
        out[i]!.unreachable = 'not asked: the API server could not reach the pods asked before'
        continue
      }
      try {
        const res = await adminGet(kube, pod, ADMIN_IDENTITY_PATH, {maxBytes: IDENTITY_REPORT_MAX_BYTES})
        if (!res.fromProxy) {
          failures++
          out[i]!.unreachable = `the API server could not reach its admin port (HTTP ${res.status})`
          continue
        }
        successes++
        if (res.status === 404) {
          out[i]!.unreachable = `its proxy does not serve ${ADMIN_IDENTITY_PATH} (a version before the identity report)`
          continue
        }
        if (res.status !== 200) {
          out[i]!.unreachable = `${ADMIN_IDENTITY_PATH} answered HTTP ${res.status}`
          continue
        }
        out[i] = fromReport(pod, parseIdentityReport(res.body))
      } catch (error) {
        failures++
        out[i]!.unreachable = `reading ${ADMIN_IDENTITY_PATH}: ${(error as Error).message.split('\n')[0]}`
      }
    }
  }
  await Promise.all(Array.from({length: Math.min(o.concurrency ?? 8, pods.length)}, worker))
  return out
}
