// The original destination of a redirected connection (iptables REDIRECT), read through the
// SO_ORIGINAL_DST addon in ../net/original-dst.ts; without the addon (not built, not Linux),
// undefined (the proxy then uses MESH_PROXY_INBOUND_FORWARD_ADDR or the local address).
import type {Socket} from 'node:net'
import type {Addr} from '../core/observe.js'

export type OriginalDstFn = (socket: Socket) => Addr | undefined

/** Loads the addon's module; resolves to undefined when the addon does not load here. */
export async function loadOriginalDst(): Promise<OriginalDstFn | undefined> {
  // A literal specifier: the sidecar's bundle (scripts/build-proxy.mjs) includes the module. A
  // computed one was left to Node at run time, resolved from dist/proxy/sidecar.cjs to a
  // dist/net/ that does not exist, and the bundled proxy read no original destination at all.
  const {originalDst, originalDstSupport} = await import('../net/original-dst.js')
  return originalDstSupport().available ? originalDst : undefined
}
