// `host:port` / `[v6]:port` listen addresses (MESH_PROXY_*_LISTEN_ADDR), checked once.
import {isIP} from 'node:net'

export interface ListenAddr {
  host: string
  port: number
}

export function parseListenAddr(value: string | ListenAddr, what = 'listen address'): ListenAddr {
  if (typeof value !== 'string') return value
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(value.trim())
  const host = m?.[1] ?? m?.[2]
  const port = Number(m?.[3])
  if (!m || host === undefined || port > 65535 || (m[1] !== undefined && isIP(m[1]) !== 6)) {
    throw new Error(`invalid ${what} ${JSON.stringify(value)}: expected host:port, e.g. 0.0.0.0:4191 or [::]:4191`)
  }
  return {host, port}
}

/** 127.0.0.0/8, ::1 and their IPv4-mapped forms. */
export function isLoopback(address: string | undefined): boolean {
  if (!address) return false
  const a = address.startsWith('::ffff:') ? address.slice(7) : address
  return a === '::1' || (isIP(a) === 4 && a.startsWith('127.'))
}
