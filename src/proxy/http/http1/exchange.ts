// One HTTP/1 request's trip upstream: attempts on the endpoint's keep-alive pool, retries
// (outbound only, replayable bodies, bounded by the retry budget), the request timeout, and the
// response relayed back with its trailers. Plain callbacks, no Promise per attempt: this is the
// per-request hot path.
import * as http from '../../core/node-http.js'
import type {EndpointClient} from '../../endpoint/endpoint.js'
import {contained} from '../contain.js'
import {neverSent, ProxyError, upstreamError} from '../../core/errors.js'
import type {RequestMeta} from '../../core/observe.js'
import type {Target} from '../../balance/target.js'
import {onEstablished} from '../../net/established.js'
import {mayRetryFailure, mayRetryStatus, type RetryState} from '../retry-decision.js'
import type {Side} from '../../route/side.js'
import {pump, type BodySink} from './body.js'
import {forwardHeaders} from './headers.js'

export interface ExchangePlan {
  path: string
  headers: string[]
  /** The request body streams (not replayable); else `body` (or no body) is sent. */
  streaming: boolean
  body: Buffer | null
  /** Extra attempts allowed (retryLimit: 0 on the inbound side). */
  retries: number
  /** Idempotent or marked retryable (retry-decision.ts RetryState.retryable). */
  retryable: boolean
  statuses: readonly number[]
  timeoutMs: number
}

export class Exchange implements BodySink {
  private attempt = 0
  private started = 0
  private up: http.ClientRequest | undefined
  private responding = false
  private clientGone = false
  private timedOut = false
  private timer: NodeJS.Timeout | undefined
  private ended = false
  /** The client has its answer from this exchange (relayed, or the proxy's own): nothing more to do on a close. */
  private settled = false
  /** The current attempt's connection was established (so its request may have been written). */
  private established = false
  /** Closes both ends when a callback throws (contain.ts). */
  private readonly cut = (): void => {
    this.clientGone = true
    clearTimeout(this.timer)
    this.up?.destroy()
    this.res.destroy()
    this.end('internal error', this.bytes)
  }
  /** Response bytes relayed (BodySink). */
  bytes = 0

  constructor(
    private readonly side: Side,
    private readonly req: http.IncomingMessage,
    private readonly res: http.ServerResponse,
    private readonly meta: RequestMeta,
    private readonly target: Target,
    private ep: EndpointClient,
    private readonly plan: ExchangePlan,
    private readonly fail: (err: unknown) => void,
  ) {}

  start(): void {
    const ms = this.plan.timeoutMs
    if (ms > 0) this.timer = setTimeout(contained(this.side, 'http1 timeout', () => this.onTimeout(), this.cut), ms)
    this.res.on('close', contained(this.side, 'http1 client close', () => this.onClientClose(), this.cut))
    this.send()
  }

  private send(): void {
    const ep = this.ep
    this.started = ep.stats.start()
    const up = http.request({
      host: ep.endpoint.host, port: ep.endpoint.port, method: this.meta.method, path: this.plan.path,
      headers: this.plan.headers as unknown as http.OutgoingHttpHeaders, agent: ep.httpAgent(), setHost: false,
    })
    this.up = up
    this.established = false
    // Whether this attempt's request can have left: a reused connection, or a new one once established.
    up.once('socket', (s) => {
      if (up.reusedSocket) this.established = true
      else onEstablished(s, () => { if (this.up === up) this.established = true })
    })
    up.on('response', contained(this.side, 'http1 response', (upRes: http.IncomingMessage) => this.onResponse(up, upRes), this.cut))
    up.on('error', contained(this.side, 'http1 upstream error', (err: Error) => this.onError(up, err), this.cut))
    if (this.plan.streaming) pump(this.req, up)
    else up.end(this.plan.body ?? undefined)
  }

  private onResponse(up: http.ClientRequest, upRes: http.IncomingMessage): void {
    if (up !== this.up || this.clientGone) {
      upRes.resume()
      return
    }
    if (this.res.headersSent || this.res.destroyed) {
      // Someone else answered the client (the server's 400 for a body that turned out
      // malformed): this response has nowhere to go.
      // Neither a success nor a failure of the endpoint; the connection cannot be reused.
      this.ep.stats.inflight--
      this.clientGone = true
      this.up = undefined
      clearTimeout(this.timer)
      up.destroy()
      this.end('client reset', 0)
      return
    }
    const status = upRes.statusCode ?? 502
    this.ep.stats.end(this.started, status < 500)
    if (status >= 500 && !this.res.destroyed && mayRetryStatus(this.side, this.retryState(), status)) {
      upRes.resume()
      this.retry()
      return
    }
    clearTimeout(this.timer)
    this.relay(upRes, status)
  }

  private onError(up: http.ClientRequest, err: Error): void {
    if (up !== this.up || this.responding) return // a stale attempt, or the relay's to handle
    if (this.clientGone) {
      // Neither a success nor a failure of the endpoint: the client went away.
      this.ep.stats.inflight--
      return
    }
    this.ep.stats.end(this.started, false)
    if (this.timedOut) {
      this.failWith(new ProxyError('TIMEOUT', `no response from ${this.ep.key} within ${this.plan.timeoutMs}ms`))
      return
    }
    const e = upstreamError(err, this.ep.key)
    // Unprocessed: the attempt's connection was never established (nothing was written). A
    // reused connection that failed before any response is the stale keep-alive race, retried
    // once more for retryable requests even with retries off (Node's agent leaves this to callers).
    const fate = {unprocessed: !this.established || neverSent(e), staleReuse: up.reusedSocket}
    if (!this.res.destroyed && mayRetryFailure(this.side, this.retryState(), fate)) {
      this.retry()
      return
    }
    clearTimeout(this.timer)
    this.failWith(e)
  }

  /** The proxy answers the client itself (fail()), once. */
  private failWith(err: unknown): void {
    this.settled = true
    this.fail(err)
  }

  /** What retry-decision.ts decides on. */
  private retryState(): RetryState {
    const p = this.plan
    return {replayable: !p.streaming, retryable: p.retryable, attempt: this.attempt, limit: p.retries, statuses: p.statuses}
  }

  private retry(): void {
    this.attempt++
    try {
      this.ep = this.target.pick()
    } catch (err) {
      clearTimeout(this.timer)
      this.failWith(err)
      return
    }
    if (this.side.direction === 'outbound') this.meta.destination = this.ep.addr
    this.send()
  }

  private onTimeout(): void {
    this.timedOut = true
    this.abandon(new ProxyError('TIMEOUT', 'request timeout'))
  }

  /** The attempt ends: its connection is destroyed, or, waiting for one in the pool, it leaves the queue; an 'error' follows either way. */
  private abandon(err?: Error): void {
    const up = this.up
    if (!up) return
    up.destroy(err)
    if (!up.socket) this.ep.httpAgent().withdraw(up, err)
  }

  private onClientClose(): void {
    if (this.clientGone) return
    if (this.settled && this.res.writableFinished) {
      // The answer went out whole. A request body still streaming upstream will never end now:
      // cut that connection (left open, it sat in CLOSE-WAIT once the app closed its side).
      const up = this.up
      if (up && !up.writableFinished) up.destroy()
      return
    }
    this.clientGone = true
    clearTimeout(this.timer)
    this.abandon()
    this.end('client reset', this.bytes)
  }

  /** Streams the upstream response to the client, counting bytes for responseEnd. */
  private relay(upRes: http.IncomingMessage, status: number): void {
    this.responding = true
    this.settled = true
    const res = this.res
    if (this.side.draining) res.shouldKeepAlive = false
    // Trailers can follow only a chunked message; `Trailer` is kept only when they can.
    const te = upRes.headers['transfer-encoding']
    const keepTrailer = te !== undefined && upRes.headers['content-length'] === undefined && res.useChunkedEncodingByDefault
    const headers = forwardHeaders(upRes.rawHeaders, upRes.headers.connection, {keepTrailer})
    // Chunked on to the client too, with the other codings the upstream applied (`gzip, chunked`).
    if (keepTrailer && te !== 'chunked') headers.push('Transfer-Encoding', te)
    res.writeHead(status, upRes.statusMessage, headers as unknown as http.OutgoingHttpHeaders)
    this.side.observer?.responseInit(this.meta, status)
    pump(upRes, res, this)
    upRes.on('close', () => {
      if (upRes.complete) return
      res.destroy()
      this.end('upstream reset', this.bytes)
    })
  }

  bodyDone(): void {
    this.end(undefined, this.bytes)
  }

  /** responseEnd, once; no status when the client left before the response began. */
  private end(resetError: string | undefined, bytes: number): void {
    if (this.ended) return
    this.ended = true
    const status = this.responding ? this.res.statusCode : undefined
    this.side.observer?.responseEnd(this.meta, resetError ? {status, responseBytes: bytes, resetError} : {status, responseBytes: bytes})
  }
}
