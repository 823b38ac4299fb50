// The header read timeout (MESH_PROXY_HEADER_READ_TIMEOUT): an HTTP/1 request head must be whole
// within this long of its first byte (of the connection's start for the first request), or the
// client gets a 408 and the connection closes (reason header_timeout). A slowloris client, one
// header byte every few seconds, held a connection for ever before; nginx closes it after 60 s.
// Idle keep-alive connections between requests are the idle timeout's, not this one's.
import type http from 'node:http'
import type {Duplex} from 'node:stream'
import {PROXY_ERROR_HEADER} from '../core/errors.js'
import {refuseInput, type Side} from '../route/side.js'

/**
 * The node codec: Node's server enforces `headersTimeout` only from its connection checker, which
 * it starts on 'listening', and these servers never listen (they are fed detected sockets). So the
 * checker is started here, every quarter of the timeout (at most 1 s). An expired head reaches
 * the server's 'clientError' as ERR_HTTP_REQUEST_TIMEOUT (408, counted there).
 */
export function enforceHeaderTimeout(server: http.Server, ms: number): http.Server {
  server.headersTimeout = ms
  server.requestTimeout = 0
  // (set through options at construction in Node's types; the property is what 'listening' reads)
  ;(server as http.Server & {connectionsCheckingInterval: number}).connectionsCheckingInterval = Math.max(10, Math.min(1000, Math.floor(ms / 4)))
  server.emit('listening')
  return server
}

/**
 * The raw codec: a head is incomplete in its buffer; the timer to clear once it is whole. When it
 * fires, `over` is called first: the connection serves nothing more (the client may still send,
 * half-open, in the second before it is destroyed; a head completed then is not a request).
 */
export function startHeadTimer(side: Side, socket: Duplex, over: () => void): NodeJS.Timeout {
  const t = setTimeout(headTimedOut, side.config.limits.headerReadTimeoutMs, side, socket, over)
  t.unref()
  return t
}

function headTimedOut(side: Side, socket: Duplex, over: () => void): void {
  if (socket.destroyed) return
  over()
  refuseInput(side, 'header_timeout')
  const ms = side.config.limits.headerReadTimeoutMs
  side.log.debug('request head not complete within the header read timeout: 408', {ms})
  socket.end(`HTTP/1.1 408 Request Timeout\r\n${PROXY_ERROR_HEADER}: request head not complete within ${ms}ms\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`)
  // A client that does not read its answer does not hold the connection either.
  setTimeout(() => socket.destroy(), 1000).unref()
}
