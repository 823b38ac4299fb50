// The upstream half of a raw-codec exchange: one attempt at a time on a pooled upstream
// connection (endpoint/raw-pool.ts): the request head, then the body as it arrives (held while the
// target resolves; kept for a retry when one is possible, replay.ts), and the response body
// back to the client as its framing allows, with backpressure both ways. The response head
// and every decision (retry, answer, cut) are the exchange's (exchange.ts). The pooled socket's
// listeners are the pool's, bound once; an attempt owns the socket's events while it runs.
import type {EndpointClient} from '../../../endpoint/endpoint.js'
import {ProxyError} from '../../../core/errors.js'
import type {Side} from '../../../route/side.js'
import type {Framer} from './framing.js'
import {HeadBuffer, parseResponseHead, type ResponseHead} from './head.js'
import {rawPool, type Upstream, type UpstreamOwner, type UpstreamWaiter} from '../../../endpoint/raw-pool.js'
import {informationalValid} from './response.js'
import {KeptBody} from './replay.js'

/** What the exchange needs of its client connection. */
export interface ClientSide {
  readonly side: Side
  write(b: Buffer): boolean
  pause(): void
  resume(): void
  onceDrain(f: () => void): void
  cork(): void
  uncork(): void
  /** Bytes written may still be referenced after write() returned (a write queued, or a stream that keeps them). */
  holdsWrites(): boolean
  /** The exchange is over; `close` ends the client connection. */
  done(close: boolean): void
  /** Both directions are beyond repair: destroy the client connection. */
  abort(): void
}

export const EMPTY: Buffer = Buffer.alloc(0)

/** Request body bytes held while the target resolves before the client is paused. */
const HOLD_BYTES = 64 * 1024

export abstract class UpstreamAttempt implements UpstreamOwner, UpstreamWaiter {
  protected ep!: EndpointClient
  protected up: Upstream | undefined
  private started = 0
  /** The attempt's balancer stats are open (start() called, end() not yet). */
  protected statsOpen = false
  /** The upstream sent something on this attempt. */
  protected gotBytes = false
  /** The final response head and the bytes read with it, for onResponseHead (`end` bytes are the head). */
  protected rbuf: Buffer = EMPTY
  /** Response bytes until a head is complete (found as they arrive: no rescan per piece). */
  private readonly rhead = new HeadBuffer()
  /** The response body's framing: undefined until the final head is in. */
  protected resFramer: Framer | null | undefined
  /** The attempt has its connection (attach): until then, request body bytes are held in `pending`. */
  private attached = false
  /** Request body bytes not yet written: held until the attempt has a connection (made for the first). */
  private pending: Buffer[] | undefined
  private pendingBytes = 0
  /** A retry's body so far (the kept chunks when it started), written before `pending`. */
  private replay: Buffer[] | undefined
  /** Waiting in the pool for a connection. */
  private waiting = false
  /** Waiting for 'drain' of the upstream socket, with this listener. */
  private upBlocked = false
  private onUpDrain: (() => void) | undefined
  /** Waiting for 'drain' of the client socket. */
  private clientBlocked = false
  /** Response body bytes relayed. */
  protected bytes = 0
  /** The upstream connection may carry another request after this one. */
  protected upReusable = true
  /** The body so far, for a retry (only while one is possible). */
  private kept: KeptBody | undefined

  constructor(protected readonly client: ClientSide, protected readonly head: Buffer) {}

  /** The final response head (`end` bytes of `rbuf`). */
  protected abstract onResponseHead(h: ResponseHead, end: number): void
  /** The response is complete. */
  protected abstract finish(): void
  /** The upstream connection failed (error, reset, or a close the framing did not expect). */
  protected abstract upFailed(err: unknown): void
  /** The upstream sent FIN or closed. */
  protected abstract upClosed(): void
  /** An exception in this attempt's code (contain.ts): cut the exchange, client and upstream. */
  abstract crashed(err: unknown): void

  /** Starts an attempt on `this.ep`: a pooled connection, or the first the pool can give (gotUpstream). */
  protected send(): void {
    this.started = this.ep.stats.start()
    this.statsOpen = true
    this.rbuf = EMPTY
    this.rhead.clear()
    this.gotBytes = false
    if (this.attached) {
      // A retry: the body so far again (what arrives from now on is held as on the first attempt).
      this.attached = false
      this.pending = undefined
      this.pendingBytes = 0
      this.replay = this.kept ? [...this.kept.chunks] : undefined
    }
    const up = rawPool(this.ep).acquire(this)
    if (up) this.attach(up)
    else this.waiting = true
  }

  /** The pool's connection for this attempt (UpstreamWaiter). */
  gotUpstream(up: Upstream): void {
    this.waiting = false
    this.attach(up)
  }

  /** A connect failed while this attempt waited (UpstreamWaiter). */
  connectFailed(err: Error): void {
    this.waiting = false
    this.upFailed(err)
  }

  /** The attempt's connection: the head, then the body held so far. */
  private attach(up: Upstream): void {
    this.up = up
    up.owner = this
    up.socket.write(this.head)
    const replay = this.replay
    this.replay = undefined
    if (replay) for (const b of replay) this.sendUp(b)
    const pending = this.pending
    this.pending = undefined
    this.attached = true
    if (pending) for (const b of pending) this.sendUp(b)
    // (paused for holding too much: reads again unless the upstream is already full)
    if (this.pendingBytes > HOLD_BYTES && !this.upBlocked) this.client.resume()
    this.pendingBytes = 0
  }

  /** Keeps the body from now on, up to `max` bytes, so that a retry can send it again. */
  protected keepBody(max: number): void {
    this.kept = new KeptBody(max)
  }

  /** The whole body so far is kept (a retry could send it again). */
  protected get bodyKept(): boolean {
    return this.kept !== undefined
  }

  /** No more retries: the kept body goes. */
  protected dropKept(): void {
    if (this.kept === undefined) return
    this.kept.drop()
    this.kept = undefined
  }

  /** Gives up the attempt's connection (its events no longer reach this attempt) and returns it. */
  protected detach(): Upstream | undefined {
    if (this.waiting) {
      this.waiting = false
      rawPool(this.ep).cancel(this)
    }
    const up = this.up
    if (!up) return undefined
    this.up = undefined
    up.owner = undefined
    if (this.upBlocked) {
      // That connection will not drain for us: the client reads again (the next attempt may pause it).
      up.socket.off('drain', this.onUpDrain!)
      this.onUpDrain!()
    }
    return up
  }

  /** Request body bytes on to the upstream (held while there is none yet). */
  protected writeUp(b: Buffer): void {
    if (b.length === 0) return
    if (this.kept && !this.kept.keep(b)) this.kept = undefined
    if (!this.attached) {
      // No connection yet (the target resolving, or waiting in the pool): hold a little, then stop reading the client.
      (this.pending ??= []).push(b)
      this.pendingBytes += b.length
      if (this.pendingBytes > HOLD_BYTES) this.client.pause()
      return
    }
    this.sendUp(b)
  }

  private sendUp(b: Buffer): void {
    const up = this.up
    // (never an empty write: to a TLS upstream it would hand over a read inside the write, see RawConn.write)
    if (!up || b.length === 0) return
    if (!up.socket.write(b) && !this.upBlocked) {
      this.upBlocked = true
      this.client.pause()
      // (made on the first wait only: most requests never wait)
      this.onUpDrain ??= () => {
        this.upBlocked = false
        this.client.resume()
      }
      up.socket.once('drain', this.onUpDrain)
    }
  }

  /** Ends the attempt's balancer stats, once. */
  protected endStats(ok: boolean): void {
    if (!this.statsOpen) return
    this.statsOpen = false
    this.ep.stats.end(this.started, ok)
  }

  /**
   * Response body bytes (`chunk` from `from` on) on to the client, up to the end its framing
   * gives; `head`, the response head, goes first in the same write.
   */
  protected onBody(chunk: Buffer, from = 0, head?: Buffer): void {
    const framer = this.resFramer
    let end = chunk.length
    let done = false
    if (framer) {
      const e = framer.feed(chunk, from)
      if (e === -2) {
        this.upFailed(new ProxyError('UPSTREAM_RESET', `${this.ep.key}: malformed response body`))
        return
      }
      if (e >= 0) {
        done = true
        if (e < chunk.length) {
          this.upReusable = false
          end = e
        }
      }
    }
    // Body bytes as the node codec and HTTP/2 count them: without chunk framing.
    this.bytes = framer ? framer.payload : this.bytes + (end - from)
    let out: Buffer
    let corked = false
    if (head === undefined) out = bytesOf(chunk, from, end)
    // (a head forwarded as it came, and the body bytes read with it: one buffer of their memory)
    else if (head.buffer === chunk.buffer && head.byteOffset + head.length === chunk.byteOffset + from) out = bytesOf(chunk, from - head.length, end)
    else {
      const data = bytesOf(chunk, from, end)
      out = data
      if (data.length <= COPY_BEHIND_HEAD) out = Buffer.concat([head, data], head.length + data.length)
      else {
        corked = true
        this.client.cork()
        this.client.write(head)
      }
    }
    const flowing = this.client.write(out)
    if (corked) this.client.uncork()
    if (!flowing && !done && !this.clientBlocked) {
      const up = this.up
      if (up) {
        this.clientBlocked = true
        up.socket.pause()
        this.client.onceDrain(() => {
          this.clientBlocked = false
          up.socket.resume()
        })
      }
    }
    if (done) this.finish()
  }

  /** Finds the final response head in `rbuf` (informational ones go on to the client as they came). */
  private readHead(): void {
    const limits = this.client.side.config.limits
    const rhead = this.rhead
    for (;;) {
      const end = rhead.end
      if (end < 0) {
        if (rhead.length > limits.maxHeaderBytes) this.upFailed(new ProxyError('UPSTREAM_RESET', `${this.ep.key}: response head too large`))
        return
      }
      const buf = rhead.flat()
      const h = end <= limits.maxHeaderBytes ? parseResponseHead(buf, end, limits.maxHeaderCount) : null
      // (101 was not asked for; an informational head must let the final one follow: response.ts)
      if (!h || h.status === 101 || (h.status < 200 && !informationalValid(h))) {
        this.upFailed(new ProxyError('UPSTREAM_RESET', `${this.ep.key}: malformed response head`))
        return
      }
      if (h.status >= 200) {
        this.rbuf = buf
        rhead.clear()
        this.onResponseHead(h, end)
        return
      }
      // Informational (103 Early Hints): the final head follows.
      this.client.write(buf.subarray(0, end))
      rhead.consume(end)
    }
  }

  /**
   * Bytes from the attempt's connection (UpstreamOwner): the head, then the body. Returns
   * whether `chunk`'s memory may still be held: part of a head kept, or a client write of it queued.
   */
  upData(chunk: Buffer): boolean {
    this.gotBytes = true
    if (this.resFramer === undefined) {
      this.rhead.add(chunk)
      this.readHead()
    } else this.onBody(chunk)
    return this.rhead.length > 0 || this.client.holdsWrites()
  }

  upError(err: Error): void {
    this.upFailed(err)
  }

  upClose(): void {
    this.upClosed()
  }
}

/** Up to this many body bytes are copied behind a re-written head (one write); beyond, the two go corked. */
const COPY_BEHIND_HEAD = 16 * 1024

/** Bytes `from` to `end` of `b` (offsets into `b`; `from` may reach before `b` into its memory): `b` itself when that is all of it. */
function bytesOf(b: Buffer, from: number, end: number): Buffer {
  return from === 0 && end === b.length ? b : Buffer.from(b.buffer, b.byteOffset + from, end - from)
}
