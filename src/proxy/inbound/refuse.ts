// Refusing an inbound connection the policy does not allow: an HTTP/1 client gets a 403 that
// says why (with the `mesh-proxy-error` header, like the proxy's other own answers) and the
// connection is closed; anything else is closed at once. Nothing reaches the application.
import type {Duplex} from 'node:stream'
import type {Protocol} from '../detect/detect.js'
import {PROXY_ERROR_HEADER} from '../core/errors.js'

/** How long a 403 may take to flush before the socket is cut. */
const FLUSH_MS = 1000

export function refuse(socket: Duplex, protocol: Protocol, detail: string): void {
  if (protocol !== 'http1') {
    socket.destroy()
    return
  }
  const text = detail.replace(/[^\x20-\x7e]/g, '?').slice(0, 500)
  socket.on('error', () => {})
  socket.end(`HTTP/1.1 403 Forbidden\r\n${PROXY_ERROR_HEADER}: ${text}\r\ncontent-type: text/plain\r\ncontent-length: ${text.length + 1}\r\nconnection: close\r\n\r\n${text}\n`)
  setTimeout(() => socket.destroy(), FLUSH_MS).unref()
}
