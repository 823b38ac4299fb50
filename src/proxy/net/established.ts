// When an upstream connection (EndpointClient.connect) is usable: for plaintext once connected,
// for mTLS once the handshake is done and the peer's identity verified ('secureConnect').
import type {Duplex} from 'node:stream'

/** Calls `cb` once `socket` is usable (its 'connect', or 'secureConnect' for a TLS socket). */
export function onEstablished(socket: Duplex, cb: () => void): void {
  socket.once((socket as Duplex & {encrypted?: boolean}).encrypted ? 'secureConnect' : 'connect', cb)
}
