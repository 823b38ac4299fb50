// A strict parser for HTTP/1.1 message heads (request line or status line, then header fields).
// It accepts only the clean common subset: anything it does not accept (obs-fold, bare CR or LF,
// odd tokens, absolute-form, HTTP/1.0 ...) makes the caller hand the connection to Node's parser,
// which answers it exactly as the `node` codec does (400/431 with mesh-proxy-error).

import {isHopByHop} from '../headers.js'

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
  /**
   * The field lines forwarding must look at: hop-by-hop ones (isHopByHop) and a repeated Host,
   * as start, end (after the CRLF), lower-cased name, in order; undefined when there are none
   * (most heads between two proxies), and the head then goes on as it came.
   */
  hop?: (number | string)[]
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

/** Field-value characters: visible ASCII, obs-text, SP and HTAB; no other controls (so no CR, no LF). */
function isValueChar(c: number): boolean {
  return c >= 32 ? c !== 127 : c === 9
}

/**
 * The field lines of `text` (the head as latin1, each line ending in CRLF) from `pos`, in one
 * pass: the name a token, the value trimmed of SP/HTAB and free of controls. False when a line
 * is malformed (a bare CR or LF is a control in the line it is in) or there are over `maxCount`.
 */
function fields(text: string, pos: number, maxCount: number, out: Head): boolean {
  const raw = out.raw
  const headers = out.headers
  const n = text.length
  let count = 0
  while (pos < n) {
    if (++count > maxCount) return false
    const eol = text.indexOf('\r\n', pos)
    const colon = text.indexOf(':', pos)
    if (eol < 0 || colon <= pos || colon > eol) return false
    for (let i = pos; i < colon; i++) {
      const c = text.charCodeAt(i)
      if (c >= 128 || TCHAR[c] === 0) return false
    }
    let vs = colon + 1
    let ve = eol
    while (vs < ve && (text.charCodeAt(vs) === 32 || text.charCodeAt(vs) === 9)) vs++
    while (ve > vs && (text.charCodeAt(ve - 1) === 32 || text.charCodeAt(ve - 1) === 9)) ve--
    for (let i = vs; i < ve; i++) if (!isValueChar(text.charCodeAt(i))) return false
    const name = text.slice(pos, colon)
    const value = text.slice(vs, ve)
    raw.push(name, value)
    const lower = name.toLowerCase()
    const prev = headers[lower]
    if (isHopByHop(lower) || (prev !== undefined && lower === 'host')) (out.hop ??= []).push(pos, eol + 2, lower)
    if (prev === undefined) headers[lower] = lower === 'set-cookie' ? [value] : value
    else if (Array.isArray(prev)) prev.push(value)
    else headers[lower] = prev + ', ' + value
    pos = eol + 2
  }
  return true
}

/** The head as latin1 text, every line (the start line and each field line) ending in CRLF. */
function headText(buf: Buffer, end: number): string {
  return buf.toString('latin1', 0, end - 2)
}

/** A request head this codec forwards itself, or null (hand the connection to Node). */
export function parseRequestHead(buf: Buffer, end: number, maxCount: number): RequestHead | null {
  const text = headText(buf, end)
  const eol = text.indexOf('\r\n')
  // METHOD SP origin-form SP HTTP/1.1
  const sp1 = text.indexOf(' ')
  const sp2 = sp1 < 0 ? -1 : text.indexOf(' ', sp1 + 1)
  if (sp1 <= 0 || sp2 < 0 || sp2 + 9 !== eol || !text.startsWith('HTTP/1.1', sp2 + 1)) return null
  const method = text.slice(0, sp1)
  const path = text.slice(sp1 + 1, sp2)
  if (!isToken(method) || !isOriginForm(path)) return null
  const head: RequestHead = {size: end, raw: [], headers: {}, method, path}
  return fields(text, eol + 2, maxCount, head) ? head : null
}

/** A response head, or null when it is malformed (the caller answers 502). */
export function parseResponseHead(buf: Buffer, end: number, maxCount: number): ResponseHead | null {
  const text = headText(buf, end)
  const eol = text.indexOf('\r\n')
  // HTTP/1.x SP 3DIGIT [SP reason]
  if (eol < 12 || !text.startsWith('HTTP/1.', 0) || text.charCodeAt(8) !== 32) return null
  const minor = text.charCodeAt(7)
  if (minor !== 48 && minor !== 49) return null
  let status = 0
  for (let i = 9; i < 12; i++) {
    const d = text.charCodeAt(i) - 48
    if (d < 0 || d > 9) return null
    status = status * 10 + d
  }
  if (eol > 12 && text.charCodeAt(12) !== 32) return null
  for (let i = 13; i < eol; i++) if (!isValueChar(text.charCodeAt(i))) return null
  const reason = eol > 13 ? text.slice(13, eol) : ''
  const head: ResponseHead = {size: end, raw: [], headers: {}, status, reason, http10: minor === 48}
  return fields(text, eol + 2, maxCount, head) ? head : null
}

/** Serialises a head: start line, then the fields. */
export function serializeHead(start: string, raw: string[], extra = ''): Buffer {
  let s = start + '\r\n'
  for (let i = 0; i < raw.length; i += 2) s += raw[i] + ': ' + raw[i + 1] + '\r\n'
  return Buffer.from(s + extra + '\r\n', 'latin1')
}
