import {BaseCommand} from '../../lib/base-command.js'

export default class DemoStop extends BaseCommand<typeof DemoStop> {
  static override summary = 'Stop the running `mesh demo`: every process it started, and its files.'
  static override examples = ['<%= config.bin %> demo stop']

  async run(): Promise<void> {
    const {stopDemo} = await import('../../demo/control.js')
    const r = await stopDemo()
    if (r.found === 'none') this.out.info(`no mesh demo is running (nothing in ${r.dir})`)
    else if (r.found === 'stale') this.out.success(`the demo (pid ${r.pid ?? '?'}) had already exited; ${r.killed ? `stopped the ${r.killed} process${r.killed === 1 ? '' : 'es'} it left running and ` : ''}removed what it left in ${r.dir}`)
    else this.out.success(`stopped the demo (pid ${r.pid}); its processes are gone and ${r.dir} is removed`)
  }
}
