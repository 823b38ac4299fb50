import {Flags} from '@oclif/core'
import {BaseCommand, outputFlag} from '../lib/base-command.js'
import {meshVersion} from '../lib/version.js'

export default class Version extends BaseCommand<typeof Version> {
  static override summary = 'Print the version of the mesh CLI.'
  static override examples = [
    '<%= config.bin %> version',
    '<%= config.bin %> version --short',
    '<%= config.bin %> version --client -o json',
  ]
  static override flags = {
    short: Flags.boolean({description: 'print the bare version number only', default: false}),
    client: Flags.boolean({description: 'print the client version only, without contacting the cluster', default: false}),
    output: outputFlag(['table', 'json'] as const),
  }

  async run(): Promise<void> {
    const client = meshVersion()
    const report = {client}
    if (this.flags.output === 'json') {
      this.out.json(report)
      return
    }
    this.out.data(this.flags.short ? client : `Client version: ${client}`)
  }
}
