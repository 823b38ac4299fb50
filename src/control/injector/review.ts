// One AdmissionReview v1 in, one out. Pod CREATE gets the JSON patch the src/inject library
// computes (pod annotation wins over the namespace's, namespace config.mesh.dev/* merged);
// everything else is allowed untouched. Any failure is allowed untouched too (fail open), with
// a log line and a counter: a broken injector must never keep a Pod from being created.
import {injectPodForAdmission, type MeshConfig} from '../../inject/index.js'
import type {Logger} from '../logger.js'
import type {InjectorMetrics} from './metrics.js'

export const ADMISSION_API_VERSION = 'admission.k8s.io/v1'

export interface ReviewDeps {
  /** The annotations of a namespace (throws when it cannot be read). */
  namespaceAnnotations(namespace: string): Promise<Record<string, string>>
  /** The control plane's config, from ConfigMap mesh-config (throws when unavailable). */
  config(): Promise<MeshConfig>
  createdBy: string
  log: Logger
  metrics: InjectorMetrics
}

export interface AdmissionResponse {
  uid: string
  allowed: true
  patchType?: 'JSONPatch'
  patch?: string
  warnings?: string[]
}

export class BadReview extends Error {}

interface AdmissionRequest {
  uid: string
  kind?: {group?: string; version?: string; kind?: string}
  namespace?: string
  operation?: string
  object?: Record<string, any>
  name?: string
}

/** Checks the envelope; throws BadReview (HTTP 400) when it is not an AdmissionReview v1 with a uid. */
export function parseReview(body: unknown): AdmissionRequest {
  const review = body as {apiVersion?: unknown; kind?: unknown; request?: Partial<AdmissionRequest>}
  if (review === null || typeof review !== 'object') throw new BadReview('the body is not a JSON object')
  if (review.apiVersion !== ADMISSION_API_VERSION || review.kind !== 'AdmissionReview') {
    throw new BadReview(`expected apiVersion ${ADMISSION_API_VERSION} kind AdmissionReview, got ${String(review.apiVersion)} ${String(review.kind)}`)
  }
  const req = review.request
  if (!req || typeof req !== 'object' || typeof req.uid !== 'string' || req.uid === '') throw new BadReview('request.uid is missing')
  return req as AdmissionRequest
}

export function reviewEnvelope(response: AdmissionResponse): object {
  return {apiVersion: ADMISSION_API_VERSION, kind: 'AdmissionReview', response}
}

/** The response for one request; never throws (failures are allowed without a patch). */
export async function review(req: AdmissionRequest, deps: ReviewDeps): Promise<AdmissionResponse> {
  const allow: AdmissionResponse = {uid: req.uid, allowed: true}
  const isPod = req.kind?.kind === 'Pod' && (req.kind.group ?? '') === '' && req.kind.version === 'v1'
  if (!isPod || req.operation !== 'CREATE' || !req.object || typeof req.object !== 'object') {
    deps.metrics.requests.labels('ignored').inc()
    return allow
  }
  const namespace = req.namespace ?? req.object.metadata?.namespace ?? 'default'
  const pod = req.object.metadata?.name ?? (req.object.metadata?.generateName ? `${req.object.metadata.generateName}*` : '(unnamed)')
  const fields = {uid: req.uid, namespace, pod}
  let stage: 'config' | 'namespace' | 'inject' = 'config'
  try {
    const config = await deps.config()
    stage = 'namespace'
    const namespaceAnnotations = await deps.namespaceAnnotations(namespace)
    stage = 'inject'
    const result = injectPodForAdmission({pod: req.object, namespace, namespaceAnnotations, config, createdBy: deps.createdBy})
    if (result.patch.length === 0) {
      deps.metrics.requests.labels('skipped').inc()
      if (result.report === undefined) {
        deps.log.debug('not injected', {...fields, reason: result.decision.reason})
        return allow
      }
      // Asked for, but refused (e.g. a bad config.mesh.dev/* value): still admitted (fail open),
      // and kubectl shows the reason, which names the annotation and the fix.
      deps.log.warn('not injected: the pod asks for the mesh but cannot have it; admitted without a proxy', {...fields, reason: result.decision.reason})
      return {...allow, warnings: [`mesh: the proxy was not injected: ${result.decision.reason}`]}
    }
    deps.metrics.requests.labels('injected').inc()
    deps.log.info('injected', {...fields, reason: result.decision.reason})
    return {...allow, patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(result.patch)).toString('base64')}
  } catch (error) {
    deps.metrics.requests.labels('failed').inc()
    deps.metrics.failures.labels(stage).inc()
    deps.log.warn('injection failed; the pod is admitted without a proxy (fail open)', {...fields, stage, error: (error as Error).message?.split('\n')[0]})
    return {...allow, warnings: [`mesh: the proxy was not injected (${stage} failed); see the mesh-controller logs`]}
  }
}
