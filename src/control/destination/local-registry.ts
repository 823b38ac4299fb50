// The file-backed registry for `mesh demo` / `mesh controller --mode local`: a YAML or JSON
// document listing services, their ports and endpoints, hot-reloaded (fs.watch + polling).
// A document that fails to parse or validate keeps the last good one in place (logged).
//
//   services:
//     - name: web
//       namespace: shop                 # default "default"
//       clusterIP: 10.96.0.10           # optional: lookups by ip:port find this service
//       ports:
//         - port: 80
//           opaque: false               # optional
//           endpoints:
//             - address: 127.0.0.1
//               port: 18080
//               serviceAccount: web     # -> identity web.shop.serviceaccount... (meshed)
//               meshed: true            # default true when serviceAccount is set
//               pod: web-0              # optional labels
//               deployment: web
//               labels: {app: web}      # optional: the pod's labels (authorization policy selectors)
//   authorizationPolicies:                # optional: AuthorizationPolicies, as in Kubernetes
//     - metadata: {name: web-callers, namespace: shop}   # (docs/architecture/authz.md)
//       spec: {target: {workload: {name: web}}, from: [{serviceAccounts: [{name: load}]}]}
//   routes:                               # optional: HTTPRoutes / GRPCRoutes, as in Kubernetes
//     - kind: HTTPRoute                   # (see docs/architecture/routes.md); a route that does
//       metadata: {name: web, namespace: shop}   # not validate makes the document refused
//       spec: {parentRefs: [{group: '', kind: Service, name: web, port: 80}], rules: [...]}
import {readFile} from 'node:fs/promises'
import {isIP} from 'node:net'
import {InputError} from '../../lib/errors.js'
import {identityName} from '../../protocol/proxy-env.js'
import type {WireEndpoint} from '../../protocol/destination.js'
import {watchFiles, type FileWatch} from '../file-watch.js'
import {silentLogger, type Logger} from '../logger.js'
import {ChangeFanout, ipKey, type PortResolution, type Registry, type ServiceRef} from './registry.js'
import {backendProblem, validateRoute, type ValidatedRoute} from '../../routes/validate.js'
import type {ValidatedPolicy} from '../../authz/validate.js'
import {parseLabels, parseLocalPolicies} from '../authz/local-authz.js'

export interface LocalRegistryOptions {
  file: string
  controlPlaneNamespace?: string
  trustDomain?: string
  pollMs?: number
  log?: Logger
}

type Services = Map<string, Map<number, WireEndpoint[]>>

export interface ParsedRegistry {
  services: Services
  /** clusterIP -> service */
  clusterIps: Map<string, ServiceRef>
  /** The routes, every one valid (file order decides precedence ties: earlier is older). */
  routes: ValidatedRoute[]
  /** The AuthorizationPolicies, every one valid. */
  authorizationPolicies: ValidatedPolicy[]
  /** `ns/pod` -> the labels its endpoints give it. */
  podLabels: Map<string, Record<string, string>>
}

/** Routes one registry file may hold. */
const MAX_ROUTES = 1000

export class RegistryFileError extends InputError {
  constructor(message: string) {
    super(message, {code: 'MESH_REGISTRY_FILE', suggestions: ['Fix the registry file; see docs/architecture/destination.md for its format.']})
  }
}

const MAX_FILE = 4 * 1024 * 1024

function fail(file: string, where: string, problem: string): never {
  throw new RegistryFileError(`${file}: ${where}: ${problem}`)
}

/** Parses and validates a registry document; errors name the file, the field and the problem. */
export async function parseRegistryDocument(text: string, file: string, cpNs = 'mesh-system', trustDomain = 'cluster.local'): Promise<Services> {
  return (await parseRegistry(text, file, cpNs, trustDomain)).services
}

/** The services and their cluster IPs. */
export async function parseRegistry(text: string, file: string, cpNs = 'mesh-system', trustDomain = 'cluster.local'): Promise<ParsedRegistry> {
  if (text.length > MAX_FILE) fail(file, 'document', `larger than ${MAX_FILE} bytes`)
  const {parse} = await import('yaml')
  let doc: unknown
  try {
    doc = parse(text, {version: '1.1'})
  } catch (err) {
    fail(file, 'document', `not valid YAML/JSON: ${(err as Error).message.split('\n')[0]}`)
  }
  const out: Services = new Map()
  const clusterIps = new Map<string, ServiceRef>()
  const podLabels = new Map<string, Record<string, string>>()
  if (doc === null || doc === undefined) return {services: out, clusterIps, routes: [], authorizationPolicies: [], podLabels}
  const services = (doc as {services?: unknown}).services ?? []
  if (!Array.isArray(services)) fail(file, 'services', 'must be a list')
  const str = (v: unknown, where: string, required = false): string | undefined => {
    if (v === undefined || v === null) {
      if (required) fail(file, where, 'is required')
      return undefined
    }
    if (typeof v !== 'string' || v.length === 0 || v.length > 253) fail(file, where, 'must be a non-empty string')
    return v
  }
  const port = (v: unknown, where: string): number => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 65535) fail(file, where, 'must be a port number 1-65535')
    return v
  }
  services.forEach((s: Record<string, unknown>, i) => {
    const at = `services[${i}]`
    if (typeof s !== 'object' || s === null) fail(file, at, 'must be a mapping')
    const name = str(s.name, `${at}.name`, true)!
    const ns = str(s.namespace, `${at}.namespace`) ?? 'default'
    const key = `${ns}/${name}`
    if (out.has(key)) fail(file, at, `duplicate service ${key}`)
    const clusterIp = str(s.clusterIP, `${at}.clusterIP`)
    if (clusterIp !== undefined) {
      if (!isIP(clusterIp)) fail(file, `${at}.clusterIP`, `"${clusterIp}" is not an IP address`)
      const other = clusterIps.get(ipKey(clusterIp))
      if (other) fail(file, `${at}.clusterIP`, `${clusterIp} is already the cluster IP of ${other.namespace}/${other.service}`)
      clusterIps.set(ipKey(clusterIp), {namespace: ns, service: name})
    }
    const ports = new Map<number, WireEndpoint[]>()
    if (!Array.isArray(s.ports)) fail(file, `${at}.ports`, 'must be a list')
    ;(s.ports as Array<Record<string, unknown>>).forEach((p, j) => {
      const pat = `${at}.ports[${j}]`
      const svcPort = port(p?.port, `${pat}.port`)
      const opaque = p.opaque === true
      const eps = (p.endpoints ?? []) as Array<Record<string, unknown>>
      if (!Array.isArray(eps)) fail(file, `${pat}.endpoints`, 'must be a list')
      ports.set(
        svcPort,
        eps.map((e, k) => {
          const eat = `${pat}.endpoints[${k}]`
          const address = str(e?.address, `${eat}.address`, true)!
          const epPort = port(e.port ?? svcPort, `${eat}.port`)
          const sa = str(e.serviceAccount, `${eat}.serviceAccount`)
          const meshed = e.meshed === undefined ? sa !== undefined : e.meshed === true
          const identity = str(e.identity, `${eat}.identity`) ?? (meshed && sa ? identityName(sa, ns, cpNs, trustDomain) : undefined)
          const labels: WireEndpoint['labels'] = {dst_namespace: ns, dst_service: name}
          const pod = str(e.pod, `${eat}.pod`)
          const deployment = str(e.deployment, `${eat}.deployment`)
          if (pod) labels.dst_pod = pod
          if (deployment) labels.dst_deployment = deployment
          if (sa) labels.dst_serviceaccount = sa
          const podLabelsHere = parseLabels(e.labels, `${eat}.labels`, (where, problem) => fail(file, where, problem))
          if (podLabelsHere) {
            if (!pod) fail(file, `${eat}.labels`, 'are the labels of a pod: set pod as well')
            podLabels.set(`${ns}/${pod}`, {...podLabels.get(`${ns}/${pod}`), ...podLabelsHere})
          }
          const ep: WireEndpoint = {address, port: epPort, labels}
          if (identity) ep.identity = identity
          if (opaque || e.opaque === true) ep.opaque = true
          return ep
        }),
      )
    })
    out.set(key, ports)
  })
  const authorizationPolicies = parseLocalPolicies((doc as {authorizationPolicies?: unknown}).authorizationPolicies, (where, problem) => fail(file, where, problem), {controlPlaneNamespace: cpNs, trustDomain})
  return {services: out, clusterIps, routes: parseRoutes((doc as {routes?: unknown}).routes, file, out), authorizationPolicies, podLabels}
}

/** The document's routes: each must validate, name Services of this document and resolve its backends. */
function parseRoutes(raw: unknown, file: string, services: Services): ValidatedRoute[] {
  if (raw === undefined || raw === null) return []
  if (!Array.isArray(raw)) fail(file, 'routes', 'must be a list')
  if (raw.length > MAX_ROUTES) fail(file, 'routes', `has ${raw.length} routes; at most ${MAX_ROUTES}`)
  const ports = (ns: string, name: string): number[] | undefined => {
    const p = services.get(`${ns}/${name}`)
    return p ? [...p.keys()] : undefined
  }
  const seen = new Set<string>()
  return raw.map((r: unknown, i) => {
    const at = `routes[${i}]`
    if (typeof r !== 'object' || r === null || Array.isArray(r)) fail(file, at, 'must be a mapping')
    const o = r as Record<string, unknown>
    if (o.kind !== 'HTTPRoute' && o.kind !== 'GRPCRoute') fail(file, `${at}.kind`, 'must be HTTPRoute or GRPCRoute')
    if (o.apiVersion !== undefined && o.apiVersion !== 'gateway.networking.k8s.io/v1') fail(file, `${at}.apiVersion`, 'must be gateway.networking.k8s.io/v1 (or left out)')
    const meta = typeof o.metadata === 'object' && o.metadata !== null ? (o.metadata as Record<string, unknown>) : fail(file, `${at}.metadata`, 'must be a mapping with a name')
    // File order stands in for creation time: an earlier route wins precedence ties.
    const v = validateRoute({...o, metadata: {namespace: 'default', ...meta, generation: 1, creationTimestamp: new Date(i).toISOString()}})
    if (!v) fail(file, at, 'has no parentRef to a Service (group: "", kind: Service)')
    const where = `${at} (${v.kind} ${v.namespace}/${v.name})`
    const key = `${v.kind}/${v.namespace}/${v.name}`
    if (seen.has(key)) fail(file, where, 'is listed twice')
    seen.add(key)
    if (!v.verdict.ok) fail(file, where, v.verdict.message)
    for (const p of v.parents) {
      if (p.problem) fail(file, `${where}.spec.parentRefs`, p.problem.message)
      const have = ports(p.namespace, p.name)
      if (!have) fail(file, `${where}.spec.parentRefs`, `Service ${p.namespace}/${p.name} is not in this document`)
      if (p.port !== undefined && !have.includes(p.port)) fail(file, `${where}.spec.parentRefs`, `Service ${p.namespace}/${p.name} has no port ${p.port}`)
    }
    for (const refs of v.backendRefs) for (const b of refs) {
      const p = backendProblem(b, v.namespace, ports)
      if (p) fail(file, `${where}.spec.rules`, p.message)
    }
    return v
  })
}

export class LocalRegistry implements Registry {
  private services: Services = new Map()
  private clusterIps = new Map<string, ServiceRef>()
  private routeList: ValidatedRoute[] = []
  private policyList: ValidatedPolicy[] = []
  private labelsByPod = new Map<string, Record<string, string>>()
  private namespaces = new Set<string>()
  private readonly fanout = new ChangeFanout()
  private watcher: FileWatch | undefined
  private readonly log: Logger

  constructor(private readonly o: LocalRegistryOptions) {
    this.log = o.log ?? silentLogger
  }

  async start(): Promise<void> {
    this.apply(await this.read())
    this.watcher = watchFiles([this.o.file], () => void this.reload(), {pollMs: this.o.pollMs ?? 1000})
  }

  private async read(): Promise<ParsedRegistry> {
    let text: string
    try {
      text = await readFile(this.o.file, 'utf8')
    } catch (err) {
      throw new RegistryFileError(`cannot read the registry file ${this.o.file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
    }
    return parseRegistry(text, this.o.file, this.o.controlPlaneNamespace, this.o.trustDomain)
  }

  private async reload(): Promise<void> {
    try {
      this.apply(await this.read())
      this.log.info('registry reloaded', {file: this.o.file, services: this.services.size, routes: this.routeList.length})
    } catch (err) {
      this.log.warn('registry reload failed; keeping the previous registry', {error: (err as Error).message})
    }
  }

  private apply(next: ParsedRegistry): void {
    const before = this.namespaces
    const routeNs = new Set([...this.routeList, ...next.routes, ...this.policyList, ...next.authorizationPolicies].map((r) => r.namespace))
    this.services = next.services
    this.clusterIps = next.clusterIps
    this.routeList = next.routes
    this.policyList = next.authorizationPolicies
    this.labelsByPod = next.podLabels
    this.namespaces = new Set([...next.services.keys()].map((k) => k.split('/')[0]!))
    for (const ns of new Set([...before, ...this.namespaces, ...routeNs])) this.fanout.emit(ns)
  }

  /** The routes of the current document (a new array after every reload). */
  routes(): readonly ValidatedRoute[] {
    return this.routeList
  }

  /** The AuthorizationPolicies of the current document (a new array after every reload). */
  authorizationPolicies(): readonly ValidatedPolicy[] {
    return this.policyList
  }

  /** Every Service's ports and endpoints (`ns/name` -> port -> endpoints; a new map after every reload). */
  serviceEndpoints(): ReadonlyMap<string, ReadonlyMap<number, readonly WireEndpoint[]>> {
    return this.services
  }

  /** The labels the file gives pod ns/name (empty when none). */
  podLabels(namespace: string, pod: string): Readonly<Record<string, string>> {
    return this.labelsByPod.get(`${namespace}/${pod}`) ?? {}
  }

  async stop(): Promise<void> {
    this.watcher?.close()
  }

  resolve(namespace: string, service: string, port: number): PortResolution {
    const ports = this.services.get(`${namespace}/${service}`)
    if (!ports) return {kind: 'noService'}
    const eps = ports.get(port)
    if (!eps) return {kind: 'noPort', ports: [...ports.keys()]}
    return {kind: 'endpoints', endpoints: eps}
  }

  serviceAt(ip: string): ServiceRef | undefined {
    return this.clusterIps.get(ipKey(ip))
  }

  hasNamespace(namespace: string): boolean {
    return this.namespaces.has(namespace)
  }

  onChange(listener: (namespace: string) => void): () => void {
    return this.fanout.add(listener)
  }
}
