// Where `mesh check --proxy` learns about proxies. The cluster source reads meshed pods through
// the API server; the local source (for `mesh demo`) is handed the proxies it runs. The data
// plane checks see only this interface.

export interface ProxyInfo {
  namespace: string
  /** Pod name (cluster) or proxy name (local). */
  name: string
  ready: boolean
  /** Why it is not ready. */
  notReadyReason?: string
  /** The version it runs (its /metrics build info, else what its spec asks for). */
  version?: string
  /** The trust anchors it was configured with (PEM), when known. */
  trustAnchorsPem?: string
  /** The certificate chain it presents (leaf first, PEM), when it could be read. */
  certificatePem?: string
  /** Connections that hit the detect timeout since it started, when its metrics say. */
  detectTimeouts?: DetectTimeoutCounts
  /** Inbound mTLS handshakes it closed unfinished since it started (reason tls_handshake), when its metrics say. */
  tlsHandshakes?: number
}

export interface DetectTimeoutCounts {
  inbound: number
  outbound: number
  /** The ports they happened on (mesh_proxy_detect_timeouts_total{port}), when the proxy counts by port. */
  ports?: {inbound: number[]; outbound: number[]}
}

export interface Expected {
  /** The version proxies must run: the control plane's. */
  version: string
  /** The current trust anchors (PEM bundle). */
  trustAnchorsPem: string
  /** The current issuer chain (PEM, issuer first), when known: proxies' anchors must validate it. */
  issuerPem?: string
}

export interface DataPlaneSource {
  /** For messages, e.g. "cluster https://127.0.0.1:6443" or "local demo". */
  description: string
  expected(): Promise<Expected>
  /** Every meshed proxy (in `namespace` when given). */
  proxies(namespace?: string): Promise<ProxyInfo[]>
}
