// Body framing for bytes that pass through unchanged: a Content-Length countdown, or a chunked
// state machine that only finds where the message ends (chunk data is never copied). Strict, and
// never looser than llhttp (proven by test/proxy/http1-differential.test.ts): a chunk-size line
// is hex digits then `;name` or `;name=value` extensions (token or quoted-string), no
// whitespace, CRLF; chunk data is followed by CRLF; each trailer line is `name:value` as a
// header field is. Anything else is a framing error. Trailers pass through as bytes, bounded.
import {isTchar, isValueChar} from './head.js'

const enum S {
  Size, SizeMore, ExtName, ExtNameMore, ExtValue, ExtToken, ExtQuoted, ExtQuotedEscape, ExtQuoteEnd, SizeLf,
  Data, DataCr, DataLf, TrailerStart, TrailerName, TrailerValue, TrailerLf, EndLf, Done,
}

/** Largest chunk size accepted (hex digits beyond this are an error). */
const MAX_SIZE_DIGITS = 12

export interface Framer {
  /** Consumes bytes from buf[start...]; returns the index just past the message's end, -1 when more is needed, -2 on a framing error. */
  feed(buf: Buffer, start: number): number
  /** Body data bytes seen so far (chunk framing and trailers not counted), as tap's response-length. */
  readonly payload: number
}

export class LengthFramer implements Framer {
  payload = 0

  constructor(private left: number) {}

  /** Bytes still to come. */
  get remaining(): number {
    return this.left
  }

  feed(buf: Buffer, start: number): number {
    const n = Math.min(this.left, buf.length - start)
    this.left -= n
    this.payload += n
    return this.left === 0 ? start + n : -1
  }
}

function hexDigit(c: number): number {
  return c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1
}

/** qdtext of RFC 9110 5.6.4: HTAB, SP, visible ASCII but `"` and `\`, obs-text. */
function isQdtext(c: number): boolean {
  return c === 9 || c === 32 || c === 33 || (c >= 35 && c <= 91) || (c >= 93 && c <= 126) || c >= 128
}

export class ChunkedFramer implements Framer {
  payload = 0
  private s = S.Size
  private size = 0
  private digits = 0
  private left = 0
  /** Bytes of chunk extensions and trailers seen (bounded like a head). */
  private meta = 0

  constructor(private readonly maxTrailerBytes = 16 * 1024) {}

  feed(buf: Buffer, start: number): number {
    let i = start
    const len = buf.length
    while (i < len) {
      const s = this.s
      if (s === S.Data) {
        const n = Math.min(this.left, len - i)
        this.left -= n
        this.payload += n
        i += n
        if (this.left === 0) this.s = S.DataCr
        continue
      }
      const c = buf[i++]
      if (s >= S.ExtName && s <= S.ExtQuoteEnd || s >= S.TrailerStart) {
        if (++this.meta > this.maxTrailerBytes) return -2
      }
      switch (s) {
        case S.Size:
        case S.SizeMore: {
          const d = hexDigit(c)
          if (d >= 0) {
            if (++this.digits > MAX_SIZE_DIGITS) return -2
            this.size = this.size * 16 + d
            this.s = S.SizeMore
          } else if (s === S.Size) return -2
          else if (c === 13) this.s = S.SizeLf
          else if (c === 59 /* ; */) this.s = S.ExtName
          else return -2
          break
        }
        case S.ExtName:
          if (!isTchar(c)) return -2
          this.s = S.ExtNameMore
          break
        case S.ExtNameMore:
          if (c === 61 /* = */) this.s = S.ExtValue
          else if (c === 59) this.s = S.ExtName
          else if (c === 13) this.s = S.SizeLf
          else if (!isTchar(c)) return -2
          break
        case S.ExtValue:
          if (c === 34 /* " */) this.s = S.ExtQuoted
          else if (isTchar(c)) this.s = S.ExtToken
          else return -2
          break
        case S.ExtToken:
          if (c === 59) this.s = S.ExtName
          else if (c === 13) this.s = S.SizeLf
          else if (!isTchar(c)) return -2
          break
        case S.ExtQuoted:
          if (c === 34) this.s = S.ExtQuoteEnd
          else if (c === 92 /* \ */) this.s = S.ExtQuotedEscape
          else if (!isQdtext(c)) return -2
          break
        case S.ExtQuotedEscape:
          if (c !== 9 && (c < 32 || c === 127)) return -2
          this.s = S.ExtQuoted
          break
        case S.ExtQuoteEnd:
          if (c === 59) this.s = S.ExtName
          else if (c === 13) this.s = S.SizeLf
          else return -2
          break
        case S.SizeLf:
          if (c !== 10) return -2
          if (this.size === 0) this.s = S.TrailerStart
          else {
            this.left = this.size
            this.s = S.Data
          }
          break
        case S.DataCr:
          if (c !== 13) return -2
          this.s = S.DataLf
          break
        case S.DataLf:
          if (c !== 10) return -2
          this.s = S.Size
          this.size = 0
          this.digits = 0
          break
        case S.TrailerStart:
          // An empty line ends the message; anything else is a trailer field line.
          if (c === 13) this.s = S.EndLf
          else if (isTchar(c)) this.s = S.TrailerName
          else return -2
          break
        case S.TrailerName:
          if (c === 58 /* : */) this.s = S.TrailerValue
          else if (!isTchar(c)) return -2
          break
        case S.TrailerValue:
          if (c === 13) this.s = S.TrailerLf
          else if (!isValueChar(c)) return -2
          break
        case S.TrailerLf:
          if (c !== 10) return -2
          this.s = S.TrailerStart
          break
        case S.EndLf:
          if (c !== 10) return -2
          this.s = S.Done
          return i
        default:
          return i - 1
      }
    }
    return -1
  }
}

/**
 * The value of a Content-Length llhttp accepts here: 1 to 15 digits, nothing else (a repeated
 * field arrives joined by a comma, and is refused); -1 otherwise. A loop, not a regex: it runs
 * on every response.
 */
export function contentLength(value: string): number {
  const n = value.length
  if (n === 0 || n > 15) return -1
  let v = 0
  for (let i = 0; i < n; i++) {
    const d = value.charCodeAt(i) - 48
    if (d < 0 || d > 9) return -1
    v = v * 10 + d
  }
  return v
}

/**
 * Whether a Connection field value lists `token` (given in lower case): one of its
 * comma-separated elements, spaces and tabs around it trimmed, case-insensitively, as llhttp
 * reads it ("x-close", "closed" and "close x" are not "close").
 */
export function listsToken(value: string, token: string): boolean {
  const n = value.length
  const len = token.length
  for (let i = 0; i <= n;) {
    let end = value.indexOf(',', i)
    if (end < 0) end = n
    let s = i
    let e = end
    for (let c = value.charCodeAt(s); s < e && (c === 32 || c === 9); c = value.charCodeAt(++s));
    for (let c = value.charCodeAt(e - 1); e > s && (c === 32 || c === 9); c = value.charCodeAt(--e - 1));
    if (e - s === len) {
      // (| 0x20 lower-cases a letter; a field value has no control character it could map onto one)
      let k = 0
      while (k < len && (value.charCodeAt(s + k) | 0x20) === token.charCodeAt(k)) k++
      if (k === len) return true
    }
    i = end + 1
  }
  return false
}
