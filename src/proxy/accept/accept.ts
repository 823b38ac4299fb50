// The common front of both sides: accept -> detect -> HTTP/1 | HTTP/2 | TCP. Each side adds its
// own step (inbound: mTLS termination; outbound: routing opaque traffic by original destination).
import type http from 'node:http'
import type {Duplex} from 'node:stream'
import {kConn, type ConnCtx, type WithConn} from '../core/conn.js'
import type {Detected} from '../detect/detect.js'
import type {EndpointClient} from '../endpoint/endpoint.js'
import {upstreamError} from '../core/errors.js'
import {serveRaw} from '../http/http1/raw/conn.js'
import {isRawCodec} from '../http/http1/codec.js'
import type {LazyH2Server} from './lazy-h2.js'
import type {Listener} from './listener.js'
import type {ConnMeta} from '../core/observe.js'
import type {Side} from '../route/side.js'
import {onEstablished} from '../net/established.js'
import {pipeBoth} from '../tcp/pipe.js'

/** A side as it runs: its context, its listener and the HTTP servers it hands connections to. */
export interface Side$ {
  side: Side
  listener: Listener
  servers: HttpServers
  close(): void
}

export interface HttpServers {
  h1: http.Server
  /** Loads node:http2 and creates its server on the first HTTP/2 connection (lazy-h2.ts). */
  h2: LazyH2Server
}

/** Hands a detected HTTP connection to its server, reporting the connection to the observer. */
export function serveHttp(side: Side, servers: HttpServers, socket: Duplex, conn: ConnCtx, d: Detected): void {
  ;(socket as Duplex & WithConn)[kConn] = conn
  observeTransport(side, socket, conn)
  if (d.protocol === 'h2') {
    servers.h2.serve(socket, d.head)
    return
  }
  // MESH_PROXY_HTTP1_CODEC=raw (the default): the raw codec, which hands over what it does not serve.
  if (isRawCodec(servers.h1)) return serveRaw(side, servers.h1, socket, d.head)
  if (d.head.length > 0) socket.unshift(d.head)
  servers.h1.emit('connection', socket)
  socket.resume()
}

/**
 * tcp_* for an HTTP connection: opened now, closed with the socket's byte counts and the code of
 * the first error the socket reported (the metrics keep system errors as `errno`, src/metrics/errno.ts).
 */
function observeTransport(side: Side, socket: Duplex, conn: ConnCtx): void {
  const observer = side.observer
  if (!observer) return
  observer.tcpOpen(conn)
  const s = socket as Duplex & {bytesRead?: number, bytesWritten?: number}
  let error: string | undefined
  socket.on('error', (err: Error & {code?: unknown}) => { error ??= typeof err.code === 'string' ? err.code : err.message })
  socket.once('close', () => observer.tcpClose(conn, {readBytes: s.bytesRead ?? 0, writeBytes: s.bytesWritten ?? 0, error}))
}

/** Carries an opaque connection to `ep`, byte for byte. */
export function forwardTcp(side: Side, socket: Duplex, conn: ConnCtx, head: Buffer, ep: EndpointClient): void {
  const meta: ConnMeta = side.direction === 'outbound'
    ? {direction: 'outbound', source: conn.source, destination: ep.addr, tls: ep.tls, authority: conn.authority, dstLabels: ep.labels}
    : conn
  const up = ep.connect()
  let opened = false
  up.once('error', (err) => {
    if (opened) return
    side.log.debug('opaque connect failed', {target: ep.key, error: upstreamError(err, ep.key).message})
    ep.stats.end(started, false)
    socket.destroy()
  })
  const started = ep.stats.start()
  onEstablished(up, () => {
    opened = true
    ep.stats.end(started, true)
    side.observer?.tcpOpen(meta)
    pipeBoth(socket, up, head, side.config.limits.tcpIdleTimeoutMs).then((r) => {
      side.observer?.tcpClose(meta, {readBytes: r.fromClient, writeBytes: r.toClient, error: r.error})
    }, () => {})
  })
}
