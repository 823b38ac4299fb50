import {Args} from '@oclif/core'
import {BaseCommand} from '../lib/base-command.js'
import {completionScript, SHELLS, type Shell} from '../lib/completion-scripts.js'

export default class Completion extends BaseCommand<typeof Completion> {
  static override summary = 'Print the shell completion script for bash, zsh or fish.'
  static override description = `Completes commands, flags, flag values (-o, --namespace, --context), resource kinds and, where the cluster or a running \`mesh demo\` can tell them, resource names (\`mesh tap deploy/<TAB>\`). The script asks \`mesh __complete\`, which looks names up with a 2 s deadline and prints nothing when it cannot.`
  static override examples = [
    'source <(<%= config.bin %> completion bash)',
    '<%= config.bin %> completion bash > /etc/bash_completion.d/mesh',
    'source <(<%= config.bin %> completion zsh)',
    '<%= config.bin %> completion fish > ~/.config/fish/completions/mesh.fish',
  ]
  static override args = {
    shell: Args.string({description: 'the shell: bash, zsh or fish', required: true, options: [...SHELLS]}),
  }

  async run(): Promise<void> {
    this.out.stdout.write(completionScript(this.args.shell as Shell))
  }
}
