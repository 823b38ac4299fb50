// Names of the control plane's objects, shared by `mesh install` (which creates them),
// `mesh check` (which inspects them), `mesh inject` (which reads mesh-config) and the
// controller (which serves behind them). One place, so the parts cannot disagree.

export const CONTROL_PLANE_NAMESPACE = 'mesh-system'
export const TRUST_DOMAIN = 'cluster.local'
export const FIELD_MANAGER = 'mesh'

export const ControlPlane = {
  namespace: CONTROL_PLANE_NAMESPACE,
  /** The controller: Deployment, ServiceAccount, ClusterRole and ClusterRoleBinding share it. */
  controller: 'mesh-controller',
  /** ConfigMap with the values `mesh inject` and `mesh upgrade` read. */
  configMap: 'mesh-config',
  /** Secret with the issuer certificate and key (and the anchors in ca.crt). */
  issuerSecret: 'mesh-identity-issuer',
  /** ConfigMap with the trust anchors bundle (key ca-bundle.crt). */
  trustRootsConfigMap: 'mesh-identity-trust-roots',
  /** Services in front of the controller's servers. */
  identityService: 'mesh-identity',
  destinationService: 'mesh-dst',
  injectorService: 'mesh-proxy-injector',
  tapService: 'mesh-tap',
  /** PodMonitor for the Prometheus Operator (prometheus.podMonitor=true): scrapes every proxy. */
  podMonitor: 'mesh-proxy',
  /** MutatingWebhookConfiguration. */
  webhookConfiguration: 'mesh-proxy-injector-webhook-config',
  /** Secret holding the webhook's serving certificate. */
  injectorTlsSecret: 'mesh-proxy-injector-k8s-tls',
  /** Label every object of the control plane carries: mesh.dev/control-plane-component=<part>. */
  componentLabel: 'mesh.dev/control-plane-component',
  /** Label carrying the control plane namespace on every object mesh creates. */
  controlPlaneNsLabel: 'mesh.dev/control-plane-ns',
} as const

export const ControlPlanePorts = {
  identity: 8080,
  destination: 8086,
  injector: 8443,
  tap: 8089,
  admin: 9990,
} as const

/**
 * The tap Service as the API server's service proxy names it (`https:<service>:<port>`): the CLI's
 * path to the tap server, and the resourceName `mesh-tap-admin` grants `get services/proxy` on.
 */
export const TAP_SERVICE_PROXY_NAME = `https:${ControlPlane.tapService}:${ControlPlanePorts.tap}`

export const Annotations = {
  inject: 'mesh.dev/inject',
  createdBy: 'mesh.dev/created-by',
  proxyVersion: 'mesh.dev/proxy-version',
  identityMode: 'mesh.dev/identity-mode',
  /** prefix of per-workload overrides: config.mesh.dev/<option> */
  configPrefix: 'config.mesh.dev/',
} as const
