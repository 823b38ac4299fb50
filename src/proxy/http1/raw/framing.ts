// Body framing for bytes that pass through unchanged: a Content-Length countdown, or a chunked
// state machine that only finds where the message ends (chunk data is never copied). Strict:
// a bad chunk size line or a missing CRLF is an error; trailers pass through as bytes.

const enum S { Size, Ext, SizeLf, Data, DataCr, DataLf, TrailerStart, Trailer, TrailerLf, EndLf, Done }

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

export class ChunkedFramer implements Framer {
  payload = 0
  private s = S.Size
  private size = 0
  private digits = 0
  private left = 0
  /** Trailer bytes seen (bounded like a head). */
  private trailer = 0

  constructor(private readonly maxTrailerBytes = 16 * 1024) {}

  feed(buf: Buffer, start: number): number {
    let i = start
    const len = buf.length
    while (i < len) {
      const c = buf[i]
      switch (this.s) {
        case S.Size: {
          const d = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1
          if (d >= 0) {
            if (++this.digits > MAX_SIZE_DIGITS) return -2
            this.size = this.size * 16 + d
          } else if (this.digits === 0) return -2
          else if (c === 13) this.s = S.SizeLf
          else if (c === 59 /* ; */ || c === 32 || c === 9) this.s = S.Ext
          else return -2
          i++
          break
        }
        case S.Ext:
          if (c === 13) this.s = S.SizeLf
          else if (c === 10 || (c < 32 && c !== 9)) return -2
          i++
          break
        case S.SizeLf:
          if (c !== 10) return -2
          i++
          if (this.size === 0) this.s = S.TrailerStart
          else {
            this.left = this.size
            this.s = S.Data
          }
          break
        case S.Data: {
          const n = Math.min(this.left, len - i)
          this.left -= n
          this.payload += n
          i += n
          if (this.left === 0) this.s = S.DataCr
          break
        }
        case S.DataCr:
          if (c !== 13) return -2
          this.s = S.DataLf
          i++
          break
        case S.DataLf:
          if (c !== 10) return -2
          this.s = S.Size
          this.size = 0
          this.digits = 0
          i++
          break
        case S.TrailerStart:
          // An empty line ends the message; anything else is a trailer field line.
          if (c === 13) this.s = S.EndLf
          else if (c === 10 || c === 32 || c === 9) return -2
          else this.s = S.Trailer
          i++
          break
        case S.Trailer:
          if (++this.trailer > this.maxTrailerBytes) return -2
          if (c === 13) this.s = S.TrailerLf
          else if (c === 10) return -2
          i++
          break
        case S.TrailerLf:
          if (c !== 10) return -2
          this.s = S.TrailerStart
          i++
          break
        case S.EndLf:
          if (c !== 10) return -2
          this.s = S.Done
          return i + 1
        default:
          return i
      }
    }
    return -1
  }
}
