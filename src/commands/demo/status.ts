import {BaseCommand, outputFlag} from '../../lib/base-command.js'

export default class DemoStatus extends BaseCommand<typeof DemoStatus> {
  static override summary = 'Show the running `mesh demo`: its processes, their state, restarts and addresses.'
  static override description = 'Exit code 0 when a demo is running, 1 when none is.'
  static override examples = ['<%= config.bin %> demo status', '<%= config.bin %> demo status -o json']
  static override flags = {
    output: outputFlag(['table', 'json'] as const),
  }

  async run(): Promise<void> {
    const {demoStatus} = await import('../../demo/control.js')
    const r = await demoStatus()
    if (this.flags.output === 'json') this.out.json(r)
    if (!r.running) {
      const {staleNote} = await import('../../demo/control.js')
      if (this.flags.output !== 'json') this.out.info(r.stale ? staleNote(r) : `no mesh demo is running (looked in ${r.dir}); start one with \`mesh demo\``)
      process.exitCode = 1
      return
    }
    if (this.flags.output === 'json') return
    this.out.info(`mesh demo (pid ${r.pid}) ${r.status}, since ${r.startedAt}, namespace ${r.namespace}; tap server ${r.tap ?? '-'}; dashboard ${r.dashboard ?? '-'}; files in ${r.dir}`)
    const rows = r.processes.map((p) => [p.key, p.pid ?? '-', p.status, p.ready === undefined ? '-' : p.ready ? 'yes' : 'no', p.restarts, p.lastExit ?? '-', p.address ?? '-'])
    this.out.stdout.write(await this.out.table(['PROCESS', 'PID', 'STATUS', 'READY', 'RESTARTS', 'LAST EXIT', 'ADDRESS'], rows))
  }
}
