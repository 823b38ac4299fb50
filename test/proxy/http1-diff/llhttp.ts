// The oracle of the differential tests: llhttp, the parser of Node's own HTTP server and client,
// driven directly through Node's HTTPParser binding (`_http_common`, the object node:http itself
// uses) in its default, strict mode (no lenient flag: what `http.createServer()` without
// `insecureHTTPParser` runs) and with the proxy's header size limit. Direct, because a
// differential run needs hundreds of thousands of verdicts: a socket per case to a real
// node:http server costs ~1 ms, the binding ~10 µs. http1-differential.test.ts checks on a
// sample that the binding's verdict is the real server's (same accept/refuse, same messages).
import {METHODS} from 'node:http'
import {createRequire} from 'node:module'

interface ParserBinding {
  new(): ParserInstance
  REQUEST: number
  RESPONSE: number
  kOnHeaders: number
  kOnHeadersComplete: number
  kOnBody: number
  kOnMessageComplete: number
  kLenientNone: number
}

interface ParserInstance {
  initialize(type: number, resource: object, maxHeaderSize: number, lenient: number): void
  execute(b: Buffer): number | (Error & {code?: string, bytesParsed?: number})
  finish(): number | (Error & {code?: string})
  close(): void
  [k: number]: unknown
}

const {HTTPParser} = createRequire(import.meta.url)('_http_common') as {HTTPParser: ParserBinding}
/**
 * llhttp's method numbers -> names, for the methods it parses in HTTP mode (node:http's METHODS;
 * a request with any other method never completes). Node's own parserOnHeadersComplete reads the
 * binding's `allMethods`, which `_http_common` does not export and Node 24 no longer lets
 * `process.binding` reach: so each method's number is read from the parser itself, by parsing
 * one request with it.
 */
const methods = ((): string[] => {
  const table: string[] = []
  for (const name of METHODS) {
    const p = new HTTPParser()
    p.initialize(HTTPParser.REQUEST, {}, 8192, HTTPParser.kLenientNone)
    p[HTTPParser.kOnHeadersComplete] = (_major: number, _minor: number, _headers: unknown, method: number) => {
      table[method] = name
      return 0
    }
    p.execute(Buffer.from(`${name} ${name === 'CONNECT' ? 'example.com:443' : '/'} HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n`))
    p.close()
    if (!table.includes(name)) throw new Error(`llhttp did not parse a ${name} request: the method table is incomplete`)
  }
  return table
})()

export interface Message {
  method?: string
  url?: string
  status?: number
  reason?: string
  versionMinor: number
  rawHeaders: string[]
  /** Body payload (chunk framing removed). */
  body: Buffer
  upgrade: boolean
  keepAlive: boolean
  /** Trailer fields (name, value, ...). */
  trailers: string[]
}

export interface Verdict {
  /** Messages completed, in order. */
  messages: Message[]
  /** llhttp's error code (HPE_...), if it refused the bytes. */
  error?: string
  /** A message had begun and was not complete when the bytes ran out. */
  partial: boolean
}

export interface ParseOptions {
  type: 'request' | 'response'
  maxHeaderSize: number
  /** Responses: the methods of the requests they answer, in order (a HEAD's response has no body). */
  requestMethods?: string[]
  /** Responses: the connection ends after the bytes (ends a body read until close). */
  eof?: boolean
}

/** What llhttp makes of `bytes`: the messages it completed, and its error if it refused them. */
export function llhttpParse(bytes: Buffer, o: ParseOptions): Verdict {
  const p = new HTTPParser()
  p.initialize(o.type === 'request' ? HTTPParser.REQUEST : HTTPParser.RESPONSE, {}, o.maxHeaderSize, HTTPParser.kLenientNone)
  const messages: Message[] = []
  let pendingHeaders: string[] = []
  let pendingUrl = ''
  let current: Message | undefined
  p[HTTPParser.kOnHeaders] = (headers: string[], url: string) => {
    pendingHeaders.push(...headers)
    pendingUrl += url
  }
  p[HTTPParser.kOnHeadersComplete] = (_major: number, minor: number, headers: string[] | undefined, method: number | undefined, url: string | undefined, status: number | undefined, reason: string | undefined, upgrade: boolean, keepAlive: boolean) => {
    const raw = headers ?? pendingHeaders
    const u = url ?? pendingUrl
    pendingHeaders = []
    pendingUrl = ''
    current = {versionMinor: minor, rawHeaders: raw, body: Buffer.alloc(0), upgrade, keepAlive, trailers: []}
    if (o.type === 'request') {
      current.method = methods[method!]
      current.url = u
      return 0
    }
    current.status = status
    current.reason = reason
    // As Node's client: a HEAD's response has no body (1: skip it); a 1xx is not the answer.
    const m = status !== undefined && status >= 200 ? o.requestMethods?.[messages.filter((x) => (x.status ?? 0) >= 200).length] : undefined
    return m === 'HEAD' ? 1 : 0
  }
  p[HTTPParser.kOnBody] = (b: Buffer) => {
    if (current) current.body = Buffer.concat([current.body, b])
  }
  p[HTTPParser.kOnMessageComplete] = () => {
    if (!current) return
    if (pendingHeaders.length > 0) {
      current.trailers = pendingHeaders
      pendingHeaders = []
    }
    // (as Node's parserOnMessageComplete: a flush of trailers carried the target along)
    pendingUrl = ''
    messages.push(current)
    current = undefined
  }
  let error: string | undefined
  const r = p.execute(bytes)
  if (typeof r !== 'number') error = r.code ?? 'error'
  else if (o.eof) {
    const f = p.finish()
    if (typeof f !== 'number' && f !== undefined) error = (f as {code?: string}).code ?? 'error'
  }
  const partial = current !== undefined
  p.close()
  return {messages, error, partial}
}
