// The inbound side: accept -> (mTLS termination) -> policy -> detect -> HTTP/1 | HTTP/2 | TCP
// -> the application on the original destination port (or the forward address).
import type net from 'node:net'
import type {Duplex} from 'node:stream'
import {AuthzMatcher} from '../../authz/evaluate.js'
import {InputError} from '../../lib/errors.js'
import type {AuthzPolicy, AuthzProbe} from '../../protocol/authz.js'
import {ProxyEnv} from '../../protocol/proxy-env.js'
import type {TapTls} from '../../protocol/tap.js'
import {serveHttp, forwardTcp, type HttpServers, type Side$} from '../accept/accept.js'
import {limitCounter} from '../accept/conn-limit.js'
import {LazyH2Server} from '../accept/lazy-h2.js'
import {listen, type Listener} from '../accept/listener.js'
import type {OriginalDstFn} from '../accept/orig-dst.js'
import {detect, type Detected} from '../detect/detect.js'
import {readFirstRecord, serverName} from '../tls/client-hello.js'
import {TlsTerminator} from '../tls/terminator.js'
import {requireAuthority} from '../http/authority-gate.js'
import {enforceHeaderTimeout} from '../http/head-timeout.js'
import {createHttp1Server} from '../http/http1/server.js'
import {AppTargets} from '../route/app-target.js'
import {LoopGuard} from '../route/loop-guard.js'
import {RetryBudget} from '../route/retry-budget.js'
import type {Side} from '../route/side.js'
import {requestFacts} from '../route/routes.js'
import {endpointOptionsOf} from '../endpoint/options.js'
import {newConnCtx, type ConnCtx} from '../core/conn.js'
import type {Discovery, Identity} from '../core/contracts.js'
import type {Logger} from '../core/log.js'
import type {Observer} from '../core/observe.js'
import {ProxyError} from '../core/errors.js'
import {countRefusal, type RefusalReason} from '../core/refusals.js'
import {connectionFailed} from '../core/failures.js'
import type {ProxyStats} from '../core/stats.js'
import type {ProxyConfig} from '../config/config.js'
import {describePolicy, parseInboundPolicy, type InboundPolicy} from '../config/inbound-policy.js'
import {InboundAuthz, type Verdict} from './authz.js'
import {LiveAuthz} from './live-authz.js'
import {refuse} from './refuse.js'

export interface InboundDeps {
  config: ProxyConfig
  log: Logger
  observer?: Observer
  identity?: Identity
  originalDst?: OriginalDstFn
  /** Why there is no originalDst, told at start when nothing else says where traffic goes. */
  originalDstUnavailable?: string
  stats: ProxyStats
  /** Who is served; default: the config's, else MESH_PROXY_INBOUND_POLICY from the environment. */
  policy?: InboundPolicy
  /** This proxy's listener ports (each side adds its own once listening): the loop guard's. */
  selfPorts?: number[]
  /** The destination service's client: this pod's authorization policy comes on it (watchAuthz). */
  discovery?: Discovery
}

/** The inbound side as it runs, with its policies and their refusal counters. */
export interface InboundSide$ extends Side$ {
  /** MESH_PROXY_INBOUND_POLICY applied (when the control plane's policy is not in force). */
  authz: InboundAuthz
  /** The control plane's authorization policy (live-authz.ts). */
  live: LiveAuthz
}

export async function startInbound(deps: InboundDeps): Promise<InboundSide$> {
  const {config, log, identity} = deps
  const authz = new InboundAuthz(deps.policy ?? config.inboundPolicy ?? parseInboundPolicy(process.env[ProxyEnv.INBOUND_POLICY]), deps.observer)
  if (!authz.allowsUnauthenticated && !identity) {
    throw new InputError(`the inbound policy ${describePolicy(authz.policy)} needs a mesh identity, and this proxy runs without one`, {
      suggestions: [`Configure identity (${ProxyEnv.IDENTITY_ADDR} and friends) or unset ${ProxyEnv.INBOUND_POLICY}.`],
    })
  }
  const refused = (reason: RefusalReason): void => countRefusal(deps.stats.refused, deps.observer, 'inbound', reason)
  // The control plane's policy of this pod, once it streams one (else the environment's, above).
  const probes = config.inboundProbes ?? []
  const live = new LiveAuthz({log, observer: deps.observer, probes, refused: () => refused('forbidden'), environmentRefused: (r) => authz.count(r)})
  const podNs = config.podLabels.namespace
  const podName = config.podLabels.pod
  const discovery = deps.discovery
  if (discovery?.watchAuthz && identity && podNs && podName) live.start(discovery as typeof discovery & Required<Pick<Discovery, 'watchAuthz'>>, podNs, podName, identity.ready())
  // The environment's policy lets the pod's probes through on plaintext HTTP connections to their ports.
  const envProbes = probes.length === 0 ? undefined : new AuthzMatcher(probePolicy(probes))
  const selfPorts = deps.selfPorts ?? []
  const endpointOptions = endpointOptionsOf(config, deps, 'inbound')
  const apps = new AppTargets(config.inboundForward, () => listener.port(), endpointOptions, new LoopGuard(selfPorts, () => refused('loop')))
  const side: Side = {
    direction: 'inbound', config, log, observer: deps.observer, stats: deps.stats, draining: false,
    budget: new RetryBudget(config.retry.budgetRatio, config.retry.budgetMinPerSecond),
    target: (authority, conn) => {
      requireAuthority(side, authority)
      return apps.target(conn)
    },
    authorize: (conn, method, target, req) => {
      const m = live.current
      if (m) return live.authorize(m, conn, requestFacts(method, target, req))
      // The environment's policy: connections it refuses reached HTTP only for the probes.
      if (authz.allowsUnauthenticated) return undefined
      const t = conn.tls
      const verdict = t.tls ? authz.checkTls(t.clientId === undefined ? {presented: false} : {presented: true, id: t.clientId}) : authz.checkPlain('plaintext')
      if (verdict.allow || envProbes?.decide(conn.origDst.port, {ip: conn.source.ip}, requestFacts(method, target, req)).reason === 'probe') return undefined
      authz.count(verdict.reason)
      refused('forbidden')
      return {refusal: new ProxyError('FORBIDDEN', verdict.detail)}
    },
  }
  const servers: HttpServers = {h1: enforceHeaderTimeout(createHttp1Server(side), config.limits.headerReadTimeoutMs), h2: new LazyH2Server(side)}
  const terminator = identity ? new TlsTerminator(identity, config.limits.detectTimeoutMs) : undefined
  const plain: TapTls = {tls: false, noTlsReason: identity?.localName ? 'not_provided_by_remote' : 'no_identity'}
  // Handshakes waiting for the first certificate (one reaction on ready(), not one per connection).
  const uncertified = new Set<() => void>()
  void identity?.ready().then(() => {
    for (const go of uncertified) go()
  })
  const certifiedWithin = (ms: number): Promise<boolean> => new Promise((resolve) => {
    const go = (): void => {
      clearTimeout(timer)
      uncertified.delete(go)
      resolve(true)
    }
    const timer = setTimeout(() => {
      uncertified.delete(go)
      resolve(false)
    }, ms)
    uncertified.add(go)
  })

  const dispatch = (socket: Duplex, conn: ConnCtx, d: Detected): void => {
    if (d.protocol === 'http1' || d.protocol === 'h2') return serveHttp(side, servers, socket, conn, d)
    let ep
    try {
      ep = apps.target(conn).pick()
    } catch (err) {
      log.debug('inbound connection dropped', {error: (err as Error).message})
      socket.destroy()
      return
    }
    forwardTcp(side, socket, conn, d.head, ep)
  }

  /** Closes a connection the policy refuses (HTTP/1: a 403 first); nothing reaches the application. */
  const refuseConn = (socket: Duplex, conn: ConnCtx, d: Detected, reason: RefusalReason | undefined, detail: string, envReason?: Verdict & {allow: false}): void => {
    if (envReason) authz.count(envReason.reason)
    if (reason) refused(reason)
    log.debug('inbound connection refused', {reason: envReason?.reason ?? reason, detail, source: `${conn.source.ip}:${conn.source.port}`})
    connectionFailed(deps.observer, conn, envReason?.reason ?? reason ?? 'forbidden', detail)
    refuse(socket, d.protocol, detail)
  }

  /** Serves a connection decided at accept: a later policy that refuses it closes it (live-authz.ts follow). */
  const serveFollowed = (socket: Duplex, conn: ConnCtx, d: Detected, verdict: Verdict): void => {
    dispatch(socket, conn, d)
    if (socket.destroyed) return
    socket.once('close', live.follow(conn, verdict, (detail) => {
      connectionFailed(deps.observer, conn, 'forbidden', detail)
      socket.destroy()
    }))
  }

  /**
   * Serves the connection or refuses it. Under the control plane's policy, HTTP is decided per
   * request (the Side's authorize) and anything else now, once; under the environment's, by
   * `verdict`, except that a refused plaintext HTTP connection to a probe port is served for
   * its probes (each other request gets a 403).
   */
  const decide = (socket: Duplex, conn: ConnCtx, d: Detected, verdict: Verdict): void => {
    const http = d.protocol === 'http1' || d.protocol === 'h2'
    const m = live.current
    if (m) {
      if (http) return dispatch(socket, conn, d)
      const decision = live.decideConnection(m, conn)
      if (decision.allow) return serveFollowed(socket, conn, d, verdict)
      log.debug('inbound connection refused', {reason: 'forbidden', policy: decision.policy, source: `${conn.source.ip}:${conn.source.port}`})
      connectionFailed(deps.observer, conn, 'forbidden', `the authorization policy ${decision.policy} refuses this ${d.protocol} connection`)
      return void socket.destroy()
    }
    if (verdict.allow) return http ? dispatch(socket, conn, d) : serveFollowed(socket, conn, d, verdict)
    if (http && envProbes?.mayAllow(conn.origDst.port, {ip: conn.source.ip}) === true && conn.tls.clientId === undefined) return dispatch(socket, conn, d)
    refuseConn(socket, conn, d, 'forbidden', verdict.detail, verdict)
  }

  /** Counts a connection this proxy closes for a bound (refused_total, GET /errors), and logs why. */
  const closedFor = (conn: ConnCtx, reason: RefusalReason, detail: string, fields: Record<string, unknown> = {}): void => {
    refused(reason)
    log.debug(`inbound connection closed (${reason}): ${detail}`, {...fields, source: `${conn.source.ip}:${conn.source.port}`})
    connectionFailed(deps.observer, conn, reason, detail)
  }

  /** Closes a connection that showed no protocol in time (opaque ports excepted: carried as TCP). */
  const timedOut = (socket: Duplex, conn: ConnCtx, d: Detected): boolean => {
    if (!d.timedOut || config.opaquePorts.has(conn.origDst.port)) return false
    deps.observer?.detectTimedOut?.('inbound', conn.origDst.port)
    closedFor(conn, 'detect_timeout', `no protocol within the detect timeout (${config.limits.detectTimeoutMs} ms, ${d.head.length} bytes read) on port ${conn.origDst.port}, which is not opaque`, {bytes: d.head.length})
    socket.destroy()
    return true
  }

  const onConnection = async (socket: net.Socket): Promise<void> => {
    // Before the control plane's first policy (bounded): nobody is served under a policy that is about to change.
    if (live.waiting) {
      log.debug('inbound connection waits for the first authorization policy', {source: `${socket.remoteAddress}:${socket.remotePort}`})
      await live.settled()
    }
    const orig = deps.originalDst?.(socket)
    const conn = newConnCtx('inbound', socket, orig, plain, config.podLabels)
    // TLS is looked for even on an opaque port: a meshed client's proxy speaks mTLS there (and
    // sends first); only the protocol inside is not detected.
    const d = await detect(socket, config.limits.detectTimeoutMs)
    if (d.closed) return void socket.destroy()
    if (timedOut(socket, conn, d)) return
    listener.tracker.detected(socket)
    if (d.protocol !== 'tls' && config.opaquePorts.has(conn.origDst.port)) d.protocol = 'opaque'
    if (d.protocol === 'tls' && terminator) {
      // Terminate only TLS meant for this proxy; an application's own TLS passes through.
      d.head = await readFirstRecord(socket, d.head, config.limits.detectTimeoutMs)
      if (serverName(d.head) !== identity?.localName) return decide(socket, conn, d, authz.checkPlain('TLS not addressed to this proxy (passed through to the application)'))
      // A peer proxy's mTLS before this proxy's first certificate: the handshake waits for it (bounded).
      if (!terminator.ready && !(await certifiedWithin(config.limits.detectTimeoutMs))) {
        log.debug('inbound mTLS connection closed: no certificate yet', {source: `${conn.source.ip}:${conn.source.port}`})
        return void socket.destroy()
      }
      const t = await terminator.terminate(socket, d.head)
      if ('failed' in t) {
        // (the peer's own alert or reset: it left, nothing was refused)
        if (t.refused) closedFor(conn, 'tls_handshake', `the mTLS handshake did not finish: ${t.failed}`)
        else log.debug('inbound mTLS handshake ended by the peer', {source: `${conn.source.ip}:${conn.source.port}`, error: t.failed})
        return
      }
      conn.tls = t.tls
      const verdict = authz.checkTls(t.client)
      if (!verdict.allow && verdict.reason === 'untrusted_certificate') {
        // Not someone we talk to, under every policy: closed right after the handshake, nothing read.
        return refuseConn(t.socket, conn, {protocol: 'opaque', head: Buffer.alloc(0)}, undefined, verdict.detail, verdict)
      }
      const inner = await detect(t.socket, config.limits.detectTimeoutMs, config.opaquePorts.has(conn.origDst.port))
      if (inner.closed) return void t.socket.destroy()
      // A meshed peer that sends nothing carries a server-first protocol its side knew to be
      // opaque (discovery said so): TCP, as before. Anyone else is closed.
      if (t.client.id === undefined && timedOut(t.socket, conn, inner)) return
      return decide(t.socket, conn, inner, verdict)
    }
    decide(socket, conn, d, authz.checkPlain(d.protocol === 'tls' ? 'TLS, and this proxy has no identity' : 'plaintext'))
  }

  const listener: Listener = await listen(config.inbound, config.limits.maxConnections, (s) => {
    onConnection(s).catch((err: unknown) => {
      log.warn('inbound connection failed', {error: (err as Error).message})
      s.destroy()
    })
  }, limitCounter(deps.stats, log, 'inbound', refused))
  selfPorts.push(listener.port())
  // Neither an original destination nor a forward address: nothing says where anything goes.
  const blind = !config.inboundForward && !deps.originalDst
  if (blind) {
    log.warn('inbound cannot read original destinations and has no forward address: every connection it accepts is refused (HTTP: 502 "no original destination"; other protocols: closed)', {
      reason: deps.originalDstUnavailable ?? 'no SO_ORIGINAL_DST reader',
      fix: `set ${ProxyEnv.INBOUND_FORWARD_ADDR} (mesh proxy --inbound-forward-addr) to the application's host:port, or build the SO_ORIGINAL_DST addon on Linux (scripts/build-native.sh, part of npm run build)`,
    })
  }
  const forward = config.inboundForward ? `${config.inboundForward.host}:${config.inboundForward.port}` : blind ? 'none (original destinations unreadable, no forward address)' : 'original destination'
  log.info('inbound listening', {addr: `${config.inbound.host}:${listener.port()}`, forward, tls: identity ? 'mTLS' : 'plaintext', policy: describePolicy(authz.policy)})
  return {side, listener, servers, authz, live, close: () => {
    live.close()
    apps.close()
  }}
}


/** A policy that only names the probes (the environment's policy decides everything else). */
function probePolicy(probes: readonly AuthzProbe[]): AuthzPolicy {
  return {
    version: 1, revision: 'env', workload: {namespace: '', pod: '', serviceAccount: '', identity: ''},
    default: {policy: 'deny', source: 'workload'}, clusterNetworks: [], probes: [...probes], routes: [], rules: [], policies: [],
  }
}
