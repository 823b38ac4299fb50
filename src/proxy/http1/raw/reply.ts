// What the raw codec writes itself: the proxy's own error answers (with `mesh-proxy-error`,
// like the node codec's sendError) and the forwarded heads, hop-by-hop fields removed.
import {PROXY_ERROR_HEADER, type ProxyError} from '../../errors.js'
import {forwardHeaders} from '../headers.js'
import {serializeHead, type RequestHead, type ResponseHead} from './head.js'

const REASONS: Record<number, string> = {400: 'Bad Request', 431: 'Request Header Fields Too Large', 502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout', 508: 'Loop Detected'}

/** The proxy's own answer for `err`; `close` adds Connection: close. */
export function errorResponse(err: ProxyError, close: boolean): Buffer {
  const text = err.message.replace(/[^\x20-\x7e]/g, '?')
  const body = text + '\n'
  return Buffer.from(`HTTP/1.1 ${err.status} ${REASONS[err.status] ?? 'Error'}\r\ncontent-type: text/plain; charset=utf-8\r\n`
    + `content-length: ${Buffer.byteLength(body)}\r\n${PROXY_ERROR_HEADER}: ${text}\r\n${close ? 'connection: close\r\n' : ''}\r\n${body}`, 'latin1')
}

/**
 * The request head as it goes upstream: the client's bytes themselves when nothing is
 * hop-by-hop, else re-serialised without those fields (Transfer-Encoding: chunked kept, since
 * the body passes through still chunked).
 */
export function upstreamRequestHead(buf: Buffer, head: RequestHead, chunked: boolean): Buffer {
  const fields = forwardHeaders(head.raw, head.headers.connection as string | undefined, {keepTrailer: chunked})
  if (fields === head.raw) return buf.subarray(0, head.size)
  if (chunked) fields.push('Transfer-Encoding', 'chunked')
  return serializeHead(`${head.method} ${head.path} HTTP/1.1`, fields)
}

/** The response head as it goes to the client; `te` is kept when the body stays chunked. */
export function clientResponseHead(buf: Buffer, head: ResponseHead, te: string | undefined, close: boolean): Buffer {
  const fields = forwardHeaders(head.raw, head.headers.connection as string | undefined, {keepTrailer: te !== undefined})
  if (fields === head.raw && !close && !head.http10) return buf.subarray(0, head.size)
  if (te !== undefined) fields.push('Transfer-Encoding', te)
  return serializeHead(`HTTP/1.1 ${head.status} ${head.reason}`, fields, close ? 'Connection: close\r\n' : '')
}
