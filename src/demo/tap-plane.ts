// The demo's tap server: the same server as in a cluster (src/control/tap), with the local
// resolver over the demo's own pods and the local token authorizer, and the local context file
// that lets `mesh stat/top/tap/edges` find it with no flags. It runs in the demo process, the
// one process that knows which proxy listens where (and whose pid the context names).
import {randomBytes} from 'node:crypto'
import type {GroupablePod} from '../control/tap/group.js'
import type {LocalPod} from '../control/tap/local-resolver.js'
import {localContextPath, readLocalContext, removeLocalContext, writeLocalContext} from '../tapclient/local-context.js'
import type {DemoPlan} from './plan.js'

export interface TapPlane {
  url: string
  token: string
  contextFile: string
  close(): Promise<void>
}

export function demoPods(plan: DemoPlan, running: (service: string) => boolean): LocalPod[] {
  return plan.services.map((s) => ({
    namespace: plan.namespace,
    name: s.pod,
    ip: '127.0.0.1',
    owner: {kind: 'deployment', name: s.name, namespace: plan.namespace},
    meshed: true,
    running: running(s.name),
    tapAddress: `127.0.0.1:${s.proxy.tap}`,
    adminAddress: `127.0.0.1:${s.proxy.admin}`,
    inboundAddress: `127.0.0.1:${s.proxy.inbound}`,
    identity: s.identity,
    serviceAccount: s.serviceAccount,
    labels: {app: s.name},
    services: [s.name],
  }))
}

export interface TapIdentityOptions {
  /** File with a local token for the controller's ServiceAccount. */
  tokenFile: string
  trustAnchorsPem: string
  /** The registry file the controller serves: its Services and routes (`mesh stat --routes`, `mesh routes`). */
  registryFile?: string
}

/**
 * The proxies let only the tap service's identity read their tap ports over mTLS, so the tap
 * server first gets a certificate for the controller's identity from the local identity service.
 */
export async function startTapPlane(plan: DemoPlan, running: (service: string) => boolean, ident: TapIdentityOptions, env: NodeJS.ProcessEnv = process.env): Promise<TapPlane> {
  const [{startTapServer}, {LocalResolver}, {LocalTokenAuthorizer}, {MetricsStore}, {startIdentity}] = await Promise.all([
    import('../control/tap/server.js'),
    import('../control/tap/local-resolver.js'),
    import('../control/tap/auth.js'),
    import('../control/tap/metrics-store.js'),
    import('../proxy/identity/index.js'),
  ])
  const identity = await startIdentity({
    localName: plan.controller.identity,
    identityAddr: `https://127.0.0.1:${plan.controller.identityPort}`,
    identityServiceName: plan.controller.identity,
    tokenFile: ident.tokenFile,
    trustAnchorsPem: ident.trustAnchorsPem,
  })
  await identity.ready()
  // The Services and routes as the controller reads them, from the same file with the same code.
  let services: import('../control/tap/types.js').ServiceView | undefined
  let registry: {stop(): Promise<void>} | undefined
  if (ident.registryFile) {
    const [{LocalRegistry}, {RouteState}, {syncLocalRoutes}, {registryServiceView}] = await Promise.all([
      import('../control/destination/local-registry.js'), import('../control/routes/state.js'), import('../control/routes/local-routes.js'), import('../control/routes/view.js'),
    ])
    const local = new LocalRegistry({file: ident.registryFile, controlPlaneNamespace: 'mesh-system', trustDomain: 'cluster.local'})
    const routes = new RouteState()
    syncLocalRoutes(local, routes)
    await local.start()
    registry = local
    services = registryServiceView(local, routes)
  }
  const token = randomBytes(24).toString('base64url')
  const pods = (): GroupablePod[] => demoPods(plan, running)
  const resolver = new LocalResolver(pods)
  const store = new MetricsStore({intervalMs: 5000})
  const server = await startTapServer({
    host: '127.0.0.1',
    port: plan.tapPort,
    resolver,
    authorizer: new LocalTokenAuthorizer(token),
    identity,
    lookup: (addr) => resolver.podByAddress(addr),
    store,
    services,
  }).catch(async (err: unknown) => {
    await registry?.stop()
    identity.close()
    throw err
  })
  // Scrape every proxy from the start, so the first `mesh stat` already has a baseline.
  for (const pod of pods()) void store.current(pod).catch(() => {})
  const contextFile = writeLocalContext({
    version: 1,
    pid: process.pid,
    tap: server.url,
    token,
    namespace: plan.namespace,
    controller: {
      identity: `https://127.0.0.1:${plan.controller.identityPort}`,
      destination: `wss://127.0.0.1:${plan.controller.destinationPort}`,
    },
    createdAt: new Date().toISOString(),
  }, env)
  return {
    url: server.url,
    token,
    contextFile,
    close: async () => {
      const ctx = readLocalContext(env)
      if (ctx.state === 'live' && ctx.context.pid === process.pid) removeLocalContext(env)
      else if (ctx.state !== 'live' && ctx.state !== 'none') removeLocalContext(env)
      store.stop()
      await server.close()
      await registry?.stop()
      identity.close()
    },
  }
}

export {localContextPath}
