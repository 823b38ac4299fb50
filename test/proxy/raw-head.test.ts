// The raw codec's head parser (src/proxy/http1/raw/head.ts): what it accepts it parses as
// Node's own parser (llhttp) does; what it refuses (null) goes to Node's server (requests) or is
// answered 502 (responses). Strict on purpose: anything odd is left to llhttp.
import {once} from 'node:events'
import http from 'node:http'
import net from 'node:net'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {headEnd, parseRequestHead, parseResponseHead} from '../../src/proxy/http1/raw/head.js'

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
