// Malformed, oversized and smuggling-shaped requests, and the proxy's answer to each (the same on
// both HTTP/1 codecs): one list for the plaintext inbound (malformed.test.ts) and the mTLS one,
// a meshed attacker's TLS client straight to the inbound port (tls-attacks.test.ts). The limits
// the sizes are made for go with it.

/** The proxy's header limits the cases are made for (a head over 8 KB, over 50 fields). */
export const MALFORMED_LIMITS = {maxHeaderBytes: 8 * 1024, maxHeaderCount: 50}

/** A whole request, carried after a request head whose framing the shapes below make ambiguous. */
export const SMUGGLED = 'GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n'

export interface MalformedCase {
  name: string
  bytes: string
  status: 400 | 431
  /** The app sees the request start (a body streamed before it broke). */
  streamed?: boolean
  /** Framing two parsers could read differently, with SMUGGLED behind it as a second request for the looser one. */
  smuggling?: boolean
}

export const MALFORMED: MalformedCase[] = [
  {name: 'a header line without a colon', bytes: 'GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n', status: 400},
  {name: 'an invalid version', bytes: 'GET / HTTP/9.9\r\nHost: x\r\n\r\n', status: 400},
  {name: 'a bad chunk size', bytes: 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', status: 400, streamed: true},
  {name: 'both Content-Length and chunked', bytes: 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', status: 400},
  {name: 'no Host header on HTTP/1.1', bytes: 'GET / HTTP/1.1\r\n\r\n', status: 400},
  {name: 'headers over the size limit', bytes: `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(10_000)}\r\n\r\n`, status: 431},
  {name: 'more headers than allowed', bytes: `GET / HTTP/1.1\r\nHost: x\r\n${Array.from({length: 60}, (_, i) => `X-H${i}: v`).join('\r\n')}\r\n\r\n`, status: 431},
  {name: 'an https absolute-form target', bytes: 'GET https://x/ HTTP/1.1\r\nHost: x\r\n\r\n', status: 400},
  // Smuggling: read by Content-Length, one request; by the chunked body, a second behind it.
  {name: 'Content-Length and chunked, a request behind the last chunk', bytes: `POST /cl-te HTTP/1.1\r\nHost: x\r\nContent-Length: ${5 + SMUGGLED.length}\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${SMUGGLED}`, status: 400, smuggling: true},
  // By the first Content-Length, a second request; by the second, one.
  {name: 'two Content-Lengths that differ', bytes: `POST /two-cl HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: ${SMUGGLED.length}\r\n\r\n${SMUGGLED}`, status: 400, smuggling: true},
  // Unfolded, the Content-Length is part of X-Fold's value (no body: a second request); as a line of its own, one.
  {name: 'an obs-fold carrying a Content-Length', bytes: `POST /fold HTTP/1.1\r\nHost: x\r\nX-Fold: a\r\n Content-Length: ${SMUGGLED.length}\r\n\r\n${SMUGGLED}`, status: 400, smuggling: true},
  // Lines ending in CRLF only, the Content-Length is part of Host's value (a second request); split at the bare LF, one.
  {name: 'a bare LF before a Content-Length', bytes: `POST /bare-lf HTTP/1.1\r\nHost: x\nContent-Length: ${SMUGGLED.length}\r\n\r\n${SMUGGLED}`, status: 400, smuggling: true},
]
