// Tap filters come from the subscriber's query string (?method=GET&authority=web:80&path=/api
// &status=500&maxRps=10&direction=inbound). Every field is checked and bounded.
import type {Direction, TapFilter} from '../../protocol/tap.js'
import type {RequestMeta} from '../core/observe.js'

export const DEFAULT_MAX_RPS = 100
export const MAX_MAX_RPS = 10_000

export class TapFilterError extends Error {
  readonly code = 'MESH_TAP_FILTER'
}

const KNOWN = new Set(['method', 'authority', 'path', 'status', 'maxRps', 'direction'])
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,32}$/

export function parseTapFilter(query: URLSearchParams): TapFilter & {maxRps: number} {
  const filter: TapFilter & {maxRps: number} = {maxRps: DEFAULT_MAX_RPS}
  for (const key of query.keys()) {
    if (!KNOWN.has(key)) throw new TapFilterError(`unknown tap filter ${JSON.stringify(key.slice(0, 32))}: use method, authority, path, status, maxRps or direction`)
  }
  const method = query.get('method')
  if (method !== null) {
    if (!TOKEN.test(method)) throw new TapFilterError(`invalid method filter ${JSON.stringify(method.slice(0, 32))}: expected an HTTP method such as GET`)
    filter.method = method.toUpperCase()
  }
  const authority = query.get('authority')
  if (authority !== null) {
    if (authority === '' || authority.length > 300) throw new TapFilterError('invalid authority filter: expected host or host:port, at most 300 characters')
    filter.authority = authority.toLowerCase()
  }
  const path = query.get('path')
  if (path !== null) {
    if (!path.startsWith('/') || path.length > 2048) throw new TapFilterError(`invalid path filter ${JSON.stringify(path.slice(0, 32))}: expected a prefix starting with /`)
    filter.path = path
  }
  const status = query.get('status')
  if (status !== null) {
    if (!/^[1-5]\d\d$/.test(status)) throw new TapFilterError(`invalid status filter ${JSON.stringify(status.slice(0, 32))}: expected an HTTP status 100-599`)
    filter.status = Number(status)
  }
  const maxRps = query.get('maxRps')
  if (maxRps !== null) {
    const n = Number(maxRps)
    if (!/^\d+(\.\d+)?$/.test(maxRps) || n <= 0 || n > MAX_MAX_RPS) {
      throw new TapFilterError(`invalid maxRps ${JSON.stringify(maxRps.slice(0, 32))}: expected a number in (0, ${MAX_MAX_RPS}]`)
    }
    filter.maxRps = n
  }
  const direction = query.get('direction')
  if (direction !== null) {
    if (direction !== 'inbound' && direction !== 'outbound') throw new TapFilterError(`invalid direction filter ${JSON.stringify(direction.slice(0, 32))}: expected inbound or outbound`)
    filter.direction = direction as Direction
  }
  return filter
}

/** The request-time part of a filter (status is checked when the response starts). */
export function matchesRequest(filter: TapFilter, req: RequestMeta): boolean {
  if (filter.direction !== undefined && filter.direction !== req.direction) return false
  if (filter.method !== undefined && filter.method !== req.method) return false
  if (filter.authority !== undefined && filter.authority !== req.authority.toLowerCase()) return false
  if (filter.path !== undefined && !req.path.startsWith(filter.path)) return false
  return true
}
