import {Args, Flags} from '@oclif/core'
import {BaseCommand, outputFlag} from '../../lib/base-command.js'

export default class AuthzSuggest extends BaseCommand<typeof AuthzSuggest> {
  static override summary = 'Write AuthorizationPolicies that allow exactly the callers a workload\'s proxies saw.'
  static override description =
    'Reads who called the workload from its proxies\' metrics (verified client identities, the ports each used, and the routes when the proxies label them) ' +
    'and prints AuthorizationPolicy YAML allowing exactly that, ready for `kubectl apply -f -`: one policy per set of ports (no caller gets a port it did not use), ' +
    'route policies for callers seen only through routes. Audit mode by default: what the policies would deny is served and counted, so they can run for a while before --mode enforce. ' +
    'Clients without a mesh identity cannot be named from metrics (no address): a comment says how much traffic they sent.'
  static override examples = [
    '<%= config.bin %> authz suggest deploy/books -n shop | kubectl apply -f -',
    '<%= config.bin %> authz suggest deploy/books --mode enforce --name books-in',
    '<%= config.bin %> authz suggest sts/db -o json',
  ]
  static override args = {
    workload: Args.string({description: 'the workload: deploy/<name>, sts/<name>, ds/<name>, job/<name>, rs/<name> or po/<name>', required: true}),
  }
  static override flags = {
    mode: Flags.option({options: ['audit', 'enforce'] as const, default: 'audit', description: 'the policies\' mode: audit (counts what it would deny) or enforce'})(),
    name: Flags.string({description: 'metadata.name of the policy (a suffix is added when several are needed; default <workload>-callers)'}),
    output: outputFlag(['yaml', 'json'] as const),
  }

  async run(): Promise<void> {
    const {runSuggestCommand} = await import('../../authz/command.js')
    await runSuggestCommand(this.out, this.args.workload, this.flags)
  }
}
