// Which requests the raw codec serves itself, and how their bodies are framed: a pure function
// of the parsed head, so that the differential tests against llhttp (test/proxy/http1-diff/)
// exercise exactly the codec's decision. Anything else is handed to Node's server (llhttp).
import {ChunkedFramer, contentLength, LengthFramer, listsToken, type Framer} from './framing.js'
import type {RequestHead} from './head.js'

/** requestFraming's answer for a request without a body (most): one object, read only. */
const NO_BODY: {readonly framer: null} = Object.freeze({framer: null})

/** The body's framing (null: no body), or undefined when the Node codec should take the request. */
export function requestFraming(head: RequestHead, maxTrailerBytes: number): {readonly framer: Framer | null} | undefined {
  const h = head.known
  const host = h.host
  if (typeof host !== 'string' || host === '' || host.includes(',')) return undefined
  if (head.method === 'CONNECT' || h.upgrade !== undefined || h.expect !== undefined) return undefined
  const te = h['transfer-encoding']
  const cl = h['content-length']
  if (te !== undefined) {
    if (cl !== undefined || typeof te !== 'string' || te.toLowerCase() !== 'chunked') return undefined
    return {framer: new ChunkedFramer(maxTrailerBytes)}
  }
  if (cl === undefined) return NO_BODY
  const length = typeof cl === 'string' ? contentLength(cl) : -1
  if (length < 0) return undefined
  return length === 0 ? NO_BODY : {framer: new LengthFramer(length)}
}

/** The client asked to close after this request (`Connection: close`). */
export function wantsClose(head: RequestHead): boolean {
  const c = head.known.connection
  return typeof c === 'string' && listsToken(c, 'close')
}
