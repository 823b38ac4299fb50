// A trust bundle from the destination service (src/protocol/trust.ts), checked before a running
// proxy puts it in its TLS contexts. The stream is not trusted more than any network input: a
// bundle is refused (and the proxy keeps the anchors it has) when it is oversized, holds too many
// anchors, does not parse, holds a certificate that is not a CA, describes anchors its PEM does
// not hold, or leaves out every anchor the proxy's own certificate chains to (applying it would
// make the proxy distrust itself, and every peer distrust it).
import type {X509Certificate} from 'node:crypto'
import {TRUST_BUNDLE_MAX_ANCHORS, TRUST_BUNDLE_MAX_BYTES, TRUST_BUNDLE_VERSION} from '../../protocol/trust.js'
import {sha256Hex} from '../../tls/anchor-info.js'
import {parseCertificates, splitPem} from '../../tls/pem.js'
import {verifyChain} from '../../tls/verify.js'

/** A bundle that passed every check: what the contexts are rebuilt with. */
export interface CheckedBundle {
  revision: string
  anchorsPem: string
  anchors: X509Certificate[]
}

/** Why a bundle was refused; `selfDistrust` when only the proxy's own certificate stood in the way. */
export class TrustBundleRefused extends Error {
  constructor(message: string, readonly selfDistrust = false) {
    super(message)
    this.name = 'TrustBundleRefused'
  }
}

const REVISION = /^[0-9a-f]{1,64}$/
const HEX64 = /^[0-9a-f]{64}$/

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

/**
 * Checks a `trust` message's bundle. `own` is the proxy's presented chain (leaf first), absent
 * before its first certificate. Throws TrustBundleRefused naming the first problem.
 */
export function checkTrustBundle(bundle: unknown, own: X509Certificate[] | undefined, at = new Date()): CheckedBundle {
  if (!isObj(bundle)) throw new TrustBundleRefused('not an object')
  if (bundle.version !== TRUST_BUNDLE_VERSION) throw new TrustBundleRefused(`version ${JSON.stringify(bundle.version)?.slice(0, 20)} is not ${TRUST_BUNDLE_VERSION}`)
  if (typeof bundle.revision !== 'string' || !REVISION.test(bundle.revision)) throw new TrustBundleRefused('revision must be 1-64 lower-case hex digits')
  const pem = bundle.anchorsPem
  if (typeof pem !== 'string') throw new TrustBundleRefused('anchorsPem must be a string')
  const bytes = Buffer.byteLength(pem)
  if (bytes > TRUST_BUNDLE_MAX_BYTES) throw new TrustBundleRefused(`anchorsPem is ${bytes} bytes; at most ${TRUST_BUNDLE_MAX_BYTES}`)
  if (!Array.isArray(bundle.anchors)) throw new TrustBundleRefused('anchors must be a list')
  if (bundle.anchors.length === 0) throw new TrustBundleRefused('the bundle holds no anchor')
  if (bundle.anchors.length > TRUST_BUNDLE_MAX_ANCHORS) throw new TrustBundleRefused(`${bundle.anchors.length} anchors; at most ${TRUST_BUNDLE_MAX_ANCHORS}`)
  // Counted before parsing: a bundle of many blocks is refused without parsing any.
  const blocks = splitPem(pem).length
  if (blocks > TRUST_BUNDLE_MAX_ANCHORS) throw new TrustBundleRefused(`anchorsPem holds ${blocks} certificates; at most ${TRUST_BUNDLE_MAX_ANCHORS}`)
  let anchors: X509Certificate[]
  try {
    anchors = parseCertificates(pem, 'anchorsPem')
  } catch (err) {
    throw new TrustBundleRefused((err as Error).message)
  }
  if (anchors.length !== bundle.anchors.length) throw new TrustBundleRefused(`anchorsPem holds ${anchors.length} certificates, anchors describes ${bundle.anchors.length}`)
  for (const [i, a] of anchors.entries()) {
    const said = bundle.anchors[i] as unknown
    if (!isObj(said) || typeof said.sha256 !== 'string' || !HEX64.test(said.sha256)) throw new TrustBundleRefused(`anchors[${i}].sha256 must be 64 lower-case hex digits`)
    if (said.sha256 !== sha256Hex(a)) throw new TrustBundleRefused(`anchors[${i}].sha256 is not the fingerprint of certificate #${i + 1} of anchorsPem`)
    if (!a.ca) throw new TrustBundleRefused(`certificate #${i + 1} (${a.subject.replace(/\n/g, ', ').slice(0, 200)}) is not a CA`)
  }
  const [leaf, ...rest] = own ?? []
  if (leaf) {
    const problem = verifyChain({leaf, intermediates: rest, anchors, at})
    if (problem) throw new TrustBundleRefused(`the proxy's own certificate does not chain to any anchor of the bundle (${problem}); applying it would make the proxy distrust itself`, true)
  }
  return {revision: bundle.revision, anchorsPem: anchors.map((a) => a.toString()).join(''), anchors}
}
