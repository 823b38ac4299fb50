// --request-timeout as kubectl reads it: Go durations or bare seconds, 0 for no limit; and the
// way durations are written back in messages.
import {describe, expect, it} from 'vitest'
import {formatDuration, parseRequestTimeout} from '../../src/lib/duration.js'
import {UsageError} from '../../src/lib/errors.js'

describe('--request-timeout', () => {
  it('reads kubectl\'s forms: 30s, 1m, 1m30s, 500ms, bare seconds, 0 for no limit', () => {
    expect(parseRequestTimeout('30s')).toBe(30_000)
    expect(parseRequestTimeout('1m')).toBe(60_000)
    expect(parseRequestTimeout('1m30s')).toBe(90_000)
    expect(parseRequestTimeout('500ms')).toBe(500)
    expect(parseRequestTimeout('45')).toBe(45_000)
    expect(parseRequestTimeout('0')).toBe(0)
  })

  it('refuses what is not a duration, and more than a day, as usage errors naming the flag', () => {
    for (const bad of ['', 'soon', '-1s', '5 m', '1d']) expect(() => parseRequestTimeout(bad)).toThrow(UsageError)
    expect(() => parseRequestTimeout('soon')).toThrow('--request-timeout "soon" is not a duration')
    expect(() => parseRequestTimeout('25h')).toThrow('--request-timeout 25h is longer than 24h')
  })

  it('durations in messages read as people write them', () => {
    expect([250, 1500, 2000, 30_000, 90_000, 3_600_000, 3_723_000].map(formatDuration)).toEqual(['250ms', '1.5s', '2s', '30s', '1m30s', '1h', '1h2m3s'])
  })
})
