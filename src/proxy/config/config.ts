// ProxyConfig: everything the data path needs, from the MESH_PROXY_* environment (the names in
// src/protocol/proxy-env.ts) with flag overrides. Bad values fail here, naming the variable.
import {InputError} from '../../lib/errors.js'
import type {AuthzProbe} from '../../protocol/authz.js'
import {DEFAULT_OPAQUE_PORTS, PROXY_PORTS, ProxyEnv} from '../../protocol/proxy-env.js'
import {authorityOf} from './authority.js'
import {parseLogLevel, type LogFormat, type LogLevel} from './log-level.js'
import {parseInboundPolicy, parseInboundProbes, type InboundPolicy} from './inbound-policy.js'
import {parseDuration, parseRoutes, type RouteRule} from './route-policy.js'

export {normalizeAuthority} from './authority.js'

export interface ListenAddr {
  host: string
  port: number
}

export interface RetryPolicy {
  /** Extra attempts per request (0 turns retries off). */
  limit: number
  /** Response statuses that are retried (for idempotent or explicitly retryable requests). */
  statuses: number[]
  /** gRPC statuses of a trailers-only response that are retried (for retryable requests). */
  grpcStatuses: number[]
  /** Every method counts as retryable (as if each request carried `mesh-retryable: true`). */
  retryable: boolean
  /** Budget: retries may add this fraction of requests ... */
  budgetRatio: number
  /** ... plus this many per second. */
  budgetMinPerSecond: number
  /** Request bodies up to this size are buffered so they can be replayed. */
  maxBodyBytes: number
}

export interface FailureAccrual {
  /** Consecutive failures (connect errors, resets, 5xx) that eject an endpoint. */
  consecutiveFailures: number
  backoffMinMs: number
  backoffMaxMs: number
}

export interface ProxyLimits {
  /**
   * Connections per listener (MESH_PROXY_MAX_CONNECTIONS). At the cap a new connection closes
   * the oldest one still in protocol detection, else it is refused (reason connection_limit).
   */
  maxConnections: number
  maxHeaderBytes: number
  maxHeaderCount: number
  /**
   * Time to see enough bytes to tell the protocol (MESH_PROXY_DETECT_TIMEOUT); then the
   * connection is closed (reason detect_timeout). Opaque ports skip detection.
   */
  detectTimeoutMs: number
  /** An HTTP/1 request head must be complete within this long (MESH_PROXY_HEADER_READ_TIMEOUT); 408, reason header_timeout. */
  headerReadTimeoutMs: number
  /** HTTP/2 streams a client connection may have open at once (MESH_PROXY_H2_MAX_CONCURRENT_STREAMS). */
  h2MaxConcurrentStreams: number
  /** Streams a client may reset before their response: a burst of this many ... */
  h2ResetBurst: number
  /** ... refilled at this rate; past it the connection gets GOAWAY ENHANCE_YOUR_CALM (reason h2_reset_flood). */
  h2ResetsPerSecond: number
  /** An upstream HTTP/2 session is PINGed this often (MESH_PROXY_H2_KEEPALIVE_INTERVAL; 0: never) ... */
  h2KeepAliveIntervalMs: number
  /** ... and dropped when the PING is not answered within this long (MESH_PROXY_H2_KEEPALIVE_TIMEOUT). */
  h2KeepAliveTimeoutMs: number
  /** HTTP/1 keep-alive idle timeout toward clients. */
  httpIdleTimeoutMs: number
  /** Idle timeout for opaque TCP (0: none). */
  tcpIdleTimeoutMs: number
  connectTimeoutMs: number
}

export interface ProxyConfig {
  inbound: ListenAddr
  outbound: ListenAddr
  admin: ListenAddr
  tap: ListenAddr
  /** Where inbound traffic goes when set; else the connection's original destination port. */
  inboundForward?: ListenAddr
  /** authority (host:port) -> endpoints, used when there is no destination service. */
  staticRoutes: Map<string, ListenAddr[]>
  opaquePorts: Set<number>
  logLevel: LogLevel
  logFormat: LogFormat
  shutdownGraceMs: number
  /** Per-request timeout (0: none): the default of routes that set none. */
  requestTimeoutMs: number
  /** How long the first request to a Service waits for its route policy (MESH_PROXY_ROUTE_POLICY_WAIT; 0: no wait). */
  routesWaitMs: number
  /** The default retry policy; outbound only (the inbound side never retries). */
  retry: RetryPolicy
  /** Per-route policies (MESH_PROXY_ROUTES); see route-policy.ts for the syntax. */
  routes: RouteRule[]
  /** Who the inbound side serves (MESH_PROXY_INBOUND_POLICY / --inbound-policy); unset: read from the environment at start. */
  inboundPolicy?: InboundPolicy
  failureAccrual: FailureAccrual
  limits: ProxyLimits
  /** Labels of the local pod (inbound dst_* labels). */
  podLabels: Record<string, string>
  /** The pod's kubelet probes (MESH_PROXY_INBOUND_PROBES): plaintext requests let through under any policy. */
  inboundProbes?: AuthzProbe[]
}

export const DEFAULT_RETRY: RetryPolicy = {limit: 2, statuses: [502, 503, 504], grpcStatuses: [14], retryable: false, budgetRatio: 0.2, budgetMinPerSecond: 10, maxBodyBytes: 64 * 1024}
export const DEFAULT_FAILURE_ACCRUAL: FailureAccrual = {consecutiveFailures: 7, backoffMinMs: 1000, backoffMaxMs: 60_000}
export const DEFAULT_LIMITS: ProxyLimits = {
  maxConnections: 10_000,
  maxHeaderBytes: 16 * 1024,
  maxHeaderCount: 100,
  detectTimeoutMs: 10_000,
  headerReadTimeoutMs: 20_000,
  h2MaxConcurrentStreams: 100,
  h2ResetBurst: 100,
  h2ResetsPerSecond: 20,
  h2KeepAliveIntervalMs: 10_000,
  h2KeepAliveTimeoutMs: 5_000,
  httpIdleTimeoutMs: 60_000,
  tcpIdleTimeoutMs: 3_600_000,
  connectTimeoutMs: 1_000,
}

/** Settings a caller (flags, tests) may give instead of the environment. */
export type ProxyOverrides = Partial<Record<'inbound' | 'outbound' | 'admin' | 'tap' | 'inboundForward' | 'staticRoutes' | 'routes' | 'opaquePorts' | 'logLevel' | 'logFormat' | 'shutdownGrace' | 'inboundPolicy', string>>

/** The `mesh proxy` flag for each override (each mirrors one MESH_PROXY_* variable). */
export const FLAG_NAMES: Record<keyof ProxyOverrides, string> = {
  inbound: 'inbound-listen-addr', outbound: 'outbound-listen-addr', admin: 'admin-listen-addr', tap: 'tap-listen-addr',
  inboundForward: 'inbound-forward-addr', staticRoutes: 'static-routes', routes: 'routes', opaquePorts: 'opaque-ports',
  logLevel: 'log-level', logFormat: 'log-format', shutdownGrace: 'shutdown-grace-period', inboundPolicy: 'inbound-policy',
}

export function parseAddr(value: string, name: string): ListenAddr {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s]+)):(\d{1,5})$/.exec(value.trim())
  const port = m ? Number(m[3]) : NaN
  if (!m || port > 65535) {
    throw new InputError(`${name}="${value}" is not a host:port address`, {suggestions: [`Set ${name} to an address like 127.0.0.1:4140 or [::1]:4140.`]})
  }
  return {host: m[1] ?? m[2], port}
}

/** `web.local:80=127.0.0.1:4143,10.0.0.2:4143;api:8080=127.0.0.1:9000` */
export function parseStaticRoutes(value: string, name: string = ProxyEnv.STATIC_ROUTES): Map<string, ListenAddr[]> {
  const routes = new Map<string, ListenAddr[]>()
  for (const entry of value.split(';')) {
    if (entry.trim() === '') continue
    const eq = entry.indexOf('=')
    if (eq <= 0) {
      throw new InputError(`${name}: "${entry}" is not authority=addr[,addr]`, {suggestions: [`Write routes as web.local:80=127.0.0.1:4143,10.0.0.2:4143;api:8080=127.0.0.1:9000`]})
    }
    const given = entry.slice(0, eq).trim()
    const parsed = authorityOf(given, 80)
    if (typeof parsed === 'string') {
      throw new InputError(`${name}: route "${entry}" has authority "${given}": ${parsed}`, {suggestions: ['Write the authority as host or host:port, e.g. web.local:80 or [fd00::1]:80.']})
    }
    const authority = parsed.text
    const addrs = entry.slice(eq + 1).split(',').filter((a) => a.trim() !== '').map((a) => parseAddr(a, `${name} (route ${authority})`))
    routes.set(authority, addrs)
  }
  return routes
}

/** `25,3306,8000-8010` */
export function parsePorts(value: string, name: string): Set<number> {
  const ports = new Set<number>()
  for (const part of value.split(',')) {
    const p = part.trim()
    if (p === '') continue
    const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(p)
    const lo = m ? Number(m[1]) : NaN
    const hi = m?.[2] ? Number(m[2]) : lo
    if (!m || lo < 1 || hi > 65535 || hi < lo || hi - lo > 65535) {
      throw new InputError(`${name}: "${p}" is not a port or port range`, {suggestions: [`Write ports as 25,3306,8000-8010.`]})
    }
    for (let i = lo; i <= hi; i++) ports.add(i)
  }
  return ports
}

/**
 * A duration setting: `20s`, `500ms`, `1m`, or a number of seconds; `name` is the variable named
 * in the error. `min` is the smallest value allowed in ms (0 allows 0: off).
 */
export function parseDurationSetting(value: string, name: string, min = 1): number {
  const v = value.trim()
  const ms = /^\d+(?:\.\d+)?$/.test(v) ? Math.round(Number(v) * 1000) : parseDuration(v)
  if (!Number.isFinite(ms) || ms < min || ms > 86_400_000) {
    throw new InputError(`${name}="${value}" is not a duration${min > 0 ? ' above 0' : ''}`, {suggestions: [`Set ${name} to e.g. 20s, 500ms or 1m (a bare number is seconds).`]})
  }
  return ms
}

/** A whole number setting between `min` and `max`. */
export function parseCountSetting(value: string, name: string, min: number, max: number): number {
  const n = /^\d{1,9}$/.test(value.trim()) ? Number(value.trim()) : NaN
  if (!(n >= min && n <= max)) {
    throw new InputError(`${name}="${value}" is not a whole number from ${min} to ${max}`, {suggestions: [`Set ${name} to a number such as ${Math.min(max, Math.max(min, 100))}.`]})
  }
  return n
}

/** Limits from MESH_PROXY_* (names in src/protocol/proxy-env.ts); unset ones keep their defaults. */
export function limitsFromEnv(env: NodeJS.ProcessEnv): ProxyLimits {
  const limits = {...DEFAULT_LIMITS}
  const read = (name: string): string | undefined => (env[name] === undefined || env[name] === '' ? undefined : env[name])
  const duration = (name: string, key: 'detectTimeoutMs' | 'headerReadTimeoutMs' | 'h2KeepAliveIntervalMs' | 'h2KeepAliveTimeoutMs', min = 1): void => {
    const v = read(name)
    if (v !== undefined) limits[key] = parseDurationSetting(v, name, min)
  }
  duration(ProxyEnv.DETECT_TIMEOUT, 'detectTimeoutMs')
  duration(ProxyEnv.HEADER_READ_TIMEOUT, 'headerReadTimeoutMs')
  duration(ProxyEnv.H2_KEEPALIVE_INTERVAL, 'h2KeepAliveIntervalMs', 0)
  duration(ProxyEnv.H2_KEEPALIVE_TIMEOUT, 'h2KeepAliveTimeoutMs')
  const max = read(ProxyEnv.MAX_CONNECTIONS)
  if (max !== undefined) limits.maxConnections = parseCountSetting(max, ProxyEnv.MAX_CONNECTIONS, 1, 1_000_000)
  const streams = read(ProxyEnv.H2_MAX_CONCURRENT_STREAMS)
  if (streams !== undefined) limits.h2MaxConcurrentStreams = parseCountSetting(streams, ProxyEnv.H2_MAX_CONCURRENT_STREAMS, 1, 10_000)
  return limits
}

export const DEFAULT_ROUTES_WAIT_MS = 1500

/** MESH_PROXY_ROUTE_POLICY_WAIT: a duration from 0 (no wait) to 60s. */
function routesWaitFromEnv(env: NodeJS.ProcessEnv): number {
  const v = env[ProxyEnv.ROUTE_POLICY_WAIT]
  if (v === undefined || v === '') return DEFAULT_ROUTES_WAIT_MS
  const ms = parseDurationSetting(v, ProxyEnv.ROUTE_POLICY_WAIT, 0)
  if (ms > 60_000) throw new InputError(`${ProxyEnv.ROUTE_POLICY_WAIT}="${v}" is longer than 60s: a first request would wait that long`, {suggestions: [`Set ${ProxyEnv.ROUTE_POLICY_WAIT} to e.g. 1500ms (0: no wait).`]})
  return ms
}

export function loadProxyConfig(env: NodeJS.ProcessEnv = process.env, overrides: ProxyOverrides = {}): ProxyConfig {
  const get = (key: keyof ProxyOverrides, envName: string): [string | undefined, string] => {
    const flag = overrides[key]
    if (flag !== undefined && flag !== null) return [flag, `--${FLAG_NAMES[key]}`]
    const v = env[envName]
    return [v === '' ? undefined : v, envName]
  }
  const addr = (key: keyof ProxyOverrides, envName: string, def: string): ListenAddr => {
    const [v, name] = get(key, envName)
    return parseAddr(v ?? def, name)
  }
  const [fwd, fwdName] = get('inboundForward', ProxyEnv.INBOUND_FORWARD_ADDR)
  const [routes, routesName] = get('staticRoutes', ProxyEnv.STATIC_ROUTES)
  const [policies, policiesName] = get('routes', ProxyEnv.ROUTES)
  const [opaque, opaqueName] = get('opaquePorts', ProxyEnv.OPAQUE_PORTS)
  const [level, levelName] = get('logLevel', ProxyEnv.LOG_LEVEL)
  const [format, formatName] = get('logFormat', ProxyEnv.LOG_FORMAT)
  const [grace, graceName] = get('shutdownGrace', ProxyEnv.SHUTDOWN_GRACE_PERIOD)
  const [inboundPolicy, inboundPolicyName] = get('inboundPolicy', ProxyEnv.INBOUND_POLICY)
  if (format !== undefined && format !== 'plain' && format !== 'json') {
    throw new InputError(`${formatName}="${format}" is not a log format`, {suggestions: ['Use plain or json.']})
  }
  const graceSeconds = grace === undefined ? 30 : Number(grace.replace(/s$/, ''))
  if (!Number.isFinite(graceSeconds) || graceSeconds < 0) {
    throw new InputError(`${graceName}="${grace}" is not a number of seconds`, {suggestions: ['Use e.g. 30 or 30s.']})
  }
  const podLabels: Record<string, string> = {}
  if (env[ProxyEnv.POD_NAMESPACE]) podLabels.namespace = env[ProxyEnv.POD_NAMESPACE]!
  if (env[ProxyEnv.POD_NAME]) podLabels.pod = env[ProxyEnv.POD_NAME]!
  if (env[ProxyEnv.WORKLOAD_KIND] && env[ProxyEnv.WORKLOAD_NAME]) podLabels[env[ProxyEnv.WORKLOAD_KIND]!.toLowerCase()] = env[ProxyEnv.WORKLOAD_NAME]!
  return {
    inbound: addr('inbound', ProxyEnv.INBOUND_LISTEN_ADDR, `0.0.0.0:${PROXY_PORTS.inbound}`),
    outbound: addr('outbound', ProxyEnv.OUTBOUND_LISTEN_ADDR, `127.0.0.1:${PROXY_PORTS.outbound}`),
    admin: addr('admin', ProxyEnv.ADMIN_LISTEN_ADDR, `0.0.0.0:${PROXY_PORTS.admin}`),
    tap: addr('tap', ProxyEnv.TAP_LISTEN_ADDR, `0.0.0.0:${PROXY_PORTS.tap}`),
    inboundForward: fwd === undefined ? undefined : parseAddr(fwd, fwdName),
    staticRoutes: routes === undefined ? new Map() : parseStaticRoutes(routes, routesName),
    opaquePorts: parsePorts(opaque ?? DEFAULT_OPAQUE_PORTS, opaqueName),
    logLevel: level === undefined ? 'info' : parseLogLevel(level, levelName),
    logFormat: (format ?? 'plain') as LogFormat,
    shutdownGraceMs: graceSeconds * 1000,
    requestTimeoutMs: 0,
    routesWaitMs: routesWaitFromEnv(env),
    retry: {...DEFAULT_RETRY},
    routes: policies === undefined ? [] : parseRoutes(policies, policiesName),
    inboundPolicy: inboundPolicy === undefined ? undefined : parseInboundPolicy(inboundPolicy, inboundPolicyName),
    failureAccrual: {...DEFAULT_FAILURE_ACCRUAL},
    limits: limitsFromEnv(env),
    podLabels,
    inboundProbes: parseInboundProbes(env[ProxyEnv.INBOUND_PROBES]),
  }
}
