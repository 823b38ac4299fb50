// The destination connection and the proxy's first certificate (src/proxy/discovery/
// destination-client.ts): a stream asked for before the identity is certified (the trust bundle,
// an early endpoint lookup) opens the connection without a client certificate; the pod's own
// authorization policy is served only to a connection that presents the pod's certificate. Once
// the identity is certified the connection is replaced by one that presents it, and the
// watchAuthz stream is served (before: FORBIDDEN on every retry, the proxy stayed on its
// environment's policy for good). A real local-mode controller and a real proxy identity; the
// identity's first certificate is held back by a gate until the test opens it.
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {stringify} from 'yaml'
import {startController, type RunningController} from '../../src/control/controller.js'
import {controllerIdentityName, ensureLocalIdentityDir, issueLocalToken} from '../../src/control/identity/index.js'
import {createLogger} from '../../src/control/logger.js'
import type {AuthzPolicy} from '../../src/protocol/authz.js'
import {identityName} from '../../src/protocol/proxy-env.js'
import type {Identity} from '../../src/proxy/core/contracts.js'
import {DestinationClient} from '../../src/proxy/discovery/destination-client.js'
import {startIdentity, type ProxyIdentity} from '../../src/proxy/identity/index.js'
import {eventually} from '../helpers/eventually.js'

const NS = 'shop'
let dir: string
let controller: RunningController
let identity: ProxyIdentity
let anchorsPem: string

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'mesh-dest-cert-late-'))
  const registryFile = path.join(dir, 'registry.yaml')
  writeFileSync(registryFile, stringify({
    services: [{name: 'books', namespace: NS, ports: [{port: 8080, endpoints: [{address: '127.0.0.1', port: 18080, pod: 'books-0', serviceAccount: 'books', deployment: 'books'}]}]}],
    pods: [{name: 'books-0', namespace: NS, deployment: 'books', serviceAccount: 'books'}],
  }))
  const identityDir = path.join(dir, 'identity')
  controller = await startController({mode: 'local', identityDir, registryFile, identityPort: 0, destinationPort: 0, tapPort: 0, log: createLogger({level: 'error', write: () => {}})})
  const local = await ensureLocalIdentityDir(identityDir)
  anchorsPem = local.anchorsPem
  const tokenFile = path.join(dir, 'books.token')
  writeFileSync(tokenFile, issueLocalToken('books', NS, local.tokenSecret))
  const idService = controller.ctx.identity!
  identity = await startIdentity({localName: identityName('books', NS), identityAddr: `https://127.0.0.1:${idService.port}`, identityServiceName: idService.serviceName, tokenFile, trustAnchorsPem: local.anchorsPem})
  await identity.ready()
})

afterAll(async () => {
  identity?.close()
  await controller?.stop()
  if (dir) rmSync(dir, {recursive: true, force: true})
})

describe('the destination connection and the first certificate', () => {
  it('a connection opened before the identity was certified is replaced once it is: the pod\'s authorization policy is served', async () => {
    // The real identity, seen as not certified yet until `open()`.
    let certified = false
    let open: () => void = () => {}
    const ready = new Promise<void>((r) => (open = r))
    const gated = new Proxy(identity, {
      get(target, prop, receiver) {
        if (prop === 'clientContext') return () => (certified ? target.clientContext() : undefined)
        if (prop === 'ready') return () => ready
        const v = Reflect.get(target, prop, receiver) as unknown
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v
      },
    }) as Identity
    const client = new DestinationClient({addr: `wss://127.0.0.1:${controller.ctx.destination!.port}`, namespace: NS, identity: gated, trustAnchorsPem: anchorsPem, serverName: controllerIdentityName(), backoff: {minMs: 20, maxMs: 200}})
    const bundles: unknown[] = []
    const policies: AuthzPolicy[] = []
    const ended: string[] = []
    try {
      // The trust stream opens the connection (any proxy may read it: no certificate needed).
      const trust = client.watchTrust((b) => bundles.push(b))
      await eventually('the trust bundle over a connection without a certificate', () => (bundles.length > 0 ? true : undefined))
      const authz = client.watchAuthz(NS, 'books-0', {policy: (p) => policies.push(p), invalid: () => {}, ended: (code) => ended.push(code)})
      // On that connection the pod's policy is refused: this connection is not the pod's proxy.
      await eventually('watchAuthz refused without a certificate', () => (ended.includes('FORBIDDEN') ? true : undefined))
      expect(policies).toEqual([])
      certified = true
      open()
      const p = await eventually('the pod\'s policy once the identity is certified', () => policies[0])
      expect(p.workload).toMatchObject({namespace: NS, pod: 'books-0'})
      // The trust stream was asked again on the new connection and goes on.
      expect(bundles.length).toBeGreaterThan(0)
      authz.close()
      trust.close()
    } finally {
      client.close()
    }
  })
})
