import {Args} from '@oclif/core'
import {BaseCommand, clusterDomainFlag, controlPlaneNamespaceFlag, outputFlag} from '../../lib/base-command.js'

export default class DiagnosticsEndpoints extends BaseCommand<typeof DiagnosticsEndpoints> {
  static override summary = 'Show exactly what the destination service tells a proxy about an authority: endpoints, identities, protocol hints, routes and weights.'
  static override description = `Opens a destination stream as a proxy does (watch and watchRoutes on /v1/destinations) through the API server's service proxy, prints the first answer of each and closes it. A bare name is qualified with -n (books:8080 -> books.<ns>.svc.cluster.local:8080); IPs (a Service's cluster IP, a pod IP) are asked as they are.
Needs \`get services/proxy\` on https:mesh-dst:8086 in the control plane namespace.`
  static override examples = [
    '<%= config.bin %> diagnostics endpoints books.shop.svc.cluster.local:8080',
    '<%= config.bin %> diagnostics endpoints books:8080 -n shop -o json',
    '<%= config.bin %> diagnostics endpoints 10.96.0.20:8080',
  ]
  static override args = {
    authority: Args.string({description: 'host:port as a proxy asks: a Service name (qualified or not), a cluster IP or a pod IP', required: true}),
  }
  static override flags = {
    output: outputFlag(['table', 'json'] as const),
    'control-plane-namespace': controlPlaneNamespaceFlag(),
    'cluster-domain': clusterDomainFlag(),
  }

  async run(): Promise<void> {
    const f = this.flags
    const {runEndpoints} = await import('../../diagnostics/diagnostics-command.js')
    await runEndpoints({authority: this.args.authority, namespace: f.namespace, controlPlaneNamespace: f['control-plane-namespace'], clusterDomain: f['cluster-domain'], output: f.output, kube: this.kubeOptions()}, this.out)
  }
}
