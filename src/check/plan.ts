// Which categories each mode runs, in order.
import {capability} from './categories/capability.js'
import {controlPlane} from './categories/control-plane.js'
import {dataPlane} from './categories/data-plane.js'
import {identity} from './categories/identity.js'
import {kubernetesApi, kubernetesVersion} from './categories/kubernetes.js'
import {preInstall} from './categories/pre-install.js'
import {version} from './categories/version.js'
import {webhook} from './categories/webhook.js'
import {gatewayApi} from './categories/gateway-api.js'
import {authz} from './categories/authz.js'
import type {Category} from './types.js'

export type CheckMode = 'pre' | 'default' | 'proxy' | 'local-proxy'

export function categoriesFor(mode: CheckMode): Category[] {
  switch (mode) {
    case 'pre':
      return [kubernetesApi(), kubernetesVersion(), preInstall(), capability(), gatewayApi()]
    case 'default':
      return [kubernetesApi(), kubernetesVersion(), controlPlane(), identity(), webhook(), version(), gatewayApi()]
    case 'proxy':
      return [...categoriesFor('default'), dataPlane(), authz()]
    case 'local-proxy':
      return [dataPlane()]
  }
}

/** Every check of every mode, once: for the id registry and its tests. */
export function allChecks(): Array<{category: string; id: string; description: string}> {
  const seen = new Map<string, {category: string; id: string; description: string}>()
  for (const mode of ['pre', 'proxy'] as const) {
    for (const c of categoriesFor(mode)) for (const k of c.checks) seen.set(k.id, {category: c.name, id: k.id, description: k.description})
  }
  return [...seen.values()]
}
