// The flags `mesh install` and `mesh upgrade` share, and their mapping to the library options.
import {Flags} from '@oclif/core'
import type {IdentityFiles} from './identity.js'
import type {ValueInputs} from './inputs.js'

export const valueFlags = {
  set: Flags.string({description: 'set a value: --set image.tag=1.2.3 (dotted key; repeatable; last wins)', multiple: true, helpGroup: 'VALUES'}),
  values: Flags.string({char: 'f', description: 'YAML file of values (repeatable; later files win; --set wins over files)', multiple: true, helpGroup: 'VALUES'}),
  ha: Flags.boolean({description: 'high availability: 3 controller replicas, a PodDisruptionBudget and pod anti-affinity', default: false, helpGroup: 'VALUES'}),
  image: Flags.string({description: 'the mesh image, repository with an optional tag, e.g. registry.example.com/mesh/mesh:1.2.3', helpGroup: 'IMAGE'}),
  registry: Flags.string({description: 'registry (and path) of the mesh image, e.g. registry.example.com/mesh', helpGroup: 'IMAGE'}),
  'image-tag': Flags.string({description: 'tag of the mesh image (default: this CLI\'s version)', helpGroup: 'IMAGE'}),
  'image-pull-policy': Flags.option({options: ['IfNotPresent', 'Always', 'Never'] as const, description: 'imagePullPolicy of every mesh container', helpGroup: 'IMAGE'})(),
  'identity-trust-anchors-file': Flags.string({description: 'PEM file of the trust anchors (with the two other identity flags, or none to generate)', helpGroup: 'IDENTITY'}),
  'identity-issuer-certificate-file': Flags.string({description: 'PEM file of the issuer certificate, signed by a trust anchor', helpGroup: 'IDENTITY'}),
  'identity-issuer-key-file': Flags.string({description: 'PEM file of the issuer\'s private key (RSA or ECDSA P-256)', helpGroup: 'IDENTITY'}),
  'identity-external-issuer': Flags.boolean({
    description: 'cert-manager (or another tool) owns the issuer: a kubernetes.io/tls Secret mesh-identity-issuer (tls.crt, tls.key, ca.crt) that mesh does not render; pass only --identity-trust-anchors-file',
    helpGroup: 'IDENTITY',
  }),
  'webhook-url': Flags.string({
    description: 'call the injector at this https URL instead of its in-cluster Service (for a controller running outside the cluster: tests, development)',
    helpGroup: 'VALUES',
  }),
}

export interface ValueFlagValues {
  set?: string[]
  values?: string[]
  ha: boolean
  image?: string
  registry?: string
  'image-tag'?: string
  'image-pull-policy'?: string
  'identity-trust-anchors-file'?: string
  'identity-issuer-certificate-file'?: string
  'identity-issuer-key-file'?: string
  'identity-external-issuer'?: boolean
  'webhook-url'?: string
}

export function valueInputs(f: ValueFlagValues): ValueInputs & IdentityFiles {
  return {
    set: f.set,
    valuesFiles: f.values,
    ha: f.ha,
    image: f.image,
    registry: f.registry,
    imageTag: f['image-tag'],
    imagePullPolicy: f['image-pull-policy'],
    webhookUrl: f['webhook-url'],
    externalIssuer: f['identity-external-issuer'],
    trustAnchorsFile: f['identity-trust-anchors-file'],
    issuerCertificateFile: f['identity-issuer-certificate-file'],
    issuerKeyFile: f['identity-issuer-key-file'],
  }
}
