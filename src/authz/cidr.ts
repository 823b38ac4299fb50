// Networks for authorization policy: IPv4 and IPv6 addresses and CIDRs, parsed strictly (the
// same grammar the CRD's CEL rules accept, CIDR_PATTERN below), checked for host bits, printed
// canonically, and matched against a client address. The proxy half matches with
// `compileNetworks`: IPv4 as 32-bit integers, IPv6 as bytes, no allocation per check.
//
// Grammar: IPv4 dotted quads (no leading zeros: 010.0.0.1 is refused, as Go's netip and
// Node's isIPv4 do); IPv6 hex groups with at most one `::`, any case, no zone (`%eth0`) and no
// embedded IPv4 (`::ffff:10.0.0.1`: write the IPv4 network instead); an optional `/prefix`
// (0-32, 0-128, no leading zeros); a bare address is a /32 or /128.

export interface Ip {
  family: 4 | 6
  /** 4 or 16 bytes, network order. */
  bytes: Uint8Array
}

export interface Cidr extends Ip {
  prefix: number
}

const OCTET = '(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])'
const IPV4 = `(${OCTET}[.]){3}${OCTET}`
const H = '[0-9a-fA-F]{1,4}'
const IPV6 = [
  `(${H}:){7}${H}`,
  `(${H}:){1,7}:`,
  `(${H}:){1,6}:${H}`,
  `(${H}:){1,5}(:${H}){1,2}`,
  `(${H}:){1,4}(:${H}){1,3}`,
  `(${H}:){1,3}(:${H}){1,4}`,
  `(${H}:){1,2}(:${H}){1,5}`,
  `${H}:(:${H}){1,6}`,
  `:((:${H}){1,7}|:)`,
].join('|')

/**
 * The grammar above as one RE2 pattern without backslashes (it is written into a CEL string in
 * the CRD, where `\` would be an escape): what the API server accepts for a `cidr` or `except`.
 */
export const CIDR_PATTERN = `^(${IPV4}(/(3[0-2]|[12]?[0-9]))?|(${IPV6})(/(12[0-8]|1[01][0-9]|[1-9]?[0-9]))?)$`

/** Longest CIDR text accepted (an IPv6 address in full with a prefix is 43 characters). */
export const MAX_CIDR_LENGTH = 64

function parseV4(s: string): Uint8Array | undefined {
  const parts = s.split('.')
  if (parts.length !== 4) return undefined
  const out = new Uint8Array(4)
  for (let i = 0; i < 4; i++) {
    const p = parts[i]!
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return undefined
    const n = Number(p)
    if (n > 255) return undefined
    out[i] = n
  }
  return out
}

function parseGroups(s: string): number[] | undefined {
  if (s === '') return []
  const out: number[] = []
  for (const g of s.split(':')) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined
    out.push(parseInt(g, 16))
  }
  return out
}

function parseV6(s: string): Uint8Array | undefined {
  const dbl = s.indexOf('::')
  let groups: number[]
  if (dbl === -1) {
    const all = parseGroups(s)
    if (!all || all.length !== 8) return undefined
    groups = all
  } else {
    if (s.indexOf('::', dbl + 1) !== -1) return undefined
    const head = parseGroups(s.slice(0, dbl))
    const tail = parseGroups(s.slice(dbl + 2))
    // `::` stands for at least one group of zeros.
    if (!head || !tail || head.length + tail.length > 7) return undefined
    groups = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail]
  }
  const out = new Uint8Array(16)
  groups.forEach((g, i) => {
    out[2 * i] = g >> 8
    out[2 * i + 1] = g & 0xff
  })
  return out
}

/** An IP address in the grammar above, or undefined. */
export function parseIp(s: string): Ip | undefined {
  if (s.length === 0 || s.length > MAX_CIDR_LENGTH) return undefined
  if (s.includes(':')) {
    const bytes = parseV6(s)
    return bytes ? {family: 6, bytes} : undefined
  }
  const bytes = parseV4(s)
  return bytes ? {family: 4, bytes} : undefined
}

export type CidrResult = {ok: true; cidr: Cidr} | {ok: false; problem: string}

/** A CIDR (or a bare address) with no host bits set, or why not. */
export function parseCidr(text: string): CidrResult {
  const s = typeof text === 'string' ? text : ''
  if (s.length === 0 || s.length > MAX_CIDR_LENGTH) return {ok: false, problem: `"${s.slice(0, 80)}" is not a CIDR: it must be 1 to ${MAX_CIDR_LENGTH} characters`}
  const slash = s.indexOf('/')
  const ip = parseIp(slash === -1 ? s : s.slice(0, slash))
  if (!ip) return {ok: false, problem: `"${s}" is not a CIDR: write an IPv4 or IPv6 network such as 10.0.0.0/8 or fd00::/8 (no zone, no embedded IPv4, no leading zeros)`}
  const max = ip.family === 4 ? 32 : 128
  let prefix = max
  if (slash !== -1) {
    const p = s.slice(slash + 1)
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p) || Number(p) > max) return {ok: false, problem: `"${s}" is not a CIDR: the prefix length must be 0 to ${max}`}
    prefix = Number(p)
  }
  const cidr: Cidr = {...ip, prefix}
  const net = masked(cidr)
  if (!equalBytes(net, ip.bytes)) {
    const network = formatCidr({...cidr, bytes: net})
    return {ok: false, problem: `"${s}" has host bits set: write ${network} for the network, or ${formatIp(ip)}/${max} for the one address`}
  }
  return {ok: true, cidr}
}

function masked(c: Cidr): Uint8Array {
  const out = new Uint8Array(c.bytes.length)
  for (let i = 0; i < out.length; i++) {
    const bits = Math.max(0, Math.min(8, c.prefix - 8 * i))
    out[i] = c.bytes[i]! & ((0xff << (8 - bits)) & 0xff)
  }
  return out
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/** IPv4 dotted; IPv6 as RFC 5952 says (lower case, no leading zeros, the longest run of 2+ zero groups as `::`). */
export function formatIp(ip: Ip): string {
  if (ip.family === 4) return [...ip.bytes].join('.')
  const groups: number[] = []
  for (let i = 0; i < 16; i += 2) groups.push((ip.bytes[i]! << 8) | ip.bytes[i + 1]!)
  let best = -1
  let bestLen = 1
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++
      continue
    }
    let j = i
    while (j < 8 && groups[j] === 0) j++
    if (j - i > bestLen) [best, bestLen] = [i, j - i]
    i = j
  }
  const hex = (g: number[]): string => g.map((x) => x.toString(16)).join(':')
  if (best === -1) return hex(groups)
  return `${hex(groups.slice(0, best))}::${hex(groups.slice(best + bestLen))}`
}

export function formatCidr(c: Cidr): string {
  return `${formatIp(c)}/${c.prefix}`
}

/** Whether `ip` is inside `c` (same family only; an IPv4-mapped IPv6 client address is compared as IPv4). */
export function cidrContains(c: Cidr, ip: Ip): boolean {
  const a = unmap(ip)
  if (a.family !== c.family) return false
  for (let i = 0, left = c.prefix; left > 0; i++, left -= 8) {
    const mask = left >= 8 ? 0xff : (0xff << (8 - left)) & 0xff
    if ((a.bytes[i]! & mask) !== (c.bytes[i]! & mask)) return false
  }
  return true
}

/** `::ffff:a.b.c.d` (as bytes) -> a.b.c.d; anything else unchanged. */
export function unmap(ip: Ip): Ip {
  if (ip.family !== 6) return ip
  const b = ip.bytes
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return ip
  if (b[10] !== 0xff || b[11] !== 0xff) return ip
  return {family: 4, bytes: b.slice(12)}
}

/**
 * A client address as the proxy's sockets report it (`10.0.0.5`, `::ffff:10.0.0.5`, `fd00::5`),
 * more leniently than policy text: Node prints IPv4-mapped addresses in dotted form, which the
 * policy grammar refuses.
 */
export function parseClientIp(s: string): Ip | undefined {
  if (s.startsWith('::ffff:') && s.includes('.')) return parseIp(s.slice(7))
  return parseIp(s)
}

interface CompiledNet {
  /** A network that did not parse: it contains nothing (never everything). */
  never?: boolean
  family: 4 | 6
  /** IPv4: network and mask as unsigned 32-bit integers. */
  net4: number
  mask4: number
  cidr: Cidr
}

/** A compiled network with its exceptions. */
export interface NetworkMatcher {
  /** Whether the client address (as the proxy reports it) is inside. */
  contains(clientIp: string): boolean
}

function compileOne(text: string): CompiledNet {
  const r = parseCidr(text)
  // The controller sends canonical CIDRs only; one that does not parse here matches nothing.
  if (!r.ok) return {never: true, family: 4, net4: 0, mask4: 0, cidr: {family: 4, bytes: new Uint8Array(4), prefix: 32}}
  const c = r.cidr
  if (c.family === 4) {
    const mask4 = c.prefix === 0 ? 0 : (0xffffffff << (32 - c.prefix)) >>> 0
    const net4 = ((c.bytes[0]! << 24) | (c.bytes[1]! << 16) | (c.bytes[2]! << 8) | c.bytes[3]!) >>> 0
    return {family: 4, net4, mask4, cidr: c}
  }
  return {family: 6, net4: 0, mask4: 0, cidr: c}
}

/** IPv4 text to an unsigned integer, or -1 (the hot path: no allocation). */
function v4Int(s: string): number {
  let n = 0
  let octet = -1
  let dots = 0
  let digits = 0
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c === 46) {
      if (octet < 0 || dots === 3) return -1
      n = n * 256 + octet
      octet = -1
      digits = 0
      dots++
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && octet === 0) return -1
      octet = (octet < 0 ? 0 : octet * 10) + (c - 48)
      if (++digits > 3 || octet > 255) return -1
    } else return -1
  }
  if (dots !== 3 || octet < 0) return -1
  return n * 256 + octet
}

function inNet(n: CompiledNet, v4: number, ip: Ip | undefined): boolean {
  if (n.never) return false
  if (n.family === 4) return v4 >= 0 && ((v4 & n.mask4) >>> 0) === n.net4
  return ip !== undefined && ip.family === 6 && cidrContains(n.cidr, ip)
}

/** The last client address read (a decision asks every rule's networks about the same one). */
let last: {text: string; v4: number; ip: Ip | undefined} = {text: '', v4: -1, ip: undefined}

/** A client address as an IPv4 integer (v4 >= 0) or IPv6 bytes (ip); neither when it does not parse. */
function clientAddress(clientIp: string): {v4: number; ip: Ip | undefined} {
  if (clientIp === last.text) return last
  const plain = clientIp.startsWith('::ffff:') && clientIp.includes('.') ? clientIp.slice(7) : clientIp
  let v4 = v4Int(plain)
  let ip = v4 >= 0 ? undefined : parseClientIp(plain)
  if (ip) {
    const u = unmap(ip)
    if (u.family === 4) [v4, ip] = [((u.bytes[0]! << 24) | (u.bytes[1]! << 16) | (u.bytes[2]! << 8) | u.bytes[3]!) >>> 0, undefined]
  }
  last = {text: clientIp, v4, ip}
  return last
}

/** Compiles `{cidr, except}` entries once per policy message; `contains` is true when any entry holds. */
export function compileNetworks(list: ReadonlyArray<{cidr: string; except?: readonly string[]}>): NetworkMatcher {
  const entries = list.map((n) => ({net: compileOne(n.cidr), except: (n.except ?? []).map(compileOne)}))
  return {
    contains(clientIp: string): boolean {
      const {v4, ip} = clientAddress(clientIp)
      for (const e of entries) {
        if (!inNet(e.net, v4, ip)) continue
        if (!e.except.some((x) => inNet(x, v4, ip))) return true
      }
      return false
    },
  }
}
