// The context every check receives: options, how to reach the cluster, and a clock.
import type {Kube, KubeOptions} from '../k8s/client.js'
import {ControlPlane} from '../protocol/control-plane.js'
import {DEFAULT_REQUEST_TIMEOUT_MS} from '../lib/duration.js'
import {meshVersion} from '../lib/version.js'
import type {CheckContext, CheckOptions} from './types.js'

export const MIN_KUBERNETES_VERSION = '1.29'
export const DEFAULT_MAX_CLOCK_SKEW_MS = 5 * 60_000
export const EXPIRY_WARNING_MS = 60 * 24 * 3600 * 1000

export function checkOptions(overrides: Partial<CheckOptions> = {}): CheckOptions {
  const defined = Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined)) as Partial<CheckOptions>
  return {
    controlPlaneNamespace: ControlPlane.namespace,
    expectedVersion: meshVersion(),
    minKubernetesVersion: MIN_KUBERNETES_VERSION,
    maxClockSkewMs: DEFAULT_MAX_CLOCK_SKEW_MS,
    expiryWarningMs: EXPIRY_WARNING_MS,
    requestTimeoutMs: DEFAULT_REQUEST_TIMEOUT_MS,
    ...defined,
  }
}

export function createContext(kubeOptions: KubeOptions, options: Partial<CheckOptions> = {}, now: () => Date = () => new Date()): CheckContext {
  return {options: checkOptions({requestTimeoutMs: kubeOptions.requestTimeoutMs, ...options}), kubeOptions, now}
}

/** The loaded cluster connection; the kubernetes-api category loads it first (and is fatal). */
export function requireKube(ctx: CheckContext): Kube {
  if (!ctx.kube) throw new Error('no connection to the cluster (the kubernetes-api checks did not pass)')
  return ctx.kube
}
