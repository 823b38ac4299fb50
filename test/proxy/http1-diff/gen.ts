// Generators of HTTP/1 byte streams for the differential tests (fast-check arbitraries): valid
// requests and responses (pipelined, both body framings, chunk extensions, trailers), near-valid
// ones (one field, token, number or line ending wrong), and hostile byte-level mutations of valid
// streams. Each case also says where a socket would cut the stream into reads.
import fc from 'fast-check'

const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'HEAD', 'OPTIONS', 'PATCH', 'TRACE', 'PROPFIND', 'M-SEARCH', 'PURGE', 'QUERY', 'SOURCE', 'LINK']
const ODD_METHODS = ['get', 'Post', 'PRI', 'FOO', 'GETT', 'G', 'CONNECT', 'M-SEARCHX', 'HEAD ', '', 'GE\tT', 'DELETE\x00']

const pick = <T>(xs: readonly T[]): fc.Arbitrary<T> => fc.constantFrom(...xs)
/** Mostly `usual`, sometimes `odd`. */
const mostly = <T>(usual: fc.Arbitrary<T>, odd: fc.Arbitrary<T>, oddWeight = 1): fc.Arbitrary<T> => fc.oneof({arbitrary: usual, weight: 8}, {arbitrary: odd, weight: oddWeight})

const TCHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
const token = fc.string({unit: pick([...TCHARS]), minLength: 1, maxLength: 12})
const oddToken = fc.string({unit: pick([...TCHARS, ' ', '\t', ':', '"', '(', '@', '\x7f', '\x00', '\x80', 'é', '\r', '\n', ',', ';', '=', '/']), minLength: 0, maxLength: 10})

const PATH_CHARS = [...'abcz019/-._~%?=&+!$\'()*,;:@', '"', '<', '>', '{', '}', '|', '\\', '^', '`', '#', '[', ']']
const path = fc.string({unit: pick(PATH_CHARS), maxLength: 20}).map((s) => '/' + s)
const oddTarget = fc.oneof(
  fc.string({unit: pick([...PATH_CHARS, ' ', '\t', '\x00', '\x7f', '\x80', '\xff', '\r']), maxLength: 12}).map((s) => '/' + s),
  pick(['*', 'http://web.local/x', 'web.local:80', 'x', '', '//a', 'HTTP://a/b', '/a b']),
)
const version = mostly(fc.constant('HTTP/1.1'), pick(['HTTP/1.0', 'HTTP/2.0', 'http/1.1', 'HTTP/1.11', 'HTTP/1', 'HTTP/1.1 ', 'HTTP/0.9', 'HTTP/1.2', 'HTTP /1.1']), 1)

const valueChars = [...'abcXYZ019 -_./:;,=()"\'*?@!#$%&+~`^|\\[]{}<>', '\t']
const value = fc.string({unit: pick(valueChars), maxLength: 24})
const oddValue = fc.string({unit: pick([...valueChars, '\x00', '\x01', '\x7f', '\x80', '\xff', '\r', '\n', '\r\n ', '\r\n\t', '\v', '\f']), maxLength: 16})
const ows = mostly(fc.constant(' '), pick(['', '  ', '\t', ' \t', '\t ']), 2)

/** One header field line (without CRLF): name, colon, OWS, value, OWS. */
const field = (name: fc.Arbitrary<string>, v: fc.Arbitrary<string>): fc.Arbitrary<string> =>
  fc.tuple(name, ows, v, mostly(fc.constant(''), pick([' ', '\t', '  ']), 1)).map(([n, w, val, tail]) => `${n}:${w}${val}${tail}`)

const KNOWN = ['Accept', 'User-Agent', 'X-Request-Id', 'Cookie', 'Authorization', 'Accept-Encoding', 'Cache-Control', 'Via', 'Forwarded']
const otherField = mostly(field(mostly(pick(KNOWN), token, 2), mostly(value, oddValue, 1)), fc.oneof(
  field(oddToken, value),
  // (obs-fold, a line without a colon, a space before the colon)
  fc.tuple(token, value).map(([n, v]) => `${n}: ${v}\r\n ${v}`),
  token.map((n) => n),
  fc.tuple(token, value).map(([n, v]) => `${n} : ${v}`),
), 1)

const LINE_ENDS = ['\r\n', '\n', '\r', '\r\r\n', '\n\r']
const eol = mostly(fc.constant('\r\n'), pick(LINE_ENDS), 1)

/** Content-Length values: digits mostly, then everything an attacker tries. */
const contentLength = (n: number): fc.Arbitrary<string> => mostly(fc.constant(String(n)), pick([`0${n}`, `00${n}`, `+${n}`, `-${n}`, ` ${n}`, `${n} `, `${n}, ${n}`, `${n},${n + 1}`, `0x${n.toString(16)}`, `${n}.0`, `${n}a`, '', '99999999999999999999', `${n} ${n}`]), 1)

const CHUNKED_TE = ['chunked', 'Chunked', 'CHUNKED', 'gzip, chunked', 'chunked, gzip', 'chunked, chunked', 'identity, chunked', ' chunked', 'chunked ', 'chunked;q=1', 'xchunked', 'chunk', 'gzip', 'chunked\t', 'identity']
const teValue = mostly(fc.constant('chunked'), pick(CHUNKED_TE), 2)

const EXTENSIONS = ['', '', '', ';a', ';a=b', ';a="q"', ';a="q;\\"x"', ';a=b;c', ';a=b;c=d', ';', ';a=', ' ', ';a =b', '; a=b', ';a= b', ' ;a', '\t', ';a="', ';=b', ';a=b c', ';\x00', ';a="\x7f"', ';a=\x80']
const SIZE_STYLE = ['lower', 'upper', 'zeros']

/** A chunked body encoding `data`, with the variations servers meet. */
const chunkedBody = (data: string): fc.Arbitrary<string> => fc.tuple(
  fc.array(fc.integer({min: 1, max: 9}), {minLength: 0, maxLength: 4}),
  fc.array(mostly(fc.constant(''), pick(EXTENSIONS), 1), {minLength: 6, maxLength: 6}),
  pick(SIZE_STYLE),
  fc.array(mostly(field(mostly(pick(['X-Trailer', 'Grpc-Status', 'Expires']), token, 1), value), fc.oneof(field(oddToken, value), token, fc.constant(' folded'), fc.constant('X: a\rb')), 1), {maxLength: 2}),
  fc.array(eol, {minLength: 4, maxLength: 4}),
  mostly(fc.constant(0), fc.integer({min: -2, max: 2}), 1),
).map(([cuts, exts, style, trailers, eols, sizeSkew]) => {
  const pieces: string[] = []
  let rest = data
  for (const c of cuts) {
    if (rest.length === 0) break
    pieces.push(rest.slice(0, c))
    rest = rest.slice(c)
  }
  if (rest.length > 0) pieces.push(rest)
  const size = (n: number): string => style === 'upper' ? n.toString(16).toUpperCase() : style === 'zeros' ? '00' + n.toString(16) : n.toString(16)
  let out = ''
  pieces.forEach((p, i) => {
    out += `${size(Math.max(0, p.length + (i === 0 ? sizeSkew : 0)))}${exts[i % 6]}${eols[0]}${p}${i === 0 ? eols[1] : '\r\n'}`
  })
  out += `0${exts[5]}${eols[2]}`
  for (const t of trailers) out += `${t}\r\n`
  return out + eols[3]
})

/** Body payloads: short, with the bytes that matter to parsers. */
const payload = fc.string({unit: pick([...'abc0\r\n: ;', '\x00', '\xff']), maxLength: 30})

export interface Case {
  bytes: Buffer
  /** Offsets where reads split the stream. */
  cuts: number[]
  /** Responses: the request methods they answer; whether the connection ends after them. */
  methods: string[]
  eof: boolean
}

const cutsFor = (len: number): fc.Arbitrary<number[]> => fc.array(fc.integer({min: 1, max: Math.max(1, len)}), {maxLength: 6}).map((xs) => [...new Set(xs)].sort((a, b) => a - b))

/** One request: request line, fields (Host, framing), body. */
const request: fc.Arbitrary<string> = fc.record({
  method: mostly(pick(METHODS), pick(ODD_METHODS), 1),
  target: mostly(path, oddTarget, 1),
  sp1: mostly(fc.constant(' '), pick(['  ', '\t', '']), 1),
  sp2: mostly(fc.constant(' '), pick(['  ', '\t', '']), 1),
  version,
  host: mostly(fc.constant('Host: web.local'), pick(['', 'Host: web.local\r\nHost: other', 'Host:', 'host: WEB.local:80', 'Host: a, b', 'Host : web.local', 'Host: web.local\x00']), 1),
  fields: fc.array(otherField, {maxLength: 4}),
  connection: mostly(fc.constant(''), pick(['Connection: keep-alive', 'Connection: close', 'Connection: content-length', 'Connection: Upgrade', 'Upgrade: websocket', 'Expect: 100-continue', 'Connection: keep-alive, close']), 1),
  framing: fc.oneof(fc.constant('none'), fc.constant('length'), fc.constant('chunked'), fc.constant('both')),
  body: payload,
  eols: fc.array(eol, {minLength: 2, maxLength: 2}),
}).chain((r) => {
  const lines = [r.host, ...r.fields, r.connection].filter((l) => l !== '')
  const start = `${r.method}${r.sp1}${r.target}${r.sp2}${r.version}${r.eols[0]}`
  const te = r.framing === 'chunked' || r.framing === 'both' ? teValue.map((v) => [`Transfer-Encoding: ${v}`]) : fc.constant([] as string[])
  const cl = r.framing === 'length' || r.framing === 'both' ? contentLength(r.body.length).map((v) => [`Content-Length: ${v}`]) : fc.constant([] as string[])
  const body = r.framing === 'chunked' || r.framing === 'both' ? chunkedBody(r.body) : fc.constant(r.framing === 'length' ? r.body : '')
  return fc.tuple(te, cl, body, fc.boolean()).map(([t, c, b, teFirst]) => {
    const framing = teFirst ? [...t, ...c] : [...c, ...t]
    return start + [...lines, ...framing].map((l) => l + '\r\n').join('') + r.eols[1] + b
  })
})

const STATUS = ['200 OK', '204 No Content', '304 Not Modified', '404 Not Found', '500 Internal Server Error', '100 Continue', '103 Early Hints', '201 Created', '200 ', '200', '503 Service Unavailable']
const ODD_STATUS = ['20 OK', '2000 OK', '200OK', 'abc OK', '999 X', '200 O\x00K', '200 \x7f', '101 Switching Protocols', '000 Zero', '200 \tOK', '-200 X']

/** One response: status line, fields, body. */
const response: fc.Arbitrary<string> = fc.record({
  version: mostly(pick(['HTTP/1.1', 'HTTP/1.0']), pick(['HTTP/2.0', 'http/1.1', 'HTTP/1.2', 'HTTP/1.10', 'HTTP/1']), 1),
  status: mostly(pick(STATUS), pick(ODD_STATUS), 1),
  fields: fc.array(otherField, {maxLength: 4}),
  connection: mostly(fc.constant(''), pick(['Connection: keep-alive', 'Connection: close', 'Connection: content-length', 'Keep-Alive: timeout=5']), 1),
  framing: fc.oneof(fc.constant('none'), fc.constant('length'), fc.constant('chunked'), fc.constant('both')),
  body: payload,
  eols: fc.array(eol, {minLength: 2, maxLength: 2}),
}).chain((r) => {
  const start = `${r.version} ${r.status}${r.eols[0]}`
  const te = r.framing === 'chunked' || r.framing === 'both' ? teValue.map((v) => [`Transfer-Encoding: ${v}`]) : fc.constant([] as string[])
  const cl = r.framing === 'length' || r.framing === 'both' ? contentLength(r.body.length).map((v) => [`Content-Length: ${v}`]) : fc.constant([] as string[])
  const body = r.framing === 'chunked' || r.framing === 'both' ? chunkedBody(r.body) : fc.constant(r.framing === 'length' ? r.body : r.framing === 'none' ? '' : '')
  return fc.tuple(te, cl, body).map(([t, c, b]) => start + [...r.fields, r.connection, ...t, ...c].filter((l) => l !== '').map((l) => l + '\r\n').join('') + r.eols[1] + b)
})

const INTERESTING = [0x20, 0x09, 0x0d, 0x0a, 0x3a, 0x3b, 0x3d, 0x22, 0x00, 0x7f, 0x80, 0xff, 0x61, 0x30, 0x2c, 0x2f, 0x48]

/** Byte-level mutations of a valid stream: replace, insert, delete, duplicate a range. */
const mutate = (s: string): fc.Arbitrary<string> => fc.array(fc.tuple(fc.nat(), pick(['replace', 'insert', 'delete', 'dup']), pick(INTERESTING)), {minLength: 1, maxLength: 3}).map((ops) => {
  let out = s
  for (const [at, op, byte] of ops) {
    const i = out.length === 0 ? 0 : at % out.length
    const ch = String.fromCharCode(byte)
    if (op === 'replace') out = out.slice(0, i) + ch + out.slice(i + 1)
    else if (op === 'insert') out = out.slice(0, i) + ch + out.slice(i)
    else if (op === 'delete') out = out.slice(0, i) + out.slice(i + 1)
    else out = out.slice(0, i) + out.slice(i, i + 4) + out.slice(i)
  }
  return out
})

const toCase = (text: string, methods: string[] = [], eof = false): fc.Arbitrary<Case> => {
  const bytes = Buffer.from(text, 'latin1')
  return cutsFor(bytes.length).map((cuts) => ({bytes, cuts, methods, eof}))
}

/** Request streams: 1-3 pipelined requests; `hostile` mutates them byte by byte. */
export function requestStreams(hostile: boolean): fc.Arbitrary<Case> {
  const stream = fc.array(request, {minLength: 1, maxLength: 3}).map((rs) => rs.join(''))
  return (hostile ? stream.chain(mutate) : stream).chain((t) => toCase(t))
}

/** Response streams: 1-3 responses on one connection, the requests' methods, whether the upstream closes after them. */
export function responseStreams(hostile: boolean): fc.Arbitrary<Case> {
  return fc.tuple(fc.array(response, {minLength: 1, maxLength: 3}), fc.array(mostly(fc.constant('GET'), pick(['HEAD', 'POST']), 1), {minLength: 3, maxLength: 3}), fc.boolean())
    .chain(([rs, methods, eof]) => (hostile ? mutate(rs.join('')) : fc.constant(rs.join(''))).chain((t) => toCase(t, methods, eof)))
}
