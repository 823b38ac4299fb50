// The one parser of request authorities (HTTP/1 Host and absolute-form, HTTP/2 :authority,
// CONNECT's target), beneath every codec: `host[:port]` with the host a DNS name, an IPv4 address
// in any numeric form getaddrinfo accepts (`127.1`, `2130706433`, `0x7f.1`: normalised to the
// dotted quad, as a browser's URL parser does) or a bracketed IPv6 address; the port 1-65535,
// digits only. No userinfo, no path, no spaces or control characters, no empty host. The
// canonical text (`web.local:80`, `127.0.0.1:4140`, `[::1]:80`) is what routing, policy, metrics
// and tap see. Results are memoised (bounded), so the hot path pays a Map lookup.

export type HostKind = 'name' | 'ipv4' | 'ipv6'

export interface Authority {
  /** Lower case; an IPv4 address as a dotted quad; an IPv6 address without brackets, compressed. */
  readonly host: string
  readonly port: number
  readonly kind: HostKind
  /** `host:port`, `[v6]:port`. */
  readonly text: string
}

/** At most this many characters of an authority (a DNS name is at most 253). */
export const MAX_AUTHORITY_LENGTH = 300
const MAX_NAME = 253
const MAX_LABEL = 63

/** Parses `input`; a string is the problem (for `mesh-proxy-error`), e.g. `port "abc" is not 1-65535`. */
export function parseAuthority(input: string, defaultPort: number): Authority | string {
  if (input.length === 0) return 'empty authority'
  if (input.length > MAX_AUTHORITY_LENGTH) return `longer than ${MAX_AUTHORITY_LENGTH} characters`
  let hostText: string
  let portText: string | undefined
  if (input.charCodeAt(0) === 0x5b /* [ */) {
    const close = input.indexOf(']')
    if (close === -1) return 'an IPv6 address without its closing "]"'
    hostText = input.slice(1, close)
    const rest = input.slice(close + 1)
    if (rest !== '') {
      if (rest.charCodeAt(0) !== 0x3a /* : */) return `unexpected "${printable(rest)}" after the IPv6 address`
      portText = rest.slice(1)
    }
    const v6 = ipv6(hostText)
    if (v6 === undefined) return `"${printable(hostText)}" is not an IPv6 address`
    const port = portText === undefined ? defaultPort : parsePort(portText)
    if (typeof port === 'string') return port
    if (port === 0) return 'no port'
    return {host: v6, port, kind: 'ipv6', text: `[${v6}]:${port}`}
  }
  const colon = input.lastIndexOf(':')
  if (colon === -1) {
    hostText = input
  } else {
    hostText = input.slice(0, colon)
    portText = input.slice(colon + 1)
    if (hostText.includes(':')) return 'an IPv6 address must be in brackets, e.g. [::1]:80'
  }
  const host = parseHost(hostText)
  if (typeof host === 'string') return host
  const port = portText === undefined ? defaultPort : parsePort(portText)
  if (typeof port === 'string') return port
  if (port === 0) return 'no port'
  return {host: host.host, port, kind: host.kind, text: `${host.host}:${port}`}
}

function parsePort(text: string): number | string {
  if (text.length === 0 || text.length > 5) return `port "${printable(text)}" is not 1-65535`
  let n = 0
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c < 0x30 || c > 0x39) return `port "${printable(text)}" is not 1-65535`
    n = n * 10 + (c - 0x30)
  }
  return n >= 1 && n <= 65535 ? n : `port "${printable(text)}" is not 1-65535`
}

/** A name or an IPv4 address in any numeric form. */
function parseHost(text: string): {host: string, kind: HostKind} | string {
  if (text.length === 0) return 'empty host'
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c === 0x40 /* @ */) return 'userinfo (user@host) is not allowed in an authority'
    if (!isHostChar(c)) return `host "${printable(text)}" has a character that is not allowed (${describe(c)})`
  }
  const lower = text.toLowerCase()
  const labels = lower.split('.')
  // One trailing dot (a fully qualified name) is allowed; it does not count as a label.
  if (labels.length > 1 && labels[labels.length - 1] === '') labels.pop()
  if (endsInNumber(labels)) {
    const v4 = ipv4(labels)
    return v4 === undefined ? `"${printable(text)}" is not an IPv4 address` : {host: v4, kind: 'ipv4'}
  }
  if (lower.length - (lower.endsWith('.') ? 1 : 0) > MAX_NAME) return `host name longer than ${MAX_NAME} characters`
  for (const label of labels) {
    if (label.length === 0) return `host "${printable(text)}" has an empty label`
    if (label.length > MAX_LABEL) return `host "${printable(text)}" has a label longer than ${MAX_LABEL} characters`
  }
  return {host: lower, kind: 'name'}
}

/** Letters, digits, `-`, `.`, `_` (names as DNS and Kubernetes write them). */
function isHostChar(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x2e || c === 0x5f
}

/** As the URL standard: a host whose last label is a number (decimal, or 0x hex) is an IPv4 address. */
function endsInNumber(labels: string[]): boolean {
  const last = labels[labels.length - 1]
  if (last === undefined || last === '') return false
  if (/^[0-9]+$/.test(last)) return true
  return /^0x[0-9a-f]*$/.test(last)
}

/** IPv4 in inet_aton's forms (1-4 parts, decimal, octal with a leading 0, hex with 0x), as a dotted quad. */
function ipv4(labels: string[]): string | undefined {
  if (labels.length > 4) return undefined
  const parts: number[] = []
  for (const label of labels) {
    const n = ipv4Number(label)
    if (n === undefined) return undefined
    parts.push(n)
  }
  const last = parts.pop()!
  for (const p of parts) if (p > 255) return undefined
  if (last >= 256 ** (4 - parts.length)) return undefined
  let value = last
  for (let i = 0; i < parts.length; i++) value += parts[i] * 256 ** (3 - i)
  return `${Math.floor(value / 16_777_216) % 256}.${Math.floor(value / 65_536) % 256}.${Math.floor(value / 256) % 256}.${value % 256}`
}

function ipv4Number(s: string): number | undefined {
  if (s === '') return undefined
  let digits = s
  let radix = 10
  if (s.length >= 2 && s[0] === '0' && s[1] === 'x') {
    digits = s.slice(2)
    radix = 16
  } else if (s.length >= 2 && s[0] === '0') {
    digits = s.slice(1)
    radix = 8
  }
  if (digits === '') return 0
  const re = radix === 16 ? /^[0-9a-f]+$/ : radix === 8 ? /^[0-7]+$/ : /^[0-9]+$/
  if (!re.test(digits) || digits.length > 12) return undefined
  return parseInt(digits, radix)
}

/** An IPv6 address (no zone id) in its canonical text, or undefined. */
function ipv6(text: string): string | undefined {
  if (text.length === 0 || text.length > 45 || !/^[0-9a-fA-F:.]+$/.test(text)) return undefined
  try {
    const host = new URL(`http://[${text}]/`).hostname
    return host.slice(1, -1)
  } catch {
    return undefined
  }
}

/** The input as it may be quoted in an error message (printable ASCII, bounded). */
function printable(s: string): string {
  const short = s.length > 64 ? s.slice(0, 64) + '...' : s
  return short.replace(/[^\x20-\x7e]|"/g, '?')
}

function describe(c: number): string {
  if (c === 0x20) return 'a space'
  if (c < 0x20 || c === 0x7f) return 'a control character'
  if (c > 0x7e) return 'a non-ASCII character'
  return `"${String.fromCharCode(c)}"`
}

/** Memo of recent parses, per default port (bounded: cleared when full). */
const MEMO_MAX = 4096
const memos = new Map<number, Map<string, Authority | string>>()

/** parseAuthority, memoised: the hot path sees the same few authorities again and again. */
export function authorityOf(input: string, defaultPort: number): Authority | string {
  let memo = memos.get(defaultPort)
  if (memo === undefined) {
    memo = new Map()
    memos.set(defaultPort, memo)
  }
  let a = memo.get(input)
  if (a === undefined) {
    a = parseAuthority(input, defaultPort)
    if (memo.size >= MEMO_MAX) memo.clear()
    memo.set(input, a)
  }
  return a
}

/**
 * The canonical `host:port` of what a client sent, for the codecs: the text routing, policy and
 * metrics use. An authority that does not parse comes back as it was (lower-cased): the side's
 * target lookup refuses it (400, reason `bad_authority`) with the problem checkAuthority names.
 */
export function normalizeAuthority(input: string, defaultPort: number): string {
  const a = authorityOf(input, defaultPort)
  return typeof a === 'string' ? input.toLowerCase() : a.text
}

/** The parsed form of a normalised authority (its port given), or the problem with it. */
export function checkAuthority(normalized: string): Authority | string {
  return authorityOf(normalized, 0)
}

/**
 * An authority as the proxy may repeat it (answers, logs, GET /errors): userinfo
 * (`user:password@host`, refused anyway) is credentials, so everything before the last `@` goes.
 */
export function withoutUserinfo(authority: string): string {
  const at = authority.lastIndexOf('@')
  return at < 0 ? authority : `***@${authority.slice(at + 1)}`
}
