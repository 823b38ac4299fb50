// The drain's grace for a fresh HTTP/1 connection, one for both codecs (server.ts closeIdleHttp1,
// raw/drain.ts): a connection that has not carried a request yet may have one on the wire, and
// closing it would reset that request; a drain closes it only once it is older than this.
export const FRESH_MS = 2000
