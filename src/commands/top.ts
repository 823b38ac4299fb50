import {Args, Flags} from '@oclif/core'
import {BaseCommand, outputFlag} from '../lib/base-command.js'

export default class Top extends BaseCommand<typeof Top> {
  static override summary = 'A live table of a resource\'s requests: count, success rate and latency per route.'
  static override description =
    'Rows are keyed by source, destination, method and route: the route rule the client\'s proxy matched (MESH_PROXY_ROUTES), ' +
    'else a template learnt from the paths seen (/books/b1 ... /books/b5 are /books/{id}); --paths shows each path instead. ' +
    '--routes shows the resource\'s outbound requests per HTTPRoute/GRPCRoute of the control plane and backend ([default]: no route took them). Sorted by count. ' +
    'On a terminal the table is redrawn in place: q quits, s changes the sort. Off a terminal one table is printed ' +
    'every --interval; -o json prints one snapshot per line.'
  static override examples = [
    '<%= config.bin %> top deploy/web',
    '<%= config.bin %> top deploy/web --paths',
    '<%= config.bin %> top deploy/web --routes',
    '<%= config.bin %> top deploy/books --path /books --interval 5s',
    '<%= config.bin %> top deploy/web -o json --duration 30s',
  ]
  static override args = {
    resource: Args.string({description: 'what to watch: deploy/web, po/web-1, ns/shop, sts/db, ds/x, job/x, svc/web', required: true}),
  }
  static override flags = {
    paths: Flags.boolean({description: 'one row per path (query dropped) instead of per route', default: false, exclusive: ['routes']}),
    routes: Flags.boolean({description: 'one row per control-plane route (HTTPRoute, GRPCRoute, [default]) and backend, from the resource\'s outbound requests', default: false}),
    interval: Flags.string({description: 'refresh (or print) every this long', default: '2s'}),
    duration: Flags.string({description: 'stop after this long (e.g. 1m)'}),
    to: Flags.string({description: 'only requests to this resource (e.g. deploy/books)'}),
    'to-namespace': Flags.string({description: 'namespace of --to (default: -n)'}),
    method: Flags.string({description: 'only requests with this HTTP method'}),
    authority: Flags.string({description: 'only requests with this :authority'}),
    path: Flags.string({description: 'only requests whose path starts with this prefix'}),
    status: Flags.integer({description: 'only requests answered with this HTTP status'}),
    'max-rps': Flags.integer({description: 'at most this many requests per second per pod', default: 100}),
    output: outputFlag(['table', 'json'] as const),
  }

  async run(): Promise<void> {
    const {runTopCommand} = await import('../tapclient/top-run.js')
    await runTopCommand(this.out, this.args.resource, this.flags)
  }
}
