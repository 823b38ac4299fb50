// One upstream endpoint: how to reach it (plaintext, or mTLS originated with the local identity
// when the endpoint has one), its keep-alive pools (http1-pool.ts, an http.Agent, for HTTP/1; raw-pool.ts for the raw codec; one
// HTTP/2 session, h2-session.ts, which the HTTP/2 forwarding code opens, http/http2/attempt.ts, so that this module does
// not load node:http2), and its load-balancing state. mTLS connections resume the last TLS
// session made with this endpoint under the same client certificate and expected identity: a
// resumed handshake costs less than half the CPU of a full one (bench/tls-handshake.ts), which
// matters for opaque TCP, where every client connection is its own upstream connection.
import type http2 from 'node:http2'
import net from 'node:net'
import tls from 'node:tls'
import type {Duplex} from 'node:stream'
import type {TapTls} from '../../protocol/tap.js'
import type {FailureAccrual} from '../config/config.js'
import type {Endpoint, Identity} from '../core/contracts.js'
import type {Addr} from '../core/observe.js'
import {Http1Pool, MESHED_POOL_IDLE_MS, POOL_IDLE_MS} from './http1-pool.js'
import {closeRawPool} from './raw-pool.js'
import {EndpointStats} from './stats.js'
import {onEstablished} from '../net/established.js'

export interface EndpointClientOptions {
  identity?: Identity
  connectTimeoutMs: number
  accrual: FailureAccrual
  /** Resolves the endpoint's name (given for endpoints named by a client: the loop guard's). */
  lookup?: net.LookupFunction
  /** PINGs on the upstream HTTP/2 session (h2-session.ts); interval 0: none. */
  h2KeepAlive?: {intervalMs: number, timeoutMs: number}
  /** Failure accrual's verdict on an endpoint changed: the ejection counter and gauge (endpoint/options.ts). */
  ejection?: EjectionListener
}

/**
 * `ejected` each time failure accrual ejects the endpoint; `restored` when it answers again
 * after that; `removed` when an endpoint that was ever ejected leaves its target (its series go).
 */
export type EjectionListener = (ep: EndpointClient, event: 'ejected' | 'restored' | 'removed') => void

/** How often a retired endpoint that is still busy is checked again. */
const RETIRE_CHECK_MS = 1000

export class EndpointClient {
  readonly key: string
  readonly addr: Addr
  readonly stats: EndpointStats
  private agent?: Http1Pool
  /** The shared HTTP/2 session, opened and kept by http2/attempt.ts h2Session(); closed with the endpoint. */
  h2?: http2.ClientHttp2Session
  private readonly tlsOn: TapTls
  private readonly tlsOff: TapTls
  /** The newest session ticket of a verified handshake, with what it was made under. */
  private resumable: {ctx: tls.SecureContext, identity: string, session: Buffer} | undefined
  /** Ever ejected, and not yet told removed. */
  private reported = false

  /** `authority`: the target this endpoint serves (outbound: the authority clients name). */
  constructor(readonly endpoint: Endpoint, private readonly options: EndpointClientOptions, readonly authority = '') {
    this.key = `${endpoint.host}:${endpoint.port}`
    this.addr = {ip: endpoint.host, port: endpoint.port}
    const listener = options.ejection
    this.stats = new EndpointStats(options.accrual, listener && ((ejected) => {
      if (ejected) this.reported = true
      listener(this, ejected ? 'ejected' : 'restored')
    }))
    const local = options.identity?.localName
    this.tlsOn = {tls: true, clientId: local, serverId: endpoint.identity}
    this.tlsOff = {tls: false, noTlsReason: !endpoint.identity ? 'not_provided_by_service_discovery' : 'no_identity'}
  }

  /** The options it was made with (the HTTP/2 session reads its keep-alive settings here). */
  get settings(): EndpointClientOptions {
    return this.options
  }

  get labels(): Record<string, string> {
    return this.endpoint.labels
  }

  /** mTLS when the endpoint has an identity and this proxy holds a certificate. */
  private secureContext(): tls.SecureContext | undefined {
    return this.endpoint.identity ? this.options.identity?.clientContext() : undefined
  }

  /** The TLS status of connections to this endpoint, as metrics and tap report it. */
  get tls(): TapTls {
    return this.secureContext() ? this.tlsOn : this.tlsOff
  }

  /**
   * A new connection, with a connect timeout; TLS verified against the endpoint's identity.
   * `onread` (net.connect's: reads into the caller's buffers, no 'data' events) applies to a
   * plaintext connection only (a TLS socket made over a given socket takes none): a caller
   * passing it must still handle 'data' events for a TLS connection (raw-pool.ts does).
   */
  connect(alpn?: string[], onread?: net.OnReadOpts): Duplex {
    const ctx = this.secureContext()
    const identity = this.options.identity
    const expected = this.endpoint.identity
    let socket: net.Socket
    if (ctx && identity && expected) {
      // Only a session made under this client certificate (the context changes on renewal) and
      // verified as this identity is resumed: a resumed handshake skips checkServerIdentity.
      const r = this.resumable
      const session = r !== undefined && r.ctx === ctx && r.identity === expected ? r.session : undefined
      let verified = false
      const t = tls.connect({
        socket: net.connect({host: this.endpoint.host, port: this.endpoint.port, allowHalfOpen: true, lookup: this.options.lookup}),
        secureContext: ctx,
        servername: net.isIP(expected) ? undefined : expected,
        ALPNProtocols: alpn,
        rejectUnauthorized: true,
        checkServerIdentity: (_host, cert) => {
          const problem = identity.verifyPeer(cert, expected)
          verified = problem === undefined
          return problem
        },
        session,
      })
      // Keep tickets of connections verified now or resumed from a verified one.
      t.on('session', (ticket: Buffer) => {
        if (verified || t.isSessionReused()) this.resumable = {ctx, identity: expected, session: ticket}
      })
      socket = t
    } else {
      socket = net.connect({host: this.endpoint.host, port: this.endpoint.port, allowHalfOpen: true, lookup: this.options.lookup, onread})
    }
    socket.setNoDelay(true)
    const timeout = this.options.connectTimeoutMs
    if (timeout > 0) {
      const timer = setTimeout(() => {
        const err = Object.assign(new Error(`connect timeout after ${timeout}ms`), {code: 'ECONNECT_TIMEOUT'})
        socket.destroy(err)
      }, timeout)
      onEstablished(socket, () => clearTimeout(timer))
      socket.once('close', () => clearTimeout(timer))
    }
    return socket
  }

  /** The HTTP/1 keep-alive pool (http1-pool.ts: lifo, bounded connects, idle sockets swept after 4 s, 30 s for mTLS). */
  httpAgent(): Http1Pool {
    if (this.agent) return this.agent
    const agent = new Http1Pool(() => this.connect(['http/1.1']), this.tls.tls ? MESHED_POOL_IDLE_MS : POOL_IDLE_MS)
    this.agent = agent
    return agent
  }

  /**
   * Requests are in flight on it (a response head awaited, or a node-codec connection still
   * carrying a response body). The raw pool and the HTTP/2 session close gracefully anyway.
   */
  busy(): boolean {
    if (this.stats.inflight > 0) return true
    const sockets = this.agent?.sockets
    if (sockets) for (const key in sockets) if ((sockets[key]?.length ?? 0) > 0) return true
    return false
  }

  /** Closes the endpoint once nothing is in flight on it (it left its target: no new requests come). */
  retire(): void {
    this.left()
    if (!this.busy()) return this.close()
    const timer = setInterval(() => {
      if (this.busy()) return
      clearInterval(timer)
      this.close()
    }, RETIRE_CHECK_MS)
    timer.unref()
  }

  /** It left its target: an ejection reported for it is over for good. */
  private left(): void {
    if (!this.reported) return
    this.reported = false
    this.options.ejection?.(this, 'removed')
  }

  close(): void {
    this.left()
    this.agent?.destroy()
    this.agent = undefined
    closeRawPool(this)
    this.h2?.close()
    this.h2 = undefined
  }
}
