import {Flags} from '@oclif/core'
import {BaseCommand, outputFlag} from '../lib/base-command.js'
import {valueFlags, valueInputs} from '../install/flags.js'

export default class Install extends BaseCommand<typeof Install> {
  static override summary = 'Render the control plane manifests (or apply them with --apply).'
  static override description = `Writes the control plane as a YAML stream (or a JSON List with -o json) to stdout: the mesh-system namespace, the AuthorizationPolicy CRD, RBAC, the identity issuer, mesh-config, the mesh-controller Deployment and its Services, and the injector's MutatingWebhookConfiguration. The same inputs give byte-identical output.

Without identity flags a new trust anchor and issuer are generated (and said so on stderr). Unless --ignore-cluster, it first refuses when a control plane is installed (use \`mesh upgrade\`) and runs the pre-install checks of \`mesh check --pre\`.`
  static override examples = [
    '<%= config.bin %> install | kubectl apply -f -',
    '<%= config.bin %> install --ha --identity-trust-anchors-file ca.crt --identity-issuer-certificate-file issuer.crt --identity-issuer-key-file issuer.key > mesh.yaml',
    '<%= config.bin %> install --registry registry.example.com/mesh --set proxy.logLevel=debug -f values.yaml',
    '<%= config.bin %> install --apply',
    '<%= config.bin %> install --ignore-cluster -o json',
  ]
  static override flags = {
    ...valueFlags,
    output: outputFlag(['yaml', 'json'] as const),
    'ignore-cluster': Flags.boolean({description: 'render without contacting the cluster (no "already installed" refusal, no pre-install checks)', default: false}),
    apply: Flags.boolean({description: 'apply to the cluster with server-side apply (field manager "mesh") instead of printing', default: false}),
    crds: Flags.boolean({description: 'render only the CustomResourceDefinitions (AuthorizationPolicy), to apply before the rest', default: false}),
  }

  async run(): Promise<void> {
    const f = this.flags
    const {install} = await import('../install/install.js')
    await install(
      {
        ...valueInputs(f),
        output: f.output,
        ignoreCluster: f['ignore-cluster'],
        apply: f.apply,
        crds: f.crds,
        kube: this.kubeOptions(),
      },
      this.out,
    )
  }
}
