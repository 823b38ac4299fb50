// One request on the raw codec, as the client sees it: the upstream attempts (upstream.ts)
// carry the bytes; here the endpoint is picked, the response head re-framed for the client,
// and every outcome decided: retried (the rules both codecs share, retry-decision.ts; a body only
// while it is kept whole, replay.ts), answered by the proxy (`mesh-proxy-error`), or cut. The route's
// request timeout runs from the first attempt to the response head (504, as the node codec).
import type {EndpointClient} from '../../../endpoint/endpoint.js'
import {containedError} from '../../contain.js'
import {neverSent, ProxyError, upstreamError} from '../../../core/errors.js'
import {requestFailed} from '../../../core/failures.js'
import type {RequestMeta} from '../../../core/observe.js'
import type {Target} from '../../../balance/target.js'
import {isRetryableRequest, mayRetryFailure, mayRetryStatus, retryLimit, type RetryState} from '../../retry-decision.js'
import {refuseInput, type RoutePolicy} from '../../../route/side.js'
import {LengthFramer, type Framer} from './framing.js'
import type {ResponseHead} from './head.js'
import {keepAliveIdleMs, rawPool} from '../../../endpoint/raw-pool.js'
import {planResponse} from './response.js'
import {clientResponseHead, errorResponse} from './reply.js'
import {EMPTY, UpstreamAttempt, type ClientSide} from './upstream.js'

export type {ClientSide} from './upstream.js'

export class RawExchange extends UpstreamAttempt {
  private attempt = 0
  private untilClose = false
  private status = 0
  private responding = false
  private reqDone: boolean
  private finished = false
  private target!: Target
  /** The request timeout's timer (only when the policy has one), cleared on the response head. */
  private timer: NodeJS.Timeout | undefined
  /** One attempt's timer (a route's backendRequest timeout), restarted by each attempt. */
  private attemptTimer: NodeJS.Timeout | undefined
  /** Set while a retry waits for the route's backoff. */
  private backoff: NodeJS.Timeout | undefined

  constructor(
    client: ClientSide,
    readonly meta: RequestMeta,
    head: Buffer,
    private readonly reqFramer: Framer | null,
    readonly policy: RoutePolicy,
    private close: boolean,
  ) {
    super(client, head)
    this.reqDone = reqFramer === null
    // A body is kept for a retry only when one is possible and the body may fit.
    const max = policy.retry.maxBodyBytes
    if (reqFramer !== null && max > 0 && retryLimit(client.side, policy) > 0 && !(reqFramer instanceof LengthFramer && reqFramer.remaining > max)) this.keepBody(max)
  }

  /** Another attempt could send the whole request again. */
  private get replayable(): boolean {
    return this.reqFramer === null || this.bodyKept
  }

  /** What retry-decision.ts decides on. */
  private retryState(): RetryState {
    const policy = this.policy
    return {
      replayable: this.replayable, attempt: this.attempt, limit: retryLimit(this.client.side, policy), statuses: policy.retry.statuses,
      retryable: policy.retry.retryable || isRetryableRequest(this.meta.method, this.meta.headers),
    }
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
    // As the node codec: from the first attempt until the response head, across retries.
    const ms = this.policy.requestTimeoutMs
    if (ms > 0) this.timer = setTimeout(timedOut, ms, this)
    this.sendAttempt()
  }

  /** An attempt, under the route's per-attempt timeout when it has one. */
  private sendAttempt(): void {
    const ms = this.policy.attemptTimeoutMs ?? 0
    if (ms > 0) {
      clearTimeout(this.attemptTimer)
      this.attemptTimer = setTimeout(attemptTimedOut, ms, this)
    }
    this.send()
  }

  /**
   * The attempt took its route's backendRequest timeout with no response head: a 504 of that
   * attempt, so the one retry decision may try again; else the client gets the 504.
   */
  onAttemptTimeout(): void {
    this.attemptTimer = undefined
    if (this.finished || this.responding) return
    this.detach()?.socket.destroy()
    this.endStats(false)
    if (mayRetryStatus(this.client.side, this.retryState(), 504)) {
      this.retry()
      return
    }
    this.fail(new ProxyError('TIMEOUT', `no response from ${this.ep.key} within ${this.policy.attemptTimeoutMs}ms`))
  }

  /** The request timeout fired with no response head yet: 504, as the node codec answers. */
  onTimeout(): void {
    this.timer = undefined
    if (this.finished || this.responding) return
    this.detach()?.socket.destroy()
    this.endStats(false)
    this.fail(new ProxyError('TIMEOUT', `no response from ${this.ep.key} within ${this.policy.requestTimeoutMs}ms`))
  }

  private stopTimer(): void {
    clearTimeout(this.backoff)
    this.backoff = undefined
    clearTimeout(this.attemptTimer)
    this.attemptTimer = undefined
    if (this.timer === undefined) return
    clearTimeout(this.timer)
    this.timer = undefined
  }

  /** Request body bytes; returns what follows the body (the next request), or null while the body goes on. */
  pushBody(chunk: Buffer): Buffer | null {
    const end = this.reqFramer!.feed(chunk, 0)
    if (end === -2) {
      refuseInput(this.client.side, 'malformed_request')
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

  /** The final response head: retried, or on to the client with the body bytes that came with it. */
  protected onResponseHead(h: ResponseHead, end: number): void {
    const side = this.client.side
    const status = h.status
    clearTimeout(this.attemptTimer)
    this.attemptTimer = undefined
    this.endStats(status < 500)
    if (status >= 500 && mayRetryStatus(side, this.retryState(), status)) {
      this.detach()?.socket.destroy()
      this.retry()
      return
    }
    const plan = planResponse(h, this.meta.method, side.config.limits.maxHeaderBytes)
    if (!plan) {
      this.upFailed(new ProxyError('UPSTREAM_RESET', `${this.ep.key}: bad Content-Length in response`))
      return
    }
    // This response is the answer: no more retries, no timeout.
    this.dropKept()
    this.stopTimer()
    const framer = plan.framer
    this.untilClose = plan.untilClose
    if (!plan.reusable) this.upReusable = false
    const ka = h.known['keep-alive']
    if (typeof ka === 'string' && this.up) this.up.idleMs = keepAliveIdleMs(ka)
    if (this.untilClose || side.draining) this.close = true
    this.status = status
    this.responding = true
    this.resFramer = framer
    const buf = this.rbuf
    this.rbuf = EMPTY
    const head = clientResponseHead(buf, h, plan.te, this.close)
    side.observer?.responseInit(this.meta, status)
    if (framer === null && !this.untilClose) {
      this.client.write(head)
      if (end < buf.length) this.upReusable = false
      this.finish()
    } else if (end < buf.length) this.onBody(buf, end, head) // (the head and the body bytes after it in one write)
    else this.client.write(head)
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
    const ms = this.policy.retryBackoffMs ?? 0
    if (ms > 0) this.backoff = setTimeout(backedOff, ms, this)
    else this.sendAttempt()
  }

  /** The retry's backoff passed: its attempt goes, unless the exchange ended meanwhile. */
  afterBackoff(): void {
    this.backoff = undefined
    if (!this.finished) this.sendAttempt()
  }

  protected upClosed(): void {
    if (this.untilClose && this.responding) {
      this.upReusable = false
      this.finish()
      return
    }
    this.upFailed(new ProxyError('UPSTREAM_RESET', `${this.ep.key}: connection closed`))
  }

  /** The upstream connection failed: retry when nothing reached the client, else answer or cut. */
  protected upFailed(err: unknown): void {
    const up = this.detach()
    up?.socket.destroy()
    if (this.finished) return
    if (this.responding) {
      this.finished = true
      this.stopTimer()
      this.client.side.observer?.responseEnd(this.meta, {status: this.status, responseBytes: this.bytes, resetError: 'upstream reset'})
      this.client.abort()
      return
    }
    this.endStats(false)
    const e = upstreamError(err, this.ep.key)
    // Never attached to a connection (its connect failed while it waited): nothing was written.
    // Else the head went out; a reused connection with no response byte is the stale keep-alive race.
    const fate = {unprocessed: up === undefined || neverSent(e), staleReuse: up?.reused === true && !this.gotBytes}
    if (mayRetryFailure(this.client.side, this.retryState(), fate)) {
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
    requestFailed(this.client.side.observer, this.meta, e)
    this.detach()?.socket.destroy()
    this.finished = true
    this.stopTimer()
    this.dropKept()
    if (this.responding) {
      this.client.abort()
      return
    }
    // With a request body still arriving (or a malformed one), the connection cannot carry on.
    // (A request refused by authorization was well-formed: the connection carries on.)
    const close = forceClose || this.close || !this.reqDone || (e.status < 500 && e.code !== 'FORBIDDEN')
    this.client.write(errorResponse(e, close))
    this.client.side.observer?.responseInit(this.meta, e.status)
    this.client.side.observer?.responseEnd(this.meta, {status: e.status, responseBytes: 0})
    this.reqDone = true
    this.client.done(close)
  }

  /** The response is complete: free the upstream connection, end the exchange. */
  protected finish(): void {
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

  crashed(err: unknown): void {
    containedError(this.client.side, 'raw http1 upstream', err)
    try {
      this.clientGone()
    } catch {
      this.detach()?.socket.destroy()
    }
    this.client.abort()
  }

  /** The client went away mid-exchange. */
  clientGone(): void {
    if (this.finished) return
    this.finished = true
    this.stopTimer()
    this.dropKept()
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

function timedOut(ex: RawExchange): void {
  ex.onTimeout()
}

function backedOff(ex: RawExchange): void {
  ex.afterBackoff()
}

function attemptTimedOut(ex: RawExchange): void {
  ex.onAttemptTimeout()
}
