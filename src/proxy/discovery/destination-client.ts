// Discovery over the destination service's streams (src/protocol/destination.ts): one
// WebSocket connection per client (DESTINATIONS_PATH), one stream on it per authority, shared by
// every resolve() of it. The connection reconnects with backoff when it drops and every stream
// is asked for again; the last known sets stay in use meanwhile. The first message of each
// stream is the full state and replaces what was held. IP authorities are asked about too: the
// destination service answers for a Service's cluster IP like for its name, and "external" for
// others.
import {readFileSync} from 'node:fs'
import {isIP} from 'node:net'
import type {PeerCertificate} from 'node:tls'
import WebSocket from 'ws'
import {CONTROLLER_SERVICE_ACCOUNT} from '../../protocol/identity.js'
import {identityName} from '../../protocol/proxy-env.js'
import {DESTINATIONS_PATH, endpointKey, type DestinationRequest, type StreamMessage, type WireEndpoint} from '../../protocol/destination.js'
import {ROUTE_POLICY_VERSION, type RoutePolicy as ControlRoutePolicy} from '../../protocol/routes.js'
import {TRUST_BUNDLE_VERSION} from '../../protocol/trust.js'
import {askable, hostOf} from './ip-authority.js'
import {AuthzStream} from './authz-stream.js'
import {NoSuchServiceError, type AuthzEvents, type Discovery, type Endpoint, type EndpointSet, type Identity, type Resolution, type RoutesWatch} from '../core/contracts.js'

export interface DestinationClientOptions {
  /** wss://host:port of the destination service. */
  addr: string
  /** The caller's namespace, for short names (`web:80`). */
  namespace?: string
  /** Trust anchors to verify the destination service (used when no identity is given). */
  trustAnchorsPem?: string
  /** This proxy's identity: its client certificate is presented and its anchors trusted. */
  identity?: Identity
  /** The DNS SAN the destination service must present (default: the controller's identity in mesh-system). */
  serverName?: string
  /** How long resolve() waits for the first answer (default 5 s). */
  resolveTimeoutMs?: number
  backoff?: {minMs: number; maxMs: number}
  log?: {debug(msg: string, f?: Record<string, unknown>): void; warn(msg: string, f?: Record<string, unknown>): void}
}

const MAX_MESSAGE = 4 * 1024 * 1024
/**
 * The connection stays this long after its last stream ends: a proxy whose only streams come and
 * go (an IP asked about again every 5-60 s, recheck.ts) does not pay a TLS handshake each time.
 */
export const CONNECTION_IDLE_MS = 60_000

function toEndpoint(e: WireEndpoint): Endpoint {
  const labels: Record<string, string> = {}
  for (const [k, v] of Object.entries(e.labels ?? {})) if (typeof v === 'string') labels[k] = v
  const ep: Endpoint = {host: e.address, port: e.port, labels}
  if (e.identity) ep.identity = e.identity
  if (e.opaque) ep.opaque = true
  return ep
}

type Outcome = {kind: 'set'} | {kind: 'external'} | {kind: 'noSuchService'} | {kind: 'failed'; error: Error}

/** Backoff with jitter: half the base plus up to half again, the base doubling per attempt. */
function backoffMs(o: DestinationClientOptions, attempts: number): number {
  const {minMs, maxMs} = o.backoff ?? {minMs: 200, maxMs: 10_000}
  const base = Math.min(maxMs, minMs * 2 ** Math.min(attempts - 1, 16))
  return Math.round(base / 2 + (Math.random() * base) / 2)
}

/** A stream on the connection: an endpoint watch or a routes watch. */
interface Stream {
  readonly authority: string
  /** The request that opens it (again, on a new connection). */
  request(id: number): DestinationRequest
  /** Asked for (again) on a new connection. */
  subscribed(): void
  handle(msg: StreamMessage, id: number): void
}

/** The one WebSocket to the destination service: open while some stream is wanted. */
class Connection {
  private ws: WebSocket | undefined
  private nextId = 1
  private readonly streams = new Map<number, Stream>()
  private attempts = 0
  private timer: NodeJS.Timeout | undefined
  private idle: NodeJS.Timeout | undefined
  private anchorsPem: string | undefined
  /** The connection open or being opened presents this proxy's certificate. */
  private withCert = false
  lastError: string | undefined

  constructor(private readonly o: DestinationClientOptions) {}

  /**
   * The identity has its first certificate: a connection opened before it (an early endpoint or
   * trust stream) presented none, and the streams that need the pod's identity (watchAuthz) are
   * refused on it, so it is replaced now by one that presents it; every stream is asked again.
   */
  certified(): void {
    if (!this.ws || this.withCert) return
    const ws = this.ws
    this.ws = undefined
    ws.terminate()
    clearTimeout(this.timer)
    this.timer = undefined
    this.connect()
  }

  /** Requests can go now (else they go when the connection opens). */
  private get open(): boolean {
    return this.ws?.readyState === WebSocket.OPEN
  }

  /** Asks for `w`'s authority as a new stream (now, or when connected); its id. */
  watch(w: Stream): number {
    clearTimeout(this.idle)
    this.idle = undefined
    const id = this.nextId++
    this.streams.set(id, w)
    if (this.open) this.request(w.request(id))
    else if (!this.ws && !this.timer) this.connect()
    return id
  }

  /** Stream `id` is no longer wanted (or the server forgot it); the connection closes CONNECTION_IDLE_MS after the last. */
  unwatch(id: number, tell: boolean): void {
    if (!this.streams.delete(id)) return
    if (tell && this.open) this.request({type: 'unwatch', id})
    if (this.streams.size === 0 && !this.idle) {
      this.idle = setTimeout(() => this.close(), CONNECTION_IDLE_MS)
      this.idle.unref()
    }
  }

  /** Connections open or being opened (0 or 1; tests). */
  connections(): number {
    return this.ws ? 1 : 0
  }

  /** A stream delivered state: the connection works, so the next drop starts the backoff again. */
  delivered(): void {
    this.attempts = 0
  }

  private request(r: DestinationRequest): void {
    this.ws?.send(JSON.stringify(r))
  }

  /** The anchors PEM; MESH_PROXY_IDENTITY_TRUST_ANCHORS_PEM may also name a file. */
  private anchors(): string | undefined {
    const v = this.o.trustAnchorsPem
    if (!v || v.includes('-----BEGIN')) return v
    try {
      this.anchorsPem ??= readFileSync(v, 'utf8')
    } catch {
      this.lastError = `the trust anchors are neither PEM nor a readable file: ${v}`
    }
    return this.anchorsPem
  }

  private connect(): void {
    this.timer = undefined
    if (this.streams.size === 0) return
    const url = new URL(DESTINATIONS_PATH, this.o.addr)
    if (this.o.namespace) url.searchParams.set('ns', this.o.namespace)
    const ctx = this.o.identity?.clientContext()
    this.withCert = ctx !== undefined
    const serverName = this.o.serverName ?? identityName(CONTROLLER_SERVICE_ACCOUNT, 'mesh-system', 'mesh-system')
    const tlsOpts: Record<string, unknown> = ctx ? {secureContext: ctx} : {ca: this.anchors()}
    tlsOpts.checkServerIdentity = (_host: string, cert: PeerCertificate): Error | undefined => {
      const names = (cert.subjectaltname ?? '').split(/,\s*/).filter((n) => n.startsWith('DNS:')).map((n) => n.slice(4))
      return names.includes(serverName) ? undefined : new Error(`the destination service presented ${names.join(', ') || 'no DNS name'}, not ${serverName}`)
    }
    const ws = new WebSocket(url, {...tlsOpts, maxPayload: MAX_MESSAGE, handshakeTimeout: 10_000, perMessageDeflate: false} as WebSocket.ClientOptions)
    this.ws = ws
    ws.on('open', () => {
      if (this.ws !== ws) return
      // Every stream wanted is asked for (again): its first message replaces what it held.
      for (const [id, w] of this.streams) {
        w.subscribed()
        this.request(w.request(id))
      }
    })
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (isBinary || this.ws !== ws) return
      let msg: StreamMessage
      try {
        msg = JSON.parse(data.toString('utf8')) as StreamMessage
      } catch {
        return
      }
      this.streams.get(msg.id)?.handle(msg, msg.id)
    })
    ws.on('error', (err) => {
      this.lastError = err.message
      this.o.log?.debug('destination connection error', {error: err.message})
    })
    ws.on('close', () => {
      if (this.ws !== ws) return
      this.ws = undefined
      if (this.streams.size === 0) return
      this.attempts++
      const wait = backoffMs(this.o, this.attempts)
      this.o.log?.debug('destination connection reconnecting', {inMs: wait, streams: this.streams.size, error: this.lastError})
      this.timer = setTimeout(() => this.connect(), wait)
      this.timer.unref()
    })
  }

  close(): void {
    this.streams.clear()
    clearTimeout(this.timer)
    this.timer = undefined
    clearTimeout(this.idle)
    this.idle = undefined
    const ws = this.ws
    this.ws = undefined
    ws?.close()
  }
}

class Watch implements Stream {
  readonly set = new Map<string, Endpoint>()
  readonly listeners = new Set<(s: EndpointSet) => void>()
  refs = 0
  private id: number | undefined
  /** The server's last error message for this stream. */
  private streamError: string | undefined
  private closed = false
  private fresh = true
  private attempts = 0
  private timer: NodeJS.Timeout | undefined
  private settle: ((o: Outcome) => void) | undefined
  readonly first: Promise<Outcome>

  constructor(readonly authority: string, private readonly o: DestinationClientOptions, private readonly conn: Connection, private readonly onDead: () => void) {
    this.first = new Promise((r) => (this.settle = r))
    this.subscribe()
  }

  get lastError(): string | undefined {
    return this.streamError ?? this.conn.lastError
  }

  snapshot(): EndpointSet {
    return {endpoints: [...this.set.values()]}
  }

  private settleOnce(outcome: Outcome): void {
    const s = this.settle
    this.settle = undefined
    s?.(outcome)
  }

  private subscribe(): void {
    this.timer = undefined
    if (this.closed) return
    this.subscribed()
    this.id = this.conn.watch(this)
  }

  request(id: number): DestinationRequest {
    return {type: 'watch', id, authority: this.authority}
  }

  /** Asked for (again) on a new connection: the next message is the full state. */
  subscribed(): void {
    this.fresh = true
  }

  /** The server forgot this stream (noSuchService, error): ask again after a backoff. */
  private retry(): void {
    if (this.id !== undefined) this.conn.unwatch(this.id, false)
    this.id = undefined
    if (this.closed) return
    this.attempts++
    const wait = backoffMs(this.o, this.attempts)
    this.o.log?.debug('destination stream asked again', {authority: this.authority, inMs: wait})
    this.timer = setTimeout(() => this.subscribe(), wait)
    this.timer.unref()
  }

  handle(msg: StreamMessage, id: number): void {
    if (id !== this.id) return
    const replace = this.fresh
    this.fresh = false
    // A stream that delivers state resets the backoff; noSuchService/error (the server then
    // forgets the stream) keep it growing, so a vanished service is not asked for in a tight loop.
    if (msg.type === 'add' || msg.type === 'remove' || msg.type === 'noEndpoints') {
      this.attempts = 0
      this.conn.delivered()
    }
    switch (msg.type) {
      case 'add':
        if (replace) this.set.clear()
        for (const e of msg.endpoints ?? []) this.set.set(endpointKey(e), toEndpoint(e))
        break
      case 'remove':
        for (const a of msg.addresses ?? []) this.set.delete(a)
        break
      case 'noEndpoints':
        this.set.clear()
        break
      case 'noSuchService':
        this.set.clear()
        if (this.settle) {
          this.settleOnce(msg.external ? {kind: 'external'} : {kind: 'noSuchService'})
          this.close()
          this.onDead()
          return
        }
        // Gone while watched: an empty set (503 fast) until it comes back.
        this.retry()
        break
      case 'error':
        this.o.log?.warn('destination service error', {authority: this.authority, code: msg.code, message: msg.message})
        this.streamError = msg.message
        this.retry()
        return
      default:
        return
    }
    this.settleOnce({kind: 'set'})
    const snap = this.snapshot()
    for (const l of this.listeners) l(snap)
  }

  close(): void {
    this.closed = true
    if (this.timer) clearTimeout(this.timer)
    this.timer = undefined
    if (this.id !== undefined) this.conn.unwatch(this.id, true)
    this.id = undefined
    this.settleOnce({kind: 'failed', error: new Error('closed')})
  }
}

/**
 * One watchRoutes stream (src/protocol/routes.ts): the latest policy, kept across reconnects
 * (asked for again on a new connection; its first message replaces it). `error` (an older control
 * plane: unknown request type) and `noSuchService` end it with no policy: no control-plane routes.
 */
class RoutesStream implements Stream {
  policy: ControlRoutePolicy | undefined
  refs = 0
  /** The control plane answered (a policy, error or noSuchService): the Router's first-request wait ends. */
  settled = false
  private waiting: Array<() => void> = []
  private id: number | undefined

  constructor(readonly authority: string, private readonly o: DestinationClientOptions, private readonly conn: Connection) {
    this.id = conn.watch(this)
  }

  request(id: number): DestinationRequest {
    return {type: 'watchRoutes', id, authority: this.authority, version: ROUTE_POLICY_VERSION}
  }

  subscribed(): void {}

  onSettled(f: () => void): void {
    if (this.settled) f()
    else this.waiting.push(f)
  }

  private settle(): void {
    if (this.settled) return
    this.settled = true
    const w = this.waiting
    this.waiting = []
    for (const f of w) f()
  }

  handle(msg: StreamMessage, id: number): void {
    if (id !== this.id) return
    if (msg.type === 'routes') {
      const {type: _type, id: _id, ...policy} = msg
      // A version this client does not implement is no policy it can apply.
      this.policy = usablePolicy(policy) ? policy : undefined
      if (!this.policy) this.o.log?.warn('route policy not applied: not a version 1 policy this proxy can read', {authority: this.authority})
      this.conn.delivered()
      this.settle()
      return
    }
    if (msg.type === 'error' || msg.type === 'noSuchService') {
      if (msg.type === 'error') this.o.log?.debug('no route policy from the destination service', {authority: this.authority, code: msg.code, message: msg.message})
      this.policy = undefined
      this.end(false)
      this.settle()
    }
  }

  end(tell: boolean): void {
    if (this.id !== undefined) this.conn.unwatch(this.id, tell)
    this.id = undefined
    // (nothing waits on a stream that is gone)
    this.settle()
  }
}

/**
 * The watchTrust stream (src/protocol/trust.ts): each `trust` message goes to the listener as it
 * came (the identity checks it). Asked for again on every new connection. `error` BAD_REQUEST is
 * a control plane that predates the stream: never asked again (the env's anchors stay); any other
 * error is asked again after the connection's backoff.
 */
class TrustStream implements Stream {
  readonly authority = ''
  private id: number | undefined
  private attempts = 0
  private timer: NodeJS.Timeout | undefined
  private closed = false

  constructor(private readonly o: DestinationClientOptions, private readonly conn: Connection, private readonly onBundle: (bundle: unknown) => void) {
    this.id = conn.watch(this)
  }

  request(id: number): DestinationRequest {
    return {type: 'watchTrust', id, version: TRUST_BUNDLE_VERSION}
  }

  subscribed(): void {}

  handle(msg: StreamMessage, id: number): void {
    if (id !== this.id) return
    if (msg.type === 'trust') {
      this.attempts = 0
      this.conn.delivered()
      const {type: _type, id: _id, ...bundle} = msg
      this.onBundle(bundle)
      return
    }
    if (msg.type !== 'error') return
    this.conn.unwatch(id, false)
    this.id = undefined
    if (msg.code === 'BAD_REQUEST') {
      this.o.log?.debug('no trust bundle stream from the destination service: the anchors of the environment stay', {message: msg.message})
      return
    }
    this.attempts++
    const wait = backoffMs(this.o, this.attempts)
    this.o.log?.debug('trust bundle stream asked again', {code: msg.code, message: msg.message, inMs: wait})
    this.timer = setTimeout(() => {
      this.timer = undefined
      if (!this.closed) this.id = this.conn.watch(this)
    }, wait)
    this.timer.unref()
  }

  close(): void {
    this.closed = true
    clearTimeout(this.timer)
    if (this.id !== undefined) this.conn.unwatch(this.id, true)
    this.id = undefined
  }
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9a-z-]{1,256}$/
const FIELD_VALUE = /^[^\0\r\n]{0,4096}$/
const DAY_MS = 86_400_000
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)
const isMs = (v: unknown): boolean => v === undefined || (typeof v === 'number' && Number.isFinite(v) && v >= 0 && v <= DAY_MS)
const isInts = (v: unknown, lo: number, hi: number): boolean => Number.isInteger(v) && (v as number) >= lo && (v as number) <= hi

function headerListOk(v: unknown): boolean {
  return v === undefined || (Array.isArray(v) && v.every((h) => isObj(h) && typeof h.name === 'string' && TOKEN.test(h.name) && typeof h.value === 'string' && FIELD_VALUE.test(h.value)))
}

function ruleOk(r: unknown): boolean {
  if (!isObj(r) || !isObj(r.route) || typeof r.route.name !== 'string' || (r.route.kind !== 'HTTPRoute' && r.route.kind !== 'GRPCRoute')) return false
  if (!Array.isArray(r.backends) || r.backends.length === 0 || r.backends.length > 64) return false
  for (const b of r.backends) {
    if (!isObj(b) || typeof b.weight !== 'number' || !Number.isFinite(b.weight) || b.weight < 0) return false
    if (b.problem === undefined ? typeof b.authority !== 'string' || !isObj(b.service) : typeof b.problem !== 'string') return false
  }
  if (r.timeouts !== undefined && (!isObj(r.timeouts) || !isMs(r.timeouts.requestMs) || !isMs(r.timeouts.backendRequestMs))) return false
  if (r.retry !== undefined) {
    const t = r.retry
    if (!isObj(t) || !isInts(t.limit, 0, 10) || !isMs(t.backoffMs) || !Array.isArray(t.grpcStatuses) || !t.grpcStatuses.every((g) => isInts(g, 0, 16))) return false
    if (!Array.isArray(t.httpStatuses) || !t.httpStatuses.every((p) => Array.isArray(p) && p.length === 2 && isInts(p[0], 100, 599) && isInts(p[1], 100, 599))) return false
  }
  if (r.requestHeaders !== undefined) {
    const h = r.requestHeaders
    if (!isObj(h) || !headerListOk(h.set) || !headerListOk(h.add)) return false
    if (h.remove !== undefined && !(Array.isArray(h.remove) && h.remove.every((n) => typeof n === 'string' && TOKEN.test(n)))) return false
  }
  return true
}

/**
 * The shape the proxy relies on. The controller sends nothing else; anything that is not is no
 * policy (the default route), never an exception or a 5xx per request. Matches are checked
 * where they are compiled (Router.routes: a policy that does not compile is none too).
 */
function usablePolicy(p: ControlRoutePolicy): boolean {
  if (p.version !== ROUTE_POLICY_VERSION || !Array.isArray(p.rules) || !Array.isArray(p.http) || !Array.isArray(p.grpc)) return false
  const n = p.rules.length
  const entryOk = (e: unknown): boolean => isObj(e) && isInts(e.rule, 0, n - 1) && isObj(e.match)
  return p.rules.every(ruleOk) && p.http.every(entryOk) && p.grpc.every(entryOk)
}

export class DestinationClient implements Discovery {
  private readonly routes = new Map<string, RoutesStream>()
  private readonly watches = new Map<string, Watch>()
  private readonly trust = new Set<TrustStream>()
  private readonly authz = new Set<AuthzStream>()
  private readonly conn: Connection

  constructor(private readonly o: DestinationClientOptions) {
    const u = new URL(o.addr)
    if (u.protocol !== 'wss:' && u.protocol !== 'ws:') throw new Error(`the destination address must be wss://host:port, got ${o.addr}`)
    this.conn = new Connection(o)
    o.identity?.ready().then(() => this.conn.certified(), () => {})
  }

  async resolve(authority: string): Promise<Resolution | null> {
    const key = normalize(authority)
    const host = hostOf(key)
    // IP literals are asked about too (a Service's cluster IP resolves to its endpoints), except
    // addresses no Service can have.
    if (isIP(host) && !askable(host)) return null
    let w = this.watches.get(key)
    if (!w) {
      const created: Watch = new Watch(key, this.o, this.conn, () => {
        if (this.watches.get(key) === created) this.watches.delete(key)
      })
      w = created
      this.watches.set(key, w)
    }
    const watch = w
    watch.refs++
    const timeoutMs = this.o.resolveTimeoutMs ?? 5000
    let timer: NodeJS.Timeout | undefined
    const outcome = await Promise.race([
      watch.first,
      new Promise<Outcome>((r) => {
        timer = setTimeout(() => r({kind: 'failed', error: new Error(`the destination service did not answer for ${key} within ${timeoutMs} ms${watch.lastError ? ` (last error: ${watch.lastError})` : ''}`)}), timeoutMs)
      }),
    ])
    clearTimeout(timer)
    const release = (): void => {
      watch.refs--
      if (watch.refs <= 0) {
        watch.close()
        if (this.watches.get(key) === watch) this.watches.delete(key)
      }
    }
    switch (outcome.kind) {
      case 'external':
        release()
        return null
      case 'noSuchService':
        release()
        throw new NoSuchServiceError(authority)
      case 'failed':
        release()
        throw outcome.error
      case 'set':
        break
    }
    let closed = false
    return {
      current: () => watch.snapshot(),
      onChange: (listener) => {
        watch.listeners.add(listener)
        return () => watch.listeners.delete(listener)
      },
      close: () => {
        if (closed) return
        closed = true
        release()
      },
    }
  }

  watchRoutes(authority: string): RoutesWatch {
    const key = normalize(authority)
    let r = this.routes.get(key)
    if (!r) {
      r = new RoutesStream(key, this.o, this.conn)
      this.routes.set(key, r)
    }
    const stream = r
    stream.refs++
    let closed = false
    return {
      current: () => stream.policy,
      settled: () => stream.settled,
      onSettled: (f) => stream.onSettled(f),
      close: () => {
        if (closed) return
        closed = true
        if (--stream.refs > 0) return
        stream.end(true)
        if (this.routes.get(key) === stream) this.routes.delete(key)
      },
    }
  }

  /** Follows the trust bundle on the destination connection (which then stays open). */
  watchTrust(onBundle: (bundle: unknown) => void): {close(): void} {
    const stream = new TrustStream(this.o, this.conn, onBundle)
    this.trust.add(stream)
    return {
      close: () => {
        stream.close()
        this.trust.delete(stream)
      },
    }
  }

  /** Follows this pod's authorization policy on the destination connection. */
  watchAuthz(namespace: string, pod: string, events: AuthzEvents): {close(): void} {
    const stream = new AuthzStream(this.conn, namespace, pod, events, (n) => backoffMs(this.o, n))
    this.authz.add(stream)
    return {
      close: () => {
        if (this.authz.delete(stream)) stream.close()
      },
    }
  }

  /** Streams currently open (tests, admin). */
  openStreams(): number {
    return this.watches.size
  }

  /** Connections to the destination service open or being opened: 0 or 1 (tests). */
  connections(): number {
    return this.conn.connections()
  }

  close(): void {
    for (const w of this.watches.values()) w.close()
    this.watches.clear()
    for (const r of this.routes.values()) r.end(true)
    this.routes.clear()
    for (const t of this.trust) t.close()
    this.trust.clear()
    for (const a of this.authz) a.close()
    this.authz.clear()
    this.conn.close()
  }
}

function normalize(authority: string): string {
  const a = authority.trim().toLowerCase()
  return /:\d+$/.test(a) && !/^[^[]*:[^\]]*:/.test(a) ? a : `${a}:80`
}
