import {Flags} from '@oclif/core'
import {BaseCommand, controlPlaneNamespaceFlag, outputFlag} from '../lib/base-command.js'
import {UsageError} from '../lib/errors.js'

export default class Check extends BaseCommand<typeof Check> {
  static override summary = 'Check that the cluster is ready for mesh, that the control plane is healthy, and that the proxies are.'
  static override description = `Runs a list of checks and prints √ (passed), ‼ (warning) or × (failed) for each, with the error and a hint under anything that is not green.
Exit code 1 when any check that is not a warning fails, 0 otherwise; -o json prints a stable document (success, categories, checks with stable ids).`
  static override examples = [
    '<%= config.bin %> check --pre',
    '<%= config.bin %> check',
    '<%= config.bin %> check --wait 5m',
    '<%= config.bin %> check --proxy -n emojivoto',
    '<%= config.bin %> check --proxy --local-state ~/.mesh/demo/state.json',
    '<%= config.bin %> check -o json | jq \'.categories[].checks[] | select(.result != "success")\'',
    '<%= config.bin %> check --inject deployment.yaml',
  ]
  static override flags = {
    pre: Flags.boolean({description: 'run the pre-installation checks (before `mesh install`)', default: false}),
    proxy: Flags.boolean({description: 'also check the data plane: every meshed pod\'s proxy (in -n namespace when given)', default: false}),
    inject: Flags.string({description: 'explain, for each workload in FILE, whether and why its pods would be injected', helpValue: 'FILE'}),
    'local-state': Flags.string({description: 'check the proxies of a local `mesh demo` (the state file it writes) instead of a cluster; implies --proxy', helpValue: 'FILE'}),
    wait: Flags.string({description: 'retry the retryable checks (API reachable, pods ready) for up to this long, e.g. 30s, 5m'}),
    'expected-version': Flags.string({description: 'the version the control plane and proxies must run (default: this CLI\'s version)'}),
    'control-plane-namespace': controlPlaneNamespaceFlag(),
    output: outputFlag(['table', 'short', 'json'] as const),
  }

  async run(): Promise<void> {
    const f = this.flags
    const modes = [f.pre && '--pre', (f.proxy || f['local-state'] !== undefined) && '--proxy', f.inject !== undefined && '--inject'].filter(Boolean)
    if (modes.length > 1) {
      throw new UsageError(`${modes.join(' and ')} cannot be used together`, {
        code: 'MESH_CHECK_EXCLUSIVE',
        suggestions: ['Run `mesh check --pre` before installing, `mesh check --proxy` after; one at a time.'],
      })
    }
    const kube = this.kubeOptions()
    if (f.inject !== undefined) {
      const {explainFile, renderExplanations} = await import('../check/explain-file.js')
      const list = await explainFile({file: f.inject, namespace: f.namespace, controlPlaneNamespace: f['control-plane-namespace'], kube}, this.out)
      await renderExplanations(list, f.output, this.out)
      return
    }
    const {parseDuration} = await import('../check/duration.js')
    const {runMeshCheck} = await import('../check/run.js')
    const waitMs = f.wait === undefined ? 0 : parseDuration(f.wait)
    // --proxy with no --context while a `mesh demo` runs here: check the demo's proxies.
    const localFile = f['local-state'] ?? (f.proxy && !f.context ? (await import('../demo/check-source.js')).demoCheckStateFile() : undefined)
    const local = localFile === undefined ? undefined : await (await import('../check/data-plane/local-state.js')).localStateSource(localFile)
    const {exitCode} = await runMeshCheck(
      {
        mode: local ? 'local-proxy' : f.pre ? 'pre' : f.proxy ? 'proxy' : 'default',
        dataPlane: local,
        kube,
        output: f.output,
        waitMs,
        options: {controlPlaneNamespace: f['control-plane-namespace'], namespace: f.namespace, expectedVersion: f['expected-version']},
      },
      this.out,
    )
    if (exitCode !== 0) process.exitCode = exitCode
  }
}
