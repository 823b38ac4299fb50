import {Args, Flags} from '@oclif/core'
import {BaseCommand, clusterDomainFlag, controlPlaneNamespaceFlag, outputFlag, trustDomainFlag} from '../lib/base-command.js'

export default class Explain extends BaseCommand<typeof Explain> {
  static override summary = 'Explain why traffic from a workload to a Service fails: one reason chain, from discovery to certificates.'
  static override description = `Reads, in order: what the destination service tells a proxy (no such Service, no endpoints), each destination pod's inbound policy against the source's identity and the refusals its proxy counted, whether each side trusts the anchor the other's certificate chains to and the mTLS handshakes the destination's proxies closed unfinished, protocol detection timeouts, the source proxies' connect failures and ejections, and the last errors both proxies recorded (when they serve them). Each step is √ (fine), × (a problem) or ? (cannot tell, and why). The first problem is the cause, with its fix.
Everything goes through the API server: the destination stream through the service proxy (\`get services/proxy\` on mesh-dst), the proxies' admin ports through the pod proxy (\`get pods/proxy\`).`
  static override examples = [
    '<%= config.bin %> explain deploy/web svc/books -n shop',
    '<%= config.bin %> explain po/web-0 svc/books --port 8080 -n shop -o json',
  ]
  static override args = {
    from: Args.string({description: 'the client: deploy/NAME, sts/NAME, ds/NAME, rs/NAME, job/NAME or po/NAME', required: true}),
    to: Args.string({description: 'the Service: svc/NAME', required: true}),
  }
  static override flags = {
    port: Flags.integer({description: 'only this port of the Service (default: every port)'}),
    'to-namespace': Flags.string({description: 'namespace of the Service (default: -n)'}),
    output: outputFlag(['table', 'json'] as const),
    'control-plane-namespace': controlPlaneNamespaceFlag(),
    'trust-domain': trustDomainFlag(),
    'cluster-domain': clusterDomainFlag(),
  }

  async run(): Promise<void> {
    const f = this.flags
    const {runExplain} = await import('../diagnostics/explain.js')
    await runExplain(
      {
        from: this.args.from, to: this.args.to, namespace: f.namespace, toNamespace: f['to-namespace'], port: f.port,
        controlPlaneNamespace: f['control-plane-namespace'], trustDomain: f['trust-domain'], clusterDomain: f['cluster-domain'],
        output: f.output, kube: this.kubeOptions(),
      },
      this.out,
    )
  }
}
