// A strict parser for HTTP/1.1 message heads (request line or status line, then header fields).
// It accepts only the clean common subset: anything it does not accept (obs-fold, bare CR or LF,
// odd tokens, absolute-form, HTTP/1.0 ...) makes the caller hand the connection to Node's parser,
// which answers it exactly as the `node` codec does (400/431 with mesh-proxy-error).

/** tchar of RFC 9110 5.6.2, as a lookup table. */
const TCHAR = new Uint8Array(128)
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") TCHAR[c.charCodeAt(0)] = 1

function isToken(s: string): boolean {
  if (s.length === 0) return false
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c >= 128 || TCHAR[c] === 0) return false
  }
  return true
}

/** Field values: visible ASCII, obs-text, SP and HTAB; no other controls. */
function isFieldValue(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if ((c < 32 && c !== 9) || c === 127) return false
  }
  return true
}

/** Request-target in origin-form: a path with an optional query, visible ASCII only. */
function isOriginForm(s: string): boolean {
  if (s.charCodeAt(0) !== 47) return false
  for (let i = 1; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c <= 32 || c >= 127) return false
  }
  return true
}

export interface Head {
  /** Bytes of the head, the final CRLFCRLF included. */
  size: number
  /** name, value, name, value (case kept). */
  raw: string[]
  /** Lower-cased names; repeated fields joined with ', ' (set-cookie kept as an array). */
  headers: Record<string, string | string[] | undefined>
}

export interface RequestHead extends Head {
  method: string
  path: string
}

export interface ResponseHead extends Head {
  status: number
  reason: string
  /** HTTP/1.0 response (the connection closes unless it says keep-alive). */
  http10: boolean
}

/** Where the head ends (index after CRLFCRLF), or -1 when it has not all arrived. */
export function headEnd(buf: Buffer): number {
  const i = buf.indexOf('\r\n\r\n', 0, 'latin1')
  return i < 0 ? -1 : i + 4
}

function fields(lines: string[], maxCount: number, out: Head): boolean {
  if (lines.length - 1 > maxCount) return false
  const raw = out.raw
  const headers = out.headers
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]
    const colon = line.indexOf(':')
    if (colon <= 0) return false
    const name = line.slice(0, colon)
    if (!isToken(name)) return false
    const value = line.slice(colon + 1).trim()
    if (!isFieldValue(value)) return false
    raw.push(name, value)
    const lower = name.toLowerCase()
    const prev = headers[lower]
    if (prev === undefined) headers[lower] = lower === 'set-cookie' ? [value] : value
    else if (Array.isArray(prev)) prev.push(value)
    else headers[lower] = prev + ', ' + value
  }
  return true
}

/** The lines of a head, or null on a bare CR or LF (smuggling risk: leave it to Node). */
function lines(buf: Buffer, end: number): string[] | null {
  const text = buf.toString('latin1', 0, end - 4)
  const out = text.split('\r\n')
  for (const l of out) if (l.includes('\r') || l.includes('\n') || l.length === 0) return null
  return out
}

/** A request head this codec forwards itself, or null (hand the connection to Node). */
export function parseRequestHead(buf: Buffer, end: number, maxCount: number): RequestHead | null {
  const ls = lines(buf, end)
  if (!ls) return null
  const parts = ls[0].split(' ')
  if (parts.length !== 3 || parts[2] !== 'HTTP/1.1' || !isToken(parts[0]) || !isOriginForm(parts[1])) return null
  const head: RequestHead = {size: end, raw: [], headers: {}, method: parts[0], path: parts[1]}
  return fields(ls, maxCount, head) ? head : null
}

/** A response head, or null when it is malformed (the caller answers 502). */
export function parseResponseHead(buf: Buffer, end: number, maxCount: number): ResponseHead | null {
  const ls = lines(buf, end)
  if (!ls) return null
  const m = /^HTTP\/1\.([01]) (\d{3})(?: (.*))?$/.exec(ls[0])
  if (!m || !isFieldValue(m[3] ?? '')) return null
  const head: ResponseHead = {size: end, raw: [], headers: {}, status: Number(m[2]), reason: m[3] ?? '', http10: m[1] === '0'}
  return fields(ls, maxCount, head) ? head : null
}

/** Serialises a head: start line, then the fields. */
export function serializeHead(start: string, raw: string[], extra = ''): Buffer {
  let s = start + '\r\n'
  for (let i = 0; i < raw.length; i += 2) s += raw[i] + ': ' + raw[i + 1] + '\r\n'
  return Buffer.from(s + extra + '\r\n', 'latin1')
}
