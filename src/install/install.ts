// `mesh install`: flags -> values and identity -> objects -> a YAML/JSON stream on stdout, or
// server-side applied with --apply. Nothing reaches stdout until the whole stream is rendered.
import {loadKube, type Kube, type KubeOptions} from '../k8s/client.js'
import {MeshError, UsageError} from '../lib/errors.js'
import {ControlPlane} from '../protocol/control-plane.js'
import type {Output} from '../lib/output.js'
import {applyObjects} from './apply.js'
import {describeExternalIssuer, noPodMonitorCrd, podMonitorCrd, refuseIfInstalled} from './cluster.js'
import {formatObjects, type Format} from './format.js'
import {externalIdentityFilesGiven, generateIdentity, identityFilesGiven, loadIdentityFiles, loadTrustAnchorsFile, type IdentityFiles, type IdentityMaterial} from './identity.js'
import {resolveValues, type ValueInputs} from './inputs.js'
import {preInstallChecks} from './precheck.js'
import {renderObjects, type KubeObject} from './render.js'
import {nest, type FlatValues} from './values.js'

export interface InstallOptions extends ValueInputs, IdentityFiles {
  output: Format
  ignoreCluster: boolean
  apply: boolean
  /** Render only the CustomResourceDefinitions (AuthorizationPolicy). */
  crds: boolean
  kube: KubeOptions
}

export async function install(opts: InstallOptions, out: Output): Promise<void> {
  const values = await resolveValues(opts)
  const external = values['identity.issuer.scheme'] === 'kubernetes.io/tls'
  const filesGiven = external ? externalIdentityFilesGiven(opts) : identityFilesGiven(opts)
  if (external && !filesGiven) {
    throw new UsageError('--identity-external-issuer (identity.issuer.scheme=kubernetes.io/tls) needs --identity-trust-anchors-file: mesh cannot generate the anchor of an issuer it does not make', {
      code: 'MESH_INSTALL_IDENTITY_FLAGS',
      suggestions: ['Pass --identity-trust-anchors-file with the CA certificate your cert-manager Issuer signs the mesh issuer with.'],
    })
  }
  if (opts.crds) return renderCrds(values, opts, out)
  let kube: Kube | undefined
  if (!opts.ignoreCluster || opts.apply) kube = await connect(opts)
  if (kube && !opts.ignoreCluster) {
    await refuseIfInstalled(kube)
    await preInstallChecks(kube, out)
  }
  let identity: IdentityMaterial
  if (external) {
    identity = {trustAnchorsPEM: await loadTrustAnchorsFile(opts.trustAnchorsFile!)}
    if (kube) {
      const state = await describeExternalIssuer(kube, identity.trustAnchorsPEM)
      if (state.ok) out.info(`The issuer belongs to cert-manager: ${state.line}`)
      else out.warn(state.line)
    } else {
      out.info(`The issuer belongs to cert-manager: the controller reads the kubernetes.io/tls Secret ${ControlPlane.issuerSecret} (tls.crt, tls.key, ca.crt) once it exists, and every renewal of it.`)
    }
  } else {
    identity = filesGiven ? await loadIdentityFiles(opts as Required<IdentityFiles>) : await generated(values, out)
  }
  const objects = await renderObjects({values, identity})
  if (opts.apply) {
    await applyAll(kube!, objects, out, 'installed')
    return
  }
  // Rendered for this cluster: say now what `kubectl apply` would refuse.
  if (kube && !opts.ignoreCluster && objects.some((o) => o.kind === 'PodMonitor') && (await podMonitorCrd(kube)) === 'absent') {
    const problem = noPodMonitorCrd(kube.server)
    out.warn(`${problem.message}; \`kubectl apply\` will refuse that object. ${problem.suggestions.join(' ')}`)
  }
  out.stdout.write(await formatObjects(objects, opts.output))
  out.info('Next, apply it with `kubectl apply -f -` (or rerun with --apply), then run `mesh check`.')
}

async function connect(opts: InstallOptions): Promise<Kube> {
  try {
    return await loadKube(opts.kube)
  } catch (error) {
    if (error instanceof MeshError && !opts.apply) error.suggestions.push('To render without a cluster (GitOps, CI), pass --ignore-cluster.')
    throw error
  }
}

/** Only the CustomResourceDefinitions mesh owns, to apply before the rest (GitOps tools that order by kind). */
async function renderCrds(values: FlatValues, opts: InstallOptions, out: Output): Promise<void> {
  const objects = (await renderObjects({values, identity: {trustAnchorsPEM: '', issuerCertPEM: '', issuerKeyPEM: ''}})).filter((o) => o.kind === 'CustomResourceDefinition')
  out.stdout.write(await formatObjects(objects, opts.output))
  out.info('Next, apply them (`kubectl apply -f -`), then run `mesh install`, which renders them too.')
}

async function generated(values: FlatValues, out: Output): Promise<IdentityMaterial> {
  const v = nest(values)
  const identity = await generateIdentity({trustDomain: v.identity.trustDomain, anchorDays: v.identity.trustAnchorValidityDays, issuerDays: v.identity.issuerValidityDays})
  out.info(
    `Generated a new trust anchor (${v.identity.trustAnchorValidityDays} days) and issuer (${v.identity.issuerValidityDays} days); the anchor's private key was not kept. ` +
      'For reproducible output, pass --identity-trust-anchors-file, --identity-issuer-certificate-file and --identity-issuer-key-file.',
  )
  return identity
}

export async function applyAll(kube: Kube, objects: KubeObject[], out: Output, verb: string): Promise<void> {
  // Refused before anything is applied: the PodMonitor comes just before the webhook, and a
  // failure there would leave a control plane without it.
  if (objects.some((o) => o.kind === 'PodMonitor') && (await podMonitorCrd(kube)) === 'absent') throw noPodMonitorCrd(kube.server)
  out.info(`Applying ${objects.length} objects to ${kube.server} (server-side apply, field manager "mesh")`)
  const counts = await applyObjects(kube, objects, out)
  out.success(`Control plane ${verb}: ${counts.created} created, ${counts.configured} configured, ${counts.unchanged} unchanged.`)
  out.info('Next, run `mesh check`.')
}
