// Checks as data: a category is a named list of checks; a check is a description, a hint, a
// stable id and a run() that throws to fail. The runner (runner.ts) decides retries, fatal
// stops and warnings; renderers (render/) turn the report into text or JSON.
import type {Kube, KubeOptions} from '../k8s/client.js'
import type {DataPlaneSource} from './data-plane/source.js'

/** The outcome of one check, as it appears in the JSON document. */
export type CheckResult = 'success' | 'warning' | 'error'

export interface CheckOptions {
  /** The control plane namespace (default mesh-system). */
  controlPlaneNamespace: string
  /** -n: restrict the data plane checks to one namespace; also the namespace the capability probe uses. */
  namespace?: string
  /** Version the control plane and the proxies must run (--expected-version, default the CLI's). */
  expectedVersion: string
  /** Oldest Kubernetes minor we support, e.g. "1.29". */
  minKubernetesVersion: string
  /** Largest tolerated difference between this machine's clock and the API server's. */
  maxClockSkewMs: number
  /** Certificates expiring sooner than this produce a warning. */
  expiryWarningMs: number
  /** How long one API call may take (--request-timeout; 0: no limit). */
  requestTimeoutMs: number
}

export interface CheckContext {
  options: CheckOptions
  /** How to reach the cluster (the first check loads it). */
  kubeOptions: KubeOptions
  /** The cluster connection once loaded; checks call requireKube(). */
  kube?: Kube
  /** Where the data plane checks find proxies; default: the cluster's meshed pods. */
  dataPlane?: DataPlaneSource
  /** The clock every time-dependent check reads. */
  now(): Date
}

export interface Check<C = CheckContext> {
  /** Stable id, documented in docs/architecture/check.md, e.g. MESH1001. Never reused. */
  id: string
  /** What holds when the check passes, e.g. "control plane namespace exists". */
  description: string
  /** What to do when it fails. */
  hint: string
  /** When it fails, stop: no further check runs (nothing after it could pass). */
  fatal?: boolean
  /** When it fails, report a warning: the verdict and the exit code are unaffected. */
  warning?: boolean
  /**
   * Retryable: under --wait, a failing run is repeated until it passes or until this many ms
   * (capped by --wait) have passed. Absent: never retried.
   */
  retryDeadline?: number
  /** Resolves when the check passes; throws (an Error whose message says why) when it fails. */
  run(ctx: C): Promise<void>
}

export interface Category<C = CheckContext> {
  name: string
  checks: Check<C>[]
}

/** Thrown by a check to report a warning even though the check is not a warning check. */
export class CheckWarning extends Error {
  constructor(message: string, options?: {cause?: unknown}) {
    super(message, options)
    this.name = 'CheckWarning'
  }
}
