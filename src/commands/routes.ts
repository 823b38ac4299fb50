import {Args} from '@oclif/core'
import {BaseCommand, outputFlag} from '../lib/base-command.js'

export default class Routes extends BaseCommand<typeof Routes> {
  static override summary = 'Show the HTTPRoutes and GRPCRoutes of a Service, their status, and the rules proxies apply.'
  static override description =
    'Lists the Gateway API routes whose parent is the Service (GAMMA), with the Accepted and ResolvedRefs conditions the ' +
    'controller wrote, then every rule as a proxy applies it: in precedence order, with its backends and weights, ' +
    'timeouts and retries. The first rule that matches a request wins; a request no rule matches gets 404. ' +
    'With a running `mesh demo` (and no --context) the routes come from its control plane (the registry file\'s routes:).'
  static override examples = [
    '<%= config.bin %> routes svc/books -n shop',
    '<%= config.bin %> routes svc/books -n shop -o wide',
    '<%= config.bin %> routes svc/books -n shop -o json',
    '<%= config.bin %> stat svc/books -n shop --routes',
  ]
  static override args = {
    service: Args.string({description: 'the Service: svc/<name>', required: true}),
  }
  static override flags = {
    output: outputFlag(['table', 'json', 'wide'] as const),
  }

  async run(): Promise<void> {
    const {runRoutesCommand} = await import('../routes/command.js')
    await runRoutesCommand(this.out, this.args.service, this.flags)
  }
}
