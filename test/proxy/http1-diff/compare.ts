// The differential verdict: the raw codec's reading of a stream (raw-model.ts) against llhttp's
// (llhttp.ts). For every message the raw codec accepts, llhttp must accept the same bytes as the
// same message: same boundaries (one message for one, ending at the same byte), method, target
// or status, header fields and body length. What the raw codec hands to Node is llhttp's by
// construction. Findings, by kind:
// - looser: the raw codec accepted bytes llhttp refuses, or read them as other messages (a bug:
//   the proxy would forward what the next hop may parse differently);
// - stricter: the raw codec refused (400/502) a message llhttp accepts;
// - stalls: the raw codec waits for more bytes where llhttp has completed a message.
import type {Case} from './gen.js'
import {llhttpParse, type Message, type Verdict} from './llhttp.js'
import {rawReadRequests, rawReadResponses, type Limits, type RawMessage, type RawReading} from './raw-model.js'

export type FindingKind = 'looser' | 'stricter' | 'stalls'

export interface Finding {
  kind: FindingKind
  what: string
  bytes: string
}

const show = (b: Buffer): string => JSON.stringify(b.toString('latin1'))

function sameMessage(r: RawMessage, l: Message): string | undefined {
  if (r.method !== undefined && r.method !== l.method) return `method ${r.method} vs ${l.method}`
  if (r.url !== undefined && r.url !== l.url) return `target ${JSON.stringify(r.url)} vs ${JSON.stringify(l.url)}`
  if (r.status !== undefined && r.status !== l.status) return `status ${r.status} vs ${l.status}`
  if (JSON.stringify(r.rawHeaders) !== JSON.stringify(l.rawHeaders)) return `fields ${JSON.stringify(r.rawHeaders)} vs ${JSON.stringify(l.rawHeaders)}`
  if (r.payload !== l.body.length) return `body ${r.payload} vs ${l.body.length} bytes`
  return undefined
}

function check(c: Case, raw: RawReading, oracle: (bytes: Buffer, eof: boolean) => Verdict): Finding | undefined {
  const {bytes} = c
  for (let k = 0; k < raw.messages.length; k++) {
    const m = raw.messages[k]
    const untilClose = m.end === bytes.length && c.eof
    const l = oracle(bytes.subarray(0, m.end), untilClose)
    if (l.error) return {kind: 'looser', what: `message ${k} (bytes ${m.start}-${m.end}) accepted, llhttp refuses it: ${l.error}`, bytes: show(bytes)}
    if (l.messages.length !== k + 1 || l.partial) return {kind: 'looser', what: `message ${k} ends at byte ${m.end} for the raw codec; llhttp has ${l.messages.length} message(s)${l.partial ? ' and one begun' : ''} there`, bytes: show(bytes)}
    const diff = sameMessage(m, l.messages[k])
    if (diff) return {kind: 'looser', what: `message ${k} parsed differently: ${diff}`, bytes: show(bytes)}
  }
  const n = raw.messages.length
  if (raw.end === 'refused' || raw.end === 'waiting') {
    const l = oracle(bytes, c.eof)
    if (l.messages.length > n) {
      return {kind: raw.end === 'refused' ? 'stricter' : 'stalls', what: `message ${n}: the raw codec ${raw.end === 'refused' ? 'refused' : 'waits for more'}, llhttp accepts it${l.error ? ` (then refuses: ${l.error})` : ''}`, bytes: show(bytes)}
    }
  }
  return undefined
}

/** A client's request stream (`cuts`: where reads split it). */
export function compareRequests(c: Case, limits: Limits): Finding | undefined {
  const raw = rawReadRequests(c.bytes, c.cuts, limits)
  return check(c, raw, (b) => llhttpParse(b, {type: 'request', maxHeaderSize: limits.maxHeaderBytes}))
}

/** An upstream's response stream, answering requests of `c.methods`. */
export function compareResponses(c: Case, limits: Limits): Finding | undefined {
  const raw = rawReadResponses(c.bytes, c.cuts, limits, c.methods, c.eof)
  return check(c, raw, (b, eof) => llhttpParse(b, {type: 'response', maxHeaderSize: limits.maxHeaderBytes, requestMethods: c.methods, eof}))
}
