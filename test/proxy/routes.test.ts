// Per-route policy: the MESH_PROXY_ROUTES syntax, its errors (naming the variable, the entry
// and the fix), and the lookup (most specific rule wins, defaults fill what a rule leaves out,
// the inbound side never retries).
import {describe, expect, it} from 'vitest'
import {DEFAULT_RETRY, loadProxyConfig} from '../../src/proxy/config/config.js'
import {parseDuration, parseRoutes, RouteTable} from '../../src/proxy/config/route-policy.js'
import {policyOf, type Side} from '../../src/proxy/route/side.js'
import {MeshError} from '../../src/lib/errors.js'

const N = 'MESH_PROXY_ROUTES'

function table(value: string, timeout = 0): RouteTable {
  return new RouteTable(parseRoutes(value, N), timeout, {...DEFAULT_RETRY})
}

describe('route syntax', () => {
  it('parses authority, optional method, optional path prefix and settings', () => {
    const rules = parseRoutes('Web.Shop:80 GET /api/=timeout:2s,retries:3,retry-on:502+unavailable; * post /pay = timeout:1.5s ;api=retryable:true;', N)
    expect(rules).toMatchObject([
      {authority: 'web.shop:80', method: 'GET', pathPrefix: '/api/', timeoutMs: 2000, retries: 3, httpStatuses: [502], grpcStatuses: [14]},
      {authority: '*', method: 'POST', pathPrefix: '/pay', timeoutMs: 1500},
      {authority: 'api:80', pathPrefix: '/', retryable: true},
    ])
    expect(rules[2].method).toBeUndefined()
  })

  it('reads durations', () => {
    expect([parseDuration('250ms'), parseDuration('2s'), parseDuration('1m'), parseDuration('0')]).toEqual([250, 2000, 60_000, 0])
    expect(parseDuration('2')).toBeNaN()
    expect(parseDuration('2h')).toBeNaN()
  })

  it.each([
    ['web:80 GET /a', /entry "web:80 GET \/a" is not "authority \[METHOD\] \[\/path-prefix\]=settings"/],
    ['web:80=timeout:2x', /has timeout "2x", which is not a duration/],
    ['web:80=retries:11', /has retries "11", which is not a number from 0 to 10/],
    ['web:80=retry-on:404', /retry-on code "404", which is neither an HTTP status 500-599 nor a gRPC status name/],
    ['web:80=color:blue', /has an unknown setting "color:blue"/],
    ['web:80=', /has no settings/],
    ['web:80 GET POST=retries:1', /where only one method fits/],
    ['web:80 G-T /a=retries:1', /"G-T", which is neither an HTTP method nor a path prefix/],
    ['we/b:80=retries:1', /authority "we\/b:80", which is not host, host:port or \*/],
    ['web:70000=retries:1', /authority "web:70000", which is not host, host:port or \*/],
    ['web:80 /a=retries:1;web /a=timeout:1s', /entry "web \/a=timeout:1s" matches the same requests as entry "web:80 \/a=retries:1"/],
    ['web:80=retryable:yes', /has retryable "yes", which is not true or false/],
  ])('rejects %j with an error naming the variable and the entry', (value, message) => {
    let err: unknown
    try {
      parseRoutes(value, N)
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(MeshError)
    expect((err as MeshError).message).toMatch(new RegExp(`^${N}: entry "`))
    expect((err as MeshError).message).toMatch(message)
    expect((err as MeshError).suggestions.length).toBeGreaterThan(0)
  })

  it('comes from the environment or the flag, and errors name the one used', () => {
    const c = loadProxyConfig({MESH_PROXY_ROUTES: 'web:80=retries:1'})
    expect(c.routes).toHaveLength(1)
    expect(loadProxyConfig({}).routes).toEqual([])
    expect(() => loadProxyConfig({MESH_PROXY_ROUTES: 'web:80=retries:1'}, {routes: 'x=bad'})).toThrow(/^--routes: entry "x=bad" has an unknown setting "bad"/)
    expect(() => loadProxyConfig({MESH_PROXY_ROUTES: 'x=bad'})).toThrow(/^MESH_PROXY_ROUTES: entry "x=bad"/)
  })
})

describe('route lookup', () => {
  const t = table('web:80 GET /api/=timeout:2s,retries:2,retry-on:502+503; web:80 /api/=timeout:3s; web:80 /api/slow/=timeout:9s; * POST /pay=timeout:5s,retries:0; * /=retries:1', 700)

  it('picks the longest prefix, then a named method, then a named authority', () => {
    expect(t.lookup('web:80', '/api/x', 'GET')).toMatchObject({requestTimeoutMs: 2000, retry: {limit: 2, statuses: [502, 503]}})
    expect(t.lookup('web:80', '/api/x', 'PUT')).toMatchObject({requestTimeoutMs: 3000, retry: {limit: 2, statuses: [502, 503, 504]}})
    expect(t.lookup('web:80', '/api/slow/1', 'GET').requestTimeoutMs).toBe(9000)
    expect(t.lookup('web:80', '/pay/1', 'POST')).toMatchObject({requestTimeoutMs: 5000, retry: {limit: 0}})
    expect(t.lookup('other:80', '/pay', 'POST').requestTimeoutMs).toBe(5000)
    expect(t.lookup('other:80', '/x', 'GET')).toMatchObject({requestTimeoutMs: 700, retry: {limit: 1}})
  })

  it('falls back to the defaults when nothing matches, and returns shared objects (no allocation)', () => {
    const empty = table('web:80 /a=retries:0', 0)
    const p = empty.lookup('web:80', '/b', 'GET')
    expect(p).toBe(empty.fallback)
    expect(p).toMatchObject({requestTimeoutMs: 0, retry: {limit: 2}})
    expect(t.lookup('web:80', '/api/x', 'GET')).toBe(t.lookup('web:80', '/api/y', 'GET'))
  })

  it('gives the inbound side the global timeout and no retries, whatever the routes say', () => {
    const config = loadProxyConfig({MESH_PROXY_ROUTES: '*=retries:5,timeout:1s'})
    config.requestTimeoutMs = 1234
    const side = (direction: 'inbound' | 'outbound'): Side => ({direction, config} as unknown as Side)
    expect(policyOf(side('inbound'), 'web:80', '/', 'GET')).toMatchObject({requestTimeoutMs: 1234, retry: {limit: 0}})
    expect(policyOf(side('outbound'), 'web:80', '/', 'GET')).toMatchObject({requestTimeoutMs: 1000, retry: {limit: 5}})
  })
})
