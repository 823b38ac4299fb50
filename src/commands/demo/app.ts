import {Args, Flags} from '@oclif/core'
import {BaseCommand} from '../../lib/base-command.js'

export default class DemoApp extends BaseCommand<typeof DemoApp> {
  static override hidden = true
  static override summary = 'Run one service of the demo application (started by `mesh demo`).'
  static override examples = ['<%= config.bin %> demo app books --port 18081 --via 127.0.0.1:14141']
  static override args = {
    name: Args.string({description: 'web, books, authors, stock or load', required: true, options: ['web', 'books', 'authors', 'stock', 'load']}),
  }
  static override flags = {
    port: Flags.integer({description: 'port to listen on, on 127.0.0.1 (0: any free port)', default: 0, min: 0, max: 65535}),
    via: Flags.string({description: 'host:port of the proxy to send through (load: web\'s proxy inbound)', required: true}),
    'demo-namespace': Flags.string({description: 'namespace of the demo services', default: 'demo'}),
    'fail-every': Flags.integer({description: 'books: fail every Nth request with a 500 (0: never)', default: 10, min: 0}),
    'slow-ms': Flags.integer({description: 'authors: how long ListAuthors takes', default: 200, min: 0, max: 60_000}),
    rps: Flags.integer({description: 'load: requests per second', default: 10, min: 1, max: 1000}),
    duration: Flags.integer({description: 'load: stop after this many seconds', default: 3600, min: 1}),
    'max-requests': Flags.integer({description: 'load: stop after this many requests', default: 100_000, min: 1}),
  }

  async run(): Promise<void> {
    const {startApp} = await import('../../demo/apps/run.js')
    const {parseAddr} = await import('../../proxy/config/config.js')
    const f = this.flags
    const log = (line: string): void => this.out.info(line)
    const app = await startApp(this.args.name as 'web', {
      port: f.port, via: parseAddr(f.via, '--via'), namespace: f['demo-namespace'], failEvery: f['fail-every'], slowMs: f['slow-ms'],
      rps: f.rps, durationMs: f.duration * 1000, maxRequests: f['max-requests'], log,
    })
    const signal = new Promise<string>((resolve) => {
      process.once('SIGINT', () => resolve('SIGINT'))
      process.once('SIGTERM', () => resolve('SIGTERM'))
    })
    const why = await Promise.race([signal, app.done?.then(() => 'done') ?? new Promise<string>(() => {})])
    log(`${this.args.name}: stopping (${why})`)
    await app.stop()
  }
}
