import {describe, expect, it} from 'vitest'
import {MetricsParseError, Registry, histogramBuckets, histogramQuantile, parseMetrics, sumBy} from '../../src/metrics/index.js'

describe('parseMetrics', () => {
  it('round-trips what the registry renders, escapes included', () => {
    const r = new Registry()
    r.counter({name: 'a_total', help: 'Help with \\ and\nnewline', labelNames: ['v']}).labels('q"uo\\te\nx').inc(3)
    const h = r.histogram({name: 'lat', help: 'h', labelNames: ['d'], buckets: [1, 10]})
    h.labels('in').observe(5)
    const fams = parseMetrics(r.metrics())
    const a = fams.get('a_total')!
    expect(a.type).toBe('counter')
    expect(a.help).toBe('Help with \\ and\nnewline')
    expect(a.samples).toEqual([{name: 'a_total', labels: {v: 'q"uo\\te\nx'}, value: 3}])
    const lat = fams.get('lat')!
    expect(lat.type).toBe('histogram')
    expect(lat.samples.map((s) => s.name)).toEqual(['lat_bucket', 'lat_bucket', 'lat_bucket', 'lat_sum', 'lat_count'])
    expect(lat.samples[2].labels).toEqual({d: 'in', le: '+Inf'})
    expect(fams.size).toBe(2)
  })

  it('accepts comments, timestamps, special values, spaces and a trailing comma', () => {
    const fams = parseMetrics('# a comment\n\nx{a="1",} +Inf 1700000000000\ny NaN\nz{ b="2" , c="3"} -1.5e3\n')
    expect(fams.get('x')!.samples[0]).toEqual({name: 'x', labels: {a: '1'}, value: Infinity, timestampMs: 1700000000000})
    expect(fams.get('x')!.type).toBe('untyped')
    expect(Number.isNaN(fams.get('y')!.samples[0].value)).toBe(true)
    expect(fams.get('z')!.samples[0]).toEqual({name: 'z', labels: {b: '2', c: '3'}, value: -1500})
  })

  it.each([
    ['x{a="1"} abc', /line 1: invalid value "abc"/],
    ['ok 1\nx{a="1} 2', /line 2: unterminated value of label a/],
    ['x{a=1} 2', /expected ="..." after label a/],
    ['x{a="1",a="2"} 2', /duplicate label a/],
    ['# TYPE x flavour', /unknown type "flavour"/],
    ['x 1 2 3', /expected "value \[timestamp\]"/],
    ['{a="1"} 1', /expected a metric name/],
    ['x 1 1.5', /invalid timestamp/],
  ])('rejects %j with the line and the problem', (text, message) => {
    expect(() => parseMetrics(text)).toThrow(MetricsParseError)
    expect(() => parseMetrics(text)).toThrow(message)
  })
})

describe('queries', () => {
  const text = [
    '# TYPE response_total counter',
    'response_total{direction="inbound",classification="success"} 7',
    'response_total{direction="inbound",classification="failure"} 3',
    'response_total{direction="outbound",classification="success"} 5',
    '# TYPE lat histogram',
    'lat_bucket{pod="a",le="10"} 2',
    'lat_bucket{pod="a",le="20"} 4',
    'lat_bucket{pod="a",le="+Inf"} 4',
    'lat_bucket{pod="b",le="10"} 0',
    'lat_bucket{pod="b",le="20"} 4',
    'lat_bucket{pod="b",le="+Inf"} 6',
  ].join('\n')
  const fams = parseMetrics(text)

  it('sums by labels with a filter', () => {
    expect(sumBy(fams.get('response_total'), ['direction'])).toEqual([
      {labels: {direction: 'inbound'}, value: 10},
      {labels: {direction: 'outbound'}, value: 5},
    ])
    expect(sumBy(fams.get('response_total'), [], (l) => l.classification === 'success')).toEqual([{labels: {}, value: 12}])
    expect(sumBy(undefined, ['x'])).toEqual([])
  })

  it('merges histogram buckets across series and groups', () => {
    expect(histogramBuckets(fams.get('lat'))).toEqual([{labels: {}, value: [{le: 10, count: 2}, {le: 20, count: 8}, {le: Infinity, count: 10}]}])
    expect(histogramBuckets(fams.get('lat'), ['pod'])[1]).toEqual({labels: {pod: 'b'}, value: [{le: 10, count: 0}, {le: 20, count: 4}, {le: Infinity, count: 6}]})
  })

  it('estimates quantiles like PromQL histogram_quantile', () => {
    const b = [{le: 10, count: 2}, {le: 20, count: 8}, {le: Infinity, count: 10}]
    expect(histogramQuantile(0.1, b)).toBe(5) // rank 1 in [0,10] holding 2
    expect(histogramQuantile(0.5, b)).toBeCloseTo(15) // rank 5: 10 + 10 * 3/6
    expect(histogramQuantile(0.8, b)).toBe(20)
    expect(histogramQuantile(0.99, b)).toBe(20) // in the +Inf bucket: the highest finite bound
    expect(histogramQuantile(-1, b)).toBe(-Infinity)
    expect(histogramQuantile(2, b)).toBe(Infinity)
    expect(histogramQuantile(0.5, [{le: 1, count: 0}, {le: Infinity, count: 0}])).toBeNaN()
    expect(histogramQuantile(0.5, [{le: 1, count: 3}, {le: 2, count: 3}])).toBeNaN() // no +Inf
    expect(histogramQuantile(0.5, [{le: Infinity, count: 3}, {le: 2, count: 1}, {le: 1, count: 2}])).toBe(0.75) // sorted, clamped monotonic: rank 1.5 of 2 in [0,1]
  })
})
