// The shared eventually(): both argument orders, a probe that throws is retried, the timeout
// names what was awaited with the probe's last error and the caller's context, and per-suite
// defaults apply only where the call gives none.
import {describe, expect, it} from 'vitest'
import {eventually, eventuallyWith} from './eventually.js'

describe('eventually()', () => {
  it('returns the first defined value, in either argument order, retrying a probe that throws', async () => {
    let n = 0
    const probe = async (): Promise<number | undefined> => {
      n++
      if (n === 1) throw new Error('not yet')
      return n >= 3 ? n : undefined
    }
    expect(await eventually('three tries', probe, {intervalMs: 5})).toBe(3)
    n = 0
    expect(await eventually(probe, 'three tries', {intervalMs: 5})).toBe(3)
    expect(await eventually('false is a value', () => false, 100)).toBe(false)
  })

  it('times out naming what it waited for, the last error and the context', async () => {
    const started = Date.now()
    await expect(eventually('the moon', () => Promise.reject(new Error('still night')), {timeoutMs: 150, intervalMs: 20, context: () => 'harness: 2 pods'}))
      .rejects.toThrow(/^timed out after 150 ms waiting for the moon: still night\nharness: 2 pods$/)
    expect(Date.now() - started).toBeGreaterThanOrEqual(140)
    await expect(eventually(() => undefined, 'nothing', 50)).rejects.toThrow(/^timed out after 50 ms waiting for nothing$/)
  })

  it('per-suite defaults, overridden per call', async () => {
    let probes = 0
    const e = eventuallyWith({timeoutMs: 120, intervalMs: 50})
    await expect(e('x', () => void probes++)).rejects.toThrow('timed out after 120 ms')
    expect(probes).toBeGreaterThanOrEqual(2)
    expect(probes).toBeLessThanOrEqual(5)
    await expect(e('y', () => undefined, 30)).rejects.toThrow('timed out after 30 ms')
  })
})
