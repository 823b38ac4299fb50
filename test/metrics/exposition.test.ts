import {describe, expect, it} from 'vitest'
import {Registry, escapeHelp, escapeLabelValue, registerBuildInfo, registerProcessMetrics} from '../../src/metrics/index.js'

describe('exposition format 0.0.4', () => {
  it('renders HELP, TYPE and labelled counter and gauge samples', () => {
    const r = new Registry()
    const c = r.counter({name: 'req_total', help: 'Requests.', labelNames: ['method', 'code']})
    c.labels('GET', '200').inc()
    c.labels('GET', '200').inc(2)
    c.labels('POST', '500').inc()
    r.gauge({name: 'temp', help: 'A gauge.'}).labels().set(-1.5)
    expect(r.metrics()).toBe(
      '# HELP req_total Requests.\n# TYPE req_total counter\n' +
        'req_total{method="GET",code="200"} 3\nreq_total{method="POST",code="500"} 1\n' +
        '# HELP temp A gauge.\n# TYPE temp gauge\ntemp -1.5\n',
    )
  })

  it('returns the same cached child for the same label values', () => {
    const c = new Registry().counter({name: 'x_total', help: 'x', labelNames: ['a', 'b']})
    expect(c.labels('1', '2')).toBe(c.child(['1', '2']))
    expect(c.labels('1', '2')).not.toBe(c.labels('12', ''))
    expect(c.size).toBe(2)
  })

  it('escapes label values and help text', () => {
    expect(escapeLabelValue('a\\b"c\nd')).toBe('a\\\\b\\"c\\nd')
    expect(escapeHelp('a\\b"c\nd')).toBe('a\\\\b"c\\nd')
    const r = new Registry()
    r.counter({name: 'e_total', help: 'line1\nline2', labelNames: ['v']}).labels('say "hi"\\\n').inc()
    expect(r.metrics()).toContain('# HELP e_total line1\\nline2\n')
    expect(r.metrics()).toContain('e_total{v="say \\"hi\\"\\\\\\n"} 1\n')
  })

  it('leaves out empty label values', () => {
    const r = new Registry()
    r.counter({name: 'e_total', help: 'h', labelNames: ['a', 'b', 'c']}).labels('', 'x', '').inc()
    expect(r.metrics()).toContain('e_total{b="x"} 1\n')
  })

  it('renders histograms with cumulative le buckets, +Inf, _sum and _count', () => {
    const r = new Registry()
    const h = r.histogram({name: 'lat_ms', help: 'Latency.', labelNames: ['route'], buckets: [1, 5, 10]})
    const child = h.labels('/a')
    for (const v of [0.5, 1, 3, 7, 100]) child.observe(v)
    r.histogram({name: 'bare', help: 'No labels.', buckets: [1]}).labels().observe(2)
    expect(r.metrics()).toBe(
      '# HELP lat_ms Latency.\n# TYPE lat_ms histogram\n' +
        'lat_ms_bucket{route="/a",le="1"} 2\nlat_ms_bucket{route="/a",le="5"} 3\nlat_ms_bucket{route="/a",le="10"} 4\n' +
        'lat_ms_bucket{route="/a",le="+Inf"} 5\nlat_ms_sum{route="/a"} 111.5\nlat_ms_count{route="/a"} 5\n' +
        '# HELP bare No labels.\n# TYPE bare histogram\nbare_bucket{le="1"} 0\nbare_bucket{le="+Inf"} 1\nbare_sum 2\nbare_count 1\n',
    )
  })

  it('rejects bad names, wrong label counts, reserved labels, decreasing counters and unsorted buckets', () => {
    const r = new Registry()
    expect(() => r.counter({name: '1bad', help: 'x'})).toThrow(/invalid metric name/)
    expect(() => r.counter({name: 'ok_total', help: 'x', labelNames: ['__x']})).toThrow(/invalid label name/)
    expect(() => r.counter({name: 'ok_total', help: 'x', labelNames: ['a-b']})).toThrow(/invalid label name/)
    const c = r.counter({name: 'ok_total', help: 'x', labelNames: ['a']})
    expect(() => c.labels()).toThrow(/expected 1 label values/)
    expect(() => c.labels('x').inc(-1)).toThrow(/only goes up/)
    expect(() => r.counter({name: 'ok_total', help: 'x'})).toThrow(/already registered/)
    expect(() => r.histogram({name: 'h', help: 'x', labelNames: ['le'], buckets: [1]})).toThrow(/reserved/)
    expect(() => r.histogram({name: 'h2', help: 'x', buckets: [2, 1]})).toThrow(/strictly increasing/)
  })

  it('caps the number of series and counts the overflow', () => {
    const r = new Registry()
    const c = r.counter({name: 'cap_total', help: 'x', labelNames: ['a'], maxSeries: 2})
    c.labels('1').inc()
    c.labels('2').inc()
    c.labels('3').inc()
    c.labels('4').inc()
    expect(c.size).toBe(2)
    expect(c.overflow).toBe(2)
    expect(r.metrics()).not.toContain('a="3"')
  })

  it('renders NaN and infinities the Prometheus way', () => {
    const r = new Registry()
    const g = r.gauge({name: 'g', help: 'x', labelNames: ['k']})
    g.labels('nan').set(NaN)
    g.labels('inf').set(Infinity)
    g.labels('ninf').set(-Infinity)
    expect(r.metrics()).toContain('g{k="nan"} NaN\ng{k="inf"} +Inf\ng{k="ninf"} -Inf\n')
  })
})

describe('process metrics and build info', () => {
  it('reads CPU, memory, start time and file descriptors from this process', () => {
    const r = new Registry()
    registerProcessMetrics(r)
    registerBuildInfo(r, '1.2.3')
    const text = r.metrics()
    const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1])
    expect(value('process_cpu_seconds_total')).toBeGreaterThan(0)
    expect(value('process_resident_memory_bytes')).toBeGreaterThan(10 * 1024 * 1024)
    expect(value('process_virtual_memory_bytes')).toBeGreaterThan(value('process_resident_memory_bytes'))
    expect(Math.abs(value('process_start_time_seconds') - (Date.now() / 1000 - process.uptime()))).toBeLessThan(2)
    expect(value('process_open_fds')).toBeGreaterThan(2)
    expect(value('process_max_fds')).toBeGreaterThanOrEqual(value('process_open_fds'))
    expect(text).toContain('mesh_proxy_build_info{version="1.2.3"} 1\n')
  })

  it('counts a newly opened file descriptor', async () => {
    const {open} = await import('node:fs/promises')
    const r = new Registry()
    registerProcessMetrics(r)
    const fds = () => Number(/^process_open_fds (\d+)$/m.exec(r.metrics())?.[1])
    const before = fds()
    const handle = await open('/proc/self/stat')
    try {
      expect(fds()).toBe(before + 1)
    } finally {
      await handle.close()
    }
  })
})
