// The original destination of a redirected connection (iptables REDIRECT), read through the
// SO_ORIGINAL_DST addon in ../net/original-dst.ts; without the addon (not built, not Linux),
// undefined (the proxy then uses MESH_PROXY_INBOUND_FORWARD_ADDR or the local address), and the
// sides say so at start (inbound.ts, outbound.ts).
import type {Socket} from 'node:net'
import type {Addr} from '../core/observe.js'

export type OriginalDstFn = (socket: Socket) => Addr | undefined

/** The reader, or why there is none. */
export type OriginalDstLoad = {read: OriginalDstFn, unavailable?: undefined} | {read?: undefined, unavailable: string}

/** Loads the addon's module: its reader, or why it does not load here. */
export async function loadOriginalDst(): Promise<OriginalDstLoad> {
  // A literal specifier: the sidecar's bundle (scripts/build-proxy.mjs) includes the module. A
  // computed one was left to Node at run time, resolved from dist/proxy/sidecar.cjs to a
  // dist/net/ that does not exist, and the bundled proxy read no original destination at all.
  const {originalDst, originalDstSupport} = await import('../net/original-dst.js')
  const support = originalDstSupport()
  return support.available ? {read: originalDst} : {unavailable: support.reason ?? 'the SO_ORIGINAL_DST addon does not load'}
}
