// Route validation (src/routes/validate.ts): what is accepted and compiled, every unsupported
// field named in the reason, the bounds, hostile routes (10,000 rules, huge and catastrophic
// regexes) and generated garbage (fast-check: validation never throws, whatever the input).
import fc from 'fast-check'
import {describe, expect, it} from 'vitest'
import {CONTROLLER_NAME, validateRoute, type ValidatedRoute} from '../../src/routes/validate.js'
import {compileRegex, MAX_REGEX_PROGRAM} from '../../src/routes/regex.js'
import {parseGatewayDuration} from '../../src/routes/duration.js'

const parent = {group: '', kind: 'Service', name: 'books', port: 8080}
function http(spec: Record<string, unknown>, meta: Record<string, unknown> = {}): ValidatedRoute {
  const r = validateRoute({kind: 'HTTPRoute', metadata: {name: 'r', namespace: 'shop', generation: 1, ...meta}, spec: {parentRefs: [parent], ...spec}})
  if (!r) throw new Error('not ours')
  return r
}
function refused(r: ValidatedRoute): string {
  if (r.verdict.ok) throw new Error(`accepted: ${JSON.stringify(r.verdict)}`)
  return r.verdict.message
}
function rules(r: ValidatedRoute) {
  if (!r.verdict.ok) throw new Error(`refused: ${r.verdict.message}`)
  return r.verdict.rules
}

describe('route validation', () => {
  it('takes only routes with a Service parent; Gateway parents are not ours', () => {
    expect(validateRoute({kind: 'HTTPRoute', metadata: {name: 'r', namespace: 'shop'}, spec: {parentRefs: [{name: 'gw'}]}})).toBeUndefined()
    expect(validateRoute({kind: 'HTTPRoute', metadata: {name: 'r', namespace: 'shop'}, spec: {parentRefs: [{kind: 'Service', name: 'books'}]}})).toBeUndefined() // group defaults to the Gateway API's
    expect(validateRoute({kind: 'TCPRoute', metadata: {name: 'r', namespace: 'shop'}, spec: {parentRefs: [parent]}})).toBeUndefined()
    const r = validateRoute({kind: 'HTTPRoute', metadata: {name: 'r', namespace: 'shop'}, spec: {parentRefs: [{name: 'gw'}, parent, {group: 'core', kind: 'Service', name: 'other'}]}})!
    expect(r.parents.map((p) => p.name)).toEqual(['books', 'other'])
    expect(CONTROLLER_NAME).toMatch(/^[a-z0-9.-]+\/[A-Za-z0-9/._-]+$/)
  })

  it('applies the CRD defaults: no rules or no matches is one PathPrefix / match', () => {
    expect(rules(http({}))[0]!.matches).toEqual([{path: {type: 'prefix', value: '/'}}])
    expect(rules(http({rules: [{}]}))[0]!.matches).toEqual([{path: {type: 'prefix', value: '/'}}])
  })

  it('compiles matches, timeouts, header modifiers and the retry field', () => {
    const [rule] = rules(http({rules: [{
      name: 'reads',
      matches: [{path: {type: 'PathPrefix', value: '/books/'}, method: 'GET', headers: [{name: 'X-Canary', value: 'yes'}], queryParams: [{name: 'v', type: 'RegularExpression', value: '[0-9]+'}]}],
      filters: [{type: 'RequestHeaderModifier', requestHeaderModifier: {set: [{name: 'X-Route', value: 'books'}], add: [{name: 'x-a', value: '1'}], remove: ['X-Debug']}}],
      timeouts: {request: '1m30s', backendRequest: '250ms'},
      retry: {attempts: 3, codes: [503, 502, 504], backoff: '100ms'},
      backendRefs: [{name: 'books', port: 8080, weight: 90}],
    }]}))
    expect(rule!.name).toBe('reads')
    expect(rule!.matches).toEqual([{path: {type: 'prefix', value: '/books'}, method: 'GET', headers: [{name: 'x-canary', type: 'exact', value: 'yes'}], queryParams: [{name: 'v', type: 'regex', value: '[0-9]+'}]}])
    expect(rule!.policy).toEqual({
      requestHeaders: {set: [{name: 'x-route', value: 'books'}], add: [{name: 'x-a', value: '1'}], remove: ['x-debug']},
      timeouts: {requestMs: 90_000, backendRequestMs: 250},
      retry: {limit: 3, httpStatuses: [[502, 504]], grpcStatuses: [], backoffMs: 100},
    })
  })

  it('reads the retry.mesh.dev annotations where the CRD has no retry field', () => {
    const r = http({rules: [{timeouts: {backendRequest: '2s'}}, {}]}, {annotations: {'retry.mesh.dev/http': '5xx, 429', 'retry.mesh.dev/limit': '2', 'retry.mesh.dev/timeout': '300ms'}})
    const [a, b] = rules(r)
    expect(a!.policy).toEqual({timeouts: {backendRequestMs: 300}, retry: {limit: 2, httpStatuses: [[429, 429], [500, 599]], grpcStatuses: []}})
    expect(b!.policy).toEqual({timeouts: {backendRequestMs: 300}, retry: {limit: 2, httpStatuses: [[429, 429], [500, 599]], grpcStatuses: []}})
    const g = validateRoute({kind: 'GRPCRoute', metadata: {name: 'g', namespace: 'shop', annotations: {'retry.mesh.dev/grpc': 'unavailable,deadline-exceeded', 'retry.mesh.dev/http': 'gateway-error'}}, spec: {parentRefs: [parent], rules: [{matches: [{method: {service: 'books.v1.Books', method: 'Get'}}]}]}})!
    expect(rules(g)[0]!.policy.retry).toEqual({limit: 1, httpStatuses: [[502, 504]], grpcStatuses: [4, 14]})
    expect(rules(g)[0]!.matches).toEqual([{grpc: {type: 'exact', service: 'books.v1.Books', method: 'Get'}}])
  })

  it.each([
    [{rules: [{filters: [{type: 'URLRewrite', urlRewrite: {hostname: 'x'}}]}]}, 'spec.rules[0].filters[0].type "URLRewrite" is not supported by mesh (supported: RequestHeaderModifier)'],
    [{rules: [{filters: [{type: 'RequestMirror', requestMirror: {backendRef: {name: 'x', port: 1}}}]}]}, 'spec.rules[0].filters[0].type "RequestMirror" is not supported'],
    [{rules: [{filters: [{type: 'ResponseHeaderModifier', responseHeaderModifier: {}}]}]}, '"ResponseHeaderModifier" is not supported'],
    [{rules: [{sessionPersistence: {sessionName: 'x'}}]}, 'spec.rules[0].sessionPersistence is not supported by mesh (session persistence)'],
    [{rules: [{backendRefs: [{name: 'books', port: 8080, filters: [{type: 'RequestHeaderModifier'}]}]}]}, 'spec.rules[0].backendRefs[0].filters is not supported by mesh'],
    [{rules: [{somethingNew: true}]}, 'spec.rules[0].somethingNew is not supported by mesh'],
    [{useDefaultGateways: 'All'}, 'spec.useDefaultGateways is not supported by mesh'],
    [{rules: [{matches: [{path: {type: 'Exact', value: 'books'}}]}]}, 'spec.rules[0].matches[0].path.value "books" must start with /'],
    [{rules: [{matches: [{path: {type: 'PathPrefix', value: '/a//b'}}]}]}, 'is not a normalised path'],
    [{rules: [{matches: [{method: 'BREW'}]}]}, 'spec.rules[0].matches[0].method "BREW" is not one of'],
    [{rules: [{matches: [{headers: [{name: 'bad name', value: 'x'}]}]}]}, 'is not an HTTP header name'],
    [{rules: [{matches: [{headers: [{name: 'x', value: 'a\r\nInjected: 1'}]}]}]}, 'contains CR, LF or NUL'],
    [{rules: [{filters: [{type: 'RequestHeaderModifier', requestHeaderModifier: {set: [{name: 'Content-Length', value: '0'}]}}]}]}, '"content-length" frames the message'],
    [{rules: [{timeouts: {request: '1s', backendRequest: '2s'}}]}, 'timeouts.backendRequest is longer than timeouts.request'],
    [{rules: [{timeouts: {request: '1 second'}}]}, 'is not a Gateway API duration'],
    [{rules: [{timeouts: {request: '99999h'}}]}, 'is not a Gateway API duration'],
    [{rules: [{retry: {attempts: 11}}]}, 'spec.rules[0].retry.attempts must be an integer from 0 to 10'],
    [{rules: [{retry: {codes: [200]}}]}, 'spec.rules[0].retry.codes[0] must be an integer from 400 to 599'],
    [{rules: [{matches: [{path: {type: 'RegularExpression', value: '(a)\\1'}}]}]}, 'is not an RE2 regular expression'],
    [{rules: [{matches: [{path: {type: 'RegularExpression', value: '(?=x)y'}}]}]}, 'is not an RE2 regular expression'],
    [{rules: [{backendRefs: [{name: 'books', port: 8080, weight: -1}]}]}, 'weight must be an integer from 0 to 1000000'],
  ])('refuses %j naming the field', (spec, message) => {
    expect(refused(http(spec))).toContain(message)
  })

  it('refuses retry annotations that conflict or say nothing to retry', () => {
    expect(refused(http({rules: [{retry: {attempts: 1}}]}, {annotations: {'retry.mesh.dev/http': '5xx'}}))).toContain('both configure retries; use one')
    expect(refused(http({}, {annotations: {'retry.mesh.dev/limit': '2'}}))).toContain('without retry.mesh.dev/http or retry.mesh.dev/grpc')
    expect(refused(http({}, {annotations: {'retry.mesh.dev/http': '5xx,teapot'}}))).toContain('"teapot", which is not 5xx')
    expect(refused(http({}, {annotations: {'retry.mesh.dev/http': '504-500'}}))).toContain('runs backwards')
    expect(refused(http({}, {annotations: {'retry.mesh.dev/grpc': 'oops'}}))).toContain('"oops", which is not a gRPC status name')
    expect(refused(http({}, {annotations: {'retry.mesh.dev/http': '5xx', 'retry.mesh.dev/limit': '99'}}))).toContain('is not a number from 0 to 10')
  })

  it('reports what it does not use instead of dropping it silently', () => {
    const r = http({hostnames: ['books.example.com'], rules: [{matches: [{headers: [{name: 'x-a', value: '1'}, {name: 'X-A', value: '2'}]}]}]})
    expect(r.verdict.ok && r.verdict.notes).toEqual(['spec.hostnames does not apply to a Service parent (the Service is the host) and is not used', 'spec.rules[0].matches[0].headers[1] repeats the name "x-a": only the first entry counts'])
  })

  it('judges each Service parent on its own', () => {
    const r = validateRoute({kind: 'HTTPRoute', metadata: {name: 'r', namespace: 'shop'}, spec: {parentRefs: [parent, {group: '', kind: 'Service', name: 'x', namespace: 'other'}, {group: '', kind: 'Service', name: 'y', sectionName: 'http'}]}})!
    expect(r.parents.map((p) => p.problem?.reason)).toEqual([undefined, 'UnsupportedValue', 'UnsupportedValue'])
    expect(r.parents[1]!.problem!.message).toContain('producer routes')
    expect(r.verdict.ok).toBe(true)
  })

  it('GRPCRoute: service/method names, regexes, and no HTTP-only fields', () => {
    const g = (spec: Record<string, unknown>) => validateRoute({kind: 'GRPCRoute', metadata: {name: 'g', namespace: 'shop'}, spec: {parentRefs: [parent], ...spec}})!
    expect(rules(g({rules: [{matches: [{method: {type: 'RegularExpression', service: 'books\\.v[0-9]+\\.Books'}}]}]}))[0]!.matches).toEqual([{grpc: {type: 'regex', service: 'books\\.v[0-9]+\\.Books'}}])
    expect(refused(g({rules: [{matches: [{method: {type: 'Exact'}}]}]}))).toContain('needs a service or a method')
    expect(refused(g({rules: [{matches: [{method: {service: 'a/b'}}]}]}))).toContain('is not a gRPC service name')
    expect(refused(g({rules: [{timeouts: {request: '1s'}}]}))).toContain('spec.rules[0].timeouts is not supported on a GRPCRoute')
    expect(refused(g({rules: [{matches: [{path: {value: '/'}}]}]}))).toContain('spec.rules[0].matches[0].path is not supported by mesh')
  })
})

describe('hostile routes', () => {
  it('10,000 rules are refused by the bound, quickly and with the reason', () => {
    const many = Array.from({length: 10_000}, (_, i) => ({matches: [{path: {type: 'Exact', value: `/r${i}`}}]}))
    expect(refused(http({rules: many}))).toBe('spec.rules has 10000 entries; at most 16 are supported')
    const wide = Array.from({length: 16}, (_, i) => ({matches: Array.from({length: 10}, (_, j) => ({path: {type: 'Exact', value: `/r${i}/${j}`}}))}))
    expect(refused(http({rules: wide}))).toBe('spec.rules have more than 128 matches in all')
    const headers = Array.from({length: 17}, (_, i) => ({name: `x-${i}`, value: 'v'}))
    expect(refused(http({rules: [{matches: [{headers}]}]}))).toContain('has 17 entries; at most 16')
  })

  it('regexes: over-long, over-large programs and non-RE2 syntax are refused; catastrophic patterns match in linear time', () => {
    expect(compileRegex('a'.repeat(1025))).toEqual({ok: false, problem: 'is longer than 1024 bytes'})
    const big = compileRegex('((a{100}){100})')
    expect(big.ok).toBe(false)
    const wide = compileRegex('[a-z]{1000}x[a-z]{1000}')
    expect(wide.ok ? 'accepted' : wide.problem).toContain(`over the bound of ${MAX_REGEX_PROGRAM}`)
    // The classic ReDoS patterns compile (they are RE2) and cannot backtrack: a backtracking
    // engine takes 2^n steps on these inputs; the check is that the match ends at all (with a
    // generous guard: the test's own timeout).
    for (const p of ['(a+)+$', '(a|a)*b', '(x+x+)+y', '^(([a-z])+.)+[A-Z]([a-z])+$']) {
      const c = compileRegex(p)
      expect(c.ok).toBe(true)
      if (c.ok) expect(c.re.matches('a'.repeat(50_000) + '!')).toBe(false)
    }
    expect(refused(http({rules: [{matches: [{path: {type: 'RegularExpression', value: '(a{100}){100}'}}]}]}))).toContain('spec.rules[0].matches[0].path.value')
  })

  it('generated garbage never throws: it is either a route or a reason', () => {
    const junk = fc.oneof(fc.string(), fc.integer(), fc.boolean(), fc.constant(null), fc.constant(undefined), fc.double())
    const anyJson = fc.letrec((tie) => ({
      v: fc.oneof({depthSize: 'small'}, junk, fc.array(tie('v'), {maxLength: 4}), fc.dictionary(fc.constantFrom('path', 'type', 'value', 'name', 'matches', 'headers', 'method', 'rules', 'filters', 'backendRefs', 'port', 'weight', 'timeouts', 'request', 'retry', 'x'), tie('v'), {maxKeys: 5})),
    })).v
    fc.assert(
      fc.property(anyJson, fc.constantFrom('HTTPRoute', 'GRPCRoute'), (spec, kind) => {
        const r = validateRoute({kind, metadata: {name: 'r', namespace: 'shop'}, spec: typeof spec === 'object' && spec !== null && !Array.isArray(spec) ? {...spec, parentRefs: [parent]} : {parentRefs: [parent], rules: spec}})
        expect(r).toBeDefined()
        if (!r!.verdict.ok) expect(r!.verdict.message).toMatch(/^(spec|metadata)/)
      }),
      {numRuns: 3000},
    )
  })
})

describe('Gateway API durations', () => {
  it.each([['0s', 0], ['500ms', 500], ['2s', 2000], ['1m30s', 90_000], ['1h', 3_600_000], ['1h1m1s1ms', 3_661_001], ['24h', 86_400_000]])('%s is %d ms', (v, ms) => {
    expect(parseGatewayDuration(v)).toBe(ms)
  })
  it.each(['', '1', '1.5s', '-1s', '1d', '1h2m3s4ms5s', '123456s', '25h', ' 1s'])('%j is refused', (v) => {
    expect(parseGatewayDuration(v)).toBeNaN()
  })
})
