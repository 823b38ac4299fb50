import {Flags} from '@oclif/core'
import {BaseCommand} from '../lib/base-command.js'
import {UsageError} from '../lib/errors.js'

export default class ProxyInit extends BaseCommand<typeof ProxyInit> {
  static override summary = 'Write the iptables rules that send a pod\'s TCP traffic through its mesh proxy (the mesh-init container).'
  static override description = `Creates the nat chains MESH_INBOUND (from PREROUTING: every inbound TCP connection, except to ignored ports and subnets and the proxy's admin and tap ports, is redirected to the proxy's inbound port) and MESH_OUTPUT (from OUTPUT: every outbound TCP connection, except the proxy's own, loopback traffic and ignored ports, is redirected to the outbound port), in one iptables-restore transaction. Running it again replaces the chains' rules. Needs root with NET_ADMIN and NET_RAW.`
  static override examples = [
    '<%= config.bin %> proxy-init',
    '<%= config.bin %> proxy-init --inbound-ports-to-ignore 4190,4191,9000-9010 --outbound-ports-to-ignore 5432',
    '<%= config.bin %> proxy-init --dry-run',
    '<%= config.bin %> proxy-init --iptables-mode legacy',
  ]
  static override flags = {
    'incoming-proxy-port': Flags.string({description: 'port inbound connections are redirected to (default 4143)'}),
    'outgoing-proxy-port': Flags.string({description: 'port outbound connections are redirected to (default 4140)'}),
    'proxy-uid': Flags.string({description: 'uid of the proxy, whose connections are not redirected (default 2102)'}),
    'inbound-ports-to-ignore': Flags.string({description: 'ports (and ranges a-b) not redirected inbound, comma-separated; 4190 and 4191 always are'}),
    'outbound-ports-to-ignore': Flags.string({description: 'ports (and ranges a-b) not redirected outbound, comma-separated'}),
    'subnets-to-ignore': Flags.string({description: 'source subnets (IPv4 CIDRs) whose inbound connections are not redirected, comma-separated'}),
    'iptables-mode': Flags.string({description: 'iptables backend: nft (default) or legacy', default: 'nft'}),
    'dry-run': Flags.boolean({description: 'print the iptables-restore input on stdout and change nothing', default: false}),
  }

  async run(): Promise<void> {
    const {firewallConfig, FirewallConfigError} = await import('../proxy/init/config.js')
    const {applyFirewall, buildRestoreInput} = await import('../proxy/init/iptables.js')
    const f = this.flags
    let config
    try {
      config = firewallConfig({
        incomingProxyPort: f['incoming-proxy-port'],
        outgoingProxyPort: f['outgoing-proxy-port'],
        proxyUid: f['proxy-uid'],
        inboundPortsToIgnore: f['inbound-ports-to-ignore'],
        outboundPortsToIgnore: f['outbound-ports-to-ignore'],
        subnetsToIgnore: f['subnets-to-ignore'],
        iptablesMode: f['iptables-mode'],
      })
    } catch (err) {
      if (err instanceof FirewallConfigError) {
        throw new UsageError(err.message, {suggestions: ['Run `mesh proxy-init --help` to see the flags and examples.']})
      }
      throw err
    }
    if (f['dry-run']) {
      this.out.data(buildRestoreInput(config).trimEnd())
      return
    }
    const result = await applyFirewall(config)
    if (f.verbose) this.out.info(result.input.trimEnd())
    const count = result.input.split('\n').filter((l) => l.startsWith('-A ')).length
    this.out.info(`proxy-init: applied ${count} rules with iptables-${config.mode} (inbound -> ${config.inboundPort}, outbound -> ${config.outboundPort})`)
  }
}
