// The original destination of a redirected connection (iptables REDIRECT), read through the
// SO_ORIGINAL_DST addon in ../net/original-dst.ts when it is built; without it, undefined
// (the proxy then uses MESH_PROXY_INBOUND_FORWARD_ADDR or the local address).
import type {Socket} from 'node:net'
import type {Addr} from '../core/observe.js'

export type OriginalDstFn = (socket: Socket) => Addr | undefined

/** Loads the addon if present; resolves to undefined when it is not. */
export async function loadOriginalDst(): Promise<OriginalDstFn | undefined> {
  // A computed specifier: the module is built by another part and may be absent.
  const specifier = '../net/original-dst.js'
  try {
    const mod = (await import(specifier)) as {originalDst?: OriginalDstFn}
    return typeof mod.originalDst === 'function' ? mod.originalDst : undefined
  } catch {
    return undefined
  }
}
