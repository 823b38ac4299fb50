import {Flags} from '@oclif/core'
import {BaseCommand, outputFlag} from '../lib/base-command.js'
import {valueFlags, valueInputs} from '../install/flags.js'

export default class Upgrade extends BaseCommand<typeof Upgrade> {
  static override summary = 'Render the installed control plane again with this CLI (or apply it with --apply).'
  static override description = `Reads the installed values (ConfigMap mesh-system/mesh-config) and identity (Secret mesh-system/mesh-identity-issuer) back from the cluster, applies the flags on top, and renders the control plane like \`mesh install\`. The image tag follows this CLI unless it was pinned. Nothing rotates unless asked: pass the three identity flags to replace the issuer.`
  static override examples = [
    '<%= config.bin %> upgrade | kubectl apply -f -',
    '<%= config.bin %> upgrade --apply',
    '<%= config.bin %> upgrade --ha --set proxy.logLevel=debug --apply',
    '<%= config.bin %> upgrade --identity-trust-anchors-file ca.crt --identity-issuer-certificate-file issuer.crt --identity-issuer-key-file issuer.key',
  ]
  static override flags = {
    ...valueFlags,
    output: outputFlag(['yaml', 'json'] as const),
    apply: Flags.boolean({description: 'apply to the cluster with server-side apply (field manager "mesh") instead of printing', default: false}),
  }

  async run(): Promise<void> {
    const f = this.flags
    const {upgrade} = await import('../install/upgrade.js')
    await upgrade({...valueInputs(f), output: f.output, apply: f.apply, kube: this.kubeOptions()}, this.out)
  }
}
