import {Args, Flags} from '@oclif/core'
import {BaseCommand, outputFlag} from '../lib/base-command.js'

export default class Tap extends BaseCommand<typeof Tap> {
  static override summary = 'Stream the live requests of a resource\'s pods, as their proxies see them.'
  static override description =
    'One line per event: req (request headers), rsp (response headers, latency), end (duration, size), ' +
    'each with the connection\'s mTLS identities (client=, server=; -o wide: in full). ' +
    'Tap sees HTTP and gRPC requests; plain TCP connections show in `mesh stat -o wide` and `mesh edges`. ' +
    'Filters apply inside the proxies. Runs until Ctrl-C, --max-events or --duration.'
  static override examples = [
    '<%= config.bin %> tap deploy/web',
    '<%= config.bin %> tap deploy/web --to deploy/books --path /books',
    '<%= config.bin %> tap deploy/books --status 500 --max-events 30',
    '<%= config.bin %> tap ns/shop -o json --duration 10s',
  ]
  static override args = {
    resource: Args.string({description: 'what to tap: deploy/web, po/web-1, ns/shop, sts/db, ds/x, job/x, svc/web', required: true}),
  }
  static override flags = {
    to: Flags.string({description: 'only requests to this resource (e.g. deploy/books)'}),
    'to-namespace': Flags.string({description: 'namespace of --to (default: -n)'}),
    method: Flags.string({description: 'only requests with this HTTP method'}),
    authority: Flags.string({description: 'only requests with this :authority (host:port)'}),
    path: Flags.string({description: 'only requests whose path starts with this prefix'}),
    status: Flags.integer({description: 'only requests answered with this HTTP status'}),
    'max-rps': Flags.integer({description: 'at most this many requests per second per pod', default: 100}),
    'max-events': Flags.integer({description: 'stop after this many events', min: 1}),
    duration: Flags.string({description: 'stop after this long (e.g. 30s)'}),
    output: outputFlag(['text', 'wide', 'json'] as const),
  }

  async run(): Promise<void> {
    const {runTapCommand} = await import('../tapclient/tap-run.js')
    await runTapCommand(this.out, this.args.resource, this.flags)
  }
}
