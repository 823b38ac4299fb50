// The original destination of a connection the init container's iptables REDIRECT sent to us
// (getsockopt SO_ORIGINAL_DST, through the tiny N-API addon in native/original_dst.c, built by
// scripts/build-native.sh). undefined when the addon is not built, the platform is not Linux,
// or the connection was not redirected.
import type {Socket} from 'node:net'
import {nativeAddon} from './addon.js'

export interface OriginalDst {
  ip: string
  port: number
  family: 4 | 6
}

interface Addon {
  originalDst(fd: number): OriginalDst | null
}

const addon = nativeAddon<Addon>('original_dst')

/** Whether SO_ORIGINAL_DST can be read here; with the reason when not. */
export function originalDstSupport(): {available: boolean; reason?: string} {
  return addon.support()
}

/** Where the client meant to connect, or undefined when the connection was not redirected. */
export function originalDst(socket: Socket): {ip: string; port: number} | undefined {
  const a = addon.get()
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
