// The original destination of a connection the init container's iptables REDIRECT sent to us
// (getsockopt SO_ORIGINAL_DST, through the tiny N-API addon in native/original_dst.c, built by
// scripts/build-native.sh). undefined when the addon is not built, the platform is not Linux,
// or the connection was not redirected.
import {createRequire} from 'node:module'
import type {Socket} from 'node:net'

export interface OriginalDst {
  ip: string
  port: number
  family: 4 | 6
}

interface Addon {
  originalDst(fd: number): OriginalDst | null
}

let addon: Addon | null | undefined
let loadError: string | undefined

function load(): Addon | null {
  if (addon !== undefined) return addon
  try {
    const require = createRequire(import.meta.url)
    // src/proxy/net/ and dist/proxy/net/ are both three levels below the package root.
    addon = require('../../../native/build/original_dst.node') as Addon
  } catch (err) {
    addon = null
    loadError = (err as Error).message
  }
  return addon
}

/** Whether SO_ORIGINAL_DST can be read here; with the reason when not. */
export function originalDstSupport(): {available: boolean; reason?: string} {
  return load() ? {available: true} : {available: false, reason: `native addon not loaded (run scripts/build-native.sh): ${loadError ?? 'unknown'}`}
}

/** Where the client meant to connect, or undefined when the connection was not redirected. */
export function originalDst(socket: Socket): {ip: string; port: number} | undefined {
  const a = load()
  if (!a) return undefined
  const fd = (socket as unknown as {_handle?: {fd?: number}})._handle?.fd
  if (typeof fd !== 'number' || fd < 0) return undefined
  const r = a.originalDst(fd)
  if (!r) return undefined
  // With conntrack loaded, a connection nobody rewrote reports its own local address.
  const local = socket.localAddress?.replace(/^::ffff:/, '')
  if (r.port === socket.localPort && r.ip === local) return undefined
  return {ip: r.ip, port: r.port}
}
