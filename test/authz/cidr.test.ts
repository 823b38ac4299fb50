// Networks in authorization policy, checked differentially: the parser against Node's own
// address parser (net.isIPv4/isIPv6) and the CRD's pattern (CIDR_PATTERN, run by re2js as the
// API server runs it with RE2), and matching against Node's net.BlockList, on generated inputs
// (addresses of every shape, near misses, garbage). The three grammars must agree exactly:
// what the API server admits the controller reads, and vice versa.
import net from 'node:net'
import fc from 'fast-check'
import {RE2JS} from 're2js'
import {describe, expect, it} from 'vitest'
import {CIDR_PATTERN, cidrContains, compileNetworks, formatCidr, formatIp, parseCidr, parseIp} from '../../src/authz/cidr.js'

const pattern = RE2JS.compile(CIDR_PATTERN)
/** The CRD's rule: `self.matches(CIDR_PATTERN)` (RE2's find: the pattern is anchored). */
const schemaAccepts = (s: string): boolean => pattern.matcher(s).find()

/** Node's view of an address, minus what the policy grammar leaves out on purpose (zones, embedded IPv4). */
function nodeAccepts(addr: string): boolean {
  if (addr.includes('%')) return false
  if (net.isIPv4(addr)) return true
  return net.isIPv6(addr) && !addr.includes('.')
}

function nodeCidr(s: string): boolean {
  const slash = s.indexOf('/')
  const addr = slash === -1 ? s : s.slice(0, slash)
  if (!nodeAccepts(addr)) return false
  if (slash === -1) return true
  const p = s.slice(slash + 1)
  return /^(0|[1-9][0-9]*)$/.test(p) && Number(p) <= (net.isIPv4(addr) ? 32 : 128)
}

const hexGroup = fc.integer({min: 0, max: 0xffff}).chain((n) => fc.constantFrom(n.toString(16), n.toString(16).toUpperCase(), n.toString(16).padStart(4, '0')))
const octet = fc.oneof(fc.integer({min: 0, max: 255}).map(String), fc.constantFrom('256', '00', '01', '010', '999', '-1', ''))
const v4 = fc.array(octet, {minLength: 3, maxLength: 5}).map((o) => o.join('.'))
const v6 = fc.tuple(fc.array(hexGroup, {minLength: 0, maxLength: 9}), fc.integer({min: -1, max: 9}), fc.boolean()).map(([groups, at, double]) => {
  if (!double || at < 0) return groups.join(':')
  const i = Math.min(at, groups.length)
  return `${groups.slice(0, i).join(':')}::${groups.slice(i).join(':')}`
})
const prefix = fc.oneof(fc.constant(''), fc.integer({min: 0, max: 140}).map((n) => `/${n}`), fc.constantFrom('/', '/01', '/-1', '/ 8', '/08', '/1e1'))
const noise = fc.string({maxLength: 12, unit: fc.constantFrom(...'0123456789abcdefABCDEF:./%x -'.split(''))})
const candidate = fc.oneof(
  fc.tuple(v4, prefix).map(([a, p]) => a + p),
  fc.tuple(v6, prefix).map(([a, p]) => a + p),
  noise,
  fc.tuple(v6, fc.constantFrom('%eth0', ':1.2.3.4', '.1')).map(([a, t]) => a + t),
)

describe('parsing (differential)', () => {
  it('the parser, Node and the CRD pattern agree on 20,000 generated strings', () => {
    fc.assert(
      fc.property(candidate, (s) => {
        const syntax = parseCidr(s)
        // parseCidr also refuses host bits; its grammar is "ok, or refused for host bits".
        const grammar = syntax.ok || syntax.problem.includes('host bits')
        expect({s, grammar}).toEqual({s, grammar: nodeCidr(s)})
        expect({s, schema: schemaAccepts(s)}).toEqual({s, schema: nodeCidr(s)})
      }),
      {numRuns: 20_000},
    )
  })

  it('addresses agree with Node and print canonically (RFC 5952), and the print parses back to the same bytes', () => {
    fc.assert(
      fc.property(fc.oneof(v4, v6), (s) => {
        const ip = parseIp(s)
        expect(ip !== undefined).toBe(nodeAccepts(s))
        if (!ip) return
        const text = formatIp(ip)
        expect(parseIp(text)!.bytes).toEqual(ip.bytes)
        if (ip.family === 6) {
          // Node prints the canonical form too (URL host serialisation follows RFC 5952).
          expect(text).toBe(new URL(`http://[${s}]/`).hostname.slice(1, -1))
        }
      }),
      {numRuns: 10_000},
    )
  })

  it('refuses host bits with the fix, and a bare address is one host', () => {
    expect(parseCidr('10.1.2.3/8')).toEqual({ok: false, problem: '"10.1.2.3/8" has host bits set: write 10.0.0.0/8 for the network, or 10.1.2.3/32 for the one address'})
    expect(parseCidr('fd00::1/8')).toMatchObject({ok: false, problem: expect.stringContaining('write fd00::/8 for the network, or fd00::1/128')})
    const one = parseCidr('192.168.1.7')
    expect(one.ok && formatCidr(one.cidr)).toBe('192.168.1.7/32')
    expect(parseCidr('0.0.0.0/0').ok).toBe(true)
    expect(parseCidr('::/0').ok).toBe(true)
    for (const bad of ['', '10.0.0.0/33', '::/129', '010.0.0.0/8', '10.0.0.0/08', '::ffff:10.0.0.0/104', 'fe80::/10%eth0', '1::2::3/64', 'x'.repeat(100)]) {
      expect({bad, ok: parseCidr(bad).ok}).toEqual({bad, ok: false})
    }
  })
})

describe('matching (differential against net.BlockList)', () => {
  const cidrs = fc.oneof(
    fc.tuple(fc.array(fc.integer({min: 0, max: 255}), {minLength: 4, maxLength: 4}), fc.integer({min: 0, max: 32})).map(([b, p]) => ({text: b.join('.'), p, family: 4 as const})),
    fc.tuple(fc.array(fc.integer({min: 0, max: 0xffff}), {minLength: 8, maxLength: 8}), fc.integer({min: 0, max: 128})).map(([g, p]) => ({text: g.map((x) => x.toString(16)).join(':'), p, family: 6 as const})),
  )
  /** The network of an address and prefix (host bits cleared), as parseCidr wants it. */
  const network = (text: string, p: number): string => {
    const ip = parseIp(text)!
    const bytes = ip.bytes.map((b, i) => b & ((0xff << (8 - Math.max(0, Math.min(8, p - 8 * i)))) & 0xff))
    return formatCidr({...ip, bytes, prefix: p})
  }
  const near = (c: {text: string}) => fc.oneof(
    fc.constant(c.text),
    fc.array(fc.integer({min: 0, max: 255}), {minLength: 4, maxLength: 4}).map((b) => b.join('.')),
    fc.array(fc.integer({min: 0, max: 0xffff}), {minLength: 8, maxLength: 8}).map((g) => g.map((x) => x.toString(16)).join(':')),
    fc.array(fc.integer({min: 0, max: 255}), {minLength: 4, maxLength: 4}).map((b) => `::ffff:${b.join('.')}`),
  )

  it('contains() agrees with BlockList.check on 20,000 generated networks, exceptions and clients', () => {
    fc.assert(
      fc.property(cidrs.chain((c) => fc.tuple(fc.constant(c), cidrs, near(c))), ([c, x, client]) => {
        const cidr = network(c.text, c.p)
        const except = network(x.text, x.p)
        const m = compileNetworks([{cidr, except: [except]}])
        // BlockList does not unmap ::ffff:a.b.c.d for IPv4 rules (the proxy's sockets report such
        // clients that way), and lets an IPv6 rule hold IPv4 addresses; policy networks are
        // per family (as Go's netip and NetworkPolicy ipBlocks are): ::/0 is every IPv6 client only.
        const plain = client.startsWith('::ffff:') ? client.slice(7) : client
        const fam = plain.includes(':') ? 'ipv6' : 'ipv4'
        const list = (s: string) => {
          const b = new net.BlockList()
          const [a, p] = s.split('/') as [string, string]
          const family = a.includes(':') ? 'ipv6' : 'ipv4'
          b.addSubnet(a, Number(p), family)
          return {check: (addr: string, f: string) => f === family && b.check(addr, f)}
        }
        const expected = list(cidr).check(plain, fam) && !list(except).check(plain, fam)
        expect({cidr, except, client, in: m.contains(client)}).toEqual({cidr, except, client, in: expected})
        const parsed = parseCidr(cidr)
        expect(parsed.ok && cidrContains(parsed.cidr, parseIp(plain)!)).toBe(list(cidr).check(plain, fam))
      }),
      {numRuns: 20_000},
    )
  })

  it('a client address that is not an address matches nothing, and a bad network in a message matches nothing', () => {
    const m = compileNetworks([{cidr: '0.0.0.0/0'}, {cidr: '::/0'}])
    for (const junk of ['', 'localhost', '1.2.3', '1.2.3.4.5', '01.2.3.4', 'fe80::1%lo', '::ffff:999.1.1.1']) expect({junk, in: m.contains(junk)}).toEqual({junk, in: false})
    expect(m.contains('::ffff:a00:5')).toBe(true)
    expect(compileNetworks([{cidr: '10.0.0.1/8'}]).contains('10.0.0.1')).toBe(false)
  })
})
