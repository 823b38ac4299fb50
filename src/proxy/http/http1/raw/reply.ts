// What the raw codec writes itself: the proxy's own error answers (with `mesh-proxy-error`,
// like the node codec's sendError) and the forwarded heads, hop-by-hop fields removed.
import {PROXY_ERROR_HEADER, type ProxyError} from '../../../core/errors.js'
import {forwardHeaders} from '../headers.js'
import {serializeHead, type RequestHead, type ResponseHead} from './head.js'

const REASONS: Record<number, string> = {400: 'Bad Request', 403: 'Forbidden', 404: 'Not Found', 431: 'Request Header Fields Too Large', 500: 'Internal Server Error', 502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout', 508: 'Loop Detected'}

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
  if (head.hop === undefined) return headOf(buf, head.size)
  const cut = cutHopByHop(buf, head, chunked, chunked, false)
  if (cut) return cut
  const fields = forwardHeaders(head.raw, head.known.connection as string | undefined, {keepTrailer: chunked})
  if (fields === head.raw) return buf.subarray(0, head.size)
  if (chunked) fields.push('Transfer-Encoding', 'chunked')
  return serializeHead(`${head.method} ${head.path} HTTP/1.1`, fields)
}

/**
 * The response head as it goes to the client; `te` is kept when the body stays chunked. Its
 * hop-by-hop lines are cut from `buf` itself when nothing is added (cutInPlace): the head then
 * ends where it ended, right before the body bytes read with it, and goes out with them in one
 * write, copied nowhere. `buf` is the proxy's own (the upstream connection's read), read once.
 */
export function clientResponseHead(buf: Buffer, head: ResponseHead, te: string | undefined, close: boolean): Buffer {
  if (!head.http10) {
    if (head.hop === undefined && !close) return headOf(buf, head.size)
    const cut = close ? cutHopByHop(buf, head, te !== undefined, te !== undefined, close) : cutInPlace(buf, head, te !== undefined)
    if (cut) return cut
  }
  const fields = forwardHeaders(head.raw, head.known.connection as string | undefined, {keepTrailer: te !== undefined})
  if (fields === head.raw && !close && !head.http10) return buf.subarray(0, head.size)
  if (te !== undefined) fields.push('Transfer-Encoding', te)
  return serializeHead(`HTTP/1.1 ${head.status} ${head.reason}`, fields, close ? 'Connection: close\r\n' : '')
}

/** The first `size` bytes of `buf`: `buf` itself when that is all of it (no view made). */
function headOf(buf: Buffer, size: number): Buffer {
  return size === buf.length ? buf : buf.subarray(0, size)
}

const CONNECTION_CLOSE = Buffer.from('Connection: close\r\n', 'latin1')
const CRLF = Buffer.from('\r\n', 'latin1')

/**
 * The head's own bytes without its hop-by-hop lines (Transfer-Encoding and Trailer kept when the
 * body goes on chunked), `Connection: close` added when asked: what forwardHeaders and
 * serializeHead make, without rebuilding the head as a string. Null when only they know how: a
 * Connection field naming other fields than keep-alive and close, or a repeated Host.
 */
function cutHopByHop(buf: Buffer, head: RequestHead | ResponseHead, keepTe: boolean, keepTrailer: boolean, close: boolean): Buffer | null {
  if (!cuttable(head)) return null
  const parts: Buffer[] = []
  let at = 0
  const hop = head.hop ?? []
  for (let i = 0; i < hop.length; i += 3) {
    const name = hop[i + 2]
    if (keptHop(name, keepTe, keepTrailer)) continue
    const start = hop[i] as number
    if (start > at) parts.push(buf.subarray(at, start))
    at = hop[i + 1] as number
  }
  parts.push(buf.subarray(at, head.size - 2))
  if (close) parts.push(CONNECTION_CLOSE)
  parts.push(CRLF)
  return Buffer.concat(parts)
}

/** Whether a hop-by-hop line stays: Transfer-Encoding and Trailer while the body goes on chunked. */
function keptHop(name: unknown, keepTe: boolean, keepTrailer: boolean): boolean {
  return (keepTe && name === 'transfer-encoding') || (keepTrailer && name === 'trailer')
}

/** Whether the lines `fields` marked hop-by-hop are all there is to cut (cutHopByHop). */
function cuttable(head: RequestHead | ResponseHead): boolean {
  const connection = head.known.connection
  if (connection !== undefined && (typeof connection !== 'string' || !onlyStandardTokens(connection))) return false
  const host = head.known.host
  return host === undefined || (typeof host === 'string' && !host.includes(','))
}

/**
 * cutHopByHop(buf, head, keepChunked, keepChunked, false) made in `buf` itself: the lines kept are
 * moved towards the head's end, over the ones cut, so the head ends at `head.size` as it did, and
 * the view returned is followed by what followed the head. The bytes before the view are left
 * as they fall. Null when only the general path knows how (cuttable).
 */
function cutInPlace(buf: Buffer, head: ResponseHead, keepChunked: boolean): Buffer | null {
  if (!cuttable(head)) return null
  const hop = head.hop ?? []
  // (the lines from the last to the first: [at, to) is what is still in place of the kept bytes; the blank line stays)
  let to = head.size - 2
  let at = to
  for (let i = hop.length - 3; i >= 0; i -= 3) {
    const name = hop[i + 2]
    if (keptHop(name, keepChunked, keepChunked)) continue
    const start = hop[i] as number
    const end = hop[i + 1] as number
    // the kept bytes between this line and the next cut one, moved to end where the kept bytes after them begin
    if (to !== at) buf.copyWithin(to - (at - end), end, at)
    to -= at - end
    at = start
  }
  if (to !== at) buf.copyWithin(to - at, 0, at)
  return buf.subarray(to - at, head.size)
}

/** A Connection value that lists only keep-alive and close (which name no other field). */
function onlyStandardTokens(value: string): boolean {
  // (the values servers send, checked without splitting)
  if (value === 'keep-alive' || value === 'close' || value === 'Keep-Alive' || value === 'Close') return true
  for (const t of value.split(',')) {
    const token = t.trim().toLowerCase()
    if (token !== '' && token !== 'keep-alive' && token !== 'close') return false
  }
  return true
}
