// Peer checks for mTLS between proxies: the peer's chain ends at one of our trust anchors and
// its single DNS SAN is the identity discovery announced.
import {X509Certificate} from 'node:crypto'
import type {DetailedPeerCertificate, PeerCertificate} from 'node:tls'
import {singleDnsSan, verifyChain} from '../../tls/verify.js'

/**
 * The peer's certificates, leaf first, from `socket.getPeerCertificate(true)` (the detailed
 * form carries `issuerCertificate`; without it only the leaf is known and it must then be
 * signed directly by an anchor).
 */
export function peerChain(cert: PeerCertificate): X509Certificate[] {
  const out: X509Certificate[] = []
  const seen = new Set<string>()
  let cur: PeerCertificate | undefined = cert
  while (cur?.raw && !seen.has(cur.fingerprint256) && out.length < 8) {
    seen.add(cur.fingerprint256)
    out.push(new X509Certificate(cur.raw))
    cur = (cur as DetailedPeerCertificate).issuerCertificate
  }
  return out
}

/** A peer certificate this proxy does not accept; `untrustedPeer` lets a failure be told as such (core/failures.ts). */
function untrusted(message: string): Error & {untrustedPeer: true} {
  return Object.assign(new Error(message), {untrustedPeer: true as const})
}

export function verifyPeerCertificate(cert: PeerCertificate | undefined, expected: string, anchors: X509Certificate[], at = new Date()): Error | undefined {
  if (!cert?.raw) return untrusted(`the peer presented no certificate (expected ${expected})`)
  let chain: X509Certificate[]
  try {
    chain = peerChain(cert)
  } catch (err) {
    return untrusted(`the peer certificate cannot be parsed: ${(err as Error).message}`)
  }
  const leaf = chain[0]!
  const problem = verifyChain({leaf, intermediates: chain.slice(1), anchors, at})
  if (problem) return untrusted(`the peer certificate does not chain to the trust anchors: ${problem}`)
  const name = singleDnsSan(leaf)
  if (name === undefined) return untrusted(`the peer certificate must carry exactly one DNS SAN (got ${leaf.subjectAltName ?? 'none'})`)
  if (name !== expected) return untrusted(`the peer is ${name}, not the expected ${expected}`)
  return undefined
}

/** The single DNS SAN of a peer certificate (no chain check). */
export function peerIdentityName(cert: PeerCertificate | undefined): string | undefined {
  if (!cert?.raw) return undefined
  try {
    return singleDnsSan(new X509Certificate(cert.raw))
  } catch {
    return undefined
  }
}
