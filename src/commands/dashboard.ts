import {Flags} from '@oclif/core'
import {BaseCommand} from '../lib/base-command.js'

export default class Dashboard extends BaseCommand<typeof Dashboard> {
  static override summary = 'Show the mesh in a browser: workloads, the live service graph, tap and checks.'
  static override description =
    'Serves a page on 127.0.0.1 that shows what `mesh stat`, `mesh edges`, `mesh routes`, `mesh tap`, `mesh top` and `mesh check` show, updated live: ' +
    'workloads with success rate, RPS, latency and mTLS coverage, the service graph, a workload\'s peers, live requests and routes ' +
    '(the HTTPRoutes and GRPCRoutes of the Services it calls, with the numbers of `mesh stat --routes`). ' +
    'It reaches the control plane as the CLI does (the API server\'s service proxy with your credentials, or a running `mesh demo`): nothing is installed for it. ' +
    'Prints the address (it carries a key to this dashboard) and opens a browser; runs until Ctrl-C.'
  static override examples = [
    '<%= config.bin %> dashboard',
    '<%= config.bin %> dashboard --no-open --port 7000',
    '<%= config.bin %> dashboard -A --window 5m',
  ]
  static override flags = {
    port: Flags.integer({char: 'p', description: 'port to listen on (0: a free one)', default: 0, min: 0, max: 65535}),
    address: Flags.string({description: 'address to listen on; anything but loopback lets others reach the page', default: '127.0.0.1'}),
    open: Flags.boolean({description: 'open a browser on the page (--no-open: only print the address)', default: true, allowNo: true}),
    window: Flags.string({char: 'w', description: 'time window of the numbers (e.g. 30s, 1m, 10m)', default: '1m'}),
    'all-namespaces': Flags.boolean({char: 'A', description: 'every namespace', default: false}),
  }

  async run(): Promise<void> {
    const {runDashboardCommand} = await import('../dashboard/run.js')
    await runDashboardCommand(this.out, this.flags)
  }
}
