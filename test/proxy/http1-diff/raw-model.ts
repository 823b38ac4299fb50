// The raw codec's reading of a byte stream, from its own parts (raw/head.ts, request-plan.ts,
// response.ts, framing.ts), with the control flow of raw/conn.ts (requests) and
// raw/exchange.ts + upstream.ts (responses): where each message starts and ends, what it was
// parsed as, and how the stream ends (served through, handed to Node's parser, refused, or
// waiting for more). The bytes arrive in the given chunks, as a socket would deliver them.
import {ChunkedFramer, type Framer} from '../../../src/proxy/http/http1/raw/framing.js'
import {HEAD_MALFORMED, HeadScanner, parseRequestHead, parseResponseHead} from '../../../src/proxy/http/http1/raw/head.js'
import {requestFraming, wantsClose} from '../../../src/proxy/http/http1/raw/request-plan.js'
import {informationalValid, planResponse} from '../../../src/proxy/http/http1/raw/response.js'

export interface RawMessage {
  /** Offset of the message's first byte and just past its last. */
  start: number
  end: number
  method?: string
  url?: string
  status?: number
  rawHeaders: string[]
  /** Body payload bytes (chunk framing not counted). */
  payload: number
  chunked: boolean
}

export type RawEnd =
  /** Every byte read, at a message boundary. */
  | 'done'
  /** Waiting for more bytes (a head or a body not complete). */
  | 'waiting'
  /** The rest, from `at`, goes to Node's parser (requests only). */
  | 'handover'
  /** Refused: 400 (a request body's framing) or 502 (a response). */
  | 'refused'
  /** The client asked to close: what follows is not read. */
  | 'closed'

export interface RawReading {
  messages: RawMessage[]
  end: RawEnd
  /** Where the stream's end happened (the handover's or the refusal's message start). */
  at: number
}

export interface Limits {
  maxHeaderBytes: number
  maxHeaderCount: number
}

/** The stream as a socket delivers it: `bytes` cut at `cuts` (sorted offsets). */
function* chunksOf(bytes: Buffer, cuts: number[]): Generator<[Buffer, number]> {
  let at = 0
  for (const c of [...cuts.filter((x) => x > 0 && x < bytes.length), bytes.length]) {
    if (c <= at) continue
    yield [bytes.subarray(at, c), at]
    at = c
  }
}

/** How the raw codec reads a client's request stream. */
export function rawReadRequests(bytes: Buffer, cuts: number[], limits: Limits): RawReading {
  return read(bytes, cuts, limits, 'request', [])
}

/** How the raw codec reads an upstream's response stream (`methods`: the requests they answer; `eof`: the upstream closes after the bytes). */
export function rawReadResponses(bytes: Buffer, cuts: number[], limits: Limits, methods: string[], eof: boolean): RawReading {
  const r = read(bytes, cuts, limits, 'response', methods)
  if (r.end === 'waiting' && eof && r.untilClose) {
    r.messages.push({...r.untilClose, end: bytes.length})
    return {messages: r.messages, end: 'done', at: bytes.length}
  }
  // (the upstream closed mid-message: the exchange answers 502)
  if (r.end === 'waiting' && eof) return {messages: r.messages, end: 'refused', at: r.at}
  return {messages: r.messages, end: r.end, at: r.at}
}

function read(bytes: Buffer, cuts: number[], limits: Limits, type: 'request' | 'response', methods: string[]): RawReading & {untilClose?: RawMessage} {
  const messages: RawMessage[] = []
  const scanner = new HeadScanner(type === 'request')
  let start = 0
  let framer: Framer | null | undefined
  let current: RawMessage | undefined
  let untilClose: RawMessage | undefined
  let answered = 0
  for (const [chunk, offset] of chunksOf(bytes, cuts)) {
    let pos = 0
    while (pos < chunk.length) {
      if (untilClose) {
        // (a response read until the upstream closes)
        untilClose.payload += chunk.length - pos
        break
      }
      if (current === undefined) {
        // Reading a head: the scanner finds its end across chunks.
        const headEnd = scanner.push(chunk.subarray(pos))
        if (headEnd === HEAD_MALFORMED) return {messages, end: 'handover', at: start}
        if (headEnd < 0) {
          if (scanner.length > limits.maxHeaderBytes) return {messages, end: type === 'request' ? 'handover' : 'refused', at: start}
          break
        }
        const headBuf = bytes.subarray(start, start + headEnd)
        scanner.reset()
        const consumed = start + headEnd - (offset + pos)
        pos += consumed
        if (type === 'request') {
          const head = headEnd <= limits.maxHeaderBytes ? parseRequestHead(headBuf, headEnd, limits.maxHeaderCount) : null
          const plan = head ? requestFraming(head, limits.maxHeaderBytes) : undefined
          if (!head || !plan) return {messages, end: 'handover', at: start}
          framer = plan.framer
          current = {start, end: -1, method: head.method, url: head.path, rawHeaders: head.raw, payload: 0, chunked: framer instanceof ChunkedFramer}
          if (wantsClose(head)) current.end = -2 // (closes after this one)
        } else {
          const h = parseResponseHead(headBuf, headEnd, limits.maxHeaderCount)
          if (!h || h.status === 101 || (h.status < 200 && !informationalValid(h))) return {messages, end: 'refused', at: start}
          if (h.status < 200) {
            messages.push({start, end: start + headEnd, status: h.status, rawHeaders: h.raw, payload: 0, chunked: false})
            start += headEnd
            continue
          }
          const plan = planResponse(h, methods[answered] ?? 'GET', limits.maxHeaderBytes)
          if (!plan) return {messages, end: 'refused', at: start}
          answered++
          current = {start, end: -1, status: h.status, rawHeaders: h.raw, payload: 0, chunked: plan.framer instanceof ChunkedFramer}
          // (a connection that may not carry another response is not read after this one)
          if (!plan.reusable) current.end = -2
          if (plan.untilClose) {
            untilClose = current
            current = undefined
            continue
          }
          framer = plan.framer
        }
        if (framer === null) {
          const closes = current.end === -2
          current.end = start + headEnd
          messages.push(current)
          current = undefined
          start += headEnd
          if (closes) return {messages, end: 'closed', at: start}
        }
        continue
      }
      // A body.
      const f = framer!
      const end = f.feed(chunk, pos)
      current.payload = f.payload
      if (end === -2) return {messages, end: 'refused', at: current.start}
      if (end === -1) break
      const closes = current.end === -2
      current.end = offset + end
      messages.push(current)
      start = current.end
      current = undefined
      pos = end
      if (closes) return {messages, end: 'closed', at: start}
    }
  }
  if (untilClose) return {messages, end: 'waiting', at: untilClose.start, untilClose}
  return {messages, end: current === undefined && scanner.length === 0 ? 'done' : 'waiting', at: current?.start ?? start}
}
