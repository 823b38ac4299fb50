import {Flags} from '@oclif/core'
import {BaseCommand, clusterDomainFlag, trustDomainFlag} from '../lib/base-command.js'
import {DESTINATION_PORT} from '../protocol/destination.js'
import {DEFAULT_ISSUER_SCHEME, IDENTITY_PORT, ISSUER_SCHEMES} from '../protocol/identity.js'
import {ControlPlanePorts} from '../protocol/control-plane.js'
import {DEFAULT_CLUSTER_NETWORKS, DEFAULT_INBOUND_POLICIES} from '../protocol/authz.js'

export default class Controller extends BaseCommand<typeof Controller> {
  static override summary = 'Run the control plane: identity, destination, the proxy injector (Kubernetes mode) and tap.'
  static override description = `Kubernetes mode (the default) reads the issuer from the Secret mesh-identity-issuer, checks proxies' tokens with TokenReview and watches Services, EndpointSlices and Pods. Local mode (for mesh demo) keeps the issuer in --identity-dir (created when empty), accepts local tokens and serves the services listed in --registry-file, reloaded when it changes. Logs go to stderr; SIGTERM stops it gracefully.`
  static override examples = [
    '<%= config.bin %> controller',
    '<%= config.bin %> controller --mode local --identity-dir ./.mesh/identity --registry-file ./services.yaml',
    '<%= config.bin %> controller --mode local --identity-dir /tmp/id --registry-file reg.yaml --identity-port 0 --destination-port 0',
  ]
  static override flags = {
    mode: Flags.option({options: ['kubernetes', 'local'] as const, default: 'kubernetes', description: 'where endpoints, tokens and the issuer come from'})(),
    'registry-file': Flags.string({description: 'local mode: YAML/JSON file of services and endpoints'}),
    'identity-dir': Flags.string({description: 'local mode: directory with ca.crt, issuer.crt, issuer.key, token-secret (created when missing)'}),
    'listen-host': Flags.string({description: 'address the servers listen on (default 0.0.0.0; 127.0.0.1 in local mode)'}),
    'identity-port': Flags.integer({description: 'port of the identity service (0 = any free port)', default: IDENTITY_PORT}),
    'destination-port': Flags.integer({description: 'port of the destination service (0 = any free port)', default: DESTINATION_PORT}),
    'injector-port': Flags.integer({description: 'Kubernetes mode: port of the proxy injector webhook (0 = any free port)', default: ControlPlanePorts.injector}),
    'tap-port': Flags.integer({description: 'port of the tap server (0 = any free port)', default: ControlPlanePorts.tap}),
    'default-opaque-ports': Flags.string({description: 'Kubernetes mode: ports discovery marks opaque on pods without a config.mesh.dev/opaque-ports annotation (e.g. 25,3306,5432; the installed Deployment passes proxy.opaquePorts)'}),
    'admin-port': Flags.integer({description: `port of the admin server: /live, /ready, /metrics over plain HTTP (0 = any free port; ${ControlPlanePorts.admin} in the installed Deployment); none when not given`}),
    'controller-namespace': Flags.string({description: 'the control plane namespace', default: 'mesh-system'}),
    'trust-domain': trustDomainFlag(),
    'cluster-domain': clusterDomainFlag(),
    'identity-issuer-scheme': Flags.option({
      options: ISSUER_SCHEMES,
      default: DEFAULT_ISSUER_SCHEME,
      description: 'Kubernetes mode: the layout of the issuer Secret: mesh.dev/tls (issuer.crt, issuer.key, ca.crt, as mesh install renders it) or kubernetes.io/tls (cert-manager: tls.crt, tls.key, ca.crt)',
    })(),
    'leaf-lifetime': Flags.string({description: 'lifetime of the certificates issued to proxies', default: '24h'}),
    'default-inbound-policy': Flags.option({options: DEFAULT_INBOUND_POLICIES, default: 'all-unauthenticated', helpValue: '<policy>', description: `the cluster's default inbound policy: ${DEFAULT_INBOUND_POLICIES.join(', ')} (namespaces and workloads may set their own)`})(),
    'cluster-networks': Flags.string({description: 'comma-separated CIDRs of the cluster\'s pods and nodes (cluster-authenticated)', default: DEFAULT_CLUSTER_NETWORKS.join(',')}),
    'log-level': Flags.option({options: ['debug', 'info', 'warn', 'error'] as const, default: 'info', description: 'log level'})(),
    'log-format': Flags.option({options: ['plain', 'json'] as const, default: 'plain', description: 'log format'})(),
  }

  async run(): Promise<void> {
    const f = this.flags
    const {runController} = await import('../control/run.js')
    await runController(
      {
        mode: f.mode,
        registryFile: f['registry-file'],
        identityDir: f['identity-dir'],
        listenHost: f['listen-host'],
        identityPort: f['identity-port'],
        destinationPort: f['destination-port'],
        injectorPort: f['injector-port'],
        tapPort: f['tap-port'],
        adminPort: f['admin-port'],
        defaultOpaquePorts: f['default-opaque-ports'],
        controllerNamespace: f['controller-namespace'],
        trustDomain: f['trust-domain'],
        clusterDomain: f['cluster-domain'],
        leafLifetime: f['leaf-lifetime'],
        issuerScheme: f['identity-issuer-scheme'],
        logLevel: f['log-level'],
        logFormat: f['log-format'],
        kubeconfig: f.kubeconfig,
        context: f.context,
        defaultInboundPolicy: f['default-inbound-policy'],
        clusterNetworks: f['cluster-networks'],
      },
      this.out,
    )
  }
}
