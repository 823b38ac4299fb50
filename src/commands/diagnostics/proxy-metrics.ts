import {Args} from '@oclif/core'
import {BaseCommand, controlPlaneNamespaceFlag} from '../../lib/base-command.js'

export default class DiagnosticsProxyMetrics extends BaseCommand<typeof DiagnosticsProxyMetrics> {
  static override summary = 'Print the raw /metrics of the proxies of a pod or workload, read through the API server.'
  static override description = `GETs each meshed pod's admin port (:4191/metrics) through the API server's pod proxy (needs \`get pods/proxy\`), and prints the text as the proxy served it, each pod under a "# POD <name> (i of n)" header. Nothing is printed unless every pod answered.`
  static override examples = [
    '<%= config.bin %> diagnostics proxy-metrics po/web-0 -n shop',
    '<%= config.bin %> diagnostics proxy-metrics deploy/web -n shop | grep mesh_proxy_refused_total',
  ]
  static override args = {
    target: Args.string({description: 'po/NAME, deploy/NAME, sts/NAME, ds/NAME, rs/NAME, job/NAME or svc/NAME', required: true}),
  }
  static override flags = {
    'control-plane-namespace': controlPlaneNamespaceFlag(),
  }

  async run(): Promise<void> {
    const f = this.flags
    const {runProxyMetrics} = await import('../../diagnostics/diagnostics-command.js')
    await runProxyMetrics({target: this.args.target, namespace: f.namespace, controlPlaneNamespace: f['control-plane-namespace'], kube: this.kubeOptions()}, this.out)
  }
}
