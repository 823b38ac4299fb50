import {Flags} from '@oclif/core'
import {BaseCommand} from '../lib/base-command.js'
import {meshVersion} from '../lib/version.js'

export default class Uninject extends BaseCommand<typeof Uninject> {
  static override summary = 'Remove the mesh proxy from the workloads in Kubernetes YAML or JSON.'
  static override description = `Takes out exactly what \`mesh inject\` added: the mesh-proxy and mesh-init containers, the identity volumes, the mesh.dev/* labels and annotations (mesh.dev/inject: disabled stays) and the config.mesh.dev/* annotations inject wrote from flags. Everything else is left as written, comments included. Needs no cluster.`
  static override examples = [
    '<%= config.bin %> uninject injected.yaml > app.yaml',
    'kubectl get deploy web -o yaml | <%= config.bin %> uninject - | kubectl apply -f -',
  ]
  static override strict = false
  static override flags = {
    output: Flags.option({char: 'o', options: ['yaml', 'json'] as const, description: 'output format (default: json when every input is JSON, else yaml)', helpGroup: 'OUTPUT'})(),
    quiet: Flags.boolean({char: 'q', description: 'print no report on stderr', default: false}),
  }

  async run(): Promise<void> {
    const {argv} = await this.parse(Uninject)
    const {runInjection} = await import('../inject/run.js')
    await runInjection({
      mode: 'uninject',
      inputs: argv as string[],
      output: this.flags.output,
      quiet: this.flags.quiet,
      verbose: this.flags.verbose,
      createdBy: `mesh/cli ${meshVersion()}`,
      native: true,
      annotateOnly: false,
      ingress: false,
      ignoreCluster: true,
      namespace: this.flags.namespace,
      proxyFlags: {},
    }, this.out)
  }
}
