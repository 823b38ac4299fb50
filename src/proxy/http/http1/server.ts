// The HTTP/1 server of one side: Node's parser with our limits (header size, timeouts), fed
// connections the detector has already accepted. Malformed input gets a 400/431/408 with the
// `mesh-proxy-error` header and is counted; it never reaches the application.
import * as http from '../../core/node-http.js'
import type {Duplex} from 'node:stream'
import {contain} from '../contain.js'
import {PROXY_ERROR_HEADER} from '../../core/errors.js'
import {refuseInput, type Side} from '../../route/side.js'
import {countParserIgnored} from './after-close.js'
import {http1Handler} from './forward.js'
import {FRESH_MS} from './fresh.js'
import {markCodec} from './codec.js'
import {connectHandler, upgradeHandler} from './tunnel.js'

/** Per connection: when it arrived, and whether it has carried a request (set, not counted). */
interface H1Conn extends Duplex {
  [kSince]?: number
  [kServed]?: boolean
  /** Turns waiting for the one in progress (undefined: none in progress). */
  [kWaiting]?: Turn[]
  /** An Upgrade or CONNECT request came: the connection is (or is about to be) a tunnel, never at rest. */
  [kTunnel]?: boolean
  /** Node's parser has stopped on an error: what it reports after the first is the same stop. */
  [kStopped]?: boolean
  /** Node's: the response in progress on this connection, if any. */
  _httpMessage?: http.ServerResponse | null
  /** Node's: the connection's parser; `incoming` is the last request whose head it parsed, until that request is read whole and answered. */
  parser?: {incoming?: H1Request | null} | null
}

/** A request Node's server emitted, with its response (Node links only the response to the request). */
interface H1Request extends http.IncomingMessage {
  [kRes]?: H1Response
}

interface H1Response extends http.ServerResponse {
  /** Its turn has started (the request is being forwarded, or answered by the proxy). */
  [kStarted]?: boolean
  /** Its request turned out malformed before its turn: answered with this when the turn comes, never forwarded. */
  [kRefusal]?: Refusal
}

/** A refusal of what Node's parser refused: the status and the `mesh-proxy-error` text. */
interface Refusal {
  status: number
  text: string
  reason: string
}

/**
 * One turn of a connection, started when every earlier one has ended: a request and its
 * response (over when the response closes), or the tunnel an Upgrade or CONNECT request starts
 * (the connection's last turn: Node's parser stops at its head, and the bytes after it are the
 * tunnel's).
 */
type Turn = () => void

const kConns = Symbol('mesh.h1conns')
const kSince = Symbol('mesh.h1since')
const kServed = Symbol('mesh.h1served')
const kWaiting = Symbol('mesh.h1waiting')
const kTunnel = Symbol('mesh.h1tunnel')
const kStopped = Symbol('mesh.h1stopped')
const kRes = Symbol('mesh.h1res')
const kStarted = Symbol('mesh.h1started')
const kRefusal = Symbol('mesh.h1refusal')
/**
 * Pipelined requests a connection may have waiting behind the one in progress (browsers and
 * curl do not pipeline; a client that sends more is closed, counted as pipeline_limit).
 */
export const MAX_PIPELINED_WAITING = 100

/**
 * Closes the keep-alive connections at rest: no response in progress and at least one request
 * served, or older than FRESH_MS (a fresh connection may have a request on the wire: closing it
 * would reset that request; fresh.ts). No per-request bookkeeping: Node's own `_httpMessage` says what is in progress.
 * A tunnel (an Upgrade or CONNECT request, from the moment it came: forwarded, waiting for its
 * 101 or 200, or carrying bytes) is never at rest, though no response is in progress on it: it
 * lives on until it ends by itself or the drain's deadline closes every connection (as Linkerd
 * lets long-lived connections run through its drain).
 */
export function closeIdleHttp1(server: http.Server): void {
  const conns = (server as unknown as Record<symbol, Set<H1Conn>>)[kConns]
  const now = performance.now()
  for (const socket of conns) {
    if (socket[kTunnel] === true || socket._httpMessage) continue
    if (socket[kServed] === true || now - (socket[kSince] ?? 0) > FRESH_MS) socket.destroy()
  }
}

/**
 * One turn at a time per connection, as the raw codec and nginx do. Node's parser reads
 * pipelined requests ahead and emits every one at once; forwarded as they came, a client's
 * pipelined flood became as many upstream requests at once, a connect storm that made a healthy
 * endpoint fail its connects and be ejected (found by control-routes-wait.test.ts's flood). And
 * an Upgrade or CONNECT request comes as an event of its own ('upgrade', 'connect'), at once: its
 * tunnel would start (its 101 or 200 written, its bytes carried) while an earlier response was
 * still being sent. The later turns wait here for the one in progress to end; when the
 * connection closes, those waiting are dropped, never forwarded.
 */
function takeTurn(side: Side, socket: H1Conn, turn: Turn): void {
  const waiting = socket[kWaiting]
  if (waiting === undefined) {
    socket[kWaiting] = []
    turn()
    return
  }
  if (waiting.length >= MAX_PIPELINED_WAITING) {
    // Node reads on while the answers are small: a client streaming a pipeline would grow
    // this queue without end. Past the bound the connection goes (counted once).
    socket[kWaiting] = undefined
    refuseInput(side, 'pipeline_limit')
    side.log.debug('pipelined requests past the bound: connection closed', {waiting: waiting.length})
    socket.destroy()
    return
  }
  waiting.push(turn)
}

/** The turn in progress has ended: the next one starts, if any (and the connection is open). */
function turnOver(socket: H1Conn): void {
  const next = socket[kWaiting]?.shift()
  if (next === undefined) socket[kWaiting] = undefined
  else if (!socket.destroyed) next()
}

/** The 'request' listener: marks the connection as having carried a request; the request takes its turn. */
function served(side: Side, handler: (req: http.IncomingMessage, res: http.ServerResponse) => void): (req: http.IncomingMessage, res: http.ServerResponse) => void {
  return (req: H1Request, res: H1Response) => {
    const socket = req.socket as H1Conn
    // (requests Node still parses from a connection already closed: never forwarded)
    if (socket.destroyed) return
    socket[kServed] = true
    req[kRes] = res
    takeTurn(side, socket, () => {
      res[kStarted] = true
      res.once('close', () => turnOver(socket))
      const refusal = res[kRefusal]
      if (refusal) answerRefusal(res, refusal)
      else handler(req, res)
    })
  }
}

/**
 * The 'upgrade' and 'connect' listeners: the tunnel takes its turn, the last. It does not start
 * on a connection an earlier response ended (a refusal or a drain closed it: Node is closing it).
 */
function tunnelled(side: Side, handler: (req: http.IncomingMessage, socket: Duplex, head: Buffer) => void): (req: http.IncomingMessage, socket: Duplex, head: Buffer) => void {
  return (req, socket, head) => {
    if (socket.destroyed) return
    ;(req.socket as H1Conn)[kTunnel] = true
    takeTurn(side, socket, () => {
      if (socket.writable) handler(req, socket, head)
    })
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
  }, served(side, http1Handler(side)))
  // MESH_PROXY_HTTP1_CODEC, read once here so a bad value fails at start.
  markCodec(server)
  const conns = new Set<H1Conn>()
  ;(server as unknown as Record<symbol, unknown>)[kConns] = conns
  server.on('connection', (socket: H1Conn) => {
    socket[kSince] = performance.now()
    conns.add(socket)
    socket.once('close', () => {
      conns.delete(socket)
      socket[kWaiting] = undefined
    })
  })
  server.on('connect', tunnelled(side, connectHandler(side)))
  server.on('upgrade', tunnelled(side, upgradeHandler(side)))
  server.on('clientError', (err: NodeJS.ErrnoException, socket: H1Conn) => contain(side, 'http1 client error', () => clientError(side, err, socket), () => socket.destroy()))
  return server
}

/**
 * What Node's parser refused, answered in the connection's order: a request that has been
 * forwarded is never answered for bytes that came after it.
 * - Bytes after a request that closes the connection (`Connection: close`, HTTP/1.0 without
 *   keep-alive: llhttp's HPE_CLOSED_CONNECTION) are ignored, as nginx does: never forwarded, never
 *   answered, not a refusal (counted as ignored bytes, after-close.ts); the connection closes
 *   after that request's answer.
 * - A request whose body turned out malformed is refused with its own response: at once if it is
 *   being forwarded and nothing was sent yet (the upstream attempt is dropped, Exchange.onResponse),
 *   or when its turn comes if it is still waiting (then it is never forwarded); a response already
 *   under way is cut.
 * - Anything else (junk, a bad head, an oversized or slow head) is a request that never parsed: its
 *   400/431/408 takes its turn after the answers to the requests before it.
 * The parser stops at its first error; what it reports after that (it reports again for every
 * later read) changes nothing. Each refusal is counted once (malformed_request, header_timeout).
 */
function clientError(side: Side, err: NodeJS.ErrnoException, socket: H1Conn): void {
  // A peer that reset or vanished mid-request sent nothing malformed: just let it go.
  if (err.code === 'ECONNRESET' || err.code === 'EPIPE') {
    socket.destroy()
    return
  }
  // (every read after a closing request is reported: each one's bytes are counted)
  if (err.code === 'HPE_CLOSED_CONNECTION') countParserIgnored(side, err, socket[kStopped] !== true)
  if (socket[kStopped] === true) return
  socket[kStopped] = true
  if (err.code === 'HPE_CLOSED_CONNECTION') {
    side.log.debug('bytes after a request that closes the connection: ignored', {})
    // (the closing request's answer closes the connection; if it is over, close now)
    if (socket[kWaiting] === undefined && !socket._httpMessage) socket.end()
    return
  }
  refuseInput(side, err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 'header_timeout' : 'malformed_request')
  side.log.debug('malformed HTTP/1 request', {code: err.code, error: err.message})
  const [status, text] = err.code === 'HPE_HEADER_OVERFLOW' ? [431, 'Request Header Fields Too Large']
    : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? [408, 'Request Timeout']
    : [400, 'Bad Request']
  const refusal: Refusal = {status, text, reason: `${err.code ?? 'malformed request'}`}
  const incoming = socket.parser?.incoming
  if (incoming && !incoming.complete) {
    // Its body is what broke: the refusal is this request's answer.
    const res = incoming[kRes]
    if (res === undefined || (res[kStarted] === true && (res.headersSent || res.destroyed))) socket.destroy()
    else if (res[kStarted] === true) answerRefusal(res, refusal)
    else res[kRefusal] = refusal
    return
  }
  takeTurn(side, socket, () => {
    if (socket.writable) socket.end(`HTTP/1.1 ${status} ${text}\r\n${PROXY_ERROR_HEADER}: ${refusal.reason}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`)
    else socket.destroy()
  })
}

/** Answers a request with the proxy's refusal, then the connection closes. */
function answerRefusal(res: http.ServerResponse, refusal: Refusal): void {
  res.shouldKeepAlive = false
  res.writeHead(refusal.status, refusal.text, {[PROXY_ERROR_HEADER]: refusal.reason, 'content-length': 0})
  res.end()
}
