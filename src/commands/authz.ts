import {Args} from '@oclif/core'
import {BaseCommand, outputFlag} from '../lib/base-command.js'

export default class Authz extends BaseCommand<typeof Authz> {
  static override summary = 'Show the authorization policy in force for a workload, and who called it.'
  static override description =
    'Shows what the controller sends the workload\'s proxies: the default inbound policy and where it comes from, the kubelet probes always allowed, ' +
    'and each AuthorizationPolicy that covers it (what it covers, who it lets in, to what), with allowed, denied and audit counts per policy where the proxies export them. ' +
    'Then who called the workload, from its proxies\' own metrics (client identity, ports, requests, connections), and how the policy in force treats each. ' +
    'Through the tap server, as `mesh stat` (needs get <kind>/authz in tap.mesh.dev: ClusterRole mesh-tap-admin).'
  static override examples = [
    '<%= config.bin %> authz deploy/books -n shop',
    '<%= config.bin %> authz sts/db -o wide',
    '<%= config.bin %> authz deploy/books -o json',
    '<%= config.bin %> authz suggest deploy/books',
  ]
  static override args = {
    workload: Args.string({description: 'the workload: deploy/<name>, sts/<name>, ds/<name>, job/<name>, rs/<name> or po/<name>', required: true}),
  }
  static override flags = {
    output: outputFlag(['table', 'json', 'wide'] as const),
  }

  async run(): Promise<void> {
    const {runAuthzCommand} = await import('../authz/command.js')
    await runAuthzCommand(this.out, this.args.workload, this.flags)
  }
}
