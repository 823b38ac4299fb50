import {Command} from '@oclif/core'
import {complete, formatCompletion, type CommandSpec} from '../lib/completion.js'
import {kubeLookups} from '../lib/completion-lookups.js'
import {Output} from '../lib/output.js'

/** The completion scripts' callback (cobra's protocol): `mesh __complete -- <words>`. Never fails loudly. */
export default class Complete extends Command {
  static override hidden = true
  static override strict = false
  static override summary = 'Print completion candidates for the words after `mesh` (used by the completion scripts).'

  async run(): Promise<void> {
    // The words are not this command's flags: nothing to parse (and no oclif warning about it).
    this.parsed = true
    const out = new Output()
    const words = this.argv[0] === '--' ? this.argv.slice(1) : this.argv
    const commands: CommandSpec[] = this.config.commands.map((c) => ({
      id: c.id,
      summary: c.summary ?? c.description,
      hidden: c.hidden,
      variadic: c.strict === false,
      flags: Object.entries(c.flags ?? {}).filter(([, f]) => !f.hidden).map(([name, f]) => ({
        name,
        char: f.char,
        type: f.type === 'boolean' ? 'boolean' : 'option',
        options: f.type === 'option' ? f.options : undefined,
        description: f.summary ?? f.description,
        helpValue: f.type === 'option' && typeof f.helpValue === 'string' ? f.helpValue : undefined,
      })),
      args: Object.values(c.args ?? {}).map((a) => ({name: a.name, options: a.options})),
    }))
    try {
      out.stdout.write(formatCompletion(await complete(words, commands, kubeLookups())))
    } catch {
      out.stdout.write(':1\n')
    }
  }
}
