// Reading the installed control plane: the objects `mesh install` creates, by the names in
// src/protocol/control-plane.ts, with the keys of src/protocol/identity.ts.
import type {V1Deployment, V1Secret} from '@kubernetes/client-node'
import {ControlPlane} from '../protocol/control-plane.js'
import {ISSUER_SECRET_KEYS, TLS_SECRET_KEYS, TRUST_ROOTS_CONFIGMAP_KEY} from '../protocol/identity.js'
import {requireKube} from './context.js'
import {readOptional} from './api-errors.js'
import type {CheckContext} from './types.js'

/** Keys of the issuer Secret: `issuer.crt`, `issuer.key`, `ca.crt`. */
export const IssuerKeys = ISSUER_SECRET_KEYS
/** Key of the trust roots ConfigMap. */
export const TRUST_ROOTS_KEY = TRUST_ROOTS_CONFIGMAP_KEY
/** Keys of a kubernetes.io/tls Secret, for an injector serving certificate kept in a Secret. */
export const TlsSecretKeys = {cert: 'tls.crt', key: 'tls.key'} as const

export function secretValue(secret: V1Secret, key: string): string | undefined {
  const b64 = secret.data?.[key]
  if (b64 !== undefined) return Buffer.from(b64, 'base64').toString('utf8')
  return secret.stringData?.[key]
}

export async function readSecret(ctx: CheckContext, name: string): Promise<V1Secret> {
  const kube = requireKube(ctx)
  const ns = ctx.options.controlPlaneNamespace
  const secret = await readOptional(`reading Secret ${ns}/${name}`, () => kube.core().readNamespacedSecret({name, namespace: ns}))
  if (!secret) throw new Error(`Secret ${ns}/${name} not found`)
  return secret
}

export async function readSecretKey(ctx: CheckContext, name: string, key: string): Promise<string> {
  const value = secretValue(await readSecret(ctx, name), key)
  if (!value) throw new Error(`Secret ${ctx.options.controlPlaneNamespace}/${name} has no ${key}`)
  return value
}

/**
 * The issuer Secret's keys: mesh's own (issuer.crt, issuer.key), or cert-manager's (tls.crt,
 * tls.key) when the Secret holds those instead (identity.issuer.scheme=kubernetes.io/tls).
 */
export function issuerKeysOf(secret: V1Secret): {anchor: string; cert: string; key: string} {
  if (secretValue(secret, ISSUER_SECRET_KEYS.cert)) return ISSUER_SECRET_KEYS
  return secretValue(secret, TLS_SECRET_KEYS.cert) ? TLS_SECRET_KEYS : ISSUER_SECRET_KEYS
}

/** The issuer's certificate (then any intermediates) or key, whichever scheme its Secret uses. */
export async function readIssuerKey(ctx: CheckContext, which: 'cert' | 'key'): Promise<string> {
  const secret = await readSecret(ctx, ControlPlane.issuerSecret)
  const key = issuerKeysOf(secret)[which]
  const value = secretValue(secret, key)
  if (!value) throw new Error(`Secret ${ctx.options.controlPlaneNamespace}/${ControlPlane.issuerSecret} has no ${key}`)
  return value
}

export async function readConfigMapKey(ctx: CheckContext, name: string, key: string): Promise<string> {
  const kube = requireKube(ctx)
  const ns = ctx.options.controlPlaneNamespace
  const cm = await readOptional(`reading ConfigMap ${ns}/${name}`, () => kube.core().readNamespacedConfigMap({name, namespace: ns}))
  if (!cm) throw new Error(`ConfigMap ${ns}/${name} not found`)
  const value = cm.data?.[key]
  if (!value) throw new Error(`ConfigMap ${ns}/${name} has no ${key}`)
  return value
}

export async function readController(ctx: CheckContext): Promise<V1Deployment> {
  const kube = requireKube(ctx)
  const ns = ctx.options.controlPlaneNamespace
  const d = await readOptional(`reading Deployment ${ns}/${ControlPlane.controller}`, () =>
    kube.apps().readNamespacedDeployment({name: ControlPlane.controller, namespace: ns}),
  )
  if (!d) throw new Error(`Deployment ${ns}/${ControlPlane.controller} not found`)
  return d
}

export const VERSION_LABELS = ['app.kubernetes.io/version', 'mesh.dev/version'] as const

/** The version a workload runs: a version label, else the tag of its first container's image. */
export function versionOf(labels: Record<string, string> | undefined, image: string | undefined): string | undefined {
  for (const l of VERSION_LABELS) if (labels?.[l]) return labels[l]
  return imageTag(image)
}

export function imageTag(image: string | undefined): string | undefined {
  if (!image) return undefined
  const noDigest = image.split('@')[0]!
  const slash = noDigest.lastIndexOf('/')
  const colon = noDigest.lastIndexOf(':')
  return colon > slash ? noDigest.slice(colon + 1) : undefined
}

/** The control plane's version, from the controller Deployment. */
export async function controlPlaneVersion(ctx: CheckContext): Promise<string> {
  const d = await readController(ctx)
  const v = versionOf({...d.metadata?.labels, ...d.spec?.template?.metadata?.labels}, d.spec?.template?.spec?.containers?.[0]?.image)
  if (!v) throw new Error(`Deployment ${ctx.options.controlPlaneNamespace}/${ControlPlane.controller} names no version (no version label, no image tag)`)
  return v
}

/** Versions compare without a leading "v": v0.1.0 and 0.1.0 are the same release. */
export function sameVersion(a: string, b: string): boolean {
  return a.replace(/^v/, '') === b.replace(/^v/, '')
}
