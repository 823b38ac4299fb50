// The dashboard's arithmetic over `mesh stat`/`mesh edges` rows: one graph edge per pair,
// verified only when every row of the pair was mTLS with both identities, the mTLS share of a
// workload's traffic, and the hour of history the sparklines draw.
import fc from 'fast-check'
import {describe, expect, it} from 'vitest'
import {DashboardSource, groupEdges, History, securedShare, workloadRef} from '../../src/dashboard/source.js'
import type {EdgeRow, StatRow} from '../../src/stat/types.js'

const edge = (o: Partial<EdgeRow>): EdgeRow => ({
  src: 'deploy/web', srcNamespace: 'demo', dst: 'deploy/books', dstNamespace: 'demo', secured: true,
  clientId: 'web.demo.serviceaccount.identity.mesh-system.cluster.local', serverId: 'books.demo.serviceaccount.identity.mesh-system.cluster.local',
  noTlsReason: '', requests: 10, connections: 0, ...o,
})
const row = (o: Partial<StatRow>): StatRow => ({
  namespace: 'demo', kind: 'deployment', name: 'web', meshedPods: 1, totalPods: 1, requests: 10, successRate: 0.9, rps: 1,
  latencyMs: {p50: 1, p95: 2, p99: 3}, tcpConnections: 0, tcpConnectionsPerSecond: 0, readBytesPerSecond: 0, writeBytesPerSecond: 0, windowSeconds: 60, ...o,
})

describe('the graph from mesh edges', () => {
  it('one edge per pair, whatever the identities; verified only when every row had both', () => {
    const g = groupEdges([
      edge({}),
      edge({requests: 5, clientId: 'other.demo.serviceaccount.identity.mesh-system.cluster.local'}),
      edge({dst: 'deploy/authors', requests: 3}),
      edge({dst: 'deploy/authors', secured: false, clientId: '', serverId: '', noTlsReason: 'no_identity', requests: 2}),
    ])
    expect(g.map((e) => [e.dst, e.verified, e.requests])).toEqual([['deploy/books', true, 15], ['deploy/authors', false, 5]])
    expect(g[0]!.clientIds).toHaveLength(2)
    expect(g[1]!.noTlsReasons).toEqual(['no_identity'])
    // mTLS without a server identity is not "both identities verified".
    expect(groupEdges([edge({serverId: ''})])[0]!.verified).toBe(false)
  })

  it('for any rows: as many edges as distinct pairs, and no request or connection lost', () => {
    const names = fc.constantFrom('deploy/a', 'deploy/b', 'sts/c', 'sa/x')
    const rows = fc.array(fc.record({src: names, dst: names, srcNamespace: fc.constantFrom('x', 'y'), dstNamespace: fc.constantFrom('x', 'y'), secured: fc.boolean(), requests: fc.nat(1000), connections: fc.nat(1000)}), {maxLength: 40})
    fc.assert(fc.property(rows, (rs) => {
      const es = rs.map((r) => edge(r))
      const g = groupEdges(es)
      expect(g.length).toBe(new Set(es.map((e) => `${e.srcNamespace}/${e.src}>${e.dstNamespace}/${e.dst}`)).size)
      expect(g.reduce((n, e) => n + e.requests + e.connections, 0)).toBe(es.reduce((n, e) => n + e.requests + e.connections, 0))
      for (const e of g) if (e.verified) expect(es.filter((x) => x.src === e.src && x.dst === e.dst && x.srcNamespace === e.srcNamespace && x.dstNamespace === e.dstNamespace).every((x) => x.secured)).toBe(true)
    }))
  })
})

describe('a workload\'s mTLS share', () => {
  it('counts its requests and connections in and out, in its own namespace only', () => {
    const es = [
      edge({requests: 30}),
      edge({src: 'unknown', dst: 'deploy/web', secured: false, requests: 10}),
      edge({src: 'deploy/books', srcNamespace: 'demo', dst: 'deploy/stock', requests: 0, connections: 5, secured: false}),
      edge({srcNamespace: 'other', dstNamespace: 'other', requests: 1000, secured: false}),
    ]
    expect(workloadRef(row({}))).toBe('deploy/web')
    expect(securedShare(es, row({}))).toBe(30 / 40)
    expect(securedShare(es, row({name: 'books'}))).toBe(30 / 35)
    expect(securedShare(es, row({name: 'authors'}))).toBeNull()
    expect(securedShare(es, row({kind: 'statefulset'}))).toBeNull()
  })
})

describe('the history', () => {
  it('keeps an hour per workload', () => {
    const h = new History()
    const t0 = 1_000_000_000
    for (let i = 0; i <= 70; i++) h.add([row({successRate: i / 100})], t0 + i * 60_000)
    const points = h.of(row({}))
    expect(points[0]!.t).toBe(t0 + 10 * 60_000)
    expect(points.at(-1)).toEqual({t: t0 + 70 * 60_000, successRate: 0.7, rps: 1})
    expect(h.of(row({name: 'books'}))).toEqual([])
  })
})

describe('a workload page\'s routes', () => {
  // A control plane nothing listens at: whatever the page asks, the answer is an error to show, never a throw.
  const source = new DashboardSource(
    {mode: 'local', baseUrl: 'http://127.0.0.1:1', namespace: 'demo', requestOptions: {headers: {}}, description: 'nothing', timeoutMs: 5_000},
    {namespace: 'demo', allNamespaces: false, window: '1m'},
    async () => ({success: true, categories: []}),
  )

  it('a resource that is not one is refused as mesh stat refuses it, before any request', async () => {
    const r = await source.routes('demo', 'bogus/x')
    expect(r.error?.message).toMatch(/bogus/)
    expect(r.services).toEqual([])
  })

  it('for any resource and namespace the page sends: an answer with the error, no data', async () => {
    await fc.assert(fc.asyncProperty(fc.oneof(fc.string({maxLength: 300}), fc.constantFrom('deploy/web', 'svc/books', 'po', 'ns/demo')), fc.string({maxLength: 100}), async (resource, namespace) => {
      const r = await source.routes(namespace, resource)
      expect(r.error?.message).toBeTruthy()
      expect(r).toMatchObject({namespace, resource, services: [], other: []})
    }), {numRuns: 60})
  })
})
