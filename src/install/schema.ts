// The install values: one flat table of dotted keys, each with a type, a default and a line of
// documentation. `--set`, `-f values.yaml` and the read-back on upgrade are all checked
// against it, so a typo is an error that names the key instead of a silent no-op.
import {DEFAULT_PROXY_IMAGE} from '../inject/constants.js'
import {meshVersion} from '../lib/version.js'
import {TRUST_DOMAIN} from '../protocol/control-plane.js'
import {DEFAULT_ISSUER_SCHEME, ISSUER_SCHEMES} from '../protocol/identity.js'
import {PORT_LIST_PATTERN} from '../protocol/destination.js'
import {DEFAULT_OPAQUE_PORTS} from '../protocol/proxy-env.js'
import {DEFAULT_CLUSTER_NETWORKS, DEFAULT_INBOUND_POLICIES} from '../protocol/authz.js'
import {parseCidr} from '../authz/cidr.js'

export type FieldType = 'string' | 'int' | 'bool' | readonly string[]

export interface FieldSpec {
  type: FieldType
  /** Absent: the key is optional and unset by default. */
  default?: string | number | boolean
  description: string
  /** Bounds for ints. */
  min?: number
  max?: number
  /** Strings: the form a value must have (a JavaScript and RE2 regular expression), and what it is called. */
  pattern?: {source: string; what: string}
  /** Strings with a default: the empty string is a value (it turns the default off). */
  allowEmpty?: boolean
  /** Further checks of a string value (after `pattern`): the problem, or undefined when it is fine. */
  check?: (value: string) => string | undefined
}

const PULL_POLICIES = ['IfNotPresent', 'Always', 'Never'] as const
const LOG_LEVELS = ['error', 'warn', 'info', 'debug', 'trace'] as const

/** A comma-separated list of CIDRs (policy.clusterNetworks). */
export function cidrListProblem(value: string): string | undefined {
  const parts = value.split(',').map((s) => s.trim())
  if (parts.length > 64) return `lists ${parts.length} networks; at most 64`
  for (const p of parts) {
    const r = parseCidr(p)
    if (!r.ok) return `is not a list of CIDRs: ${r.problem}`
  }
  return undefined
}

const [defaultRegistry, defaultName] = splitRepository(DEFAULT_PROXY_IMAGE)

/** Every key `mesh install` understands. Order is the documentation order. */
export const SCHEMA: Record<string, FieldSpec> = {
  'image.registry': {type: 'string', default: defaultRegistry, description: 'registry (and path) of the mesh image'},
  'image.name': {type: 'string', default: defaultName, description: 'image name within the registry'},
  'image.tag': {type: 'string', default: meshVersion(), description: 'image tag; also the proxy version'},
  'image.pullPolicy': {type: PULL_POLICIES, default: 'IfNotPresent', description: 'imagePullPolicy of every mesh container'},
  'ha': {type: 'bool', default: false, description: 'high availability: 3 replicas, PodDisruptionBudget, anti-affinity'},
  'controller.replicas': {type: 'int', default: 1, min: 1, description: 'replicas of the mesh-controller Deployment (3 with --ha)'},
  'controller.logLevel': {type: ['error', 'warn', 'info', 'debug'], default: 'info', description: 'log level of the controller'},
  'controller.logFormat': {type: ['plain', 'json'], default: 'plain', description: 'log format of the controller'},
  'controller.resources.cpuRequest': {type: 'string', default: '100m', description: 'controller CPU request'},
  'controller.resources.memoryRequest': {type: 'string', default: '128Mi', description: 'controller memory request'},
  'controller.resources.cpuLimit': {type: 'string', description: 'controller CPU limit (none by default)'},
  'controller.resources.memoryLimit': {type: 'string', default: '512Mi', description: 'controller memory limit'},
  'proxy.logLevel': {type: LOG_LEVELS, default: 'info', description: 'default log level of injected proxies'},
  'proxy.opaquePorts': {type: 'string', default: DEFAULT_OPAQUE_PORTS, allowEmpty: true, pattern: {source: PORT_LIST_PATTERN, what: 'ports and ranges separated by commas (e.g. 3306,5432,8000-8010), or empty'}, description: 'ports carried as opaque TCP cluster-wide, without protocol detection: given to injected proxies and to discovery for pods without a config.mesh.dev/opaque-ports annotation (default: Linkerd\'s, the server-speaks-first protocols SMTP, MySQL, Galera, PostgreSQL, Redis, Elasticsearch, Memcached)'},
  'proxy.resources.cpuRequest': {type: 'string', description: 'default CPU request of injected proxies'},
  'proxy.resources.memoryRequest': {type: 'string', description: 'default memory request of injected proxies'},
  'proxy.resources.cpuLimit': {type: 'string', description: 'default CPU limit of injected proxies'},
  'proxy.resources.memoryLimit': {type: 'string', description: 'default memory limit of injected proxies'},
  'identity.trustDomain': {type: 'string', default: TRUST_DOMAIN, description: 'trust domain of workload identities'},
  'identity.issuer.scheme': {
    type: ISSUER_SCHEMES,
    default: DEFAULT_ISSUER_SCHEME,
    description: 'layout of the issuer Secret: mesh.dev/tls (rendered by mesh) or kubernetes.io/tls (owned by cert-manager: tls.crt, tls.key, ca.crt; --identity-external-issuer)',
  },
  'identity.issuerValidityDays': {type: 'int', default: 365, min: 1, description: 'validity of a generated issuer certificate'},
  'identity.trustAnchorValidityDays': {type: 'int', default: 3650, min: 1, description: 'validity of a generated trust anchor'},
  'policy.defaultInbound': {type: DEFAULT_INBOUND_POLICIES, default: 'all-unauthenticated', description: 'default inbound policy of meshed workloads without a namespace or workload default (docs/architecture/authz.md)'},
  'policy.clusterNetworks': {type: 'string', default: DEFAULT_CLUSTER_NETWORKS.join(','), check: cidrListProblem, description: 'comma-separated CIDRs of the cluster\'s pods and nodes, for the cluster-authenticated default'},
  'prometheus.podMonitor': {
    type: 'bool',
    default: false,
    description: 'render a PodMonitor (monitoring.coreos.com/v1) with which the Prometheus Operator scrapes every proxy, labelled namespace, pod and workload as Linkerd\'s Grafana dashboards read them; the CRD is the operator\'s: mesh never installs it',
  },
  'webhook.timeoutSeconds': {type: 'int', default: 10, min: 1, max: 30, description: 'how long the API server waits for the injector (1-30)'},
  'webhook.url': {
    type: 'string',
    description: 'clientConfig.url of the webhook instead of the in-cluster Service: for a controller running outside the cluster (tests, development)',
  },
}

/** `ghcr.io/mesh-dev/mesh` -> [`ghcr.io/mesh-dev`, `mesh`]; a bare name has no registry. */
export function splitRepository(repo: string): [string, string] {
  const i = repo.lastIndexOf('/')
  return i < 0 ? ['', repo] : [repo.slice(0, i), repo.slice(i + 1)]
}

export function typeName(t: FieldType): string {
  return typeof t === 'string' ? t : `one of ${t.join(', ')}`
}
