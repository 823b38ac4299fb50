// A local mesh of real processes for the day-two suites: the real controller in local mode
// (identity and destination services over an identity directory and a registry file this test
// owns), and `mesh proxy` sidecars as processes (processes.ts: bin/dev.js, configured by
// MESH_PROXY_* as an injected pod's), each in front of its own app. The test holds the anchor and
// issuer material, so it can rotate them as an operator does: files renamed into place.
import {mkdtempSync, renameSync, rmSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {stringify} from 'yaml'
import {startController, type RunningController} from '../../src/control/controller.js'
import {controllerIdentityName, issueLocalToken, LOCAL_IDENTITY_FILES, newLocalTokenSecret} from '../../src/control/identity/index.js'
import {createLogger} from '../../src/control/logger.js'
import type {ProxyIdentityReport} from '../../src/protocol/proxy-admin.js'
import {identityName, ProxyEnv} from '../../src/protocol/proxy-env.js'
import {generateIssuer, generateTrustAnchor, type CaMaterial} from '../../src/tls/index.js'
import {request} from './helpers.js'
import {startSidecar, type Sidecar} from './processes.js'

export const NS = 'shop'

export interface MeshSidecar extends Sidecar {
  sa: string
  /** Its pod's name (MESH_PROXY_POD_NAME). */
  pod: string
  /** It was given MESH_PROXY_INBOUND_POLICY: its pod is not named in the registry. */
  ownPolicy: boolean
  identity: string
  /** GET a path of its admin server (from 127.0.0.1). */
  admin(p: string, o?: {method?: string; body?: string}): Promise<{status: number; headers: Record<string, string | string[] | undefined>; body: string}>
  identityReport(): Promise<ProxyIdentityReport>
}

export interface LocalMesh {
  controller: RunningController
  dir: string
  identityDir: string
  anchor: CaMaterial
  issuer: CaMaterial
  /** The controller's log lines. */
  log: string[]
  /** Writes a file of the identity directory atomically (as an operator's `mv` does). */
  put(name: string, content: string): void
  /** The registry: services as `{name, port, endpoints: [{port, sa?}]}` on 127.0.0.1. */
  registry(services: Array<{name: string; port: number; endpoints: Array<{port: number; sa?: string}>}>): void
  /** A sidecar for ServiceAccount `sa`, forwarding inbound to `appPort`, with `env` on top. */
  sidecar(sa: string, appPort: number, env?: Record<string, string>): Promise<MeshSidecar>
  stop(): Promise<void>
}

export interface LocalMeshOptions {
  /** Leaf lifetime the identity service issues (short: proxies renew often). */
  leafLifetimeMs?: number
  /** Anchors the sidecars are injected with (default: the anchor). */
  envAnchorsPem?: string
}

export async function startLocalMesh(o: LocalMeshOptions = {}): Promise<LocalMesh> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mesh-local-mesh-'))
  const identityDir = path.join(dir, 'ca')
  const registryFile = path.join(dir, 'registry.yaml')
  const anchor = await generateTrustAnchor({commonName: 'root-a.mesh.test'})
  const issuer = await generateIssuer(anchor, {commonName: 'issuer-a'})
  const tokenSecret = newLocalTokenSecret()
  const put = (name: string, content: string): void => {
    writeFileSync(path.join(identityDir, name + '.tmp'), content)
    renameSync(path.join(identityDir, name + '.tmp'), path.join(identityDir, name))
  }
  const {mkdirSync} = await import('node:fs')
  mkdirSync(identityDir, {recursive: true, mode: 0o700})
  put(LOCAL_IDENTITY_FILES.anchor, anchor.certPem)
  put(LOCAL_IDENTITY_FILES.issuerCert, issuer.certPem)
  put(LOCAL_IDENTITY_FILES.issuerKey, issuer.keyPem)
  put(LOCAL_IDENTITY_FILES.tokenSecret, tokenSecret + '\n')
  const writeRegistry = (doc: unknown): void => {
    writeFileSync(registryFile + '.tmp', stringify(doc))
    renameSync(registryFile + '.tmp', registryFile)
  }
  writeRegistry({services: []})
  const log: string[] = []
  const controller = await startController({
    mode: 'local', identityDir, registryFile, identityPort: 0, destinationPort: 0, tapPort: 0, leafLifetimeMs: o.leafLifetimeMs,
    log: createLogger({level: 'info', write: (l) => void log.push(l)}),
  })
  const sidecars: MeshSidecar[] = []
  // Each endpoint that is a sidecar's inbound port names that sidecar's pod: local mode knows a
  // pod by the endpoints that name it, and answers its proxy's watchAuthz stream only then (an
  // unknown pod's stream waits for the pod to appear, and its proxy holds inbound connections
  // meanwhile, up to its first-policy wait). A sidecar given its own MESH_PROXY_INBOUND_POLICY
  // stands for a pod the controller does not know, so that that policy stays in force (the
  // control plane's policy replaces it where the controller knows the pod).
  let services: Parameters<LocalMesh['registry']>[0] = []
  const writeAll = (): void => writeRegistry({
    services: services.map((s) => ({
      name: s.name, namespace: NS,
      ports: [{port: s.port, endpoints: s.endpoints.map((e) => {
        const pod = sidecars.find((c) => c.ports.inbound === e.port && !c.ownPolicy)
        return {address: '127.0.0.1', port: e.port, ...(e.sa ? {serviceAccount: e.sa} : {}), ...(pod ? {pod: pod.pod, deployment: pod.sa} : {})}
      })}],
    })),
  })
  return {
    controller, dir, identityDir, anchor, issuer, log, put,
    registry(next) {
      services = next
      writeAll()
    },
    async sidecar(sa, appPort, env = {}) {
      const tokenFile = path.join(dir, `${sa}.token`)
      writeFileSync(tokenFile, issueLocalToken(sa, NS, tokenSecret))
      const identity = identityName(sa, NS)
      const s = await startSidecar({
        [ProxyEnv.IDENTITY_ADDR]: `https://127.0.0.1:${controller.ctx.identity!.port}`,
        [ProxyEnv.IDENTITY_SVC_NAME]: controller.ctx.identity!.serviceName,
        [ProxyEnv.IDENTITY_LOCAL_NAME]: identity,
        [ProxyEnv.IDENTITY_TOKEN_FILE]: tokenFile,
        [ProxyEnv.IDENTITY_TRUST_ANCHORS_PEM]: o.envAnchorsPem ?? anchor.certPem,
        [ProxyEnv.DESTINATION_ADDR]: `wss://127.0.0.1:${controller.ctx.destination!.port}`,
        [ProxyEnv.DESTINATION_IDENTITY]: controllerIdentityName(),
        [ProxyEnv.TAP_SVC_NAME]: controllerIdentityName(),
        [ProxyEnv.POD_NAMESPACE]: NS,
        [ProxyEnv.POD_NAME]: `${sa}-0`,
        [ProxyEnv.INBOUND_FORWARD_ADDR]: `127.0.0.1:${appPort}`,
        ...env,
      })
      const admin: MeshSidecar['admin'] = async (p, ro = {}) => {
        const r = await request(s.ports.admin, {path: p, method: ro.method ?? 'GET', body: ro.body})
        return {status: r.status, headers: r.headers, body: r.body}
      }
      const m: MeshSidecar = Object.assign(s, {
        sa, pod: env[ProxyEnv.POD_NAME] ?? `${sa}-0`, ownPolicy: env[ProxyEnv.INBOUND_POLICY] !== undefined, identity, admin,
        identityReport: async () => JSON.parse((await admin('/identity')).body) as ProxyIdentityReport,
      })
      sidecars.push(m)
      // Its endpoints, if already listed, name its pod now.
      if (services.length > 0) writeAll()
      return m
    },
    async stop() {
      await Promise.all(sidecars.map((s) => s.kill()))
      await controller.stop()
      rmSync(dir, {recursive: true, force: true})
    },
  }
}
