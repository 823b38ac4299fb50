// MESH_PROXY_HTTP1_CODEC: which HTTP/1 codec serves detected HTTP/1 connections. `raw` (the
// default) serves the common case on the socket itself (raw/conn.ts: ~2.5x less CPU per
// request, bench/proxy) and hands anything else over to Node's http.Server; `node` hands every
// connection to that server (the fallback, kept tested by running the proxy suites with it).
import type http from 'node:http'
import {InputError} from '../../../lib/errors.js'

export const CODEC_ENV = 'MESH_PROXY_HTTP1_CODEC'
export type Http1Codec = 'node' | 'raw'

const kCodec = Symbol('mesh.h1codec')

/** The codec `env` selects; a clear InputError for anything else. */
export function http1Codec(env: NodeJS.ProcessEnv = process.env): Http1Codec {
  const v = env[CODEC_ENV]
  if (v === undefined || v === '' || v === 'raw') return 'raw'
  if (v === 'node') return 'node'
  throw new InputError(`${CODEC_ENV}="${v}" is not a known HTTP/1 codec`, {
    suggestions: [`Set ${CODEC_ENV} to "raw" (the default) or "node" (Node's HTTP/1 server), or unset it.`],
  })
}

/** Reads the setting once, when a side's HTTP/1 server is built (so a bad value fails at start). */
export function markCodec(server: http.Server, env: NodeJS.ProcessEnv = process.env): void {
  ;(server as unknown as Record<symbol, Http1Codec>)[kCodec] = http1Codec(env)
}

export function isRawCodec(server: http.Server): boolean {
  return (server as unknown as Record<symbol, Http1Codec | undefined>)[kCodec] === 'raw'
}
