// The raw HTTP/1 codec on one accepted client connection: request heads parsed here (head.ts),
// one request at a time (pipelined requests wait in the buffer), each forwarded by a
// RawExchange. Anything outside the common case (Upgrade, CONNECT, Expect, absolute-form,
// HTTP/1.0, odd framing, malformed heads) hands the connection, at a request boundary, to the
// side's Node http.Server, which answers it as the node codec does.
import type http from 'node:http'
import net from 'node:net'
import type {Duplex} from 'node:stream'
import {normalizeAuthority} from '../../../config/config.js'
import {connOf, type ConnCtx} from '../../../core/conn.js'
import {containedError} from '../../contain.js'
import type {Addr, RequestMeta} from '../../../core/observe.js'
import type {RequestSeries, StatusSeries} from '../../../../metrics/request-series.js'
import type {Direction, TapTls} from '../../../../protocol/tap.js'
import type {Target} from '../../../balance/target.js'
import {nextRequestSeq, policyOf, requestIdOf, targetFor, type Prepared, type RoutePolicy, type Side} from '../../../route/side.js'
import {modifyRawHeaders, routePolicyOf} from '../../../route/routes.js'
import {RawExchange, type ClientSide} from './exchange.js'
import {ChunkedFramer} from './framing.js'
import {HEAD_MALFORMED, HeadBuffer, parseRequestHead, serializeHead, type RequestHead} from './head.js'
import {upstreamRequestHead} from './reply.js'
import {requestFraming, wantsClose} from './request-plan.js'
import {unwatchDrain, watchDrain} from './drain.js'
import {startHeadTimer} from '../../head-timeout.js'
import {readIntoOwnBuffer} from '../../../net/read-buffer.js'
import {ignoredAfterClose} from '../after-close.js'


/** Process-wide counts (read by tests and the bench): requests served raw, connections handed over. */
export const rawCounts = {requests: 0, handovers: 0}

/** Serves `socket` (its detected first bytes in `head`) with the raw codec. */
export function serveRaw(side: Side, server: http.Server, socket: Duplex, head: Buffer): void {
  const c = new RawConn(side, server, socket)
  if (head.length > 0) c.onData(head)
  c.readOwn()
  socket.resume()
}

/**
 * The one buffer every client connection of the raw codec reads into (ClientReads), plain TCP
 * or TLS. Safe to share: Node hands each read to its callback before it reads again, for any
 * connection, and the callback leaves nothing of the buffer behind (ownRead copies out what
 * must stay). So no connection keeps a read buffer while idle, and no read allocates one. A TLS
 * socket could break the first rule: an empty write makes TLSWrap hand over its next read
 * inside the write (see write()); ClientReads' tripwire cuts both connections if it ever did.
 */
const SHARED_READS = Buffer.allocUnsafeSlow(64 * 1024)

/**
 * `b` itself, or a copy when it is a view of the shared read buffer (what outlives the read that
 * brought it). The copy has memory of its own, freed when it dies: a slice of Node's 8 KB buffer
 * pool (Buffer.from) keeps its whole pool chunk alive as long as it lives, and the heads kept
 * for a retry held ~4 MB of such chunks after a burst (mem-breakdown.ts: +4.4 MB external, +4.9
 * MB malloc on the outbound proxy after h2load, back at 1,000 rps).
 */
function owned(b: Buffer): Buffer {
  return b.buffer === SHARED_READS.buffer ? copyOf(b) : b
}

function copyOf(b: Buffer): Buffer {
  const c = Buffer.allocUnsafeSlow(b.length)
  b.copy(c)
  return c
}

/** Process-wide counts, by side, of connections whose client reads come through ClientReads, and of those reads (tests wait on them to know a piece was read on its own). */
export const clientReadCounts = {attached: {inbound: 0, outbound: 0}, reads: {inbound: 0, outbound: 0}}

/** The connection whose read of SHARED_READS is being handled (ClientReads' tripwire). */
let sharedReader: RawConn | undefined

/**
 * A client's reads into the shared buffer (read-buffer.ts readIntoOwnBuffer): to the RawConn
 * while it serves the connection; once it hands the connection over, copied into the stream.
 */
class ClientReads implements net.OnReadOpts {
  readonly buffer = SHARED_READS
  private readonly direction: 'inbound' | 'outbound'

  constructor(private conn: RawConn | undefined, private readonly socket: net.Socket) {
    this.direction = conn!.side.direction
  }

  /** The connection went to Node's http.Server: its bytes go through the stream from now on. */
  release(): void {
    this.conn = undefined
  }

  readonly callback = (n: number): boolean => {
    clientReadCounts.reads[this.direction]++
    const c = this.conn
    const outer = sharedReader
    if (outer !== undefined) {
      // A read inside another's (a TLS socket's empty write, which the codec never makes): its
      // bytes went over the ones being handled, so neither connection can be trusted.
      const err = new Error('a read arrived while the shared read buffer was in use; both connections cut')
      outer.crashed(err)
      if (c === undefined) this.socket.destroy()
      else if (c !== outer) c.crashed(err)
      return false
    }
    // (copied before it goes on: what the stream's reader does may read again)
    if (c === undefined) return this.socket.push(copyOf(SHARED_READS.subarray(0, n)))
    sharedReader = c
    try {
      c.ownRead(SHARED_READS.subarray(0, n))
    } finally {
      sharedReader = undefined
    }
    return true
  }
}

export class RawConn implements ClientSide {
  /** Bytes read and not yet consumed: the next head (pipelined requests wait here). */
  private readonly pending = new HeadBuffer(true)
  private ex: RawExchange | undefined
  private closed = false
  private ended = false
  /** Runs while a request head is incomplete (head-timeout.ts: 408 when it fires). */
  private headTimer: NodeJS.Timeout | undefined
  /** Waiting for the next request's route policy (Side.prepare): the head stays in `pending`. */
  private preparing = false
  /** What the wait gave, for the request it was for (used once). */
  private prepared: {authority: string; p: Prepared} | undefined
  /** Requests served; a drain closes idle connections that have served one (or are old). */
  served = 0
  readonly since = performance.now()
  /** performance.now() at the last byte read or written: the idle timeout (drain.ts) counts from it. */
  lastActive = this.since
  private readonly conn: ConnCtx
  /** A plain TCP socket (net.Socket itself, not TLS or another stream): see holdsWrites. */
  private readonly plainTcp: boolean
  /** A net.Socket, plain or TLS (its reads can come into the shared buffer: readOwn). */
  private readonly netSocket: boolean
  /** A TLS socket (tls.TLSSocket): see holdsWrites. */
  private readonly tls: boolean
  /** A write to the TLS socket since holdsWrites was last asked went behind bytes the stream still held. */
  private queuedWrite = false
  /** The client's reads into the shared buffer (readOwn), when they come so. */
  private reads: ClientReads | undefined

  constructor(readonly side: Side, private readonly server: http.Server, readonly socket: Duplex) {
    this.conn = connOf(socket)!
    this.plainTcp = socket.constructor === net.Socket
    this.netSocket = socket instanceof net.Socket
    this.tls = this.netSocket && (socket as {encrypted?: boolean}).encrypted === true
    socket.on('data', this.onData)
    socket.on('error', this.onError)
    socket.on('close', this.onClose)
    socket.on('end', this.onEnd)
    watchDrain(this)
  }

  get idle(): boolean {
    return this.ex === undefined && this.pending.length === 0
  }

  /** A request in progress: being forwarded, or waiting for its route policy (no exchange yet). */
  get busy(): boolean {
    return this.ex !== undefined || this.preparing
  }

  readonly onData = (chunk: Buffer): void => {
    if (this.closed) return ignoredAfterClose(this.side, chunk.length)
    this.lastActive = performance.now()
    try {
      this.read(chunk)
    } catch (err) {
      this.crashed(err)
    }
  }

  /**
   * From here on the client's bytes come through ClientReads, not 'data' (a TCP socket's or,
   * with mTLS, a TLS socket's decrypted bytes). What the stream read ahead of the detected head
   * is taken first (read() hands it to onData), so no byte comes before an older one. Another
   * kind of stream keeps its reads.
   */
  readOwn(): void {
    if (!this.netSocket || this.closed) return
    const s = this.socket as net.Socket
    while (!this.closed && s.readableLength > 0 && s.read() !== null);
    if (this.closed) return
    const r = new ClientReads(this, s)
    if (!readIntoOwnBuffer(s, r)) return
    this.reads = r
    clientReadCounts.attached[this.side.direction]++
  }

  /**
   * A read into the shared buffer: handled as any read, then what stays of it (the part of a
   * head or the pipelined requests waiting in `pending`) is copied out. What else outlives the
   * read is copied where it is kept: a body's bytes on their way upstream (read, next), a
   * request head going upstream (next), bytes handed to Node's parser (handOver).
   */
  ownRead(chunk: Buffer): void {
    this.onData(chunk)
    if (this.pending.length > 0) this.pending.own(owned)
  }

  /** An exception on this connection (contain.ts): logged, counted, both ends closed; the process goes on. */
  crashed(err: unknown): void {
    containedError(this.side, 'raw http1', err)
    const ex = this.ex
    this.ex = undefined
    this.closed = true
    try {
      ex?.clientGone()
    } catch {
      // (its upstream connection is destroyed below with everything else it held, or times out)
    }
    this.socket.destroy()
  }

  private read(chunk: Buffer): void {
    let data: Buffer | null = chunk
    if (this.ex?.wantsBody) {
      data = this.ex.pushBody(owned(chunk))
      if (data === null || data.length === 0) return
    }
    this.pending.add(data)
    if (this.ex === undefined && !this.preparing) this.next()
    // Pipelined requests (or a request waiting for its route policy) wait; past a head's worth, stop reading.
    else if (this.pending.length > this.side.config.limits.maxHeaderBytes) this.socket.pause()
  }

  /** The head timer fired (408 and the end follow): the late head is dropped, and what comes after is ignored (counted, onData). */
  private readonly headTimedOut = (): void => {
    this.closed = true
    this.pending.clear()
  }

  private readonly onError = (): void => {
    this.socket.destroy()
  }

  private readonly onClose = (): void => {
    clearTimeout(this.headTimer)
    this.closed = true
    this.ex?.clientGone()
    this.ex = undefined
  }

  /** The client half-closed: finish what it sent, then close (the socket is half-open). */
  private readonly onEnd = (): void => {
    this.ended = true
    if (this.ex === undefined && !this.closed) {
      this.closed = true
      this.socket.end()
    }
  }

  /** Starts the next buffered request, if a whole head is there. */
  private next(): void {
    const pending = this.pending
    if (pending.length === 0 || this.closed || this.preparing) return
    const limits = this.side.config.limits
    const end = pending.end
    if (end === HEAD_MALFORMED) {
      // (llhttp reads it: an HTTP/0.9 request it completes, or a refusal)
      this.handOver()
      return
    }
    if (end < 0) {
      if (pending.length > limits.maxHeaderBytes) this.handOver()
      else this.headTimer ??= startHeadTimer(this.side, this.socket, this.headTimedOut)
      return
    }
    clearTimeout(this.headTimer)
    this.headTimer = undefined
    const buf = pending.flat()
    const head = end <= limits.maxHeaderBytes ? parseRequestHead(buf, end, limits.maxHeaderCount) : null
    // The first request to an authority waits for its route policy (bounded); the head and what
    // follows stay buffered (reading pauses past a head's worth), then this runs again.
    if (head && this.side.prepare !== undefined && typeof head.known.host === 'string') {
      const authority = normalizeAuthority(head.known.host, 80)
      if (this.prepared?.authority !== authority) {
        const prep = this.side.prepare?.(authority, this.conn)
        if (prep) {
          this.preparing = true
          prep.then((p) => {
            this.preparing = false
            this.prepared = {authority, p}
            if (this.closed) return
            this.socket.resume()
            this.next()
          }).catch((err: unknown) => this.crashed(err))
          return
        }
      }
    }
    const ex = head ? this.exchange(head, buf) : null
    if (ex === null) {
      this.handOver()
      return
    }
    pending.consume(end)
    this.served++
    rawCounts.requests++
    this.ex = ex
    const meta = ex.meta
    const policy = ex.policy
    let t: Target | Promise<Target>
    const prepared = this.prepared?.authority === meta.authority ? this.prepared.p : undefined
    this.prepared = undefined
    try {
      if ('refusal' in policy) throw policy.refusal
      t = targetFor(this.side, policy, meta.authority, this.conn, prepared)
    } catch (err) {
      t = Promise.reject(err)
    }
    if (t instanceof Promise) t.then((target) => this.begin(ex, target), (err: unknown) => this.begin(ex, failing(err)))
    else ex.begin(t)
    if (ex.wantsBody && pending.length > 0) {
      const rest = ex.pushBody(owned(pending.flat()))
      pending.clear()
      if (rest) pending.add(rest)
    }
  }

  /** Starts `ex` on its resolved target, contained (a throw here would otherwise reject into nowhere). */
  private begin(ex: RawExchange, target: Target): void {
    try {
      ex.begin(target)
    } catch (err) {
      this.crashed(err)
    }
  }

  /**
   * The request's exchange (its metadata, body framing, route policy and the head as it goes
   * upstream; not begun), or null when the Node codec should take it. `buf` holds the head.
   */
  private exchange(head: RequestHead, buf: Buffer): RawExchange | null {
    const framing = requestFraming(head, this.side.config.limits.maxHeaderBytes)
    if (framing === undefined) return null
    const framer = framing.framer
    const host = head.known.host as string
    const authority = normalizeAuthority(host, 80)
    // (the head's full header record is made only if a route, an authorization or a tap reads it)
    const policy = routePolicyOf(this.side, authority, head.method, head.path, head, policyOf(this.side, authority, head.path, head.method), this.conn)
    const meta = new RawRequestMeta(this.side.direction, head, authority, policy.route, this.conn)
    if (policy.routeKind !== undefined) {
      meta.routeKind = policy.routeKind
      meta.backend = policy.backend
    }
    const upHead = upstreamRequestHead(buf, head, framer instanceof ChunkedFramer)
    // (the exchange keeps the head until the answer, for a retry: a copy when it was cut from the shared read buffer)
    return new RawExchange(this, meta, policy.requestHeaders ? modifyHead(upHead, policy.requestHeaders) : owned(upHead), framer, policy, wantsClose(head) || this.side.draining)
  }

  /** Gives the connection, with the bytes not yet consumed, to the Node http.Server. */
  private handOver(): void {
    const s = this.socket
    this.closed = true
    clearTimeout(this.headTimer)
    rawCounts.handovers++
    s.pause()
    s.off('data', this.onData)
    s.off('error', this.onError)
    s.off('close', this.onClose)
    s.off('end', this.onEnd)
    this.reads?.release()
    unwatchDrain(this)
    if (this.pending.length > 0) s.unshift(owned(this.pending.flat()))
    this.pending.clear()
    this.server.emit('connection', s)
    s.resume()
  }

  /**
   * Writes to the client. An empty buffer is not written: to a TLS socket, an empty write makes
   * TLSWrap decrypt what it has read and hand it to the socket's read callback inside the write
   * (TLSWrap::DoWrite calls ClearOut). Made while one of this socket's reads is handled, that
   * read would go into the buffer being handled (the shared one: ClientReads).
   */
  write(b: Buffer): boolean {
    if (this.closed) return false
    this.lastActive = performance.now()
    if (b.length === 0) return this.socket.writableLength < this.socket.writableHighWaterMark
    if (this.tls && (this.socket.writableLength > 0 || this.socket.writableCorked > 0)) this.queuedWrite = true
    return this.socket.write(b)
  }

  pause(): void {
    this.socket.pause()
  }

  resume(): void {
    this.socket.resume()
  }

  onceDrain(f: () => void): void {
    this.socket.once('drain', f)
  }

  cork(): void {
    this.socket.cork()
  }

  uncork(): void {
    this.socket.uncork()
  }

  /**
   * Whether the writes since the last call may still point into the bytes written. A TCP
   * socket's write that returned with nothing queued is in the kernel. A TLS socket's write
   * made with nothing before it in the stream was encrypted, or copied, inside the write
   * (TLSWrap::DoWrite); one made behind other bytes (a write in flight, or a cork) waits in
   * the stream as the caller's buffer. Another kind of stream may keep them.
   */
  holdsWrites(): boolean {
    if (this.plainTcp) return this.socket.writableLength > 0
    if (!this.tls) return true
    const queued = this.queuedWrite
    this.queuedWrite = false
    return queued
  }

  done(close: boolean): void {
    this.ex = undefined
    if (close || this.side.draining) {
      this.closed = true
      ignoredAfterClose(this.side, this.pending.length)
      this.socket.end()
      return
    }
    this.socket.resume()
    this.next()
    if (this.ended && this.ex === undefined && !this.closed) {
      this.closed = true
      this.socket.end()
    }
  }

  abort(): void {
    this.ex = undefined
    this.closed = true
    this.socket.destroy()
  }
}

/** A raw request's RequestMeta: its `headers` made from the head's text when first read (route/routes.ts, tap, a retry's check). */
class RawRequestMeta implements RequestMeta {
  /** (the id's number: its text is made when read, by a tap, a log or a failure) */
  private readonly seq = nextRequestSeq()
  private idText: string | undefined = undefined
  readonly method: string
  readonly scheme = 'http'
  readonly path: string
  routeKind?: string
  backend?: string
  readonly source: Addr
  destination: Addr
  readonly tls: TapTls
  readonly dstLabels: Record<string, string>
  readonly startMs = performance.now()
  requestSeries: RequestSeries | undefined = undefined
  statusSeries: StatusSeries | undefined = undefined

  constructor(readonly direction: Direction, private readonly head: RequestHead, readonly authority: string, readonly route: string, conn: ConnCtx) {
    this.method = head.method
    this.path = head.path
    this.source = conn.source
    this.destination = conn.destination
    this.tls = conn.tls
    this.dstLabels = conn.dstLabels
  }

  get id(): string {
    return this.idText ??= requestIdOf(this.seq)
  }

  get headers(): Record<string, string | string[] | undefined> {
    return this.head.headers
  }
}

/** A head (as upstreamRequestHead made it) with a route's request header changes. */
function modifyHead(head: Buffer, mod: NonNullable<RoutePolicy['requestHeaders']>): Buffer {
  const lines = head.toString('latin1').split('\r\n')
  const raw: string[] = []
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!
    if (line === '') continue
    const colon = line.indexOf(':')
    raw.push(line.slice(0, colon), line.slice(colon + 1).trim())
  }
  return serializeHead(lines[0]!, modifyRawHeaders(raw, mod))
}

/** A target whose pick() throws `err` (a failed resolution is answered like a failed pick). */
function failing(err: unknown): Target {
  return {authority: '', pick: () => { throw err }, close: () => {}}
}
