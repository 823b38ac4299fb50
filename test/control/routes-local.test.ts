// Route policy over the destination connection, in local mode: the real controller
// (`startController({mode: 'local'})`, as `mesh controller --mode local` runs it) with routes
// in its registry file, a raw WebSocket client speaking the watchRoutes protocol
// (src/protocol/routes.ts) and the proxy's DestinationClient (which never asks for routes) on the
// same service. File edits reach the client as new policies; a file whose route does not
// validate is refused whole and the last good policy stays; protocol errors are answered.
import {mkdtempSync, renameSync, rmSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import WebSocket from 'ws'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {stringify} from 'yaml'
import {startController, type RunningController} from '../../src/control/controller.js'
import {controllerIdentityName} from '../../src/control/identity/index.js'
import {createLogger} from '../../src/control/logger.js'
import {DestinationClient} from '../../src/proxy/discovery/destination-client.js'
import {ROUTE_POLICY_VERSION, type RoutesMessage} from '../../src/protocol/routes.js'
import {PolicyMatcher} from '../../src/routes/match.js'
import {eventually} from '../helpers/eventually.js'

let tmp: string
let registryFile: string
let controller: RunningController
let anchorsPem: string
const log: string[] = []

const services = [
  {name: 'books', namespace: 'shop', clusterIP: '10.96.0.20', ports: [{port: 8080, endpoints: [{address: '127.0.0.1', port: 18080}]}]},
  {name: 'books-canary', namespace: 'shop', ports: [{port: 8080, endpoints: [{address: '127.0.0.2', port: 18080}]}]},
]
const split = (canary: number) => ({
  kind: 'HTTPRoute',
  metadata: {name: 'books-split', namespace: 'shop'},
  spec: {
    parentRefs: [{group: '', kind: 'Service', name: 'books', port: 8080}],
    rules: [
      {matches: [{headers: [{name: 'x-canary', value: 'always'}]}], backendRefs: [{name: 'books-canary', port: 8080}]},
      {timeouts: {request: '1s'}, backendRefs: [{name: 'books', port: 8080, weight: 100 - canary}, {name: 'books-canary', port: 8080, weight: canary}]},
    ],
  },
})

function writeRegistry(doc: unknown): void {
  writeFileSync(registryFile + '.tmp', stringify(doc))
  renameSync(registryFile + '.tmp', registryFile)
}

async function socket(): Promise<{ws: WebSocket; messages: Array<Record<string, unknown>>}> {
  const port = controller.ctx.destination!.port
  const ws = new WebSocket(`wss://127.0.0.1:${port}/v1/destinations?ns=shop`, {ca: anchorsPem, servername: controllerIdentityName()} as unknown as WebSocket.ClientOptions)
  const messages: Array<Record<string, unknown>> = []
  ws.on('message', (d) => messages.push(JSON.parse(String(d)) as Record<string, unknown>))
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject))
  return {ws, messages}
}

/** The latest routes message of stream `id` once `pred` holds for it (the deadline only guards a hang). */
function policyOf(messages: Array<Record<string, unknown>>, id: number, pred: (m: RoutesMessage) => boolean = () => true): Promise<RoutesMessage> {
  return eventually(`a routes message on stream ${id}`, () => {
    const mine = messages.filter((m) => m.id === id && m.type === 'routes') as unknown as RoutesMessage[]
    const last = mine[mine.length - 1]
    return last && pred(last) ? last : undefined
  }, {intervalMs: 20})
}

const weights = (m: RoutesMessage): number[] => m.rules[1]?.backends.map((b) => b.weight) ?? []

beforeAll(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'mesh-routes-'))
  registryFile = path.join(tmp, 'registry.yaml')
  writeRegistry({services, routes: [split(10)]})
  controller = await startController({
    mode: 'local', identityDir: path.join(tmp, 'ca'), registryFile, identityPort: 0, destinationPort: 0, tapPort: 0,
    log: createLogger({level: 'info', write: (l) => void log.push(l)}),
  })
  anchorsPem = (await import('node:fs')).readFileSync(path.join(tmp, 'ca', 'ca.crt'), 'utf8')
})
afterAll(async () => {
  await controller?.stop()
  rmSync(tmp, {recursive: true, force: true})
})

describe('routes over the destination connection (local mode)', () => {
  it('a watchRoutes stream gets the compiled policy, by name and by cluster IP', async () => {
    const {ws, messages} = await socket()
    ws.send(JSON.stringify({type: 'watchRoutes', id: 1, authority: 'books:8080', version: ROUTE_POLICY_VERSION}))
    ws.send(JSON.stringify({type: 'watchRoutes', id: 2, authority: '10.96.0.20:8080', version: ROUTE_POLICY_VERSION}))
    const p = await policyOf(messages, 1)
    expect(p).toMatchObject({version: 1, authority: 'books.shop.svc.cluster.local:8080', routes: [{kind: 'HTTPRoute', namespace: 'shop', name: 'books-split', generation: 1}], grpc: []})
    expect(p.http.map((e) => e.rule)).toEqual([0, 1]) // the header match first: more header matches
    expect(p.rules[0]!.backends).toEqual([{weight: 1, authority: 'books-canary.shop.svc.cluster.local:8080', service: {namespace: 'shop', name: 'books-canary', port: 8080}}])
    expect(p.rules[1]!.timeouts).toEqual({requestMs: 1000})
    expect(weights(p)).toEqual([90, 10])
    const m = new PolicyMatcher(p)
    const sel = m.select({method: 'GET', target: '/b/1', header: (n) => (n === 'x-canary' ? 'always' : undefined), grpc: false})
    expect(sel.kind === 'rule' && sel.index).toBe(0)
    expect((await policyOf(messages, 2)).revision).toBe(p.revision)
    ws.close()
  })

  it('an edit of the file reaches the stream; a bad route keeps the last good policy; removing the route reverts to no routes', async () => {
    const {ws, messages} = await socket()
    ws.send(JSON.stringify({type: 'watchRoutes', id: 7, authority: 'books.shop.svc.cluster.local:8080', version: 1}))
    const first = await policyOf(messages, 7)
    writeRegistry({services, routes: [split(0)]})
    const moved = await policyOf(messages, 7, (m) => m.revision !== first.revision)
    expect(weights(moved)).toEqual([100, 0])
    // A route that does not validate: the whole document is refused, the policy stays.
    const refusedBefore = log.filter((l) => l.includes('registry reload failed')).length
    const bad = split(50)
    ;(bad.spec.rules[1] as Record<string, unknown>).filters = [{type: 'URLRewrite', urlRewrite: {hostname: 'x'}}]
    writeRegistry({services, routes: [bad]})
    await eventually('the refused reload to be logged', () => (log.filter((l) => l.includes('registry reload failed')).length > refusedBefore ? true : undefined), {intervalMs: 20})
    const failure = log.filter((l) => l.includes('registry reload failed')).pop()!
    expect(failure).toContain('routes[0] (HTTPRoute shop/books-split): spec.rules[1].filters[0].type \\"URLRewrite\\" is not supported by mesh')
    expect((messages.filter((m) => m.id === 7 && m.type === 'routes').pop() as unknown as RoutesMessage).revision).toBe(moved.revision)
    // Removed: the policy has no routes (the default route).
    writeRegistry({services})
    const none = await policyOf(messages, 7, (m) => m.routes.length === 0)
    expect(none).toMatchObject({http: [], grpc: [], rules: []})
    // And back.
    writeRegistry({services, routes: [split(10)]})
    expect(weights(await policyOf(messages, 7, (m) => m.routes.length === 1))).toEqual([90, 10])
    ws.close()
  })

  it('names that are no Service port get noSuchService; a request without a version, an error', async () => {
    const {ws, messages} = await socket()
    ws.send(JSON.stringify({type: 'watchRoutes', id: 1, authority: 'nope.shop.svc.cluster.local:80', version: 1}))
    ws.send(JSON.stringify({type: 'watchRoutes', id: 2, authority: 'example.com:443', version: 1}))
    ws.send(JSON.stringify({type: 'watchRoutes', id: 3, authority: '10.1.2.3:80', version: 1}))
    ws.send(JSON.stringify({type: 'watchRoutes', id: 4, authority: 'books:8080'}))
    ws.send(JSON.stringify({type: 'watchRoutes', id: 5, authority: 'x'.repeat(600), version: 1}))
    await eventually('five answers', () => (messages.length >= 5 ? true : undefined), {intervalMs: 20})
    const by = (id: number) => messages.find((m) => m.id === id)
    expect(by(1)).toEqual({id: 1, type: 'noSuchService', authority: 'nope.shop.svc.cluster.local:80', external: false})
    expect(by(2)).toMatchObject({id: 2, type: 'noSuchService', external: true}) // named as the endpoint stream names it
    expect(by(3)).toEqual({id: 3, type: 'noSuchService', authority: '10.1.2.3:80', external: true})
    expect(by(4)).toMatchObject({type: 'error', code: 'BAD_REQUEST', message: expect.stringContaining('needs the highest route policy version')})
    expect(by(5)).toMatchObject({type: 'error', code: 'BAD_REQUEST'})
    ws.close()
  })

  it('a proxy that never asks for routes sees endpoints only, on a connection shared with a routes stream', async () => {
    const {ws, messages} = await socket()
    ws.send(JSON.stringify({type: 'watch', id: 1, authority: 'books:8080'}))
    ws.send(JSON.stringify({type: 'watchRoutes', id: 2, authority: 'books:8080', version: 1}))
    await policyOf(messages, 2)
    expect(messages.filter((m) => m.id === 1).map((m) => m.type)).toEqual(['add'])
    ws.send(JSON.stringify({type: 'unwatch', id: 2}))
    ws.close()
    const c = new DestinationClient({addr: `wss://127.0.0.1:${controller.ctx.destination!.port}`, namespace: 'shop', trustAnchorsPem: anchorsPem, serverName: controllerIdentityName()})
    const r = (await c.resolve('books:8080'))!
    expect(r.current().endpoints.map((e) => `${e.host}:${e.port}`)).toEqual(['127.0.0.1:18080'])
    r.close()
    c.close()
  })
})
