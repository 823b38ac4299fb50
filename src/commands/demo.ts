import {Flags} from '@oclif/core'
import {BaseCommand} from '../lib/base-command.js'

export default class Demo extends BaseCommand<typeof Demo> {
  static override summary = 'Run the whole mesh on this machine: controller, proxies with mTLS, a demo app and load. No cluster needed.'
  static override description = `Starts on 127.0.0.1 the controller in local mode (file-backed registry, local identity issuer), four demo services (web -> books over HTTP/1.1, books -> authors over gRPC and -> stock over TCP; books fails 1 in 10 requests, ListAuthors is slow), each behind its own \`mesh proxy\` with mTLS between them, and a load generator. Prints what runs where and what to try next, then stays until Ctrl-C and removes everything it started.
While it runs, \`mesh stat\`, \`mesh top\`, \`mesh tap\`, \`mesh edges\` and \`mesh check --proxy\` work against it with no flags (a --context you name still wins). Files live in $MESH_DEMO_DIR (default ~/.mesh/demo).`
  static override examples = [
    '<%= config.bin %> demo',
    '<%= config.bin %> demo --detach && <%= config.bin %> stat deploy',
    '<%= config.bin %> demo --port-base 17000 --rps 20',
  ]
  static override flags = {
    detach: Flags.boolean({char: 'd', description: 'run in the background; end it with `mesh demo stop`', default: false}),
    'port-base': Flags.integer({description: 'use consecutive ports from this one (default: free ports)', min: 1024, max: 65535}),
    rps: Flags.integer({description: 'requests per second the load generator sends to web', default: 10, min: 1, max: 200}),
    'fail-every': Flags.integer({description: 'books fails every Nth request with a 500 (0: never)', default: 10, min: 0, max: 1000}),
    'ready-timeout': Flags.integer({description: 'seconds start-up may take before the demo gives up', default: 180, min: 5, max: 3600}),
  }

  async run(): Promise<void> {
    const f = this.flags
    if (f.detach) {
      const [{detachDemo}, {renderSummary}] = await Promise.all([import('../demo/control.js'), import('../demo/summary.js')])
      const args = ['--rps', String(f.rps), '--fail-every', String(f['fail-every']), '--ready-timeout', String(f['ready-timeout'])]
      if (f['port-base'] !== undefined) args.push('--port-base', String(f['port-base']))
      this.out.info('starting the demo in the background ...')
      const state = await detachDemo(args, process.env, (f['ready-timeout'] + 30) * 1000)
      this.out.stdout.write(await renderSummary(state, this.out, {detached: true}))
      return
    }
    const {runDemo} = await import('../demo/run.js')
    await runDemo({portBase: f['port-base'], rps: f.rps, failEvery: f['fail-every'], readyTimeoutMs: f['ready-timeout'] * 1000}, this.out)
  }
}
