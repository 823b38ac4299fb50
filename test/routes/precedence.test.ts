// Precedence and matching (src/routes/policy.ts, src/routes/match.ts): the compiled policy and
// the reference matcher against a plain reading of the Gateway API rules (an oracle written
// apart: it scores every match that holds and takes the best), on generated routes and
// requests; plus the cases the spec spells out, weights, gRPC, and the default / 404 choice.
import fc from 'fast-check'
import {describe, expect, it} from 'vitest'
import {compilePolicy, MAX_ENTRIES_PER_SERVICE, admit, type InForceRoute} from '../../src/routes/policy.js'
import {PolicyMatcher, pickBackend, parseQuery, isGrpcContentType, type RequestFacts} from '../../src/routes/match.js'
import {validateRoute} from '../../src/routes/validate.js'

const parent = {group: '', kind: 'Service', name: 'books', port: 8080}
const ports = (_ns: string, name: string): number[] | undefined => (['books', 'canary'].includes(name) ? [8080] : undefined)

function route(name: string, created: number, rules: unknown[], kind: 'HTTPRoute' | 'GRPCRoute' = 'HTTPRoute'): InForceRoute {
  const v = validateRoute({kind, metadata: {name, namespace: 'shop', creationTimestamp: new Date(created).toISOString()}, spec: {parentRefs: [parent], rules}})!
  if (!v.verdict.ok) throw new Error(v.verdict.message)
  return {...v, rules: v.verdict.rules}
}
const policy = (routes: InForceRoute[]) => compilePolicy({service: {namespace: 'shop', name: 'books', port: 8080}, clusterDomain: 'cluster.local', routes, servicePorts: ports})
function req(target: string, o: {method?: string; headers?: Record<string, string>; grpc?: boolean} = {}): RequestFacts {
  return {method: o.method ?? 'GET', target, header: (n) => o.headers?.[n], grpc: o.grpc ?? false}
}
const chosen = (m: PolicyMatcher, r: RequestFacts): string => {
  const s = m.select(r)
  return s.kind === 'rule' ? `${s.rule.route.name}#${s.rule.route.rule}` : s.kind
}

describe('precedence (the spec\'s examples)', () => {
  it('exact beats prefix; the longer prefix wins; method, then header count, then query count', () => {
    const p = policy([
      route('a', 1, [{matches: [{path: {type: 'PathPrefix', value: '/'}}]}]),
      route('b', 2, [{matches: [{path: {type: 'PathPrefix', value: '/books'}}]}]),
      route('c', 3, [{matches: [{path: {type: 'Exact', value: '/books'}}]}]),
      route('d', 4, [{matches: [{path: {type: 'PathPrefix', value: '/books'}, method: 'POST'}]}]),
      route('e', 5, [{matches: [{path: {type: 'PathPrefix', value: '/books'}, headers: [{name: 'x', value: '1'}]}]}]),
      route('f', 6, [{matches: [{path: {type: 'PathPrefix', value: '/books'}, headers: [{name: 'x', value: '1'}], queryParams: [{name: 'q', value: '1'}]}]}]),
    ])
    const m = new PolicyMatcher(p)
    expect(chosen(m, req('/books'))).toBe('c#0')
    expect(chosen(m, req('/books/1'))).toBe('b#0')
    expect(chosen(m, req('/booksy'))).toBe('a#0') // a prefix matches whole segments
    expect(chosen(m, req('/books/1', {method: 'POST', headers: {x: '1'}}))).toBe('d#0')
    expect(chosen(m, req('/books/1', {headers: {x: '1'}}))).toBe('e#0')
    expect(chosen(m, req('/books/1?q=1', {headers: {x: '1'}}))).toBe('f#0')
    expect(chosen(m, req('/other'))).toBe('a#0')
  })

  it('ties: the older route, then namespace/name, then rule order', () => {
    const same = [{matches: [{path: {type: 'PathPrefix', value: '/x'}}]}, {matches: [{path: {type: 'PathPrefix', value: '/x'}}]}]
    expect(chosen(new PolicyMatcher(policy([route('young', 9, same), route('old', 1, same)])), req('/x'))).toBe('old#0')
    expect(chosen(new PolicyMatcher(policy([route('zeta', 5, same), route('alpha', 5, same)])), req('/x'))).toBe('alpha#0')
  })

  it('a regex path sits between exact and prefix, and matches the whole path', () => {
    const m = new PolicyMatcher(policy([
      route('prefix', 1, [{matches: [{path: {type: 'PathPrefix', value: '/books'}}]}]),
      route('regex', 2, [{matches: [{path: {type: 'RegularExpression', value: '/books/[0-9]+'}}]}]),
      route('exact', 3, [{matches: [{path: {type: 'Exact', value: '/books/1'}}]}]),
    ]))
    expect(chosen(m, req('/books/1'))).toBe('exact#0')
    expect(chosen(m, req('/books/22'))).toBe('regex#0')
    expect(chosen(m, req('/books/22/reviews'))).toBe('prefix#0')
  })

  it('no routes: the default route; routes but no match: 404; gRPC requests use GRPCRoutes when there are any', () => {
    expect(new PolicyMatcher(policy([])).select(req('/'))).toEqual({kind: 'default'})
    const httpOnly = new PolicyMatcher(policy([route('h', 1, [{matches: [{path: {type: 'PathPrefix', value: '/api'}}]}])]))
    expect(chosen(httpOnly, req('/web'))).toBe('notFound')
    expect(chosen(httpOnly, req('/api/books.v1.Books/Get', {grpc: true}))).toBe('h#0')
    const both = new PolicyMatcher(policy([
      route('h', 1, [{matches: [{path: {type: 'PathPrefix', value: '/'}}]}]),
      route('g', 2, [{matches: [{method: {service: 'books.v1.Books'}}]}, {matches: [{method: {service: 'books.v1.Books', method: 'Get'}}]}], 'GRPCRoute'),
    ]))
    expect(chosen(both, req('/books.v1.Books/Get', {grpc: true}))).toBe('g#1') // more method characters
    expect(chosen(both, req('/books.v1.Books/List', {grpc: true}))).toBe('g#0')
    expect(chosen(both, req('/other.Svc/Get', {grpc: true}))).toBe('notFound') // never merged with HTTPRoutes
    expect(chosen(both, req('/books.v1.Books/Get'))).toBe('h#0')
    const grpcOnly = new PolicyMatcher(policy([route('g', 1, [{}], 'GRPCRoute')]))
    expect(chosen(grpcOnly, req('/index.html'))).toBe('notFound')
    expect(chosen(grpcOnly, req('/a.B/C', {grpc: true}))).toBe('g#0')
  })

  it('weights split the requests; invalid backends keep their share; all-zero takes nothing', () => {
    const p = policy([route('split', 1, [{backendRefs: [{name: 'books', port: 8080, weight: 90}, {name: 'canary', port: 8080, weight: 10}, {name: 'missing', port: 8080, weight: 0}]}])])
    const backends = p.rules[0]!.backends
    expect(backends.map((b) => b.authority ?? b.problem)).toEqual(['books.shop.svc.cluster.local:8080', 'canary.shop.svc.cluster.local:8080', 'BackendNotFound'])
    const n = 10_000
    let canary = 0
    for (let i = 0; i < n; i++) if (pickBackend(backends, i / n)!.service!.name === 'canary') canary++
    expect(canary).toBe(1000)
    expect(pickBackend([{weight: 0, problem: 'BackendNotFound'}], 0.5)).toBeUndefined()
    // No backendRefs: the parent Service itself.
    expect(policy([route('plain', 1, [{}])]).rules[0]!.backends).toEqual([{weight: 1, authority: 'books.shop.svc.cluster.local:8080', service: {namespace: 'shop', name: 'books', port: 8080}}])
  })

  it('query strings and content types', () => {
    expect([...parseQuery('a=1&a=2&b=%41&c&bad=%zz')]).toEqual([['a', '1'], ['b', 'A'], ['c', ''], ['bad', '%zz']])
    expect(['application/grpc', 'application/grpc+proto', 'Application/GRPC; x=y'].every(isGrpcContentType)).toBe(true)
    expect(['application/grpc-web', 'application/json', undefined].some(isGrpcContentType)).toBe(false)
  })

  it('the revision follows the content, and admission keeps the oldest routes within the bound', () => {
    const a = route('a', 1, [{}])
    expect(policy([a]).revision).toBe(policy([a]).revision)
    expect(policy([a]).revision).not.toBe(policy([route('a', 1, [{timeouts: {request: '1s'}}])]).revision)
    const full = Array.from({length: MAX_ENTRIES_PER_SERVICE / 128 + 1}, (_, i) => route(`r${String(i).padStart(3, '0')}`, i, Array.from({length: 2}, (_, j) => ({matches: Array.from({length: 64}, (_, k) => ({path: {type: 'Exact', value: `/${i}/${j}/${k}`}}))}))))
    const {admitted, refused} = admit(full)
    expect(admitted).toHaveLength(MAX_ENTRIES_PER_SERVICE / 128)
    expect([...refused.keys()].map((r) => r.name)).toEqual([`r${String(MAX_ENTRIES_PER_SERVICE / 128).padStart(3, '0')}`])
    expect([...refused.values()][0]).toContain(`over the bound of ${MAX_ENTRIES_PER_SERVICE}`)
  })
})

// The oracle: every (route, rule, match) that holds for the request, scored by the spec's
// criteria as a tuple, the smallest tuple wins.
interface GenMatch {pathType: 'Exact' | 'PathPrefix' | 'RegularExpression'; path: string; method?: string; headers: Array<[string, string]>; query: Array<[string, string]>}
interface GenRoute {name: string; created: number; rules: GenMatch[][]}

function oracle(routes: GenRoute[], r: {method: string; path: string; headers: Record<string, string>; query: Record<string, string>}): string {
  const segs = (p: string) => p.split('/').filter(Boolean)
  const holds = (m: GenMatch): boolean => {
    const norm = m.pathType === 'PathPrefix' && m.path !== '/' ? m.path.replace(/\/+$/, '') : m.path
    const pathOk =
      m.pathType === 'Exact' ? r.path === m.path
      : m.pathType === 'PathPrefix' ? segs(norm).every((s, i) => segs(r.path)[i] === s) && (norm === '/' || r.path.startsWith(norm))
      : new RegExp(`^(?:${m.path})$`).test(r.path)
    return pathOk && (!m.method || m.method === r.method) && m.headers.every(([k, v]) => r.headers[k] === v) && m.query.every(([k, v]) => r.query[k] === v)
  }
  let best: {score: Array<number | string>; id: string} | undefined
  for (const rt of routes) rt.rules.forEach((rule, ri) => rule.forEach((m, mi) => {
    if (!holds(m)) return
    const len = m.pathType === 'PathPrefix' && m.path !== '/' ? m.path.replace(/\/+$/, '').length : m.path.length
    const score = [{Exact: 0, RegularExpression: 1, PathPrefix: 2}[m.pathType], -len, m.method ? 0 : 1, -m.headers.length, -m.query.length, rt.created, rt.name, ri, mi]
    const better = !best || score.findIndex((x, i) => x !== best!.score[i]) === -1 ? false : (() => {
      const i = score.findIndex((x, j) => x !== best!.score[j])
      return score[i]! < best!.score[i]!
    })()
    if (!best || better) best = {score, id: `${rt.name}#${ri}`}
  }))
  return best?.id ?? (routes.length ? 'notFound' : 'default')
}

describe('precedence, generated', () => {
  const seg = fc.constantFrom('a', 'b', 'ab')
  const path = fc.array(seg, {minLength: 0, maxLength: 3}).map((s) => '/' + s.join('/'))
  const genMatch: fc.Arbitrary<GenMatch> = fc.record({
    pathType: fc.constantFrom('Exact', 'PathPrefix', 'RegularExpression') as fc.Arbitrary<GenMatch['pathType']>,
    path,
    method: fc.option(fc.constantFrom('GET', 'POST'), {nil: undefined}),
    headers: fc.uniqueArray(fc.tuple(fc.constantFrom('x', 'y'), fc.constantFrom('1', '2')), {maxLength: 2, selector: (t) => t[0]}),
    query: fc.uniqueArray(fc.tuple(fc.constantFrom('p', 'q'), fc.constantFrom('1', '2')), {maxLength: 2, selector: (t) => t[0]}),
  }).map((m) => (m.pathType === 'RegularExpression' ? {...m, path: m.path.replace(/a/g, '[ab]') + '.*'} : m))
  const genRoutes = fc.uniqueArray(
    fc.record({name: fc.constantFrom('r1', 'r2', 'r3', 'r4'), created: fc.integer({min: 0, max: 3}), rules: fc.array(fc.array(genMatch, {minLength: 1, maxLength: 3}), {minLength: 1, maxLength: 3})}),
    {maxLength: 4, selector: (r) => r.name},
  )
  const genReq = fc.record({method: fc.constantFrom('GET', 'POST'), path: path.chain((p) => fc.constantFrom(p, p + '/', p + 'b')), headers: fc.dictionary(fc.constantFrom('x', 'y'), fc.constantFrom('1', '2')), query: fc.dictionary(fc.constantFrom('p', 'q'), fc.constantFrom('1', '2'))})

  it('the compiled policy picks what the spec picks (2,000 generated cases)', () => {
    fc.assert(
      fc.property(genRoutes, genReq, (routes, r) => {
        const compiled = routes.map((g) => route(g.name, g.created, g.rules.map((ms) => ({matches: ms.map((m) => ({
          path: {type: m.pathType, value: m.path},
          ...(m.method ? {method: m.method} : {}),
          headers: m.headers.map(([name, value]) => ({name, value})),
          queryParams: m.query.map(([name, value]) => ({name, value})),
        }))}))))
        const qs = Object.entries(r.query).map(([k, v]) => `${k}=${v}`).join('&')
        const got = chosen(new PolicyMatcher(policy(compiled)), req(r.path + (qs ? `?${qs}` : ''), {method: r.method, headers: r.headers}))
        expect(got).toBe(oracle(routes, r))
      }),
      {numRuns: 2000},
    )
  })
})
