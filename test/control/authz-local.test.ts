// Authorization policy over the destination connection, in local mode: the real controller
// (`startController({mode: 'local'})`, as `mesh controller --mode local` runs it) with
// AuthorizationPolicies in its registry file, and raw WebSocket clients speaking watchAuthz
// (src/protocol/authz.ts) with real mesh certificates from the controller's own identity
// service. A proxy gets its own pod's policy, and every change of the file as a new one; it is
// refused anyone else's, and anything without a certificate; a file whose policy does not
// validate is refused whole and the last good policy stays.
import {mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {stringify} from 'yaml'
import {AuthzMatcher} from '../../src/authz/evaluate.js'
import {startController, type RunningController} from '../../src/control/controller.js'
import {controllerIdentityName, ensureLocalIdentityDir, issueLocalToken} from '../../src/control/identity/index.js'
import {createLogger} from '../../src/control/logger.js'
import {identityName} from '../../src/protocol/proxy-env.js'
import {authzSocket, certifyClient, type AuthzSocket, type ClientCert} from '../helpers/authz-client.js'
import {eventually} from '../helpers/eventually.js'

let tmp: string
let registryFile: string
let controller: RunningController
let anchorsPem: string
let books: ClientCert
let web: ClientCert
const log: string[] = []

const endpoint = (pod: string, sa: string, port: number, labels?: Record<string, string>) => ({address: '127.0.0.1', port, serviceAccount: sa, pod, deployment: sa, ...(labels ? {labels} : {})})
const services = [
  {name: 'books', namespace: 'shop', ports: [{port: 8080, endpoints: [endpoint('books-0', 'books', 18080, {app: 'books', tier: 'back'})]}]},
  {name: 'web', namespace: 'shop', ports: [{port: 80, endpoints: [endpoint('web-0', 'web', 18081)]}]},
]
const webToBooks = (mode = 'enforce') => ({
  apiVersion: 'policy.mesh.dev/v1alpha1', kind: 'AuthorizationPolicy', metadata: {name: 'web-to-books', namespace: 'shop'},
  spec: {mode, target: {workload: {selector: {matchLabels: {app: 'books'}}}}, from: [{serviceAccounts: [{name: 'web'}]}], to: [{ports: [18080], methods: ['GET']}]},
})

function writeRegistry(doc: unknown): void {
  writeFileSync(registryFile + '.tmp', stringify(doc))
  renameSync(registryFile + '.tmp', registryFile)
}

async function client(cert?: ClientCert): Promise<AuthzSocket> {
  return authzSocket({port: controller.ctx.destination!.port, anchorsPem, serverName: controllerIdentityName(), cert, ns: 'shop'})
}

async function certify(sa: string): Promise<ClientCert> {
  const id = controller.ctx.identity!
  const {tokenSecret} = await ensureLocalIdentityDir(path.join(tmp, 'ca'))
  return certifyClient({identityUrl: `https://127.0.0.1:${id.port}`, anchorsPem, serviceName: id.serviceName, serviceAccount: sa, namespace: 'shop', token: issueLocalToken(sa, 'shop', tokenSecret)})
}

beforeAll(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'mesh-authz-'))
  registryFile = path.join(tmp, 'registry.yaml')
  writeRegistry({services, authorizationPolicies: [webToBooks()]})
  controller = await startController({
    mode: 'local', identityDir: path.join(tmp, 'ca'), registryFile, identityPort: 0, destinationPort: 0, tapPort: 0,
    defaultInboundPolicy: 'all-authenticated',
    log: createLogger({level: 'info', write: (l) => void log.push(l)}),
  })
  anchorsPem = readFileSync(path.join(tmp, 'ca', 'ca.crt'), 'utf8')
  ;[books, web] = await Promise.all([certify('books'), certify('web')])
})
afterAll(async () => {
  await controller?.stop()
  rmSync(tmp, {recursive: true, force: true})
})

describe('watchAuthz (local mode)', () => {
  it('a proxy gets its own pod\'s policy: the policies that select it, the cluster default, and what they decide', async () => {
    const c = await client(books)
    c.watch(1, 'shop', 'books-0')
    const p = await c.policy(1)
    expect(p).toMatchObject({
      version: 1,
      workload: {namespace: 'shop', pod: 'books-0', serviceAccount: 'books', identity: identityName('books', 'shop')},
      default: {policy: 'all-authenticated', source: 'cluster'},
      probes: [],
      routes: [],
      policies: [{namespace: 'shop', name: 'web-to-books', mode: 'enforce', generation: 1}],
      rules: [{policy: {namespace: 'shop', name: 'web-to-books'}, mode: 'enforce', target: {kind: 'workload'}, from: [{identities: [identityName('web', 'shop')]}], to: [{ports: [18080], methods: ['GET']}]}],
    })
    const m = new AuthzMatcher(p)
    const get = {method: 'GET', target: '/', header: () => undefined, grpc: false}
    expect(m.decide(18080, {identity: web.identity, ip: '127.0.0.1'}, get)).toMatchObject({allow: true, policy: 'shop/web-to-books'})
    expect(m.decide(18080, {identity: books.identity, ip: '127.0.0.1'}, get)).toMatchObject({allow: false, message: 'forbidden by authorization policy shop/web-to-books: none allows this client'})
    c.close()
  })

  it('file edits reach the stream: audit mode, a refused policy keeps the last good one, removal reverts to the default', async () => {
    const c = await client(books)
    c.watch(7, 'shop', 'books-0')
    const first = await c.policy(7)
    writeRegistry({services, authorizationPolicies: [webToBooks('audit')]})
    const audit = await c.policy(7, (m) => m.revision !== first.revision, 'the audit-mode policy')
    expect(audit.rules[0]!.mode).toBe('audit')
    expect(new AuthzMatcher(audit).decide(18080, {identity: books.identity, ip: '127.0.0.1'}, {method: 'GET', target: '/', header: () => undefined, grpc: false})).toMatchObject({allow: true, audit: ['shop/web-to-books']})
    // A policy that does not validate: the whole document is refused, the policy stays.
    const refusedBefore = log.filter((l) => l.includes('registry reload failed')).length
    const bad = webToBooks()
    bad.spec.from = [{networks: [{cidr: '10.1.2.3/8'}]}] as never
    writeRegistry({services, authorizationPolicies: [bad]})
    await eventually('the refused reload to be logged', () => (log.filter((l) => l.includes('registry reload failed')).length > refusedBefore ? true : undefined), {intervalMs: 20})
    expect(log.filter((l) => l.includes('registry reload failed')).pop()).toContain('authorizationPolicies[0] (AuthorizationPolicy shop/web-to-books): spec.from[0].networks[0].cidr \\"10.1.2.3/8\\" has host bits set: write 10.0.0.0/8 for the network')
    expect((c.messages.filter((m) => m.id === 7 && m.type === 'authz').pop() as {revision: string}).revision).toBe(audit.revision)
    // Removed: the default only.
    writeRegistry({services})
    const none = await c.policy(7, (m) => m.rules.length === 0, 'the policy without rules')
    expect(none).toMatchObject({default: {policy: 'all-authenticated', source: 'cluster'}, policies: []})
    writeRegistry({services, authorizationPolicies: [webToBooks()]})
    await c.policy(7, (m) => m.rules.length === 1, 'the policy back')
    c.close()
  })

  it('a pod the controller does not know yet gets its first message when the file names it', async () => {
    const c = await client(books)
    c.watch(3, 'shop', 'books-1')
    // A barrier, not a wait: a known pod watched next on the same connection is answered after
    // anything the server had to say about books-1 (one connection, requests handled in order).
    c.watch(4, 'shop', 'books-0')
    await c.policy(4)
    expect(c.messages.filter((m) => m.id === 3)).toEqual([])
    writeRegistry({services: [{...services[0]!, ports: [{port: 8080, endpoints: [endpoint('books-0', 'books', 18080, {app: 'books'}), endpoint('books-1', 'books', 18090, {app: 'books'})]}]}, services[1]!], authorizationPolicies: [webToBooks()]})
    const p = await c.policy(3)
    expect(p.workload.pod).toBe('books-1')
    expect(p.rules).toHaveLength(1)
    writeRegistry({services, authorizationPolicies: [webToBooks()]})
    c.close()
  })

  it('refuses a proxy watching another workload\'s policy, and a client without a certificate; bad requests get BAD_REQUEST', async () => {
    const c = await client(web)
    c.watch(1, 'shop', 'books-0')
    expect(await c.error(1)).toEqual({id: 1, type: 'error', code: 'FORBIDDEN', message: `${web.identity} may not watch the authorization policy of pod shop/books-0: only that pod's own proxy (the identity of its ServiceAccount) may`})
    // Its own is fine, on the same connection.
    c.watch(2, 'shop', 'web-0')
    expect((await c.policy(2)).workload.pod).toBe('web-0')
    c.watch(3, 'Shop', 'web-0')
    c.watch(4, 'shop', '')
    c.ws.send(JSON.stringify({type: 'watchAuthz', id: 5, namespace: 'shop', pod: 'web-0'}))
    expect(await c.error(3)).toMatchObject({code: 'BAD_REQUEST', message: 'a watchAuthz request needs the pod\'s namespace (a DNS label)'})
    expect(await c.error(4)).toMatchObject({code: 'BAD_REQUEST', message: 'a watchAuthz request needs the pod\'s name (MESH_PROXY_POD_NAME)'})
    expect(await c.error(5)).toMatchObject({code: 'BAD_REQUEST', message: expect.stringContaining('needs the highest authorization policy version')})
    c.close()
    const anon = await client()
    anon.watch(1, 'shop', 'books-0')
    anon.watch(2, 'shop', 'no-such-pod')
    expect(await anon.error(1)).toMatchObject({code: 'FORBIDDEN', message: expect.stringContaining('present its mesh certificate')})
    // Whether a pod exists is not said to a client without a certificate either.
    expect((await anon.error(2)).message).toBe((await anon.error(1)).message)
    // Endpoint streams need no certificate (they never did).
    anon.ws.send(JSON.stringify({type: 'watch', id: 9, authority: 'books.shop:8080'}))
    await eventually('the endpoints', () => anon.messages.find((m) => m.id === 9 && m.type === 'add'), {intervalMs: 20})
    anon.close()
  })
})

describe('a controller with another default', () => {
  it('takes the cluster default from its options (deny), and the stream carries it', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mesh-authz-deny-'))
    const file = path.join(dir, 'registry.yaml')
    writeFileSync(file, stringify({services}))
    const other = await startController({mode: 'local', identityDir: path.join(tmp, 'ca'), registryFile: file, identityPort: 0, destinationPort: 0, tapPort: 0, defaultInboundPolicy: 'deny', clusterNetworks: ['127.0.0.0/8'], log: createLogger({level: 'error', write: () => {}})})
    try {
      const c = await authzSocket({port: other.ctx.destination!.port, anchorsPem, serverName: controllerIdentityName(), cert: books})
      c.watch(1, 'shop', 'books-0')
      expect(await c.policy(1)).toMatchObject({default: {policy: 'deny', source: 'cluster'}, clusterNetworks: ['127.0.0.0/8'], rules: []})
      c.close()
    } finally {
      await other.stop()
      rmSync(dir, {recursive: true, force: true})
    }
  })
})
