// Message bodies between an incoming message and an outgoing one: streamed with backpressure,
// bytes counted, and trailers (a chunked message's trailer fields) carried on; or, for a body
// that may have to be replayed, read whole (bounded by the caller's declared-length check).
import type http from 'node:http'
import {trailerPairs} from './headers.js'

/** Counts the bytes pump() carries and hears when the body is done. */
export interface BodySink {
  bytes: number
  bodyDone(): void
}

/**
 * Streams `from` into `to` and ends `to` with `from`'s trailers, counting into `sink`; a reset
 * of either side is the caller's to handle (their 'close' events).
 */
export function pump(from: http.IncomingMessage, to: http.OutgoingMessage, sink?: BodySink): void {
  from.on('data', (chunk: Buffer) => {
    if (sink) sink.bytes += chunk.length
    if (!to.write(chunk)) {
      from.pause()
      to.once('drain', () => from.resume())
    }
  })
  from.on('end', () => {
    const raw = from.rawTrailers
    if (raw.length > 0) to.addTrailers(trailerPairs(raw))
    to.end()
    sink?.bodyDone()
  })
}

/** Reads a whole body (the caller checked its declared length against the replay limit). */
export function readBody(req: http.IncomingMessage, done: (body: Buffer) => void): void {
  const chunks: Buffer[] = []
  req.on('data', (c: Buffer) => chunks.push(c))
  req.on('end', () => done(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)))
}
