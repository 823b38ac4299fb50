// A local control plane for tests that run real proxies with real identities: an identity
// service with its own root (tokens checked against the local secret, as `mesh demo` does),
// proxy identities certified by it, and a destination service over a file registry served with
// the controller's identity. Everything listens on 127.0.0.1; stop() undoes everything.
import {mkdirSync, renameSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {stringify} from 'yaml'
import {identityName} from '../../src/protocol/proxy-env.js'
import {controllerIdentityName, ensureLocalIdentityDir, FileIssuerSource, issueLocalToken, LocalTokenValidator, ServingCert, startIdentityService, type IdentityService, type LocalIdentityDir} from '../../src/control/identity/index.js'
import {LocalRegistry, startDestinationService, type DestinationService} from '../../src/control/destination/index.js'
import {silentLogger} from '../../src/control/logger.js'
import {DestinationClient} from '../../src/proxy/discovery/destination-client.js'
import {startIdentity, type ProxyIdentity, type ProxyIdentityConfig} from '../../src/proxy/identity/index.js'

export interface LocalIdentity {
  dir: string
  local: LocalIdentityDir
  service: IdentityService
  /** An identity for ServiceAccount `sa` in `namespace`, certified when it resolves (unless `wait` is false). */
  proxyIdentity(sa: string, namespace?: string, extra?: Partial<ProxyIdentityConfig>, wait?: boolean): Promise<ProxyIdentity>
  stop(): Promise<void>
}

/** An identity service with a fresh root kept under `dir`. */
export async function startLocalIdentity(dir: string, options: {leafLifetimeMs?: number} = {}): Promise<LocalIdentity> {
  mkdirSync(dir, {recursive: true})
  const local = await ensureLocalIdentityDir(path.join(dir, 'id'))
  const service = await startIdentityService({
    issuer: new FileIssuerSource(local.dir, silentLogger, 0), validator: new LocalTokenValidator(local.tokenSecret),
    host: '127.0.0.1', port: 0, leafLifetimeMs: options.leafLifetimeMs, log: silentLogger,
  })
  const ids: ProxyIdentity[] = []
  return {
    dir, local, service,
    async proxyIdentity(sa, namespace = 'shop', extra = {}, wait = true) {
      const tokenFile = path.join(dir, `${sa}.${namespace}.token`)
      writeFileSync(tokenFile, issueLocalToken(sa, namespace, local.tokenSecret))
      const id = await startIdentity({
        localName: identityName(sa, namespace), identityAddr: `https://127.0.0.1:${service.port}`, identityServiceName: service.serviceName,
        tokenFile, trustAnchorsPem: local.anchorsPem, ...extra,
      })
      ids.push(id)
      if (wait) await id.ready()
      return id
    },
    async stop() {
      for (const id of ids) id.close()
      await service.stop()
    },
  }
}

export interface LocalDestination {
  service: DestinationService
  registryFile: string
  /** Replaces the registry (atomically: the service never reads half a file). */
  writeRegistry(doc: {services: unknown[]}): void
  /** A client as a proxy of `identity` in `namespace` has it (src/proxy/run.ts: the anchors too, so it answers before the identity is certified). */
  client(identity: ProxyIdentity, namespace?: string): DestinationClient
  stop(): Promise<void>
}

/** A destination service serving `registry` (polled every 200 ms) with the controller's identity. */
export async function startLocalDestination(identity: LocalIdentity, registry: {services: unknown[]}): Promise<LocalDestination> {
  const registryFile = path.join(identity.dir, 'registry.yaml')
  const writeRegistry = (doc: {services: unknown[]}): void => {
    writeFileSync(registryFile + '.tmp', stringify(doc))
    renameSync(registryFile + '.tmp', registryFile)
  }
  writeRegistry(registry)
  const issuer = new FileIssuerSource(identity.local.dir, silentLogger, 0)
  await issuer.start()
  const serving = new ServingCert({name: controllerIdentityName(), issuer, log: silentLogger})
  await serving.start()
  const service = await startDestinationService({registry: new LocalRegistry({file: registryFile, pollMs: 200}), serving, host: '127.0.0.1', port: 0, log: silentLogger})
  const clients: DestinationClient[] = []
  return {
    service, registryFile, writeRegistry,
    client(id, namespace = 'shop') {
      const c = new DestinationClient({addr: `wss://127.0.0.1:${service.port}`, namespace, identity: id, trustAnchorsPem: identity.local.anchorsPem, serverName: controllerIdentityName()})
      clients.push(c)
      return c
    },
    async stop() {
      for (const c of clients) c.close()
      await service.stop()
      serving.stop()
      await issuer.stop()
    },
  }
}
