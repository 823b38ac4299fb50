// computeRouteStats on generated scrapes (what proxies' /metrics could hold, hostile label values
// included: authorities that do not parse, empty and odd route kinds, huge counts, counters that
// went down): it never throws, a workload's rows add up to every outbound response it sent, a
// route's backends never count more than the route, success never exceeds requests, and a
// Service's rows hold only requests addressed to it.
import fc from 'fast-check'
import {describe, expect, it} from 'vitest'
import {authorityOnlyView} from '../../src/control/tap/service-view.js'
import type {PodInfo, ResolvedGroup} from '../../src/control/tap/types.js'
import type {MetricFamily, Sample} from '../../src/metrics/parse.js'
import {computeRouteStats} from '../../src/stat/routes.js'
import type {Scrape} from '../../src/stat/window.js'

const pod: PodInfo = {namespace: 'shop', name: 'web-0', ip: '127.0.0.1', owner: {kind: 'deployment', name: 'web', namespace: 'shop'}, meshed: true, running: true, labels: {}, adminAddress: '127.0.0.1:1'}
const web: ResolvedGroup = {resource: {kind: 'deployment', name: 'web', namespace: 'shop'}, pods: [pod]}
const books: ResolvedGroup = {resource: {kind: 'service', name: 'books', namespace: 'shop'}, pods: []}

const series = fc.record({
  direction: fc.constantFrom('outbound', 'outbound', 'inbound'),
  authority: fc.oneof(fc.constantFrom('books:8080', 'books.shop:8080', 'books.shop.svc.cluster.local:8080', 'authors.shop:80', '10.96.0.1:80', 'a:b:c', '', 'x'.repeat(600)), fc.string()),
  route_kind: fc.constantFrom(undefined, '', 'default', 'HTTPRoute', 'GRPCRoute', 'weird'),
  route: fc.oneof(fc.constantFrom(undefined, 'default', 'r1', 'r2'), fc.string({maxLength: 20})),
  backend: fc.constantFrom(undefined, 'shop/books:8080', 'shop/books-v2:8080', 'invalid:NoWeight'),
  classification: fc.constantFrom('success', 'failure'),
  count: fc.oneof(fc.nat(1000), fc.constant(2 ** 53 - 1)),
  before: fc.nat(1200),
})

/** One generated series (what `series` produces). */
type Series = typeof series extends fc.Arbitrary<infer T> ? T : never

function family(name: string, type: 'counter' | 'histogram', samples: Sample[]): MetricFamily {
  return {name, type, help: '', samples} as unknown as MetricFamily
}

function scrapes(list: Array<Series>): {current: Scrape; baseline: Scrape} {
  const labels = (s: Series): Record<string, string> => {
    const l: Record<string, string> = {direction: s.direction, authority: s.authority}
    for (const k of ['route_kind', 'route', 'backend'] as const) if (s[k] !== undefined) l[k] = s[k]!
    return l
  }
  const at = (pick: (s: Series) => number, t: number): Scrape => ({
    at: t,
    families: new Map([
      ['response_total', family('response_total', 'counter', list.map((s) => ({name: 'response_total', labels: {...labels(s), classification: s.classification}, value: pick(s)})))],
      ['response_latency_ms', family('response_latency_ms', 'histogram', list.flatMap((s) => [
        {name: 'response_latency_ms_bucket', labels: {...labels(s), le: '10'}, value: Math.floor(pick(s) / 2)},
        {name: 'response_latency_ms_bucket', labels: {...labels(s), le: '+Inf'}, value: pick(s)},
      ]))],
    ]),
  })
  return {current: at((s) => s.count, 60_000), baseline: at((s) => s.before, 0)}
}

describe('computeRouteStats on generated scrapes', () => {
  it('never throws; rows add up; backends within their route; success within requests; a Service keeps only its own', () => {
    fc.assert(fc.property(fc.array(series, {maxLength: 30}), (list) => {
      // Unique series (a scrape has one sample per label set).
      const seen = new Set<string>()
      const uniq = list.filter((s) => {
        const k = JSON.stringify([s.direction, s.authority, s.route_kind, s.route, s.backend, s.classification])
        if (seen.has(k)) return false
        seen.add(k)
        return true
      })
      const {current, baseline} = scrapes(uniq)
      const windows = new Map([['shop/web-0', {current, baseline, baselineAt: 0}]])
      const view = authorityOnlyView()
      const rows = computeRouteStats({groups: [web], mode: 'client', view}, windows)
      const delta = (s: Series): number => (s.count >= s.before ? s.count - s.before : s.count)
      const sent = uniq.filter((s) => s.direction === 'outbound').reduce((a, s) => a + delta(s), 0)
      // (exact for counts below 2^53; sums past it round, in whatever order they are added)
      const same = (a: number, b: number): void => expect(Math.abs(a - b)).toBeLessThanOrEqual(b > 2 ** 53 ? b * 1e-12 : 0)
      same(rows.reduce((a, r) => a + r.requests, 0), sent)
      for (const r of rows) {
        expect(r.backends.reduce((a, b) => a + b.requests, 0)).toBeLessThanOrEqual(r.requests * (1 + 1e-12))
        if (r.successRate !== null) expect(r.successRate).toBeLessThanOrEqual(1)
        expect(r.routeKind === 'default' ? r.route : r.routeKind).not.toBe('')
      }
      const svc = computeRouteStats({groups: [books], mode: 'service', callers: [pod], view}, windows)
      const toBooks = uniq.filter((s) => s.direction === 'outbound' && view.serviceOf(s.authority, 'shop')?.name === 'books').reduce((a, s) => a + delta(s), 0)
      same(svc.reduce((a, r) => a + r.requests, 0), toBooks)
      for (const r of svc) expect(r.service).toMatchObject({namespace: 'shop', name: 'books'})
    }), {numRuns: 300})
  })

  it('a request with no control-plane route kind counts under the default route, whatever its route label', () => {
    const {current, baseline} = scrapes([
      {direction: 'outbound', authority: 'books:8080', route_kind: undefined, route: 'GET /api/', backend: undefined, classification: 'success', count: 3, before: 0},
      {direction: 'outbound', authority: 'books:8080', route_kind: 'default', route: 'default', backend: undefined, classification: 'success', count: 4, before: 0},
      {direction: 'outbound', authority: 'books:8080', route_kind: 'HTTPRoute', route: 'r1', backend: 'shop/books:8080', classification: 'failure', count: 5, before: 0},
    ])
    const rows = computeRouteStats({groups: [web], mode: 'client', view: authorityOnlyView()}, new Map([['shop/web-0', {current, baseline, baselineAt: 0}]]))
    expect(rows.map((r) => [r.routeKind, r.route, r.requests, r.successRate])).toEqual([['HTTPRoute', 'r1', 5, 0], ['default', 'default', 7, 1]])
  })

  it('a series that restarted beside one that grew, in one row: each counts its own (the restart is not taken off the other)', () => {
    // (found by the property above: summed first, the row said 9, the restarted series' old 1 taken off the other's 10)
    const {current, baseline} = scrapes([
      {direction: 'outbound', authority: 'books:8080', route_kind: undefined, route: undefined, backend: undefined, classification: 'failure', count: 0, before: 1},
      {direction: 'outbound', authority: 'books:8080', route_kind: undefined, route: '', backend: undefined, classification: 'failure', count: 10, before: 0},
    ])
    const rows = computeRouteStats({groups: [web], mode: 'client', view: authorityOnlyView()}, new Map([['shop/web-0', {current, baseline, baselineAt: 0}]]))
    expect(rows.map((r) => [r.route, r.requests])).toEqual([['default', 10]])
  })
})
