import {Args} from '@oclif/core'
import {BaseCommand, controlPlaneNamespaceFlag, outputFlag, trustDomainFlag} from '../lib/base-command.js'

export default class Identity extends BaseCommand<typeof Identity> {
  static override summary = 'Show, per pod, the identity its proxy holds: issuer, not-after, the anchor it chains to and the anchors it trusts.'
  static override description = `Reads each pod's proxy through the API server (GET /identity on its admin port, as \`mesh check --proxy\` reads /metrics). Proxies that do not serve /identity yet are shown from their pod spec: the identity their ServiceAccount gives them and the anchors they were injected with; their certificate is then "unknown".
TRUSTS compares what each proxy trusts with the current anchors (ConfigMap mesh-identity-trust-roots): during an anchor rotation every proxy must trust both before the issuer changes.`
  static override examples = [
    '<%= config.bin %> identity deploy/web -n shop',
    '<%= config.bin %> identity po/web-0 -n shop -o json',
  ]
  static override args = {
    target: Args.string({description: 'the pods: deploy/NAME, po/NAME, sts/NAME, ds/NAME, rs/NAME, job/NAME, svc/NAME or ns/NAME', required: true}),
  }
  static override flags = {
    output: outputFlag(['table', 'json'] as const),
    'control-plane-namespace': controlPlaneNamespaceFlag(),
    'trust-domain': trustDomainFlag(),
  }

  async run(): Promise<void> {
    const f = this.flags
    const {runIdentityCommand} = await import('../diagnostics/identity-command.js')
    await runIdentityCommand(
      {target: this.args.target, namespace: f.namespace, controlPlaneNamespace: f['control-plane-namespace'], trustDomain: f['trust-domain'], output: f.output, kube: this.kubeOptions()},
      this.out,
    )
  }
}
