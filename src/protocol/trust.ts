// The trust bundle: the anchors a proxy verifies peers (and the control plane) against, streamed
// by the destination service on the proxy's one connection (DESTINATIONS_PATH), so an anchor
// rotation reaches running proxies without re-rolling a pod. See docs/architecture/identity.md
// ("The trust bundle reaches running proxies") for what a proxy must do with it.
//
//   client -> server  {type: 'watchTrust', id, version: TRUST_BUNDLE_VERSION}   (no authority)
//                     {type: 'unwatch', id}
//   server -> client  {type: 'trust', id, ...TrustBundle}     the whole bundle, first and on every change
//                     {type: 'error', id, code, message}      the stream ends (e.g. UNAVAILABLE before an issuer loaded)
//
// Versioning as for routes: a proxy that does not know this never asks; a control plane older
// than this answers `error` BAD_REQUEST (unknown request type) and the proxy keeps the anchors it
// has. The server answers with a version <= the one asked for.
//
// What the server sends is the bundle of the last issuer state it accepted: the trust roots
// (ConfigMap mesh-identity-trust-roots, key ca-bundle.crt; the directory's ca-bundle.crt in
// local mode) that validate the current issuer. A bundle edit that would not validate the
// issuer (an anchor dropped too early) is refused by the controller and never streamed.

/** The bundle format this code implements. */
export const TRUST_BUNDLE_VERSION = 1

/** Largest bundle the server sends (bytes of PEM); the client must accept at least this much. */
export const TRUST_BUNDLE_MAX_BYTES = 256 * 1024
/** Most anchors in one bundle. */
export const TRUST_BUNDLE_MAX_ANCHORS = 64

export interface WatchTrustRequest {
  type: 'watchTrust'
  id: number
  /** The highest bundle version the client implements. */
  version: number
}

/** One anchor, described for logs, the admin endpoint and `mesh identity` (the PEM is authoritative). */
export interface TrustAnchorInfo {
  /** SHA-256 of the DER certificate, lower-case hex (what `openssl x509 -fingerprint -sha256` shows, without colons). */
  sha256: string
  subject: string
  /** ISO 8601. */
  notAfter: string
}

export interface TrustBundle {
  version: typeof TRUST_BUNDLE_VERSION
  /** sha256 over the anchors' fingerprints in order: equal revisions are equal bundles. */
  revision: string
  /** Every anchor, PEM, concatenated: what the proxy puts in its TLS contexts as `ca`. */
  anchorsPem: string
  anchors: TrustAnchorInfo[]
}

export type TrustMessage = {type: 'trust'} & TrustBundle
