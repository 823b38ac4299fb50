// The trust bundle stream (src/protocol/trust.ts) on the destination connection: the anchors
// of the issuer state the identity component holds, sent whole on subscribe and whenever they
// change (an issuer-only change sends nothing). The source only ever holds a bundle that
// validates the current issuer (loadIssuer refuses anything else), so a bundle that would strand
// the issuer never reaches a proxy.
import {createHash, type X509Certificate} from 'node:crypto'
import {anchorInfo} from '../../tls/anchor-info.js'
import {TRUST_BUNDLE_MAX_ANCHORS, TRUST_BUNDLE_MAX_BYTES, TRUST_BUNDLE_VERSION, type TrustBundle, type TrustMessage} from '../../protocol/trust.js'
import type {DestinationErrorCode} from '../../protocol/destination.js'

/** What the stream reads: the identity component's IssuerSource fits. */
export interface TrustSource {
  current(): {anchorsPem: string; anchors: X509Certificate[]} | undefined
  onChange(listener: (state: {anchorsPem: string; anchors: X509Certificate[]}) => void): () => void
}

/** The wire form of a set of anchors (bounded: an oversized bundle is an error, never truncated). */
export function trustBundle(anchors: X509Certificate[]): TrustBundle {
  const sorted = anchors.map((a) => ({cert: a, info: anchorInfo(a)}))
  const anchorsPem = sorted.map((a) => a.cert.toString()).join('')
  if (sorted.length > TRUST_BUNDLE_MAX_ANCHORS) throw new Error(`the trust bundle holds ${sorted.length} anchors; at most ${TRUST_BUNDLE_MAX_ANCHORS} are streamed`)
  if (Buffer.byteLength(anchorsPem) > TRUST_BUNDLE_MAX_BYTES) throw new Error(`the trust bundle is ${Buffer.byteLength(anchorsPem)} bytes; at most ${TRUST_BUNDLE_MAX_BYTES} are streamed`)
  return {
    version: TRUST_BUNDLE_VERSION,
    revision: createHash('sha256').update(sorted.map((a) => a.info.sha256).join(',')).digest('hex').slice(0, 32),
    anchorsPem,
    anchors: sorted.map((a) => a.info),
  }
}

export interface TrustStreamOptions {
  source: TrustSource
  send(msg: TrustMessage | {type: 'error'; code: DestinationErrorCode; message: string}): void
  /** The stream is over (after an error): the server forgets it. */
  end(): void
}

export interface TrustStream {
  close(): void
}

export function openTrustStream(o: TrustStreamOptions): TrustStream | undefined {
  let last = ''
  const push = (anchors: X509Certificate[]): boolean => {
    let bundle: TrustBundle
    try {
      bundle = trustBundle(anchors)
    } catch (err) {
      o.send({type: 'error', code: 'INTERNAL', message: (err as Error).message})
      o.end()
      return false
    }
    if (bundle.revision === last) return true
    last = bundle.revision
    o.send({type: 'trust', ...bundle})
    return true
  }
  const state = o.source.current()
  if (!state) {
    o.send({type: 'error', code: 'UNAVAILABLE', message: 'the identity service has no issuer loaded yet; ask again'})
    o.end()
    return undefined
  }
  if (!push(state.anchors)) return undefined
  const unsubscribe = o.source.onChange((s) => {
    if (!push(s.anchors)) unsubscribe()
  })
  return {close: unsubscribe}
}
