import {describe, expect, it} from 'vitest'
import {parseDuration} from '../../src/check/duration.js'
import {UsageError} from '../../src/lib/errors.js'

describe('parseDuration', () => {
  it('reads Go-style durations and bare seconds', () => {
    expect(parseDuration('30s')).toBe(30_000)
    expect(parseDuration('5m')).toBe(300_000)
    expect(parseDuration('1m30s')).toBe(90_000)
    expect(parseDuration('1h2m3s500ms')).toBe(3_723_500)
    expect(parseDuration('1.5s')).toBe(1500)
    expect(parseDuration('45')).toBe(45_000)
    expect(parseDuration('0')).toBe(0)
  })

  it('rejects what is not a duration with a usage error naming the flag and the value', () => {
    for (const bad of ['', 'soon', '5 m', '5x', 'm5', '-1s']) {
      expect(() => parseDuration(bad)).toThrow(UsageError)
    }
    expect(() => parseDuration('soon')).toThrow('--wait "soon" is not a duration')
    expect(() => parseDuration('25h')).toThrow('longer than 24h')
  })
})
