// The raw codec's head parser (src/proxy/http/http1/raw/head.ts): what it accepts it parses as
// Node's own parser (llhttp) does; what it refuses (null) goes to Node's server (requests) or is
// answered 502 (responses). Strict on purpose: anything odd is left to llhttp.
import {once} from 'node:events'
import http from 'node:http'
import net from 'node:net'
import fc from 'fast-check'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {forwardHeaders} from '../../src/proxy/http/http1/headers.js'
import {headEnd, parseRequestHead, parseResponseHead, serializeHead} from '../../src/proxy/http/http1/raw/head.js'
import {contentLength} from '../../src/proxy/http/http1/raw/framing.js'
import {clientResponseHead, upstreamRequestHead} from '../../src/proxy/http/http1/raw/reply.js'

const req = (s: string, max = 100): ReturnType<typeof parseRequestHead> => {
  const b = Buffer.from(s, 'latin1')
  return parseRequestHead(b, headEnd(b), max)
}
const res = (s: string, max = 100): ReturnType<typeof parseResponseHead> => {
  const b = Buffer.from(s, 'latin1')
  return parseResponseHead(b, headEnd(b), max)
}

describe('parseRequestHead', () => {
  it('parses method, path, fields in order with case kept, and trims only SP and HTAB', () => {
    const h = req('GET /a/b?c=d HTTP/1.1\r\nHost: web.local\r\nX-Thing: \t spaced out \t\r\nx-empty:\r\nAccept: a\r\naccept: b\r\nSet-Cookie: 1\r\nset-cookie: 2\r\nX-Nbsp: v\xa0\r\n\r\nBODY')
    expect(h).not.toBeNull()
    expect(h!.method).toBe('GET')
    expect(h!.path).toBe('/a/b?c=d')
    expect(h!.raw).toEqual(['Host', 'web.local', 'X-Thing', 'spaced out', 'x-empty', '', 'Accept', 'a', 'accept', 'b', 'Set-Cookie', '1', 'set-cookie', '2', 'X-Nbsp', 'v\xa0'])
    expect(h!.headers).toEqual({'host': 'web.local', 'x-thing': 'spaced out', 'x-empty': '', 'accept': 'a, b', 'set-cookie': ['1', '2'], 'x-nbsp': 'v\xa0'})
  })

  it('counts the head bytes up to and with the blank line', () => {
    const s = 'GET / HTTP/1.1\r\nHost: a\r\n\r\n'
    expect(req(s + 'next')!.size).toBe(s.length)
    expect(req('GET / HTTP/1.1\r\n\r\n')!.raw).toEqual([])
  })

  it.each([
    ['absolute-form', 'GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n'],
    ['asterisk-form', 'OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n'],
    ['HTTP/1.0', 'GET / HTTP/1.0\r\nHost: a\r\n\r\n'],
    ['HTTP/2 in a request line', 'GET / HTTP/2.0\r\nHost: a\r\n\r\n'],
    ['two spaces', 'GET  / HTTP/1.1\r\nHost: a\r\n\r\n'],
    ['a space in the target', 'GET /a b HTTP/1.1\r\nHost: a\r\n\r\n'],
    ['trailing text', 'GET / HTTP/1.1 x\r\nHost: a\r\n\r\n'],
    ['a bad method', 'G(T / HTTP/1.1\r\nHost: a\r\n\r\n'],
    ['a control in the target', 'GET /a\x01 HTTP/1.1\r\nHost: a\r\n\r\n'],
    ['a bare LF in the request line', 'GET /a\nb HTTP/1.1\r\nHost: a\r\n\r\n'],
    ['a bare LF between fields', 'GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n'],
    ['a bare CR in a value', 'GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n'],
    ['obs-fold', 'GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n'],
    ['space before the colon', 'GET / HTTP/1.1\r\nHost : a\r\n\r\n'],
    ['no colon', 'GET / HTTP/1.1\r\nHost a\r\n\r\n'],
    ['an empty name', 'GET / HTTP/1.1\r\n: a\r\n\r\n'],
    ['a non-token name', 'GET / HTTP/1.1\r\nHo\xe9st: a\r\n\r\n'],
    ['DEL in a value', 'GET / HTTP/1.1\r\nHost: a\x7f\r\n\r\n'],
    ['NUL in a value', 'GET / HTTP/1.1\r\nHost: a\x00\r\n\r\n'],
    ['a leading empty line', '\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n'],
  ])('refuses %s', (_what, s) => {
    expect(req(s)).toBeNull()
  })

  it('refuses more fields than the limit, and takes exactly the limit', () => {
    const head = (n: number): string => 'GET / HTTP/1.1\r\n' + Array.from({length: n}, (_, i) => `X-${i}: v\r\n`).join('') + '\r\n'
    expect(req(head(5), 5)).not.toBeNull()
    expect(req(head(6), 5)).toBeNull()
  })
})

describe('parseResponseHead', () => {
  it('parses status, reason and version', () => {
    expect(res('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok')).toMatchObject({status: 200, reason: 'OK', http10: false, raw: ['Content-Length', '2'], headers: {'content-length': '2'}})
    expect(res('HTTP/1.0 404 Not  Found\r\n\r\n')).toMatchObject({status: 404, reason: 'Not  Found', http10: true})
    expect(res('HTTP/1.1 204\r\n\r\n')).toMatchObject({status: 204, reason: ''})
    expect(res('HTTP/1.1 503 \r\n\r\n')).toMatchObject({status: 503, reason: ''})
    expect(res('HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n')).toMatchObject({status: 103, headers: {link: '</a>'}})
  })

  it.each([
    ['HTTP/2', 'HTTP/2.0 200 OK\r\n\r\n'],
    ['HTTP/1.2', 'HTTP/1.2 200 OK\r\n\r\n'],
    ['a two-digit status', 'HTTP/1.1 20 OK\r\n\r\n'],
    ['a four-digit status', 'HTTP/1.1 2000 OK\r\n\r\n'],
    ['a letter in the status', 'HTTP/1.1 2x0 OK\r\n\r\n'],
    ['no space after the version', 'HTTP/1.1200 OK\r\n\r\n'],
    ['a control in the reason', 'HTTP/1.1 200 O\x01K\r\n\r\n'],
    ['a bare LF in the reason', 'HTTP/1.1 200 O\nK\r\n\r\n'],
    ['lowercase http', 'http/1.1 200 OK\r\n\r\n'],
    ['a malformed field', 'HTTP/1.1 200 OK\r\nContent-Length 2\r\n\r\n'],
  ])('refuses %s', (_what, s) => {
    expect(res(s)).toBeNull()
  })

  // A response head keeps only the fields the codec reads as it is parsed (`known`); the others
  // are checked, left in the text, and made into `raw` and `headers` when asked for. Whatever the
  // fields, that must read exactly as the complete parse (a request head's) of the same lines.
  it('keeps the fields the codec reads, and makes the rest on demand exactly as a complete parse does (requests and responses)', () => {
    const CODEC = ['content-length', 'transfer-encoding', 'connection', 'keep-alive', 'host', 'expect', 'te', 'trailer', 'upgrade', 'proxy-connection', 'proxy-authorization', 'mesh-retryable']
    const names = fc.oneof(
      fc.constantFrom(...CODEC, 'content-type', 'date', 'set-cookie', 'link', 'x-a', 'contentlength', 'hostx', 'Hos', 'x-content-length'),
      fc.stringMatching(/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,24}$/),
    ).chain((n) => fc.constantFrom(n, n.toUpperCase(), n[0]!.toUpperCase() + n.slice(1)))
    const values = fc.stringMatching(/^[ \t]{0,2}[!-~\x80-\xff]{0,3}(?:[ \t][!-~\x80-\xff]{1,3}){0,2}[ \t]{0,2}$/)
    fc.assert(fc.property(fc.array(fc.tuple(names, values), {maxLength: 12}), (fields) => {
      const lines = fields.map(([n, v]) => `${n}:${v}\r\n`).join('')
      // (start lines of one length: `hop` holds offsets)
      const request = req(`GET /x HTTP/1.1\r\n${lines}\r\n`, 50)
      const response = res(`HTTP/1.1 200 OK\r\n${lines}\r\n`, 50)
      expect(response === null).toBe(request === null)
      // (the one refusal these fields can bring: a tab around Content-Length or Transfer-Encoding, as llhttp)
      const tabbed = fields.some(([n, v]) => /^(content-length|transfer-encoding)$/i.test(n) && /^\t|\t$|^ *\t|\t *$/.test(v))
      expect(request === null).toBe(tabbed)
      if (request === null || response === null) return
      // The complete parse, written out: every field, names lower-cased, values trimmed of SP and HTAB, repeats joined with ', ', set-cookie an array.
      const raw = fields.flatMap(([n, v]) => [n, v.replace(/^[ \t]+|[ \t]+$/g, '')])
      const all: Record<string, string | string[]> = {}
      for (let i = 0; i < raw.length; i += 2) {
        const name = raw[i]!.toLowerCase()
        const prev = all[name]
        all[name] = prev === undefined ? (name === 'set-cookie' ? [raw[i + 1]!] : raw[i + 1]!) : Array.isArray(prev) ? [...prev, raw[i + 1]!] : `${prev}, ${raw[i + 1]!}`
      }
      const known = Object.fromEntries(Object.entries(all).filter(([n]) => CODEC.includes(n)))
      for (const head of [request, response]) {
        expect({...head.known}).toEqual(known)
        expect(head.raw).toEqual(raw)
        expect({...head.headers}).toEqual(all)
      }
      expect(response.hop).toEqual(request.hop)
    }), {numRuns: 3000})
  })
})

describe('against Node\'s parser', () => {
  let server: http.Server
  let port = 0
  const seen: {method?: string, url?: string, rawHeaders: string[]}[] = []
  beforeAll(async () => {
    server = http.createServer((q, s) => {
      seen.push({method: q.method, url: q.url, rawHeaders: q.rawHeaders})
      s.end()
    })
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    port = (server.address() as net.AddressInfo).port
  })
  afterAll(() => server.close())

  it.each([
    'GET /x HTTP/1.1\r\nHost: a\r\nX-A:  v  \r\nX-B:\tw\t\r\n\r\n',
    'POST /p?q=1 HTTP/1.1\r\nhost: a\r\nContent-Length: 0\r\nX-Dup: 1\r\nX-Dup: 2\r\n\r\n',
    'DELETE /d HTTP/1.1\r\nHost: a\r\nX-Latin: caf\xe9\r\nX-Empty:\r\n\r\n',
  ])('reads %j as llhttp does', async (s) => {
    const before = seen.length
    const c = net.connect(port, '127.0.0.1')
    c.end(Buffer.from(s, 'latin1'))
    c.resume()
    await once(c, 'close')
    expect(seen.length).toBe(before + 1)
    const node = seen[before]
    const ours = req(s)!
    expect({method: ours.method, url: ours.path, rawHeaders: ours.raw}).toEqual(node)
  })
})

describe('forwarded heads (hop-by-hop fields cut from the bytes as they came)', () => {
  /** What the general path makes: forwardHeaders, then serializeHead. */
  const general = (start: string, raw: string[], connection: string | undefined, keepTrailer: boolean, te?: string, extra = ''): string => {
    const fields = forwardHeaders(raw, connection, {keepTrailer})
    const out = fields === raw ? [...raw] : fields
    if (te !== undefined) out.push('Transfer-Encoding', te)
    return serializeHead(start, out, extra).toString('latin1')
  }
  /** Field lines as a sorted multiset (the cut keeps Transfer-Encoding where it was). */
  const lines = (head: string): string[] => head.split('\r\n').slice(1).filter((l) => l !== '').sort()

  it.each([
    ['Connection: keep-alive (Node clients)', 'GET /a HTTP/1.1\r\nHost: web\r\nConnection: keep-alive\r\nAccept: */*\r\n\r\n'],
    ['Connection: close', 'GET /a HTTP/1.1\r\nHost: web\r\nconnection: Close\r\n\r\n'],
    ['every hop-by-hop field', 'GET /a HTTP/1.1\r\nTE: trailers\r\nHost: web\r\nKeep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\nProxy-Authorization: Basic eA==\r\nmesh-retryable: true\r\nX-Last: 1\r\n\r\n'],
    ['chunked with a Trailer', 'POST /p HTTP/1.1\r\nHost: web\r\nTrailer: x-sum\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n'],
    ['nothing to cut', 'GET /a HTTP/1.1\r\nHost: web\r\nAccept: */*\r\n\r\n'],
  ])('request with %s: the same fields as the general path', (_what, s) => {
    const b = Buffer.from(s + 'BODY', 'latin1')
    const h = req(s + 'BODY')!
    const chunked = h.headers['transfer-encoding'] !== undefined
    const out = upstreamRequestHead(b, h, chunked).toString('latin1')
    expect(out.startsWith(`${h.method} ${h.path} HTTP/1.1\r\n`)).toBe(true)
    expect(out.endsWith('\r\n\r\n')).toBe(true)
    expect(lines(out)).toEqual(lines(general(`${h.method} ${h.path} HTTP/1.1`, h.raw, h.headers.connection as string | undefined, chunked, chunked ? 'chunked' : undefined)))
    // Parsed again, it is a valid head with no hop-by-hop field left (but the chunked framing).
    const again = req(out)!
    expect(Object.keys(again.headers).filter((n) => ['connection', 'keep-alive', 'proxy-connection', 'te', 'proxy-authorization', 'mesh-retryable'].includes(n))).toEqual([])
  })

  it('leaves what only the general path knows to it: a Connection naming fields, a repeated Host', () => {
    for (const s of ['GET /a HTTP/1.1\r\nHost: web\r\nConnection: x-secret\r\nX-Secret: 1\r\n\r\n', 'HTTP/1.1 200 OK\r\nHost: a\r\nHost: b\r\n\r\n']) {
      const b = Buffer.from(s, 'latin1')
      const isReq = s.startsWith('GET')
      const h = isReq ? req(s)! : res(s)!
      const out = (isReq ? upstreamRequestHead(b, h as ReturnType<typeof req> & object, false) : clientResponseHead(b, h as ReturnType<typeof res> & object, undefined, false)).toString('latin1')
      expect(lines(out)).not.toContain('X-Secret: 1')
      expect(lines(out).filter((l) => /^host:/i.test(l)).length).toBe(1)
    }
  })

  it.each([
    ['a Node server\'s keep-alive fields', 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nContent-Length: 2\r\n\r\n', undefined, false],
    ['close asked', 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\n', undefined, true],
    ['chunked, kept', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nTrailer: x-sum\r\nConnection: keep-alive\r\n\r\n', 'gzip, chunked', false],
    ['a coding that is not chunked (read until close)', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nConnection: close\r\n\r\n', undefined, true],
  ])('response with %s: the same fields as the general path', (_what, s, te, close) => {
    const b = Buffer.from(s + 'ok', 'latin1')
    const h = res(s + 'ok')!
    const out = clientResponseHead(b, h, te, close).toString('latin1')
    expect(out.startsWith('HTTP/1.1 200 OK\r\n')).toBe(true)
    expect(out.endsWith('\r\n\r\n')).toBe(true)
    expect(lines(out)).toEqual(lines(general('HTTP/1.1 200 OK', h.raw, h.headers.connection as string | undefined, te !== undefined, te, close ? 'Connection: close\r\n' : '')))
  })
})

describe('a response head cut in place (clientResponseHead without Connection: close)', () => {
  const field = fc.oneof(
    fc.constantFrom('Connection: keep-alive', 'connection: Keep-Alive', 'Connection: close', 'Keep-Alive: timeout=5', 'Proxy-Connection: keep-alive', 'TE: trailers',
      'Trailer: x-sum', 'mesh-retryable: true', 'Upgrade: h2c', 'Content-Type: text/plain', 'Content-Length: 2', 'Date: Mon, 07 Dec 2026 09:00:00 GMT'),
    fc.tuple(fc.stringMatching(/^x-[a-z0-9-]{1,12}$/), fc.stringMatching(/^[ -~]{0,30}$/)).map(([n, v]) => `${n}: ${v.trim()}`),
  )
  it('on generated heads: the lines the general path keeps, in their order, ending where the head ended, the body after it untouched', () => {
    fc.assert(fc.property(fc.array(field, {maxLength: 12}), fc.option(fc.nat()), fc.uint8Array({maxLength: 64}), (given, tePlace, body) => {
      // (a chunked body keeps its Transfer-Encoding line, where it was: the framing planResponse gives)
      const chunked = tePlace !== null
      const lines = chunked ? given.toSpliced(tePlace % (given.length + 1), 0, 'Transfer-Encoding: chunked') : given
      const s = `HTTP/1.1 200 OK\r\n${lines.map((l) => `${l}\r\n`).join('')}\r\n`
      const b = Buffer.concat([Buffer.from(s, 'latin1'), body])
      const h = res(s)
      fc.pre(h !== null)
      const te = chunked ? 'chunked' : undefined
      const general = (() => {
        const fields = forwardHeaders(h!.raw, h!.headers.connection as string | undefined, {keepTrailer: chunked})
        const out = fields === h!.raw ? [...h!.raw] : fields
        if (te !== undefined) out.push('Transfer-Encoding', te)
        return serializeHead('HTTP/1.1 200 OK', out).toString('latin1')
      })()
      const out = clientResponseHead(b, h!, te, false)
      // a view of b that ends where the head ended: the body bytes follow it as they came
      expect(out.buffer).toBe(b.buffer)
      expect(out.byteOffset + out.length).toBe(b.byteOffset + h!.size)
      expect(b.subarray(h!.size)).toEqual(Buffer.from(body))
      const text = out.toString('latin1')
      const sorted = (head: string): string[] => head.split('\r\n').slice(1).filter((l) => l !== '').sort()
      expect(sorted(text)).toEqual(sorted(general))
      // in the order they came: the head's own lines, less the ones cut
      const kept = text.split('\r\n').slice(1).filter((l) => l !== '')
      expect(kept).toEqual(lines.filter((l) => kept.includes(l)))
      expect(text.startsWith('HTTP/1.1 200 OK\r\n') && text.endsWith('\r\n\r\n')).toBe(true)
    }), {numRuns: 3000})
  })
})

describe('contentLength (framing.ts)', () => {
  it('reads 1 to 15 digits and nothing else, as the pattern llhttp is held to', () => {
    const byPattern = (v: string): number => (/^\d{1,15}$/.test(v) ? Number(v) : -1)
    for (const v of ['', '0', '00', '7', '1024', '999999999999999', '1000000000000000', '1,2', ' 1', '1 ', '+1', '-1', '1e3', '0x10', '١']) {
      expect(contentLength(v)).toBe(byPattern(v))
    }
    fc.assert(fc.property(fc.stringMatching(/^[0-9+\-, .xe]{0,17}$/), (v) => {
      expect(contentLength(v)).toBe(byPattern(v))
    }), {numRuns: 5000})
  })
})
