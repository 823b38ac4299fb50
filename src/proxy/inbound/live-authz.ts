// The control plane's authorization policy, applied live by the inbound side
// (docs/architecture/authz.md, "What a proxy must do"): the watchAuthz stream of this proxy's own
// pod, one AuthzMatcher (src/authz/evaluate.ts, the reference decision) per policy message, the
// decision on each HTTP request and on each connection decided when accepted (opaque TCP, TLS
// passed through), its metrics, its 403, and the audit log. Before the first message, when a
// message cannot be used (the last good policy stays), and when the control plane does not serve
// policies (BAD_REQUEST), the inbound side applies MESH_PROXY_INBOUND_POLICY (authz.ts) instead.
import {AuthzMatcher, type ClientFacts, type Decision} from '../../authz/evaluate.js'
import type {AuthzPolicy, AuthzProbe, AuthzRouteRef} from '../../protocol/authz.js'
import type {RequestFacts} from '../../routes/match.js'
import type {ConnCtx} from '../core/conn.js'
import type {AuthzEvents, Discovery} from '../core/contracts.js'
import {ProxyError} from '../core/errors.js'
import type {Logger} from '../core/log.js'
import type {Observer} from '../core/observe.js'
import type {RequestAuthz} from '../route/side.js'
import type {Verdict} from './authz.js'
import type {RefusalReason} from '../config/inbound-policy.js'

/** How long connections may wait for the first policy once the stream is asked for (then MESH_PROXY_INBOUND_POLICY applies until it comes). */
export const FIRST_POLICY_WAIT_MS = 10_000
/** One audit line per (policy, client) per this long. */
export const AUDIT_LOG_INTERVAL_MS = 60_000
/** (policy, client) pairs remembered for the audit log's rate (the oldest forgotten first). */
const AUDIT_LOG_KEYS = 1000

export interface LiveAuthzOptions {
  log: Logger
  observer?: Observer
  /** The pod's probes from MESH_PROXY_INBOUND_PROBES, added to the policy's own. */
  probes: readonly AuthzProbe[]
  /** Counts a refusal (mesh_proxy_refused_total{reason="forbidden"}). */
  refused: () => void
  /**
   * Counts a refusal of the environment's policy by its reason (InboundAuthz.count:
   * mesh_proxy_inbound_policy_refused_total{reason}), as at accept.
   */
  environmentRefused?: (reason: RefusalReason) => void
  waitMs?: number
  now?: () => number
}

/** The policy's probes with the environment's, without repeats. */
function withProbes(policy: AuthzPolicy, extra: readonly AuthzProbe[]): AuthzPolicy {
  if (extra.length === 0) return policy
  const seen = new Set(policy.probes.map((p) => `${p.port} ${p.method} ${p.path}`))
  const add = extra.filter((p) => !seen.has(`${p.port} ${p.method} ${p.path}`))
  return add.length === 0 ? policy : {...policy, probes: [...policy.probes, ...add]}
}

/** A followed connection: the environment's verdict on it when it was accepted, and what closes it. */
interface Followed {
  environment: Verdict
  cut: (detail: string) => void
}

const NOT_FOLLOWED = (): void => {}

const printable = (s: string, max: number): string => s.replace(/[^\x21-\x7e]/g, '?').slice(0, max)

export class LiveAuthz implements AuthzEvents {
  private matcher: AuthzMatcher | undefined
  /** RequestAuthz objects of allowed requests, per route (one object per route and policy message). */
  private allowed = new Map<AuthzRouteRef, RequestAuthz>()
  private holding = false
  private readonly waiters = new Set<() => void>()
  private timer: NodeJS.Timeout | undefined
  private stream: {close(): void} | undefined
  /** Whether `start` ran: policies may come (and followed connections be decided again). */
  private started = false
  private closed = false
  private readonly audited = new Map<string, number>()
  /** What the stream delivered (tests, logs). */
  readonly counts = {policies: 0, invalid: 0, ended: 0}
  /** The revision in force, when a control-plane policy is. */
  revision: string | undefined
  /**
   * Open connections decided when accepted (opaque TCP, TLS passed through), under either
   * policy, each with what closes it: decided again whenever the policy in force changes (a new
   * control-plane policy, or the environment's when the control plane stops serving them), and
   * closed when it no longer allows them (linkerd2-proxy terminates a TCP connection whose
   * authorization is revoked, as here). HTTP connections need none of this: each request is
   * decided under the policy in force.
   */
  private readonly followed = new Map<ConnCtx, Followed>()

  constructor(private readonly o: LiveAuthzOptions) {}

  /**
   * Opens this pod's stream once the identity holds a certificate (the control plane serves a
   * pod's policy to that pod's own proxy, over mTLS). Connections wait for the first policy (see
   * `waiting`) at most FIRST_POLICY_WAIT_MS after the stream is asked for (or after now, when
   * the certificate does not come).
   */
  start(discovery: Discovery & Required<Pick<Discovery, 'watchAuthz'>>, namespace: string, pod: string, certified: Promise<void>): void {
    const wait = this.o.waitMs ?? FIRST_POLICY_WAIT_MS
    this.started = true
    this.holding = true
    this.hold(wait)
    certified.then(() => {
      if (this.closed) return
      this.stream = discovery.watchAuthz(namespace, pod, this)
      if (this.holding) this.hold(wait)
    }, () => this.settle())
  }

  private hold(ms: number): void {
    clearTimeout(this.timer)
    this.timer = setTimeout(() => {
      if (this.holding) this.o.log.warn('no authorization policy from the control plane yet: applying the inbound policy from the environment until one comes', {waitedMs: ms})
      this.settle()
    }, ms)
    this.timer.unref()
  }

  /** True while connections should wait for the first policy. */
  get waiting(): boolean {
    return this.holding
  }

  /** Resolves when the first policy came, the stream ended, or the wait is over. */
  settled(): Promise<void> {
    if (!this.holding) return Promise.resolve()
    return new Promise((resolve) => this.waiters.add(resolve))
  }

  private settle(): void {
    this.holding = false
    clearTimeout(this.timer)
    this.timer = undefined
    for (const w of this.waiters) w()
    this.waiters.clear()
  }

  /** The control plane's policy in force, compiled; undefined: MESH_PROXY_INBOUND_POLICY applies. */
  get current(): AuthzMatcher | undefined {
    return this.matcher
  }

  policy(p: AuthzPolicy): void {
    let m: AuthzMatcher
    try {
      m = new AuthzMatcher(withProbes(p, this.o.probes))
    } catch (err) {
      this.invalid(`it does not compile: ${(err as Error).message}`)
      return
    }
    const first = this.matcher === undefined
    this.matcher = m
    this.allowed = new Map()
    this.revision = p.revision
    this.counts.policies++
    this.o.log.info(first ? 'authorization policy from the control plane in force' : 'authorization policy changed', {
      revision: printable(p.revision, 256), default: p.default.policy, source: p.default.source, rules: p.rules.length, probes: m.policy.probes.length,
    })
    this.revoke(m)
    this.settle()
  }

  /**
   * Follows a connection allowed at accept (by a control-plane policy, or by the environment's
   * `environment` verdict) until the returned function is called (its close): a later policy
   * that refuses it calls `cut` with why (counted and recorded as a refusal first). Without a
   * stream (`start` never ran) no policy can change, and nothing is followed.
   */
  follow(conn: ConnCtx, environment: Verdict, cut: (detail: string) => void): () => void {
    if (!this.started) return NOT_FOLLOWED
    this.followed.set(conn, {environment, cut})
    return () => this.followed.delete(conn)
  }

  /** Closes the followed connections `m` no longer allows. */
  private revoke(m: AuthzMatcher): void {
    for (const [conn, f] of this.followed) {
      const d = m.decide(conn.origDst.port, clientOf(conn))
      if (d.allow) continue
      this.record(d, conn, undefined)
      this.cut(conn, f, d.policy, `the authorization policy ${d.policy} no longer allows this connection (revision ${printable(this.revision ?? '', 64)}): closed`)
    }
  }

  /** Closes the followed connections the environment's policy refused when they were accepted (it applies again). */
  private revokeUnderEnvironment(): void {
    for (const [conn, f] of this.followed) {
      if (f.environment.allow) continue
      this.o.environmentRefused?.(f.environment.reason)
      this.o.refused()
      this.cut(conn, f, 'the inbound policy from the environment', `the control plane no longer serves authorization policy, and the inbound policy from the environment refuses this connection (${f.environment.detail}): closed`)
    }
  }

  private cut(conn: ConnCtx, f: Followed, policy: string, detail: string): void {
    this.followed.delete(conn)
    this.o.log.info('inbound connection closed: the changed authorization policy no longer allows it', {policy, client: conn.tls.clientId ?? conn.source.ip, port: conn.origDst.port})
    f.cut(detail)
  }

  invalid(problem: string): void {
    this.counts.invalid++
    this.o.observer?.authzStreamError?.()
    this.o.log.warn('authorization policy from the control plane not applied: the last good one stays in force', {problem: problem.slice(0, 300), inForce: this.revision ?? 'none: the inbound policy from the environment'})
    this.settle()
  }

  ended(code: string, message: string): void {
    this.counts.ended++
    if (code === 'BAD_REQUEST') {
      // A control plane that does not know watchAuthz (older than this proxy): the environment's policy.
      const had = this.matcher !== undefined
      if (had) this.o.log.warn('the control plane no longer serves authorization policy: applying the inbound policy from the environment', {code, message})
      else this.o.log.info('the control plane serves no authorization policy: the inbound policy from the environment applies', {code, message})
      this.matcher = undefined
      this.revision = undefined
      if (had) this.revokeUnderEnvironment()
    } else {
      this.o.log.warn('authorization policy stream ended; asking again', {code, message, inForce: this.revision ?? 'the inbound policy from the environment'})
    }
    this.settle()
  }

  close(): void {
    this.closed = true
    this.settle()
    this.stream?.close()
  }

  /** An HTTP request, under the policy in force (which the caller checked is there). */
  authorize(m: AuthzMatcher, conn: ConnCtx, req: RequestFacts): RequestAuthz | undefined {
    const d = m.decide(conn.origDst.port, clientOf(conn), req)
    this.record(d, conn, req)
    const route = d.route
    if (!d.allow) {
      const refusal = new ProxyError('FORBIDDEN', d.message ?? `forbidden by ${d.policy}`)
      return route ? {refusal, labels: this.labelsOf(m, route).labels} : {refusal}
    }
    return route ? this.labelsOf(m, route) : undefined
  }

  /** A connection decided when accepted (opaque TCP, TLS passed through to the application). */
  decideConnection(m: AuthzMatcher, conn: ConnCtx): Decision {
    const d = m.decide(conn.origDst.port, clientOf(conn))
    this.record(d, conn, undefined)
    return d
  }

  /** The route labels of an allowed request (shared, one object per route of this matcher). */
  private labelsOf(m: AuthzMatcher, route: AuthzRouteRef): RequestAuthz {
    if (m !== this.matcher) return {labels: {route: route.name, routeKind: route.kind}}
    let a = this.allowed.get(route)
    if (a === undefined) this.allowed.set(route, (a = {labels: {route: route.name, routeKind: route.kind}}))
    return a
  }

  private record(d: Decision, conn: ConnCtx, req: RequestFacts | undefined): void {
    const id = conn.tls.clientId ?? ''
    const observer = this.o.observer
    observer?.authz?.(d.allow ? 'allowed' : 'denied', d.policy, id)
    if (!d.allow) {
      this.o.refused()
      if (this.o.log.enabled('debug')) {
        this.o.log.debug(req ? 'inbound request refused by authorization policy' : 'inbound connection refused by authorization policy', {
          policy: d.policy, client: id || conn.source.ip, port: conn.origDst.port, method: req?.method, path: req ? printable(pathOf(req.target), 200) : undefined,
        })
      }
    }
    for (const a of d.audit) {
      observer?.authz?.('audit', a, id)
      this.auditLog(a, id || conn.source.ip, conn.origDst.port, req)
    }
  }

  /** `authz audit: <policy> would deny <client> on port <port> <method> <path>`, at most once per (policy, client) per minute. */
  private auditLog(policy: string, client: string, port: number, req: RequestFacts | undefined): void {
    const key = `${policy}\u0000${client}`
    const now = (this.o.now ?? Date.now)()
    const last = this.audited.get(key)
    if (last !== undefined && now - last < AUDIT_LOG_INTERVAL_MS) return
    this.audited.delete(key)
    if (this.audited.size >= AUDIT_LOG_KEYS) this.audited.delete(this.audited.keys().next().value!)
    this.audited.set(key, now)
    const what = req ? `${printable(req.method, 16)} ${printable(pathOf(req.target), 200)}` : '(connection)'
    this.o.log.info(`authz audit: ${printable(policy, 253)} would deny ${printable(client, 253)} on port ${port} ${what}`)
  }
}

/** The client as the decision sees it: the identity this proxy verified, the socket's address. */
function clientOf(conn: ConnCtx): ClientFacts {
  return {identity: conn.tls.clientId, ip: conn.source.ip}
}

function pathOf(target: string): string {
  const q = target.indexOf('?')
  return q === -1 ? target : target.slice(0, q)
}
