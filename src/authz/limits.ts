// The bounds and enumerations of AuthorizationPolicy, shared by the validator
// (src/authz/validate.ts) and the CRD that `mesh install` renders (manifests/05-crds.yaml), so
// the API server and the controller refuse the same things. No imports: the install renderer
// loads this without the validator's regex engine.

/**
 * Bounds, the same as the CRD's maxItems / maxLength. They also keep the CRD's CEL rules within
 * the API server's estimated cost budget (a rule on an item costs once per possible item: 16
 * from entries x 16 networks x 8 exceptions x one CIDR regex is near the per-rule limit). The
 * CRD is manifests/05-crds.yaml, filled in by src/install/render.ts.
 */
export const AUTHZ_LIMITS = {
  from: 16,
  identities: 64,
  serviceAccounts: 64,
  namespaces: 64,
  networks: 16,
  except: 8,
  to: 16,
  ports: 16,
  methods: 9,
  paths: 16,
  pathBytes: 1024,
  nameBytes: 253,
} as const

export const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH'] as const
export const WORKLOAD_KINDS = ['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job', 'CronJob', 'Pod'] as const
export type WorkloadKind = (typeof WORKLOAD_KINDS)[number]


