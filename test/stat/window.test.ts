// Windows over scraped histograms (src/stat/window.ts): a window's latency buckets are each
// series' increase, summed by bound, as its counters are (deltaBy), so a series that restarted
// beside one that grew, or one gone since the baseline, moves neither's count. Checked on an
// example and against the counters' own window on generated scrapes: a group's +Inf bucket over
// a window is the window's count of its requests.
import fc from 'fast-check'
import {describe, expect, it} from 'vitest'
import type {MetricFamily, Sample} from '../../src/metrics/parse.js'
import {deltaBuckets, deltaBucketsBy, deltaBy, type PodWindow, type Scrape} from '../../src/stat/window.js'

interface Series { route: string; pod: string; count: number; fast: number }

/** A scrape of `response_latency_ms` (buckets 10 and +Inf) and of its requests as a counter, `requests`. */
function scrape(at: number, list: readonly Series[]): Scrape {
  const samples: Sample[] = list.flatMap((s) => [
    {name: 'response_latency_ms_bucket', labels: {route: s.route, pod: s.pod, le: '10'}, value: s.fast},
    {name: 'response_latency_ms_bucket', labels: {route: s.route, pod: s.pod, le: '+Inf'}, value: s.count},
  ])
  const requests: Sample[] = list.map((s) => ({name: 'requests', labels: {route: s.route, pod: s.pod}, value: s.count}))
  return {at, families: new Map([
    ['response_latency_ms', {name: 'response_latency_ms', type: 'histogram', help: '', samples} as unknown as MetricFamily],
    ['requests', {name: 'requests', type: 'counter', help: '', samples: requests} as unknown as MetricFamily],
  ])}
}

const window = (before: readonly Series[], now: readonly Series[]): PodWindow => ({current: scrape(60_000, now), baseline: scrape(0, before), baselineAt: 0})

describe('a histogram over a window', () => {
  it('a series that restarted beside one that grew: each counts its own increase', () => {
    // a: 5 requests (4 fast) before, restarted, 1 (1 fast) since; b: 0 before, 10 (6 fast) since.
    // Summed first, the row went from 4 fast of 5 to 7 of 11: 3 fast of 6, the restart's old counts
    // taken off b's growth. Each series' own increase: a 1/1 (it restarted), b 6/10.
    const w = window(
      [{route: 'r', pod: 'a', count: 5, fast: 4}, {route: 'r', pod: 'b', count: 0, fast: 0}],
      [{route: 'r', pod: 'a', count: 1, fast: 1}, {route: 'r', pod: 'b', count: 10, fast: 6}],
    )
    expect(deltaBucketsBy(w, 'response_latency_ms', ['route'])).toEqual([{labels: {route: 'r'}, value: [{le: 10, count: 7}, {le: Infinity, count: 11}]}])
    expect(deltaBuckets(w, 'response_latency_ms')).toEqual([{le: 10, count: 7}, {le: Infinity, count: 11}])
  })

  it('a series gone since the baseline counts nothing; a new one counts whole', () => {
    const w = window(
      [{route: 'r', pod: 'a', count: 50, fast: 40}, {route: 'r', pod: 'b', count: 3, fast: 1}],
      [{route: 'r', pod: 'b', count: 5, fast: 2}, {route: 'r', pod: 'c', count: 4, fast: 4}],
    )
    expect(deltaBuckets(w, 'response_latency_ms')).toEqual([{le: 10, count: 5}, {le: Infinity, count: 6}])
  })

  it('on generated scrapes, a group\'s +Inf bucket over the window is its requests over the window (deltaBy), and no bucket goes down', () => {
    const one = fc.record({route: fc.constantFrom('r1', 'r2', 'r3'), pod: fc.constantFrom('a', 'b', 'c', 'd'), count: fc.nat(1000), before: fc.nat(1000), in: fc.constantFrom('both', 'now', 'before')})
    fc.assert(fc.property(fc.uniqueArray(one, {selector: (s) => `${s.route}/${s.pod}`, maxLength: 12}), (list) => {
      // The fast bucket moves with the count, as a real histogram's do (a restart empties both).
      const at = (n: number): Series['fast'] => Math.floor(n / 2)
      const before = list.filter((s) => s.in !== 'now').map((s) => ({route: s.route, pod: s.pod, count: s.before, fast: at(s.before)}))
      const now = list.filter((s) => s.in !== 'before').map((s) => ({route: s.route, pod: s.pod, count: s.count, fast: at(s.count)}))
      const w = window(before, now)
      const requests = new Map(deltaBy(w, 'requests', ['route']).map((g) => [g.labels.route, g.value]))
      const latency = deltaBucketsBy(w, 'response_latency_ms', ['route'])
      expect(new Map(latency.map((g) => [g.labels.route, g.value.find((b) => b.le === Infinity)!.count]))).toEqual(requests)
      for (const g of latency) {
        for (const b of g.value) expect(b.count).toBeGreaterThanOrEqual(0)
        expect(g.value[0].count).toBeLessThanOrEqual(g.value[1].count)
      }
    }))
  })
})
