import {Args, Flags} from '@oclif/core'
import {BaseCommand, outputFlag} from '../lib/base-command.js'

export default class Edges extends BaseCommand<typeof Edges> {
  static override summary = 'Show who talks to whom, and whether each connection is mTLS with which identities.'
  static override examples = [
    '<%= config.bin %> edges deploy',
    '<%= config.bin %> edges po -n shop -o wide',
    '<%= config.bin %> edges deploy -A -o json',
  ]
  static override args = {
    resource: Args.string({description: 'resource kind or resource: deploy, po, sts, ds, ns/shop, deploy/web', required: true}),
  }
  static override flags = {
    'all-namespaces': Flags.boolean({char: 'A', description: 'every namespace', default: false}),
    output: outputFlag(['table', 'json', 'wide'] as const),
  }

  async run(): Promise<void> {
    const {runEdgesCommand} = await import('../stat/edges-command.js')
    await runEdgesCommand(this.out, this.args.resource, this.flags)
  }
}
