// Query strings of the tap server's API, checked and bounded: the resource, the scope, the
// window and the proxy filters (validated by the proxy's own parser, so both agree).
import type {IncomingMessage} from 'node:http'
import {MeshError} from '../../lib/errors.js'
import type {TapFilter} from '../../protocol/tap.js'
import {parseTapFilter, TapFilterError} from '../../proxy/tap/filter.js'
import {parseDuration} from '../../stat/duration.js'
import {QUERY_HEADER} from './api.js'
import {parseResource, type ResourceRef} from './resource.js'
import type {ResolveScope} from './types.js'

export class BadQuery extends Error {
  readonly code = 'MESH_TAP_BAD_QUERY'
}

const NS = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/
const FILTER_KEYS = ['method', 'authority', 'path', 'status', 'maxRps', 'direction']
export const MAX_WINDOW_MS = 60 * 60_000

function wrap<T>(fn: () => T): T {
  try {
    return fn()
  } catch (err) {
    if (err instanceof MeshError || err instanceof TapFilterError) throw new BadQuery(err.message)
    throw err
  }
}

export const MAX_QUERY_HEADER = 8 * 1024

/** The query the server acts on: the x-mesh-query header when present, else the URL's. */
export function requestQuery(req: IncomingMessage, url: URL): {query: string; params: URLSearchParams} {
  const h = req.headers[QUERY_HEADER]
  const v = Array.isArray(h) ? h[0] : h
  if (v === undefined) return {query: url.search.replace(/^\?/, ''), params: url.searchParams}
  if (v.length > MAX_QUERY_HEADER) throw new BadQuery(`the ${QUERY_HEADER} header is longer than ${MAX_QUERY_HEADER} bytes`)
  return {query: v, params: new URLSearchParams(v)}
}

export function namespaceParam(q: URLSearchParams, key = 'namespace'): string {
  const ns = q.get(key) ?? 'default'
  if (!NS.test(ns)) throw new BadQuery(`invalid ${key} ${JSON.stringify(ns.slice(0, 64))}: expected a namespace name`)
  return ns
}

export function resourceParam(q: URLSearchParams, key = 'resource'): ResourceRef {
  const r = q.get(key)
  if (!r) throw new BadQuery(`missing query parameter ${key} (e.g. deploy/web)`)
  return wrap(() => parseResource(r, key))
}

export function scopeParam(q: URLSearchParams, key = 'namespace'): ResolveScope {
  return {namespace: namespaceParam(q, key), allNamespaces: q.get('allNamespaces') === 'true'}
}

export function optionalTarget(q: URLSearchParams, key: string, nsKey: string, fallback: ResolveScope): {resource: ResourceRef; scope: ResolveScope} | undefined {
  if (!q.get(key)) return undefined
  return {resource: resourceParam(q, key), scope: q.get(nsKey) ? {namespace: namespaceParam(q, nsKey)} : {namespace: fallback.namespace}}
}

export function windowParam(q: URLSearchParams): number {
  const ms = wrap(() => parseDuration(q.get('window') ?? '1m', 'window'))
  if (ms < 1000 || ms > MAX_WINDOW_MS) throw new BadQuery(`window ${q.get('window')} is out of range: between 1s and 1h`)
  return ms
}

export function filterParam(q: URLSearchParams): TapFilter {
  const only = new URLSearchParams()
  for (const k of FILTER_KEYS) {
    const v = q.get(k)
    if (v !== null) only.set(k, v)
  }
  return wrap(() => parseTapFilter(only))
}
