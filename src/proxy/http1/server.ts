// The HTTP/1 server of one side: Node's parser with our limits (header size, timeouts), fed
// connections the detector has already accepted. Malformed input gets a 400/431/408 with the
// `mesh-proxy-error` header and is counted; it never reaches the application.
import http from 'node:http'
import type {Duplex} from 'node:stream'
import {PROXY_ERROR_HEADER} from '../errors.js'
import type {Side} from '../side.js'
import {http1Handler} from './forward.js'
import {connectHandler, upgradeHandler} from './tunnel.js'

interface ConnState {
  active: number
  served: number
  since: number
}

const kStates = Symbol('mesh.h1states')
/** A connection that never sent a request gets this long before a drain may close it. */
const FRESH_MS = 2000

/**
 * Closes the keep-alive connections at rest: no request in progress and at least one served
 * (a fresh connection may have a request on the wire: closing it would reset that request).
 */
export function closeIdleHttp1(server: http.Server): void {
  const states = (server as unknown as Record<symbol, Map<Duplex, ConnState>>)[kStates]
  const now = performance.now()
  for (const [socket, st] of states) {
    if (st.active === 0 && (st.served > 0 || now - st.since > FRESH_MS)) socket.destroy()
  }
}

export function createHttp1Server(side: Side): http.Server {
  const limits = side.config.limits
  const server = http.createServer({
    maxHeaderSize: limits.maxHeaderBytes,
    keepAliveTimeout: limits.httpIdleTimeoutMs,
    headersTimeout: Math.min(60_000, limits.httpIdleTimeoutMs + 1000),
    requestTimeout: 0,
    noDelay: true,
    // Keep the request-line and headers byte-exact for forwarding.
    joinDuplicateHeaders: false,
    // Answered by the proxy (with mesh-proxy-error), not by Node's bare 400.
    requireHostHeader: false,
  }, http1Handler(side))
  const states = new Map<Duplex, ConnState>()
  ;(server as unknown as Record<symbol, unknown>)[kStates] = states
  server.on('connection', (socket: Duplex) => {
    states.set(socket, {active: 0, served: 0, since: performance.now()})
    socket.once('close', () => states.delete(socket))
  })
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const st = states.get(req.socket)
    if (!st) return
    st.active++
    res.once('close', () => { st.active--; st.served++ })
  })
  server.on('connect', connectHandler(side))
  server.on('upgrade', upgradeHandler(side))
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    side.stats.malformedRequests++
    side.log.debug('malformed HTTP/1 request', {code: err.code, error: err.message})
    const [status, text] = err.code === 'HPE_HEADER_OVERFLOW' ? [431, 'Request Header Fields Too Large']
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? [408, 'Request Timeout']
      : [400, 'Bad Request']
    const reason = `${err.code ?? 'malformed request'}`
    // A request already dispatched (its body turned out malformed) is answered through its response.
    const inFlight = (socket as Duplex & {_httpMessage?: http.ServerResponse})._httpMessage
    if (inFlight && !inFlight.headersSent && !inFlight.destroyed) {
      inFlight.shouldKeepAlive = false
      inFlight.writeHead(status, {[PROXY_ERROR_HEADER]: reason, 'content-length': 0})
      inFlight.end()
      return
    }
    if (!socket.writable || inFlight) {
      socket.destroy()
      return
    }
    socket.end(`HTTP/1.1 ${status} ${text}\r\n${PROXY_ERROR_HEADER}: ${reason}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`)
  })
  return server
}
