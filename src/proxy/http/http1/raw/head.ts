// A strict parser for HTTP/1.1 message heads (request line or status line, then header fields).
// It accepts only the clean common subset, and nothing llhttp (Node's parser, strict mode)
// refuses: anything it does not accept (obs-fold, bare CR or LF, methods llhttp does not know,
// absolute-form, HTTP/1.0 ...) makes the caller hand the connection to Node's parser, which
// answers it exactly as the `node` codec does (400/431 with mesh-proxy-error). Proven by the
// differential tests against llhttp (test/proxy/http1-differential.test.ts, scripts/fuzz-http1.ts).
import {METHODS} from '../../../core/node-http.js'
import {isHopByHop} from '../headers.js'

/**
 * The methods llhttp knows in HTTP mode (node:http's METHODS): a lowercase, unknown or `PRI`
 * method is llhttp's to refuse. CONNECT is listed, and handed over by request-plan.ts.
 */
const KNOWN_METHODS = new Set(METHODS)

/** tchar of RFC 9110 5.6.2, as a lookup table. */
const TCHAR = new Uint8Array(128)
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") TCHAR[c.charCodeAt(0)] = 1

/** A tchar (a byte of a token: a field name, a method, a chunk extension's name). */
export function isTchar(c: number): boolean {
  return c < 128 && TCHAR[c] === 1
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
  /** name, value, name, value (case kept); made from the head's text on first use. */
  readonly raw: string[]
  /** Lower-cased names; repeated fields joined with ', ' (set-cookie kept as an array); every field. */
  readonly headers: Record<string, string | string[] | undefined>
  /**
   * The fields the codec itself reads (framing, hop-by-hop, Host, Expect: codecReads), as
   * `headers` has them. A head keeps only these as it is parsed (its other fields are checked,
   * then left in the text: nothing on the forwarding path reads them) and makes `headers` on
   * first use (a request's: a route's header match, an authorization, a tap).
   */
  readonly known: Record<string, string | string[] | undefined>
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

type Fields = Record<string, string | string[] | undefined>

/** A parsed head: the fields as parsed (`known`), the rest made from `text` when asked for. */
class ParsedHead {
  hop?: (number | string)[]
  readonly known: Fields = {}
  private all: Fields | undefined
  private rawList: string[] | undefined

  /** `text`: the head as headText gives it; `from`: where its field lines start. */
  constructor(readonly size: number, protected readonly text: string, protected readonly from: number) {}

  get raw(): string[] {
    return this.rawList ??= rawFields(this.text, this.from)
  }

  get headers(): Fields {
    return this.all ??= fieldRecord(this.raw)
  }
}

class ParsedRequest extends ParsedHead implements RequestHead {
  constructor(size: number, text: string, from: number, readonly method: string, readonly path: string) {
    super(size, text, from)
  }
}

class ParsedResponse extends ParsedHead implements ResponseHead {
  constructor(size: number, text: string, from: number, readonly status: number, readonly http10: boolean) {
    super(size, text, from)
  }

  /** (cut from the status line when read: only a head that is re-serialised needs it) */
  get reason(): string {
    // HTTP/1.x SP 3DIGIT [SP reason] CRLF
    const eol = this.from - 2
    return eol > 13 ? this.text.slice(13, eol) : ''
  }
}

const CRLFCRLF = Buffer.from('\r\n\r\n', 'latin1')

/** Where the head ends (index after CRLFCRLF), or -1 when it has not all arrived. */
export function headEnd(buf: Buffer): number {
  const i = buf.indexOf(CRLFCRLF)
  return i < 0 ? -1 : i + 4
}

/**
 * Finds the end of a head that arrives in pieces, looking at each byte once: a head sent a byte
 * at a time costs O(n), not O(n^2) as a rescan of everything buffered would (issue 19). push()
 * each piece in order; it returns where the head ends, counted from the head's first byte, once
 * the CRLFCRLF is in (later pushes are the caller's to avoid); reset() for the next head.
 */
export class HeadScanner {
  /** Bytes pushed since reset(). */
  length = 0
  /** How many bytes of CRLFCRLF the bytes pushed so far end with (0-3). */
  private partial = 0
  /** Whether the first line's LF has been seen (with `firstLine`). */
  private firstLineSeen = false
  /** The last byte pushed (the byte before a piece's first). */
  private last = -1

  /**
   * `firstLine`: a request's head, whose first line must end in CRLF. One that ends in a bare LF
   * is reported at once (HEAD_MALFORMED) instead of waiting for a CRLFCRLF that may never come:
   * llhttp reads a line without a version that ends so as an HTTP/0.9 request (complete), and
   * refuses a versioned one; either way the raw codec hands it to llhttp (found by the
   * differential test: `HEAD /$HTTP/1.1\n\r\n...` waited while llhttp had a message).
   */
  constructor(private readonly firstLine = false) {}

  push(chunk: Buffer): number {
    if (this.firstLine && !this.firstLineSeen && chunk.length > 0) {
      const lf = chunk.indexOf(10)
      if (lf >= 0) {
        this.firstLineSeen = true
        if ((lf > 0 ? chunk[lf - 1] : this.last) !== 13) return HEAD_MALFORMED
      }
      this.last = chunk[chunk.length - 1]
    }
    const n = this.partial
    if (n > 0) {
      // A CRLFCRLF that started in an earlier piece: its first n bytes, then this piece's first ones.
      const joint = Buffer.concat([CRLFCRLF.subarray(0, n), chunk.subarray(0, 3)])
      const i = joint.indexOf(CRLFCRLF)
      if (i >= 0 && i < n) return this.length + i + 4 - n
    }
    const i = chunk.indexOf(CRLFCRLF)
    if (i >= 0) return this.length + i + 4
    this.length += chunk.length
    this.partial = tailOfCrlfCrlf(chunk, n)
    return -1
  }

  reset(): void {
    this.length = 0
    this.partial = 0
    this.firstLineSeen = false
    this.last = -1
  }
}

/** HeadScanner.push(): the head's first line ends in a bare LF (requests only). */
export const HEAD_MALFORMED = -2

/** How many of CRLFCRLF's first bytes `chunk` ends with (`before`: how many the bytes before it ended with). */
function tailOfCrlfCrlf(chunk: Buffer, before: number): number {
  for (let k = 3; k > 0; k--) {
    // The last k bytes (reaching back into the earlier pieces' known tail when chunk is short).
    if (k > chunk.length + before) continue
    let ok = true
    for (let j = 0; j < k && ok; j++) {
      const at = chunk.length - k + j
      const c = at >= 0 ? chunk[at] : CRLFCRLF[before + at]
      ok = c === CRLFCRLF[j]
    }
    if (ok) return k
  }
  return 0
}

/** Field-value characters: visible ASCII, obs-text, SP and HTAB; no other controls (so no CR, no LF). */
export function isValueChar(c: number): boolean {
  return c >= 32 ? c !== 127 : c === 9
}

/** A field the codec reads itself: framing, hop-by-hop (isHopByHop), Host, Expect. */
function codecReads(lower: string): boolean {
  return isHopByHop(lower) || lower === 'content-length' || lower === 'host' || lower === 'expect'
}

/**
 * The names codecReads accepts, by length (te 2, host 4, expect 6, upgrade and trailer 7,
 * connection and keep-alive 10, content-length and mesh-retryable 14, proxy-connection 16,
 * transfer-encoding 17, proxy-authorization 19): a field name is compared with these where it
 * is in the head's text (codecName), so no name is cut out of it.
 */
const CODEC_NAMES: (string[] | undefined)[] = []
for (const name of ['te', 'host', 'expect', 'upgrade', 'trailer', 'connection', 'keep-alive', 'content-length', 'mesh-retryable', 'proxy-connection', 'transfer-encoding', 'proxy-authorization']) {
  if (!codecReads(name)) throw new Error(`${name} is not a field the codec reads`)
  ;(CODEC_NAMES[name.length] ??= []).push(name)
}

/**
 * The name codecReads accepts (lower case) that the `length` tchars at `pos` of `text` spell in
 * any case, or undefined. (A tchar OR 0x20 is a lower-case letter only when it is that letter
 * in either case, and `-` only when it is `-`: the names are letters and dashes.)
 */
function codecName(text: string, pos: number, length: number): string | undefined {
  const names = length < CODEC_NAMES.length ? CODEC_NAMES[length] : undefined
  if (names === undefined) return undefined
  for (let k = 0; k < names.length; k++) {
    const name = names[k]!
    let i = 0
    while (i < length && (text.charCodeAt(pos + i) | 0x20) === name.charCodeAt(i)) i++
    if (i === length) return name
  }
  return undefined
}

/** Field names with capitals seen, lower-cased (the same few on every head; bounded: a hostile client's names only fill it once). */
const LOWER = new Map<string, string>()
const LOWER_MAX_ENTRIES = 512
const LOWER_MAX_NAME = 40

function lowerName(name: string): string {
  let lower = LOWER.get(name)
  if (lower === undefined) {
    lower = name.toLowerCase()
    if (LOWER.size < LOWER_MAX_ENTRIES && name.length <= LOWER_MAX_NAME) LOWER.set(name, lower)
  }
  return lower
}

/** Adds a field to a record as `headers` has them: repeated ones joined with ', ', set-cookie an array. */
function addField(record: Fields, lower: string, value: string): void {
  const prev = record[lower]
  if (prev === undefined) record[lower] = lower === 'set-cookie' ? [value] : value
  else if (Array.isArray(prev)) prev.push(value)
  else record[lower] = prev + ', ' + value
}

/**
 * The field lines of `text` (the head as latin1, each line ending in CRLF) from `pos`, in one
 * pass: the name a token, the value trimmed of SP/HTAB and free of controls. False when a line
 * is malformed (a bare CR or LF is a control in the line it is in) or there are over `maxCount`.
 * Every line is checked; into `out.known` go codecReads' ones (the rest stay in the text).
 */
function fields(text: string, pos: number, maxCount: number, out: ParsedHead): boolean {
  const known = out.known
  const n = text.length
  let count = 0
  while (pos < n) {
    if (++count > maxCount) return false
    // The name: tchars up to the colon (a CR, LF, space or anything else first is malformed).
    let colon = pos
    for (; colon < n; colon++) {
      const c = text.charCodeAt(colon)
      if (c === 58) break
      if (c >= 128 || TCHAR[c] === 0) return false
    }
    if (colon === pos || colon === n) return false
    const eol = text.indexOf('\r\n', colon)
    if (eol < 0) return false
    let vs = colon + 1
    let ve = eol
    let tab = false
    for (let c = text.charCodeAt(vs); vs < ve && (c === 32 || c === 9); c = text.charCodeAt(++vs)) if (c === 9) tab = true
    for (let c = text.charCodeAt(ve - 1); ve > vs && (c === 32 || c === 9); c = text.charCodeAt(--ve - 1)) if (c === 9) tab = true
    for (let i = vs; i < ve; i++) if (!isValueChar(text.charCodeAt(i))) return false
    const next = eol + 2
    const lower = codecName(text, pos, colon - pos)
    if (lower === undefined) {
      pos = next
      continue
    }
    // llhttp refuses a tab around a Content-Length value and does not read `chunked\t` as chunked.
    if (tab && (lower === 'content-length' || lower === 'transfer-encoding')) return false
    if (isHopByHop(lower) || (lower === 'host' && known.host !== undefined)) (out.hop ??= []).push(pos, next, lower)
    addField(known, lower, text.slice(vs, ve))
    pos = next
  }
  return true
}

/** The field lines of a head `fields` accepted, as name, value pairs (case kept, values trimmed). */
function rawFields(text: string, pos: number): string[] {
  const raw: string[] = []
  const n = text.length
  while (pos < n) {
    const colon = text.indexOf(':', pos)
    const eol = text.indexOf('\r\n', colon)
    let vs = colon + 1
    let ve = eol
    for (let c = text.charCodeAt(vs); vs < ve && (c === 32 || c === 9); c = text.charCodeAt(++vs));
    for (let c = text.charCodeAt(ve - 1); ve > vs && (c === 32 || c === 9); c = text.charCodeAt(--ve - 1));
    raw.push(text.slice(pos, colon), text.slice(vs, ve))
    pos = eol + 2
  }
  return raw
}

/** `headers` of a raw field list. */
function fieldRecord(raw: string[]): Fields {
  const record: Fields = {}
  for (let i = 0; i < raw.length; i += 2) addField(record, lowerName(raw[i]!), raw[i + 1]!)
  return record
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
  if (!KNOWN_METHODS.has(method) || !isOriginForm(path)) return null
  const head = new ParsedRequest(end, text, eol + 2, method, path)
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
  // (a status under 100 is neither informational nor an answer)
  if (status < 100) return null
  if (eol > 12 && text.charCodeAt(12) !== 32) return null
  for (let i = 13; i < eol; i++) if (!isValueChar(text.charCodeAt(i))) return null
  const head = new ParsedResponse(end, text, eol + 2, status, minor === 48)
  return fields(text, eol + 2, maxCount, head) ? head : null
}

/** Serialises a head: start line, then the fields. */
export function serializeHead(start: string, raw: string[], extra = ''): Buffer {
  let s = start + '\r\n'
  for (let i = 0; i < raw.length; i += 2) s += raw[i] + ': ' + raw[i + 1] + '\r\n'
  return Buffer.from(s + extra + '\r\n', 'latin1')
}

const NOTHING: Buffer = Buffer.alloc(0)

/**
 * Bytes buffered until a whole head is in: pieces kept as they came (no copy per piece), the
 * head's end found by a HeadScanner as they arrive, joined once when the head is read. A head
 * that comes in one piece (most) is held without an array.
 */
export class HeadBuffer {
  /** The bytes buffered when they are one piece (or joined); NOTHING when none. */
  private whole: Buffer = NOTHING
  /** The pieces, when there are several (then `whole` is not read). */
  private pieces: Buffer[] | undefined
  private readonly scanner: HeadScanner
  /** `requests`: the first line is checked as it arrives (HEAD_MALFORMED; see HeadScanner). */
  constructor(requests = false) {
    this.scanner = new HeadScanner(requests)
  }

  /** Bytes buffered. */
  length = 0
  /** Where the first head ends (from the first byte buffered), -1 while it is not all in, or HEAD_MALFORMED. */
  end = -1

  add(b: Buffer): void {
    if (b.length === 0) return
    if (this.length === 0) this.whole = b
    else if (this.pieces === undefined) this.pieces = [this.whole, b]
    else this.pieces.push(b)
    this.length += b.length
    if (this.end < 0) this.end = this.scanner.push(b)
  }

  /** Everything buffered, as one buffer (joined at most once). */
  flat(): Buffer {
    if (this.pieces !== undefined) {
      this.whole = Buffer.concat(this.pieces, this.length)
      this.pieces = undefined
    }
    return this.whole
  }

  /** Drops the first `n` bytes; the next head is looked for in what remains. */
  consume(n: number): void {
    const rest = n < this.length ? this.flat().subarray(n) : NOTHING
    this.clear()
    this.add(rest)
  }

  /** Replaces each piece by `f` of it (a copy, for pieces in a buffer about to be read into again). */
  own(f: (b: Buffer) => Buffer): void {
    const pieces = this.pieces
    if (pieces !== undefined) for (let i = 0; i < pieces.length; i++) pieces[i] = f(pieces[i]!)
    else if (this.length > 0) this.whole = f(this.whole)
  }

  clear(): void {
    this.whole = NOTHING
    this.pieces = undefined
    this.length = 0
    this.end = -1
    this.scanner.reset()
  }
}
