// The one authority parser (src/proxy/config/authority.ts): the forms it accepts and normalises, what it
// refuses and why, and, on generated inputs, agreement with the URL standard's host parser (Node's
// URL) wherever it accepts an authority: same host, same port. It is stricter than URL (no
// userinfo, no sub-delims in names), never looser. And the loop guard's address checks.
import fc from 'fast-check'
import {describe, expect, it} from 'vitest'
import {checkAuthority, normalizeAuthority, parseAuthority, type Authority} from '../../src/proxy/config/authority.js'
import {LoopGuard} from '../../src/proxy/route/loop-guard.js'

function ok(input: string, defaultPort = 80): Authority {
  const a = parseAuthority(input, defaultPort)
  if (typeof a === 'string') throw new Error(`${JSON.stringify(input)} refused: ${a}`)
  return a
}

/** What Node's URL (the WHATWG host parser) makes of `http://<input>/`, or undefined. */
function whatwg(input: string): {host: string, port: number} | undefined {
  try {
    const u = new URL(`http://${input}/`)
    if (u.username !== '' || u.password !== '' || u.pathname !== '/' || u.search !== '' || u.hash !== '') return undefined
    const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname
    return {host, port: u.port === '' ? 80 : Number(u.port)}
  } catch {
    return undefined
  }
}

describe('authority parser', () => {
  it('normalises names, ports and IP literals', () => {
    expect(ok('Web.Shop.svc.cluster.local')).toMatchObject({host: 'web.shop.svc.cluster.local', port: 80, kind: 'name', text: 'web.shop.svc.cluster.local:80'})
    expect(ok('web:8080').text).toBe('web:8080')
    expect(ok('web', 443).text).toBe('web:443')
    expect(ok('web.local.:80').text).toBe('web.local.:80')
    expect(ok('my_svc-1:80').text).toBe('my_svc-1:80')
    expect(ok('10.96.0.10:80')).toMatchObject({host: '10.96.0.10', kind: 'ipv4'})
    expect(ok('[::1]:4140')).toMatchObject({host: '::1', port: 4140, kind: 'ipv6', text: '[::1]:4140'})
    expect(ok('[FD00::0001]').text).toBe('[fd00::1]:80')
    expect(ok('[::ffff:127.0.0.1]:1').text).toBe('[::ffff:7f00:1]:1')
    expect(ok('web:080').port).toBe(80)
    expect(ok('web:65535').port).toBe(65535)
  })

  it('reads every numeric IPv4 form as the address it names', () => {
    for (const form of ['127.1', '2130706433', '0x7f.1', '0x7f000001', '017700000001', '127.0.1', '0177.0.0.1', '127.0.0.1.']) {
      expect(ok(`${form}:4140`).text, form).toBe('127.0.0.1:4140')
    }
    expect(ok('0:80').text).toBe('0.0.0.0:80')
  })

  it('refuses what is not an authority, naming the problem', () => {
    const cases: Array<[string, RegExp]> = [
      ['foo.local:abc', /port "abc" is not 1-65535/],
      ['foo.local:99999', /port "99999" is not 1-65535/],
      ['foo.local:0', /port "0"/],
      ['foo.local:', /port "" is not/],
      ['foo.local:-1', /port "-1"/],
      ['foo.local:+80', /port "\+80"/],
      ['foo.local: 80', /port/],
      ['', /empty authority/],
      [':80', /empty host/],
      ['user@web:80', /userinfo/],
      ['user:pw@web:80', /userinfo|IPv6/],
      ['web app:80', /a space/],
      ['web\tapp', /a control character/],
      ['web\u0000', /a control character/],
      ['wéb', /non-ASCII/],
      ['web/x', /"\/"/],
      ['web..local', /empty label/],
      ['.web', /empty label/],
      ['::1', /brackets/],
      ['[::1', /closing/],
      ['[::1]x', /unexpected/],
      ['[::1]:', /port/],
      ['[fe80::1%eth0]', /not an IPv6/],
      ['[1.2.3.4]', /not an IPv6/],
      ['256.0.0.1', /not an IPv4/],
      ['1.2.3.4.5', /not an IPv4/],
      ['0x100000000', /not an IPv4/],
      ['1.0x1000000', /not an IPv4/],
      ['09.1', /not an IPv4/],
      ['a.b.1', /not an IPv4/],
      ['x'.repeat(64) + '.local', /label longer than 63/],
      [('a'.repeat(60) + '.').repeat(4) + 'abcdefghij', /longer than 253/],
      ['a'.repeat(301), /longer than 300/],
    ]
    for (const [input, problem] of cases) {
      const a = parseAuthority(input, 80)
      expect(typeof a, JSON.stringify(input)).toBe('string')
      expect(a, JSON.stringify(input)).toMatch(problem)
      // The problem quotes only printable ASCII (it becomes a header value).
      expect(a as string).toMatch(/^[\x20-\x7e]*$/)
    }
  })

  it('normalizeAuthority passes a refused authority on (lower-cased) for the side to refuse; checkAuthority names the problem', () => {
    expect(normalizeAuthority('Foo.Local:ABC', 80)).toBe('foo.local:abc')
    expect(checkAuthority('foo.local:abc')).toMatch(/port "abc"/)
    expect(normalizeAuthority('127.1:4140', 80)).toBe('127.0.0.1:4140')
    expect(checkAuthority('127.0.0.1:4140')).toMatchObject({host: '127.0.0.1', port: 4140})
    expect(checkAuthority('web')).toBe('no port')
  })

  it('agrees with the URL standard on every authority it accepts (generated inputs)', () => {
    const label = fc.stringMatching(/^[a-zA-Z0-9_-]{1,12}$/)
    const name = fc.array(label, {minLength: 1, maxLength: 4}).map((ls) => ls.join('.'))
    const octet = fc.integer({min: 0, max: 300})
    const numericPart = fc.oneof(
      octet.map(String),
      octet.map((n) => `0x${n.toString(16)}`),
      octet.map((n) => `0${n.toString(8)}`),
      fc.integer({min: 0, max: 2 ** 32 + 5}).map(String),
    )
    const ipv4ish = fc.array(numericPart, {minLength: 1, maxLength: 5}).map((ps) => ps.join('.'))
    const ipv6 = fc.ipV6().map((a) => `[${a}]`)
    const junk = fc.string({unit: fc.constantFrom('a', '1', '.', ':', '@', '[', ']', '-', '_', ' ', '%', 'x', '0', '/', '?', '#', '\t'), maxLength: 16})
    const port = fc.oneof(fc.constant(''), fc.integer({min: 0, max: 70_000}).map((p) => `:${p}`), fc.stringMatching(/^:[0-9a-z]{0,6}$/))
    const input = fc.tuple(fc.oneof(name, ipv4ish, ipv6, junk), port).map(([h, p]) => h + p)
    let accepted = 0
    fc.assert(fc.property(input, (text) => {
      const mine = parseAuthority(text, 80)
      if (typeof mine === 'string') return
      accepted++
      const theirs = whatwg(text)
      expect(theirs, text).toBeDefined()
      expect(mine.host, text).toBe(theirs!.host)
      expect(mine.port, text).toBe(theirs!.port)
      // Normalising is idempotent.
      expect(parseAuthority(mine.text, 0)).toEqual(mine)
    }), {numRuns: 5000})
    expect(accepted).toBeGreaterThan(1000)
  })

  it('never throws and always answers within its bounds (generated inputs)', () => {
    fc.assert(fc.property(fc.string({maxLength: 400}), fc.integer({min: 1, max: 65535}), (text, def) => {
      const a = parseAuthority(text, def)
      if (typeof a === 'string') expect(a.length).toBeLessThan(200)
      else expect(a.port).toBeGreaterThanOrEqual(1)
    }), {numRuns: 3000})
  })
})

describe('loop guard', () => {
  const guard = new LoopGuard([4140, 4143])

  it('knows this host by address, in every form, only on the proxy\'s own ports', () => {
    for (const ip of ['127.0.0.1', '127.3.2.1', '::1', '0.0.0.0', '::', '::ffff:127.0.0.1', '::ffff:7f00:1']) {
      expect(guard.isSelf(ip, 4140), ip).toBe(true)
    }
    expect(guard.isSelf('127.0.0.1', 8080)).toBe(false)
    expect(guard.isSelf('localhost', 4143)).toBe(true)
    expect(guard.isSelf('api.localhost', 4143)).toBe(true)
    expect(guard.isSelf('web.local', 4140)).toBe(false)
    expect(guard.isSelf('198.51.100.7', 4140)).toBe(false)
  })

  it('knows the host\'s interface addresses', async () => {
    const os = await import('node:os')
    const external = Object.values(os.networkInterfaces()).flat().find((a) => a && !a.internal)
    if (!external) return expect(guard.isLocal('127.0.0.1')).toBe(true)
    expect(guard.isSelf(external.address, 4140)).toBe(true)
  })

  it('fails a lookup whose name resolves to this proxy, and counts it', async () => {
    let loops = 0
    const g = new LoopGuard([4140], () => loops++)
    const lookup = g.lookupFor(4140)
    const err = await new Promise<Error | null>((resolve) => lookup('localhost', {all: true}, (e) => resolve(e)))
    expect(err?.message).toMatch(/is this proxy/)
    expect(loops).toBe(1)
    const fine = await new Promise<unknown>((resolve) => g.lookupFor(8080)('localhost', {all: true}, (e, addrs) => resolve(e ?? addrs)))
    expect(Array.isArray(fine)).toBe(true)
  })
})
