// The expiry of "not discovered" answers (src/proxy/discovery/recheck.ts) against a scripted
// Discovery: the switch to the discovered endpoints, the bounds on lookups (one per authority,
// a few overall, a cap on authorities), and nothing left running after close. The end-to-end
// proof with a real destination service is in orig-dst.test.ts.
import {describe, expect, it} from 'vitest'
import type {Discovery, EndpointSet, Resolution} from '../../src/proxy/core/contracts.js'
import {OrigDstFallback} from '../../src/proxy/discovery/orig-dst-fallback.js'
import {Rechecker} from '../../src/proxy/discovery/recheck.js'
import {eventually} from '../helpers/eventually.js'

const MESHED: EndpointSet = {endpoints: [{host: '127.0.0.1', port: 4143, identity: 'db.shop.serviceaccount.identity.mesh-system.cluster.local', labels: {dst_service: 'db'}}]}

/** Answers null until `known` holds the authority; each lookup takes `ms`; counts what it is asked. */
class Scripted implements Discovery {
  readonly known = new Set<string>()
  readonly asked: string[] = []
  running = 0
  maxRunning = 0
  readonly perKey = new Map<string, number>()
  maxPerKey = 0
  closedResolutions = 0
  constructor(private readonly ms = 0) {}

  async resolve(authority: string): Promise<Resolution | null> {
    this.asked.push(authority)
    this.running++
    this.maxRunning = Math.max(this.maxRunning, this.running)
    this.perKey.set(authority, (this.perKey.get(authority) ?? 0) + 1)
    this.maxPerKey = Math.max(this.maxPerKey, this.perKey.get(authority)!)
    await new Promise((r) => setTimeout(r, this.ms))
    this.running--
    this.perKey.set(authority, this.perKey.get(authority)! - 1)
    if (!this.known.has(authority)) return null
    return {current: () => MESHED, onChange: () => () => {}, close: () => void this.closedResolutions++}
  }

  close(): void {}
}

describe('"not discovered" answers expire', () => {
  it('an IP authority is direct at first, then switches to the discovered endpoints and says so', async () => {
    const inner = new Scripted()
    const fallback = new OrigDstFallback(inner, {minMs: 30, maxMs: 60})
    const r = (await fallback.resolve('10.96.0.12:80'))!
    expect(r.current()).toEqual({endpoints: [{host: '10.96.0.12', port: 80, labels: {}}]})
    expect(fallback.isExternal('10.96.0.12:80')).toBe(true)
    const seen: EndpointSet[] = []
    r.onChange((s) => seen.push(s))
    await eventually('a few re-asks', () => (inner.asked.length >= 3 ? true : undefined))
    expect(seen).toEqual([])
    inner.known.add('10.96.0.12:80')
    await eventually('the switch', () => (seen.length > 0 ? true : undefined))
    expect(seen).toEqual([MESHED])
    expect(r.current()).toEqual(MESHED)
    expect(fallback.isExternal('10.96.0.12:80')).toBe(false)
    const asked = inner.asked.length
    // A fixed pause on purpose: "no re-ask once switched" is a negative no event can announce.
    await new Promise((res) => setTimeout(res, 200))
    expect(inner.asked.length).toBe(asked)
    r.close()
    expect(inner.closedResolutions).toBe(1)
    fallback.close()
  })

  it('names, loopback and unspecified addresses are not re-asked: null, as before', async () => {
    const inner = new Scripted()
    const fallback = new OrigDstFallback(inner, {minMs: 10, maxMs: 10})
    for (const a of ['example.com:443', '127.0.0.1:8080', '0.0.0.0:80', '[::1]:80', 'localhost:4140']) expect(await fallback.resolve(a)).toBeNull()
    expect(fallback.rechecker.watching()).toBe(0)
    expect(await fallback.resolve('[fd00::7]:9000')).not.toBeNull()
    expect(fallback.rechecker.watching()).toBe(1)
    fallback.close()
    expect(fallback.rechecker.watching()).toBe(0)
  })

  it('bounds: one lookup per authority, maxInFlight overall, maxKeys authorities', async () => {
    const inner = new Scripted(40)
    const fallback = new OrigDstFallback(inner, {minMs: 5, maxMs: 10, maxInFlight: 3, maxKeys: 20})
    const held: Resolution[] = []
    for (let i = 1; i <= 25; i++) {
      const r = await fallback.resolve(`10.96.1.${i}:80`)
      if (r) held.push(r)
    }
    expect(held).toHaveLength(20)
    expect(fallback.rechecker.watching()).toBe(20)
    // From here on only re-asks run (the router's own first lookups above are done).
    inner.maxRunning = 0
    const first = inner.asked.length
    await eventually('60 re-asks', () => (inner.asked.length - first >= 60 ? true : undefined), 60_000)
    expect(inner.maxRunning).toBeLessThanOrEqual(3)
    expect(inner.maxPerKey).toBe(1)
    // The 5 beyond the cap were asked once (by resolve) and never again.
    for (let i = 21; i <= 25; i++) expect(inner.asked.filter((a) => a === `10.96.1.${i}:80`)).toHaveLength(1)
    fallback.close()
    // Fixed pauses on purpose: asks already running may still land, then "no ask after close"
    // is a negative no event can announce.
    await new Promise((res) => setTimeout(res, 100))
    const after = inner.asked.length
    await new Promise((res) => setTimeout(res, 200))
    expect(inner.asked.length).toBe(after)
  })

  it('a discovery answer that arrives after close is closed, not used', async () => {
    const inner = new Scripted(300)
    inner.known.add('10.96.0.9:80')
    const rechecker = new Rechecker(inner, {minMs: 1, maxMs: 1})
    const seen: EndpointSet[] = []
    const r = rechecker.watch('10.96.0.9:80', {host: '10.96.0.9', port: 80}, () => {})!
    r.onChange((s) => seen.push(s))
    await eventually('the lookup to start', () => (inner.asked.length > 0 ? true : undefined), {timeoutMs: 5000, intervalMs: 5})
    expect(inner.running).toBe(1)
    r.close()
    await eventually('the lookup to end', () => (inner.closedResolutions > 0 ? true : undefined))
    expect(seen).toEqual([])
    expect(rechecker.running()).toBe(0)
  })

  it('the wait grows from minMs to maxMs, jittered by at most a fifth', () => {
    const r = new Rechecker(new Scripted(), {minMs: 5000, maxMs: 60_000})
    for (let i = 0; i < 50; i++) {
      expect(r.delay(0)).toBeGreaterThanOrEqual(4000)
      expect(r.delay(0)).toBeLessThanOrEqual(6000)
      expect(r.delay(2)).toBeGreaterThanOrEqual(16_000)
      expect(r.delay(2)).toBeLessThanOrEqual(24_000)
      expect(r.delay(40)).toBeGreaterThanOrEqual(48_000)
      expect(r.delay(40)).toBeLessThanOrEqual(72_000)
    }
  })
})
