// One request on the raw codec: the head (and the body, streamed as it arrives) to a pooled
// upstream connection, the response head parsed and re-framed, the body streamed back. Bodyless
// requests may be retried (connect failures, a stale pooled socket, retryable 5xx statuses),
// bounded by the policy and the retry budget; requests with bodies are never retried here.
import type {EndpointClient} from '../../endpoint.js'
import {ProxyError, upstreamError} from '../../errors.js'
import type {RequestMeta} from '../../observe.js'
import type {Target} from '../../outbound/router.js'
import {withdrawRetry, type RoutePolicy, type Side} from '../../side.js'
import type {Framer} from './framing.js'
import {headEnd, parseResponseHead} from './head.js'
import {rawPool, type Upstream} from './pool.js'
import {planResponse} from './response.js'
import {mayRetryStatus, retriesAllowed} from './retry.js'
import {clientResponseHead, errorResponse} from './reply.js'

/** What the exchange needs of its client connection. */
export interface ClientSide {
  readonly side: Side
  write(b: Buffer): boolean
  pause(): void
  resume(): void
  onceDrain(f: () => void): void
  cork(): void
  uncork(): void
  /** The exchange is over; `close` ends the client connection. */
  done(close: boolean): void
  /** Both directions are beyond repair: destroy the client connection. */
  abort(): void
}

const EMPTY: Buffer = Buffer.alloc(0)

export class RawExchange {
  private ep!: EndpointClient
  private up: Upstream | undefined
  private started = 0
  private attempt = 0
  private pending: Buffer[] | undefined = []
  private pendingBytes = 0
  /** Waiting for 'drain' of the upstream socket / of the client socket. */
  private upBlocked = false
  private clientBlocked = false
  private rbuf: Buffer = EMPTY
  private resFramer: Framer | null | undefined
  private untilClose = false
  private status = 0
  private responding = false
  private gotBytes = false
  private reqDone: boolean
  private finished = false
  private bytes = 0
  private target!: Target

  constructor(
    private readonly client: ClientSide,
    private readonly meta: RequestMeta,
    private readonly head: Buffer,
    private readonly reqFramer: Framer | null,
    private readonly policy: RoutePolicy,
    private close: boolean,
  ) {
    this.reqDone = reqFramer === null
  }

  /** The request body is still arriving. */
  get wantsBody(): boolean {
    return !this.reqDone && !this.finished
  }

  begin(target: Target): void {
    // The client may have gone while the target resolved.
    if (this.finished) return
    this.target = target
    let ep: EndpointClient
    try {
      ep = target.pick()
    } catch (err) {
      this.client.side.observer?.requestInit(this.meta)
      this.fail(err)
      return
    }
    this.ep = ep
    const side = this.client.side
    if (side.direction === 'outbound') {
      this.meta.destination = ep.addr
      this.meta.tls = ep.tls
      this.meta.dstLabels = ep.labels
    }
    side.observer?.requestInit(this.meta)
    side.budget.deposit()
    this.send()
  }

  private send(): void {
    const up = rawPool(this.ep).acquire()
    this.up = up
    this.started = this.ep.stats.start()
    this.statsOpen = true
    this.rbuf = EMPTY
    this.gotBytes = false
    const s = up.socket
    s.on('data', this.onUpData)
    s.on('error', this.onUpError)
    s.on('close', this.onUpClose)
    // (half-open sockets: the upstream's FIN comes as 'end', and 'close' only after ours)
    s.on('end', this.onUpClose)
    s.write(this.head)
    const pending = this.pending
    this.pending = undefined
    if (pending) for (const b of pending) this.writeUp(b)
    if (this.pendingBytes > 64 * 1024) this.client.resume()
    this.pendingBytes = 0
  }

  private detach(): Upstream | undefined {
    const up = this.up
    if (!up) return undefined
    this.up = undefined
    const s = up.socket
    s.off('data', this.onUpData)
    s.off('error', this.onUpError)
    s.off('close', this.onUpClose)
    s.off('end', this.onUpClose)
    return up
  }

  /** Request body bytes; returns what follows the body (the next request), or null while the body goes on. */
  pushBody(chunk: Buffer): Buffer | null {
    const end = this.reqFramer!.feed(chunk, 0)
    if (end === -2) {
      this.client.side.stats.malformedRequests++
      this.fail(new ProxyError('BAD_REQUEST', 'malformed chunked request body'), true)
      return null
    }
    if (end === -1) {
      this.writeUp(chunk)
      return null
    }
    this.writeUp(chunk.subarray(0, end))
    this.reqDone = true
    return chunk.subarray(end)
  }

  private writeUp(b: Buffer): void {
    if (b.length === 0) return
    if (this.pending) {
      // The target is still resolving: hold a little, then stop reading the client.
      this.pending.push(b)
      this.pendingBytes += b.length
      if (this.pendingBytes > 64 * 1024) this.client.pause()
      return
    }
    const up = this.up
    if (!up) return
    if (!up.socket.write(b) && !this.upBlocked) {
      this.upBlocked = true
      this.client.pause()
      up.socket.once('drain', () => {
        this.upBlocked = false
        this.client.resume()
      })
    }
  }

  private readonly onUpData = (chunk: Buffer): void => {
    this.gotBytes = true
    if (this.resFramer === undefined) {
      this.rbuf = this.rbuf.length === 0 ? chunk : Buffer.concat([this.rbuf, chunk])
      this.onHead()
      return
    }
    this.onBody(chunk)
  }

  private onHead(): void {
    const side = this.client.side
    const limits = side.config.limits
    for (;;) {
      const end = headEnd(this.rbuf)
      if (end < 0) {
        if (this.rbuf.length > limits.maxHeaderBytes) this.upFailed(new ProxyError('UPSTREAM_RESET', `${this.ep.key}: response head too large`))
        return
      }
      const h = parseResponseHead(this.rbuf, end, limits.maxHeaderCount)
      if (!h || h.status === 101) {
        this.upFailed(new ProxyError('UPSTREAM_RESET', `${this.ep.key}: malformed response head`))
        return
      }
      if (h.status >= 100 && h.status < 200) {
        // Informational (103 Early Hints): on to the client as it came; the final head follows.
        this.client.write(this.rbuf.subarray(0, end))
        this.rbuf = this.rbuf.subarray(end)
        continue
      }
      const status = h.status
      this.endStats(status < 500)
      if (status >= 500 && mayRetryStatus(this.client.side, this.policy, this.meta, this.reqFramer === null, this.attempt, status)) {
        this.detach()?.socket.destroy()
        this.retry()
        return
      }
      const plan = planResponse(h, this.meta.method, limits.maxHeaderBytes)
      if (!plan) {
        this.upFailed(new ProxyError('UPSTREAM_RESET', `${this.ep.key}: bad Content-Length in response`))
        return
      }
      const framer = plan.framer
      this.untilClose = plan.untilClose
      if (!plan.reusable) this.upReusable = false
      if (this.untilClose || side.draining) this.close = true
      this.status = status
      this.responding = true
      this.resFramer = framer
      const buf = this.rbuf
      const rest = buf.subarray(end)
      this.rbuf = EMPTY
      // The head and the body bytes that came with it leave in one write (writev).
      this.client.cork()
      this.client.write(clientResponseHead(buf, h, plan.te, this.close))
      side.observer?.responseInit(this.meta, status)
      if (framer === null && !this.untilClose) {
        if (rest.length > 0) this.upReusable = false
        this.finish()
      } else if (rest.length > 0) this.onBody(rest)
      this.client.uncork()
      return
    }
  }

  private upReusable = true
  private statsOpen = false

  /** Ends the attempt's balancer stats, once. */
  private endStats(ok: boolean): void {
    if (!this.statsOpen) return
    this.statsOpen = false
    this.ep.stats.end(this.started, ok)
  }

  private onBody(chunk: Buffer): void {
    const framer = this.resFramer
    let data = chunk
    let done = false
    if (framer) {
      const end = framer.feed(chunk, 0)
      if (end === -2) {
        this.upFailed(new ProxyError('UPSTREAM_RESET', `${this.ep.key}: malformed response body`))
        return
      }
      if (end >= 0) {
        done = true
        if (end < chunk.length) this.upReusable = false
        data = chunk.subarray(0, end)
      }
    }
    this.bytes += data.length
    if (!this.client.write(data) && !done && !this.clientBlocked) {
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

  private retry(): void {
    this.attempt++
    try {
      this.ep = this.target.pick()
    } catch (err) {
      this.fail(err)
      return
    }
    if (this.client.side.direction === 'outbound') this.meta.destination = this.ep.addr
    this.send()
  }

  private readonly onUpError = (err: Error): void => {
    this.upFailed(err)
  }

  private readonly onUpClose = (): void => {
    if (this.untilClose && this.responding) {
      this.upReusable = false
      this.finish()
      return
    }
    this.upFailed(new ProxyError('UPSTREAM_RESET', `${this.ep.key}: connection closed`))
  }

  /** The upstream connection failed: retry when nothing reached the client, else answer or cut. */
  private upFailed(err: unknown): void {
    const up = this.detach()
    up?.socket.destroy()
    if (this.finished) return
    if (this.responding) {
      this.finished = true
      this.client.side.observer?.responseEnd(this.meta, {status: this.status, responseBytes: this.bytes, resetError: 'upstream reset'})
      this.client.abort()
      return
    }
    this.endStats(false)
    const e = upstreamError(err, this.ep.key)
    // A pooled connection the upstream closed while idle: once more on a fresh one.
    const stale = up?.reused === true && !this.gotBytes && this.reqFramer === null && this.attempt === 0
    const neverSent = e.code === 'CONNECT_FAILED'
    if (stale || (neverSent && retriesAllowed(this.client.side, this.policy, this.reqFramer === null, this.attempt) && withdrawRetry(this.client.side))) {
      this.retry()
      return
    }
    this.fail(e)
  }

  /** The proxy answers itself (nothing of a response has gone out yet). */
  private fail(err: unknown, forceClose = false): void {
    if (this.finished) return
    const e = err instanceof ProxyError ? err : upstreamError(err, this.meta.authority)
    this.client.side.log.debug('request failed', {id: this.meta.id, authority: this.meta.authority, code: e.code, error: e.message})
    this.detach()?.socket.destroy()
    this.finished = true
    if (this.responding) {
      this.client.abort()
      return
    }
    // With a request body still arriving (or a malformed one), the connection cannot carry on.
    const close = forceClose || this.close || !this.reqDone || e.status < 500
    this.client.write(errorResponse(e, close))
    this.client.side.observer?.responseInit(this.meta, e.status)
    this.client.side.observer?.responseEnd(this.meta, {status: e.status, responseBytes: 0})
    this.reqDone = true
    this.client.done(close)
  }

  /** The response is complete: free the upstream connection, end the exchange. */
  private finish(): void {
    if (this.finished) return
    this.finished = true
    const up = this.detach()
    if (up) {
      if (this.upReusable && this.reqDone && !this.untilClose) rawPool(this.ep).release(up)
      else up.socket.destroy()
    }
    this.client.side.observer?.responseEnd(this.meta, {status: this.status, responseBytes: this.bytes})
    if (this.reqDone) this.client.done(this.close)
    else {
      // The response ended before the request body: the client's framing is mid-body; close.
      this.reqDone = true
      this.client.done(true)
    }
  }

  /** The client went away mid-exchange. */
  clientGone(): void {
    if (this.finished) return
    this.finished = true
    const up = this.detach()
    up?.socket.destroy()
    // Neither a success nor a failure of the endpoint.
    if (this.statsOpen) {
      this.statsOpen = false
      this.ep.stats.inflight--
    }
    this.client.side.observer?.responseEnd(this.meta, this.responding ? {status: this.status, responseBytes: this.bytes, resetError: 'client reset'} : {responseBytes: this.bytes, resetError: 'client reset'})
  }
}
