// The certificate chain a proxy presents on its inbound port, read with a TLS handshake that
// verifies nothing (the checks verify it against the current anchors afterwards).
import {X509Certificate} from 'node:crypto'
import {connect, type PeerCertificate} from 'node:tls'

export interface PeerAddress {
  host: string
  port: number
  /** SNI to send (the proxy's identity name), if any. */
  servername?: string
}

export function readPeerCertificate(addr: PeerAddress, timeoutMs = 3000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({host: addr.host, port: addr.port, servername: addr.servername, rejectUnauthorized: false})
    const timer = setTimeout(() => socket.destroy(new Error(`TLS handshake with ${addr.host}:${addr.port} took longer than ${timeoutMs / 1000} s`)), timeoutMs)
    socket.once('secureConnect', () => {
      clearTimeout(timer)
      const pems: string[] = []
      let cert: PeerCertificate | undefined = socket.getPeerCertificate(true)
      const seen = new Set<string>()
      while (cert?.raw && !seen.has(cert.fingerprint256) && pems.length < 8) {
        seen.add(cert.fingerprint256)
        pems.push(new X509Certificate(cert.raw).toString())
        cert = (cert as {issuerCertificate?: PeerCertificate}).issuerCertificate
      }
      // Closed once what is queued is written: destroyed at once, the client's Finished (still
      // queued when secureConnect fires) may never leave, and the server counts the handshake
      // unfinished (a mesh proxy: tls_handshake, MESH3005).
      // (bounded: a peer that stops reading cannot hold the command open)
      const bound = setTimeout(() => socket.destroy(), 1000)
      socket.end(() => {
        clearTimeout(bound)
        socket.destroy()
      })
      if (pems.length === 0) reject(new Error(`${addr.host}:${addr.port} presented no certificate`))
      else resolve(pems.join(''))
    })
    socket.once('error', (error) => {
      clearTimeout(timer)
      reject(new Error(`TLS handshake with ${addr.host}:${addr.port} failed: ${error.message}`))
    })
  })
}
