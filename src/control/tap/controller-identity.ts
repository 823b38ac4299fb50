// The controller's own identity as the data path's Identity contract, for the tap server's
// client side toward proxies' tap ports: its serving certificate (named mesh-controller.<ns>
// .serviceaccount.identity..., the MESH_PROXY_TAP_SVC_NAME proxies accept) and trust anchors.
import {X509Certificate} from 'node:crypto'
import tls, {type PeerCertificate, type SecureContext, type SecureContextOptions} from 'node:tls'
import type {Identity} from '../../proxy/core/contracts.js'
import {verifyPeerCertificate} from '../../proxy/identity/verify-peer.js'

export interface ServingSource {
  tlsOptions(): SecureContextOptions
  onRenew(listener: (o: SecureContextOptions) => void): () => void
}

function anchorsOf(o: SecureContextOptions): X509Certificate[] {
  const pem = String(o.ca ?? '')
  return (pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map((c) => new X509Certificate(c))
}

export function servingIdentity(serving: ServingSource, name: string): Identity {
  let opts = serving.tlsOptions()
  let ctx = tls.createSecureContext(opts)
  let anchors = anchorsOf(opts)
  const off = serving.onRenew((o) => {
    opts = o
    ctx = tls.createSecureContext(o)
    anchors = anchorsOf(o)
  })
  return {
    localName: name,
    ready: () => Promise.resolve(),
    serverContext: (): SecureContext => ctx,
    clientContext: (): SecureContext => ctx,
    verifyPeer: (cert: PeerCertificate, expected: string) => verifyPeerCertificate(cert, expected, anchors),
    peerName: (cert: PeerCertificate) => {
      const m = /DNS:([^,\s]+)/.exec(cert.subjectaltname ?? '')
      return m ? m[1] : undefined
    },
    close: off,
  }
}
