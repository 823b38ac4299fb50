// What `mesh controller` does: check the flags, start the components, log where they listen,
// then wait for SIGTERM/SIGINT and stop them in reverse order (in-flight streams get closed
// with 1001 "going away"; proxies reconnect to the next replica).
import {UsageError} from '../lib/errors.js'
import type {IssuerScheme} from '../protocol/identity.js'
import {PORT_LIST_PATTERN} from '../protocol/destination.js'
import type {Output} from '../lib/output.js'
import {startController, type ControllerOptions} from './controller.js'
import {createLogger, type LogLevel} from './logger.js'
import {DEFAULT_INBOUND_POLICIES} from '../protocol/authz.js'
import {parseDefaultInbound} from '../authz/validate.js'
import {formatCidr, parseCidr} from '../authz/cidr.js'

export interface RunControllerFlags {
  mode: 'kubernetes' | 'local'
  registryFile?: string
  identityDir?: string
  listenHost?: string
  identityPort: number
  destinationPort: number
  /** Kubernetes mode: the injector's port (default 8443). */
  injectorPort?: number
  /** The tap server's port (default 8089). */
  tapPort?: number
  /** The admin server's port (/live, /ready, /metrics); none when undefined. */
  adminPort?: number
  /** Kubernetes mode: ports opaque on pods without the opaque-ports annotation. */
  defaultOpaquePorts?: string
  controllerNamespace: string
  trustDomain: string
  clusterDomain: string
  leafLifetime: string
  /** Kubernetes mode: the issuer Secret's layout (default mesh.dev/tls). */
  issuerScheme?: IssuerScheme
  logLevel: LogLevel
  logFormat: 'plain' | 'json'
  kubeconfig?: string
  context?: string
  /** The cluster's default inbound policy (deny, audit, all-authenticated, cluster-authenticated, all-unauthenticated). */
  defaultInboundPolicy?: string
  /** Comma-separated CIDRs of the cluster's networks (cluster-authenticated). */
  clusterNetworks?: string
  /** Resolves when the controller should stop (default: SIGTERM or SIGINT). */
  until?: Promise<unknown>
}

/** `24h`, `90m`, `30s`, `500ms` -> milliseconds. */
export function parseDuration(value: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(value.trim())
  if (!m) throw new UsageError(`${flag} "${value}" is not a duration`, {suggestions: [`Use a number with a unit: ${flag} 24h (units ms, s, m, h, d).`]})
  const unit = {ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000}[m[2] as 'ms']
  return Number(m[1]) * unit
}

function checkFlags(f: RunControllerFlags): void {
  if (f.mode === 'local') {
    if (!f.identityDir) throw new UsageError('--identity-dir is required with --mode local', {suggestions: ['Pass --identity-dir ./mesh-identity (created with a new trust anchor and issuer when empty).']})
    if (!f.registryFile) throw new UsageError('--registry-file is required with --mode local', {suggestions: ['Pass --registry-file services.yaml (see docs/architecture/destination.md for the format).']})
  } else {
    if (f.registryFile) throw new UsageError('--registry-file only applies to --mode local', {suggestions: ['Drop --registry-file, or add --mode local.']})
    if (f.identityDir) throw new UsageError('--identity-dir only applies to --mode local', {suggestions: ['In Kubernetes mode the issuer comes from the Secret mesh-identity-issuer; drop --identity-dir.']})
  }
  if (f.defaultOpaquePorts !== undefined && f.defaultOpaquePorts !== '' && !new RegExp(PORT_LIST_PATTERN).test(f.defaultOpaquePorts)) {
    throw new UsageError(`--default-opaque-ports "${f.defaultOpaquePorts.slice(0, 100)}" is not a list of ports`, {suggestions: ['Pass ports and ranges separated by commas: --default-opaque-ports 25,3306,5432,8000-8010.']})
  }
  const ports = [['--identity-port', f.identityPort], ['--destination-port', f.destinationPort], ['--injector-port', f.injectorPort], ['--tap-port', f.tapPort], ['--admin-port', f.adminPort]] as const
  for (const [flag, port] of ports) {
    if (port === undefined) continue
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`${flag} ${port} is not a port`, {suggestions: [`Pass ${flag} with a number 0-65535.`]})
  }
}

/** --cluster-networks: canonical CIDRs, or a usage error naming the bad one. */
export function parseClusterNetworks(value: string): string[] {
  const parts = value.split(',').map((s) => s.trim()).filter((s) => s.length > 0)
  if (parts.length === 0 || parts.length > 64) throw new UsageError(`--cluster-networks "${value.slice(0, 80)}" must list 1 to 64 CIDRs`, {suggestions: ['Pass e.g. --cluster-networks 10.0.0.0/8,fd00::/8']})
  return parts.map((p) => {
    const r = parseCidr(p)
    if (!r.ok) throw new UsageError(`--cluster-networks: ${r.problem}`, {suggestions: ['Pass comma-separated CIDRs, e.g. --cluster-networks 10.0.0.0/8,fd00::/8']})
    return formatCidr(r.cidr)
  })
}

export async function runController(f: RunControllerFlags, out: Output): Promise<void> {
  checkFlags(f)
  const defaultInboundPolicy = f.defaultInboundPolicy === undefined ? undefined : parseDefaultInbound(f.defaultInboundPolicy)
  if (f.defaultInboundPolicy !== undefined && !defaultInboundPolicy) {
    throw new UsageError(`--default-inbound-policy "${f.defaultInboundPolicy.slice(0, 60)}" is not a default inbound policy`, {suggestions: [`Pass one of ${DEFAULT_INBOUND_POLICIES.join(', ')}.`]})
  }
  const clusterNetworks = f.clusterNetworks === undefined ? undefined : parseClusterNetworks(f.clusterNetworks)
  const leafLifetimeMs = parseDuration(f.leafLifetime, '--leaf-lifetime')
  if (leafLifetimeMs < 60_000) throw new UsageError(`--leaf-lifetime ${f.leafLifetime} is shorter than a minute`, {suggestions: ['Use --leaf-lifetime 24h (the default) or at least 1m.']})
  const log = createLogger({level: f.logLevel, format: f.logFormat, write: (l) => out.stderr.write(l)})
  const options: ControllerOptions = {
    mode: f.mode,
    host: f.listenHost,
    identityPort: f.identityPort,
    destinationPort: f.destinationPort,
    injectorPort: f.injectorPort,
    tapPort: f.tapPort,
    adminPort: f.adminPort,
    defaultOpaquePorts: f.defaultOpaquePorts,
    controlPlaneNamespace: f.controllerNamespace,
    trustDomain: f.trustDomain,
    clusterDomain: f.clusterDomain,
    leafLifetimeMs,
    issuerScheme: f.issuerScheme,
    identityDir: f.identityDir,
    registryFile: f.registryFile,
    kube: {kubeconfig: f.kubeconfig, context: f.context},
    defaultInboundPolicy,
    clusterNetworks,
    log,
  }
  const controller = await startController(options)
  log.info('controller ready', {mode: f.mode, components: controller.components.join(','), identityPort: controller.ctx.identity?.port, destinationPort: controller.ctx.destination?.port, tapUrl: controller.ctx.tap?.server?.url, adminPort: controller.admin?.port})
  let onSignal: ((s: NodeJS.Signals) => void) | undefined
  const signalled = new Promise<NodeJS.Signals>((resolve) => {
    onSignal = resolve
    process.once('SIGTERM', resolve)
    process.once('SIGINT', resolve)
  })
  const reason = await Promise.race([signalled, f.until ?? new Promise(() => {})])
  process.off('SIGTERM', onSignal!)
  process.off('SIGINT', onSignal!)
  log.info('stopping', {reason: typeof reason === 'string' ? reason : 'requested'})
  await controller.stop()
  log.info('stopped')
}
