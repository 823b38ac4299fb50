// How a response from upstream is framed on the raw codec: no body (HEAD, 204, 304), chunked
// (the last coding; passed through still chunked), Content-Length, or until the upstream closes
// (the client connection then closes too); and whether the upstream connection may be reused.
import {ChunkedFramer, contentLength, LengthFramer, listsToken, type Framer} from './framing.js'
import type {ResponseHead} from './head.js'

export interface ResponsePlan {
  framer: Framer | null
  /** No framing: the body runs until the upstream closes. */
  untilClose: boolean
  /** The upstream connection may carry another request afterwards. */
  reusable: boolean
  /** Transfer-Encoding to forward (the body stays chunked). */
  te: string | undefined
}

/**
 * A response head whose framing fields llhttp accepts, whatever the response (1xx, 204, 304 and
 * a HEAD's answer included): not Content-Length and Transfer-Encoding both, a Content-Length of
 * digits only (a repeated one arrives joined by a comma, and is refused).
 */
export function framingFieldsValid(h: ResponseHead): boolean {
  const te = h.known['transfer-encoding']
  const cl = h.known['content-length']
  if (te !== undefined && cl !== undefined) return false
  return cl === undefined || (typeof cl === 'string' && contentLength(cl) >= 0)
}

/**
 * An informational (1xx) head the codec relays, after which the final one follows on the same
 * connection: not from HTTP/1.0 (which has none), with valid framing fields, and not saying
 * `Connection: close` (llhttp reads nothing after such a message).
 */
export function informationalValid(h: ResponseHead): boolean {
  const c = h.known.connection
  return !h.http10 && framingFieldsValid(h) && !(typeof c === 'string' && listsToken(c, 'close'))
}

/** The plan for `h`, or null when its framing fields are not valid (the caller answers 502). */
export function planResponse(h: ResponseHead, method: string, maxTrailerBytes: number): ResponsePlan | null {
  if (!framingFieldsValid(h)) return null
  const te = h.known['transfer-encoding'] as string | undefined
  const cl = h.known['content-length'] as string | undefined
  // (as llhttp: HTTP/1.0 is reused only when it lists keep-alive, HTTP/1.1 unless it lists close)
  const conn = h.known.connection
  const reusable = typeof conn !== 'string' ? !h.http10 : h.http10 ? listsToken(conn, 'keep-alive') : !listsToken(conn, 'close')
  if (method === 'HEAD' || h.status === 204 || h.status === 304) return {framer: null, untilClose: false, reusable, te: undefined}
  if (te !== undefined && /(?:^|,)\s*chunked\s*$/i.test(te)) return {framer: new ChunkedFramer(maxTrailerBytes), untilClose: false, reusable, te}
  if (cl !== undefined) {
    const length = contentLength(cl)
    return {framer: length > 0 ? new LengthFramer(length) : null, untilClose: false, reusable, te: undefined}
  }
  return {framer: null, untilClose: true, reusable: false, te: undefined}
}
