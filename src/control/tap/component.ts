// The tap server as a component of `mesh controller`. Kubernetes mode: HTTPS with the
// controller's serving certificate (the API server's service proxy speaks https to
// mesh-tap:8089), pods from the API server, callers checked by TokenReview +
// SubjectAccessReview, proxies reached over mTLS as the controller. Local mode: plain HTTP on
// 127.0.0.1, pods from the registry file's `pods:` section, callers must hold the demo's token.
import {randomBytes} from 'node:crypto'
import {ControlPlanePorts} from '../../protocol/control-plane.js'
import type {Logger} from '../logger.js'
import {KubeAuthorizer, LocalTokenAuthorizer} from './auth.js'
import {servingIdentity, type ServingSource} from './controller-identity.js'
import {startTapServer, type RunningTapServer} from './server.js'
import type {AuthzView} from './authz-service.js'
import type {ServiceView} from './types.js'

export interface TapComponentOptions {
  mode: 'kubernetes' | 'local'
  host?: string
  /** Default 8089. */
  port?: number
  kube?: {kubeconfig?: string; context?: string}
  /** Local mode: the registry file (its pods: section). */
  registryFile?: string
  /** Local mode: the token callers must present (generated when absent; read it from `token`). */
  token?: string
  /** The controller's serving certificate and its identity name (Kubernetes mode). */
  serving?: () => {source: ServingSource; name: string}
  /** The controller's authorization policy, for `mesh authz`. */
  authz?: () => AuthzView | undefined
  /** The registry's Services and the routes in force (`mesh stat --routes`). */
  services?: ServiceView
  log: Logger
}

export interface TapComponent {
  name: 'tap'
  start(): Promise<void>
  stop(): Promise<void>
  server?: RunningTapServer
  /** Local mode: the token `mesh tap` must present. */
  token?: string
}

export function tapComponent(o: TapComponentOptions): TapComponent {
  let unsubscribe: (() => void) | undefined
  const c: TapComponent = {
    name: 'tap',
    start: async () => {
      const port = o.port ?? ControlPlanePorts.tap
      const log = o.log
      if (o.mode === 'local') {
        const [{LocalResolver}, {localPodsFromFile}] = await Promise.all([import('./local-resolver.js'), import('./local-pods.js')])
        c.token = o.token ?? randomBytes(24).toString('hex')
        const resolver = new LocalResolver(localPodsFromFile(o.registryFile!))
        c.server = await startTapServer({host: o.host ?? '127.0.0.1', port, resolver, authorizer: new LocalTokenAuthorizer(c.token), lookup: (a) => resolver.podByAddress(a), authz: o.authz, services: o.services, log})
      } else {
        const [{loadKube}, {KubeResolver}] = await Promise.all([import('../../k8s/client.js'), import('./kube-resolver.js')])
        const kube = await loadKube({kubeconfig: o.kube?.kubeconfig, context: o.kube?.context})
        const resolver = new KubeResolver({lib: kube.k8s, kc: kube.kc})
        const serving = o.serving?.()
        c.server = await startTapServer({
          host: o.host ?? '0.0.0.0',
          port,
          resolver,
          authorizer: new KubeAuthorizer(kube),
          lookup: (a) => resolver.podByAddress(a),
          identity: serving ? servingIdentity(serving.source, serving.name) : undefined,
          tls: serving?.source.tlsOptions(),
          authz: o.authz,
          services: o.services,
          log,
        })
        if (serving) unsubscribe = serving.source.onRenew((t) => c.server?.setTls(t))
      }
      log.info('tap server listening', {url: c.server.url})
    },
    stop: async () => {
      unsubscribe?.()
      await c.server?.close()
      c.server = undefined
    },
  }
  return c
}
