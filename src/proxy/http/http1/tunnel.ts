// The two ways an HTTP/1 connection stops being HTTP: CONNECT (outbound: a tunnel to the routed
// authority, for HTTP_PROXY users) and Upgrade (WebSocket and friends: the upgrade request is
// forwarded, and after the 101 the connection is carried as opaque bytes).
import * as http from '../../core/node-http.js'
import type {Duplex} from 'node:stream'
import {normalizeAuthority} from '../../config/config.js'
import {connOf, type ConnCtx} from '../../core/conn.js'
import {contain, contained} from '../contain.js'
import type {EndpointClient} from '../../endpoint/endpoint.js'
import {ProxyError, upstreamError} from '../../core/errors.js'
import {onEstablished} from '../../net/established.js'
import type {ConnMeta} from '../../core/observe.js'
import {policyOf, refuseInput, type Side} from '../../route/side.js'
import {routePolicyOf} from '../../route/routes.js'
import {pipeBoth} from '../../tcp/pipe.js'
import {forwardHeaders} from './headers.js'
import {requestTarget} from './forward.js'

async function pickEndpoint(side: Side, authority: string, conn: ConnCtx): Promise<EndpointClient> {
  const t = side.target(authority, conn)
  return (t instanceof Promise ? await t : t).pick()
}

function writeRawError(socket: Duplex, err: ProxyError): void {
  const text = err.message.replace(/[^\x20-\x7e]/g, '?')
  socket.end(`HTTP/1.1 ${err.status} ${http.STATUS_CODES[err.status] ?? 'Error'}\r\nmesh-proxy-error: ${text}\r\ncontent-length: ${text.length + 1}\r\nconnection: close\r\n\r\n${text}\n`)
}

/** Carries an established tunnel and reports it as a TCP connection. */
async function carry(side: Side, conn: ConnCtx, ep: EndpointClient, client: Duplex, upstream: Duplex, head: Buffer | undefined): Promise<void> {
  const meta: ConnMeta = {direction: side.direction, source: conn.source, destination: ep.addr, tls: side.direction === 'outbound' ? ep.tls : conn.tls, authority: ep.key, dstLabels: side.direction === 'outbound' ? ep.labels : conn.dstLabels}
  side.observer?.tcpOpen(meta)
  const r = await pipeBoth(client, upstream, head, side.config.limits.tcpIdleTimeoutMs)
  side.observer?.tcpClose(meta, {readBytes: r.fromClient, writeBytes: r.toClient, error: r.error})
}

export function connectHandler(side: Side): (req: http.IncomingMessage, socket: Duplex, head: Buffer) => void {
  return (req, socket, head) => contain(side, 'http1 connect', () => connect(side, req, socket, head), () => socket.destroy())
}

function connect(side: Side, req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
  const conn = connOf(socket)!
  socket.on('error', () => {})
  if (side.direction === 'inbound') {
    writeRawError(socket, new ProxyError('BAD_REQUEST', 'CONNECT is only served on the outbound side'))
    return
  }
  const authority = normalizeAuthority(req.url ?? '', 443)
  if (!/^[^\s/]+:\d+$/.test(authority)) {
    refuseInput(side, 'malformed_request')
    writeRawError(socket, new ProxyError('BAD_REQUEST', 'CONNECT needs host:port'))
    return
  }
  const cut = (): void => { socket.destroy() }
  pickEndpoint(side, authority, conn).then(contained(side, 'http1 connect', (ep: EndpointClient) => {
    const up = ep.connect()
    onEstablished(up, contained(side, 'http1 connect', () => {
      socket.write('HTTP/1.1 200 Connection Established\r\n\r\n')
      void carry(side, conn, ep, socket, up, head)
    }, () => { up.destroy(); cut() }))
    up.once('error', (e) => { if (!socket.writableEnded) writeRawError(socket, upstreamError(e, ep.key)) })
  }, cut), contained(side, 'http1 connect', (err: unknown) => writeRawError(socket, err instanceof ProxyError ? err : upstreamError(err, authority)), cut))
}

export function upgradeHandler(side: Side): (req: http.IncomingMessage, socket: Duplex, head: Buffer) => void {
  return (req, socket, head) => contain(side, 'http1 upgrade', () => upgrade(side, req, socket, head), () => socket.destroy())
}

function upgrade(side: Side, req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
  const conn = connOf(socket)!
  socket.on('error', () => {})
  let where
  try {
    where = requestTarget(req, conn)
  } catch (err) {
    refuseInput(side, 'malformed_request')
    writeRawError(socket, err as ProxyError)
    return
  }
  const authority = normalizeAuthority(where.authority, 80)
  if (side.authorize !== undefined) {
    // The upgrade request is a request like any other: refused by authorization, a 403 (then closed).
    const method = req.method ?? 'GET'
    const p = routePolicyOf(side, authority, method, where.path, req, policyOf(side, authority, where.path, method), conn)
    if ('refusal' in p) return writeRawError(socket, p.refusal)
  }
  const cut = (): void => { socket.destroy() }
  pickEndpoint(side, authority, conn).then(contained(side, 'http1 upgrade', (ep: EndpointClient) => {
    const up = http.request({
      host: ep.endpoint.host, port: ep.endpoint.port, method: req.method, path: where.path, setHost: false,
      headers: forwardHeaders(req.rawHeaders, undefined, true, where.host) as unknown as http.OutgoingHttpHeaders,
      createConnection: () => ep.connect(['http/1.1']) as never,
    })
    const cutBoth = (): void => { up.destroy(); cut() }
    up.on('upgrade', contained(side, 'http1 upgrade', (upRes: http.IncomingMessage, upSocket: Duplex, upHead: Buffer) => {
      let line = `HTTP/1.1 ${upRes.statusCode} ${upRes.statusMessage}\r\n`
      for (let i = 0; i < upRes.rawHeaders.length; i += 2) line += `${upRes.rawHeaders[i]}: ${upRes.rawHeaders[i + 1]}\r\n`
      socket.write(line + '\r\n')
      if (upHead.length > 0) socket.write(upHead)
      void carry(side, conn, ep, socket, upSocket, head)
    }, cutBoth))
    up.on('response', contained(side, 'http1 upgrade', (upRes: http.IncomingMessage) => {
      // The upstream declined the upgrade: pass its answer on and close.
      let line = `HTTP/1.1 ${upRes.statusCode} ${upRes.statusMessage}\r\n`
      const hs = forwardHeaders(upRes.rawHeaders, upRes.headers.connection)
      for (let i = 0; i < hs.length; i += 2) if (hs[i].toLowerCase() !== 'content-length') line += `${hs[i]}: ${hs[i + 1]}\r\n`
      socket.write(line + 'connection: close\r\n\r\n')
      upRes.pipe(socket)
    }, cutBoth))
    up.on('error', (e) => { if (!socket.writableEnded) writeRawError(socket, upstreamError(e, ep.key)) })
    up.end()
  }, cut), contained(side, 'http1 upgrade', (err: unknown) => writeRawError(socket, err instanceof ProxyError ? err : upstreamError(err, authority)), cut))
}
