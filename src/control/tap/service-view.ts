// The tap server's default ServiceView (types.ts): Service names alone, where no registry is at
// hand. A name in any form (for the caller's namespace) is that Service; an IP is not known, and
// no routes are listed before they carry traffic. The controller's view (registry and route
// state) is src/control/routes/view.ts.
import {AuthorityError, parseAuthority, type ParsedAuthority} from '../destination/authority.js'
import type {ServiceView} from './types.js'

/** parseAuthority, undefined for an authority that does not parse. */
export function parseLabelAuthority(authority: string, callerNamespace: string, clusterDomain: string): ParsedAuthority | undefined {
  try {
    return parseAuthority(authority, callerNamespace, clusterDomain)
  } catch (err) {
    if (err instanceof AuthorityError) return undefined
    throw err
  }
}

export function authorityOnlyView(clusterDomain = 'cluster.local'): ServiceView {
  return {
    clusterDomain,
    serviceOf(authority, callerNamespace) {
      const a = parseLabelAuthority(authority, callerNamespace, clusterDomain)
      return a?.kind === 'service' ? {namespace: a.namespace, name: a.service, port: a.port} : undefined
    },
  }
}
