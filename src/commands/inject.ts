import {Flags} from '@oclif/core'
import {BaseCommand} from '../lib/base-command.js'
import {meshVersion} from '../lib/version.js'

export default class Inject extends BaseCommand<typeof Inject> {
  static override summary = 'Add the mesh proxy to the workloads in Kubernetes YAML or JSON.'
  static override description = `Reads files, directories (recursively), https URLs or - (stdin) and writes the same stream to stdout with every workload's pod template injected: the mesh-proxy sidecar, the mesh-init container and the identity volumes. Comments and formatting of everything else are kept. Namespaces get the mesh.dev/inject: enabled annotation; other objects pass through unchanged. A report goes to stderr.

The proxy's configuration comes from the control plane installed in the cluster (ConfigMap mesh-system/mesh-config); --ignore-cluster uses built-in defaults and flags instead.`
  static override examples = [
    '<%= config.bin %> inject app.yaml | kubectl apply -f -',
    'kubectl get deploy -n shop -o yaml | <%= config.bin %> inject - | kubectl apply -f -',
    '<%= config.bin %> inject --ignore-cluster --identity-trust-anchors-file ca.crt k8s/',
    '<%= config.bin %> inject --skip-outbound-ports 5432 --proxy-log-level debug app.yaml',
    '<%= config.bin %> inject --proxy-routes "web.shop.svc.cluster.local:80 GET /api/=timeout:2s,retries:2" --inbound-policy all-authenticated app.yaml',
    '<%= config.bin %> inject --annotate-only app.yaml',
  ]
  static override strict = false
  static override flags = {
    output: Flags.option({char: 'o', options: ['yaml', 'json'] as const, description: 'output format (default: json when every input is JSON, else yaml)', helpGroup: 'OUTPUT'})(),
    quiet: Flags.boolean({char: 'q', description: 'print no report on stderr (refusals still print)', default: false}),
    'ignore-cluster': Flags.boolean({description: 'do not read the control plane config from the cluster; use defaults and flags', default: false}),
    'identity-trust-anchors-file': Flags.string({description: 'PEM file of the trust anchors (required with --ignore-cluster)'}),
    'annotate-only': Flags.boolean({description: 'only add mesh.dev/inject: enabled (and flag annotations) for the webhook to act on', default: false}),
    ingress: Flags.boolean({description: 'mark the workloads as ingress controllers (mesh.dev/inject: ingress)', default: false}),
    'native-sidecar': Flags.boolean({description: 'run the proxy as a native sidecar (init container with restartPolicy Always); --no-native-sidecar for clusters before 1.29', default: true, allowNo: true}),
    'proxy-image': Flags.string({description: 'proxy image repository, without tag'}),
    'proxy-version': Flags.string({description: 'proxy image tag'}),
    'proxy-log-level': Flags.string({description: 'error, warn, info, debug or trace'}),
    'proxy-uid': Flags.string({description: 'user id the proxy runs as (default 2102)'}),
    'skip-inbound-ports': Flags.string({description: 'ports (and ranges a-b) the proxy does not intercept inbound, comma-separated'}),
    'skip-outbound-ports': Flags.string({description: 'ports (and ranges a-b) the proxy does not intercept outbound, comma-separated'}),
    'opaque-ports': Flags.string({description: 'ports carried as opaque TCP, comma-separated'}),
    'proxy-routes': Flags.string({description: 'per-route timeouts and retries, MESH_PROXY_ROUTES syntax: "authority [METHOD] [/prefix]=timeout:2s,retries:2;..."'}),
    'inbound-policy': Flags.string({description: 'clients the proxy serves: all-unauthenticated, all-authenticated or identities:<id>,<id>'}),
    'proxy-cpu-request': Flags.string({description: 'CPU request of the proxy, e.g. 100m'}),
    'proxy-cpu-limit': Flags.string({description: 'CPU limit of the proxy'}),
    'proxy-memory-request': Flags.string({description: 'memory request of the proxy, e.g. 20Mi'}),
    'proxy-memory-limit': Flags.string({description: 'memory limit of the proxy'}),
  }

  async run(): Promise<void> {
    const {argv} = await this.parse(Inject)
    const f = this.flags
    const {runInjection} = await import('../inject/run.js')
    await runInjection({
      mode: 'inject',
      inputs: argv as string[],
      output: f.output,
      quiet: f.quiet,
      verbose: f.verbose,
      createdBy: `mesh/cli ${meshVersion()}`,
      native: f['native-sidecar'],
      annotateOnly: f['annotate-only'],
      ingress: f.ingress,
      ignoreCluster: f['ignore-cluster'],
      trustAnchorsFile: f['identity-trust-anchors-file'],
      kube: this.kubeOptions(),
      namespace: f.namespace,
      proxyFlags: {
        'proxy-image': f['proxy-image'],
        'proxy-version': f['proxy-version'],
        'proxy-log-level': f['proxy-log-level'],
        'proxy-uid': f['proxy-uid'],
        'skip-inbound-ports': f['skip-inbound-ports'],
        'skip-outbound-ports': f['skip-outbound-ports'],
        'opaque-ports': f['opaque-ports'],
        'proxy-routes': f['proxy-routes'],
        'inbound-policy': f['inbound-policy'],
        'proxy-cpu-request': f['proxy-cpu-request'],
        'proxy-cpu-limit': f['proxy-cpu-limit'],
        'proxy-memory-request': f['proxy-memory-request'],
        'proxy-memory-limit': f['proxy-memory-limit'],
      },
    }, this.out)
  }
}
