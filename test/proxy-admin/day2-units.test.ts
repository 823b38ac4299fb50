// The admin server's day-two parts, alone: the /errors ring (bounded, cut, filtered by identity
// or ip) and the `for` parameter of timed log levels, checked against a reference on generated
// inputs. The endpoints themselves are tested on real sidecars (test/proxy/admin-day2.test.ts,
// failures-admin.test.ts).
import fc from 'fast-check'
import {describe, expect, it, vi} from 'vitest'
import {ERROR_FIELD_MAX, ErrorRing, parseForSeconds, TimedLevel} from '../../src/proxy/admin/index.js'
import {LOG_LEVEL_MAX_SECONDS} from '../../src/protocol/proxy-admin.js'

describe('ErrorRing', () => {
  it('keeps the last `size` entries, newest first, whatever came before', () => {
    fc.assert(fc.property(fc.integer({min: 1, max: 12}), fc.integer({min: 0, max: 50}), (size, n) => {
      let t = 0
      const ring = new ErrorRing(size, () => ++t * 1000)
      for (let i = 0; i < n; i++) ring.failed({direction: 'outbound', peer: `p${i}`, kind: 'NO_ENDPOINTS', message: `m${i}`})
      const got = ring.report().errors.map((e) => e.peer)
      const want = Array.from({length: Math.min(size, n)}, (_, k) => `p${n - 1 - k}`)
      expect(got).toEqual(want)
      expect(ring.recorded).toBe(n)
    }))
  })

  it('cuts every field to its bound and never refuses an entry', () => {
    const ring = new ErrorRing(2)
    ring.failed({direction: 'inbound', peer: 'p'.repeat(5000), authority: 'a'.repeat(5000), kind: 'k'.repeat(500), message: 'm'.repeat(50_000)})
    const [e] = ring.report().errors
    expect([e!.peer.length, e!.authority!.length, e!.kind.length, e!.message.length]).toEqual([ERROR_FIELD_MAX.peer, ERROR_FIELD_MAX.authority, ERROR_FIELD_MAX.kind, ERROR_FIELD_MAX.message])
  })

  it('?peer matches an identity exactly, or the ip of ip:port and [ip]:port', () => {
    const ring = new ErrorRing()
    for (const peer of ['web.shop.serviceaccount.identity.mesh-system.cluster.local', '10.0.0.1:4143', '[fd00::1]:4143', '10.0.0.10:1']) ring.failed({direction: 'inbound', peer, kind: 'x', message: 'y'})
    const peers = (q: string) => ring.report(q).errors.map((e) => e.peer)
    expect(peers('web.shop.serviceaccount.identity.mesh-system.cluster.local')).toEqual(['web.shop.serviceaccount.identity.mesh-system.cluster.local'])
    expect(peers('web.shop')).toEqual([])
    expect(peers('10.0.0.1')).toEqual(['10.0.0.1:4143'])
    expect(peers('fd00::1')).toEqual(['[fd00::1]:4143'])
    expect(peers('10.0.0.1:4143')).toEqual(['10.0.0.1:4143'])
  })
})

describe('the for parameter of a timed log level', () => {
  /** The reference: a canonical decimal integer in 1..LOG_LEVEL_MAX_SECONDS. */
  const reference = (v: string): number | undefined => (/^[0-9]+$/.test(v) && Number(v) >= 1 && Number(v) <= LOG_LEVEL_MAX_SECONDS && v.length <= 6 ? Number(v) : undefined)

  it('accepts exactly whole seconds 1..86400 (generated strings, numbers around the bounds)', () => {
    const values = fc.oneof(fc.string(), fc.integer({min: -10, max: LOG_LEVEL_MAX_SECONDS + 10}).map(String), fc.double().map(String), fc.constantFrom('', '0', '01', '1 ', ' 1', '+1', '1e3', '0x10', '86400', '86401', '000001'))
    fc.assert(fc.property(values, (v) => {
      const got = parseForSeconds([v])
      const want = reference(v)
      if (want === undefined) expect(typeof got).toBe('object')
      else expect(got).toBe(want)
    }))
    expect(parseForSeconds(['1', '1'])).toEqual({problem: 'the parameter "for" is given more than once'})
  })
})

describe('TimedLevel', () => {
  it('puts back the level before the first timed PUT of a chain, once, and an untimed PUT cancels', async () => {
    let level = 'info'
    const reverts: string[] = []
    const t = new TimedLevel({get: () => level, set: (l) => void (level = l), reverted: (l, was) => reverts.push(`${was}->${l}`)})
    t.put('debug', 3600)
    t.put('trace', 3600)
    expect(level).toBe('trace')
    t.put('warn')
    expect(t.pending).toBe(false)
    expect(level).toBe('warn')
    expect(reverts).toEqual([])
    // A bad level (set throws) leaves everything as it was.
    const strict = new TimedLevel({get: () => level, set: (l) => { if (l === 'loud') throw new Error('no'); level = l }})
    expect(() => strict.put('loud', 1)).toThrow('no')
    expect(strict.pending).toBe(false)
  })

  it('a second timed PUT replaces the first timer: nothing fires at the first end; the level before the chain comes back at the second', () => {
    vi.useFakeTimers()
    try {
      let level = 'info'
      const reverts: string[] = []
      const t = new TimedLevel({get: () => level, set: (l) => void (level = l), reverted: (l, was) => reverts.push(`${was}->${l}`)})
      t.put('debug', 1)
      const second = t.put('trace', 3600)
      expect(t.until).toEqual(second)
      vi.advanceTimersByTime(1500)
      expect([level, reverts]).toEqual(['trace', []])
      vi.advanceTimersByTime(3600_000)
      expect([level, reverts, t.until]).toEqual(['info', ['trace->info'], undefined])
    } finally {
      vi.useRealTimers()
    }
  })
})
