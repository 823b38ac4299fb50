import {Args, Flags} from '@oclif/core'
import {BaseCommand, outputFlag} from '../lib/base-command.js'

export default class Stat extends BaseCommand<typeof Stat> {
  static override summary = 'Show success rate, request rate, latency and TCP connections per resource.'
  static override description =
    'Reads the proxies\' own metrics through the tap server (no Prometheus needed), over --window. ' +
    'Inbound traffic of the resource by default; --to shows its outbound traffic to another resource, ' +
    '--from the traffic another resource sends to it. With --prometheus-url the numbers come from a Prometheus. ' +
    '--routes gives the numbers per route (HTTPRoute/GRPCRoute; [default]: requests no route took), from the callers\' proxies: ' +
    'for a Service, the requests its callers (the namespace\'s pods, or --from) sent it; for a workload, the requests it sent, ' +
    'per Service and route (--to svc/<name>: one Service). -o wide adds a row per backend of split traffic.'
  static override examples = [
    '<%= config.bin %> stat deploy',
    '<%= config.bin %> stat deploy/web --window 30s',
    '<%= config.bin %> stat deploy/web --to deploy/books',
    '<%= config.bin %> stat deploy,sts -A -o json',
    '<%= config.bin %> stat deploy --prometheus-url http://127.0.0.1:9090',
    '<%= config.bin %> stat svc/books --routes',
    '<%= config.bin %> stat deploy/web --routes --to svc/books -o wide',
  ]
  static override args = {
    resources: Args.string({description: 'resources, comma-separated: deploy, deploy/web, po/web-1, ns/shop, sts, ds, job, svc', required: true}),
  }
  static override flags = {
    window: Flags.string({char: 'w', description: 'time window of the numbers (e.g. 10s, 1m, 1h)', default: '1m'}),
    to: Flags.string({description: 'only the traffic from the resource to this one (e.g. deploy/books)'}),
    'to-namespace': Flags.string({description: 'namespace of --to (default: -n)'}),
    from: Flags.string({description: 'only the traffic from this resource to the resource (e.g. deploy/web)', exclusive: ['to']}),
    'from-namespace': Flags.string({description: 'namespace of --from (default: -n)'}),
    'all-namespaces': Flags.boolean({char: 'A', description: 'every namespace', default: false}),
    'prometheus-url': Flags.string({description: 'query this Prometheus instead of the proxies (e.g. http://127.0.0.1:9090)'}),
    routes: Flags.boolean({description: 'numbers per route (HTTPRoute, GRPCRoute, [default]) of a Service, or of a workload\'s outbound requests', default: false}),
    output: outputFlag(['table', 'json', 'wide'] as const),
  }

  async run(): Promise<void> {
    const {runStatCommand} = await import('../stat/command.js')
    await runStatCommand(this.out, this.args.resources, this.flags)
  }
}
