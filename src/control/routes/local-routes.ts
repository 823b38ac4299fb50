// Local mode: the routes of the registry file (src/control/destination/local-registry.ts) into
// the RouteState, after every reload. The file is refused whole when a route does not validate,
// so the last good document (and its routes) stays in force, as for services.
import type {LocalRegistry} from '../destination/local-registry.js'
import {routeKey, type RouteState} from './state.js'

/** Keeps `state` equal to the registry's routes; subscribe before the destination server starts. */
export function syncLocalRoutes(registry: LocalRegistry, state: RouteState): () => void {
  let synced: unknown
  const sync = (): void => {
    const routes = registry.routes()
    if (routes === synced) return
    synced = routes
    const keep = new Set<string>()
    for (const r of routes) {
      const key = routeKey(r)
      keep.add(key)
      state.set(key, r.namespace, r)
    }
    for (const r of state.routes()) if (!keep.has(routeKey(r))) state.set(routeKey(r), r.namespace, undefined)
  }
  sync()
  return registry.onChange(sync)
}
