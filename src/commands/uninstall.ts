import {Flags} from '@oclif/core'
import {BaseCommand, outputFlag} from '../lib/base-command.js'

export default class Uninstall extends BaseCommand<typeof Uninstall> {
  static override summary = 'Print the control plane\'s objects for deletion (or delete them with --apply).'
  static override description = `Lists the control plane objects present in the cluster in reverse install order (the webhook first, the namespace last), as a stream for \`kubectl delete -f -\`. Refuses while pods still run with a mesh proxy, unless --force.`
  static override examples = [
    '<%= config.bin %> uninstall | kubectl delete -f -',
    '<%= config.bin %> uninstall --apply',
    '<%= config.bin %> uninstall --apply --force',
  ]
  static override flags = {
    output: outputFlag(['yaml', 'json'] as const),
    apply: Flags.boolean({description: 'delete the objects instead of printing them', default: false}),
    force: Flags.boolean({description: 'uninstall even while meshed pods run (their proxies lose the control plane)', default: false}),
  }

  async run(): Promise<void> {
    const f = this.flags
    const {uninstall} = await import('../install/uninstall.js')
    await uninstall({output: f.output, apply: f.apply, force: f.force, kube: this.kubeOptions()}, this.out)
  }
}
