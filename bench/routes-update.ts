// How long a route change takes to reach 100 connected proxies: the local-mode controller
// (file registry, as `mesh demo` runs it) with N clients, each on its own WSS connection to the
// destination service and watching the route policy of one Service, as N proxies would. Each
// round edits the route (a new split weight) in the registry file and measures until the last of
// the N clients holds the new policy (file watch + reload + compile once + N sends + N parses).
//   npx tsx bench/routes-update.ts [clients=100] [rounds=30]
// Prints p50/p90/max of "first client" and "last client" latencies, and the policy's size.
// Also: the reference matcher's cost per request with 1,000 routes on one Service.
import {mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import WebSocket from 'ws'
import {stringify} from 'yaml'
import {startController} from '../src/control/controller.js'
import {controllerIdentityName} from '../src/control/identity/index.js'
import {silentLogger} from '../src/control/logger.js'
import {compilePolicy} from '../src/routes/policy.js'
import {PolicyMatcher} from '../src/routes/match.js'
import {validateRoute} from '../src/routes/validate.js'

const clients = Number(process.argv[2] ?? 100)
const rounds = Number(process.argv[3] ?? 30)
const tmp = mkdtempSync(path.join(os.tmpdir(), 'mesh-bench-routes-'))
const file = path.join(tmp, 'registry.yaml')
const services = [
  {name: 'books', namespace: 'shop', ports: [{port: 8080, endpoints: [{address: '127.0.0.1', port: 18080}]}]},
  {name: 'books-canary', namespace: 'shop', ports: [{port: 8080, endpoints: [{address: '127.0.0.2', port: 18080}]}]},
]
const route = (canary: number) => ({
  kind: 'HTTPRoute', metadata: {name: 'split', namespace: 'shop'},
  spec: {parentRefs: [{group: '', kind: 'Service', name: 'books', port: 8080}], rules: [{backendRefs: [{name: 'books', port: 8080, weight: 100 - canary}, {name: 'books-canary', port: 8080, weight: canary}]}]},
})
const write = (canary: number): void => {
  writeFileSync(file + '.tmp', stringify({services, routes: [route(canary)]}))
  renameSync(file + '.tmp', file)
}
const pct = (xs: number[], p: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!

write(0)
const controller = await startController({mode: 'local', identityDir: path.join(tmp, 'ca'), registryFile: file, identityPort: 0, destinationPort: 0, tapPort: 0, log: silentLogger})
const anchors = readFileSync(path.join(tmp, 'ca', 'ca.crt'), 'utf8')
const port = controller.ctx.destination!.port

// weight seen by each client, and when each round's weight was first/last seen
const seen: Array<(canary: number) => void> = []
let onSeen: ((client: number, canary: number) => void) | undefined
const sockets: WebSocket[] = []
let bytes = 0
for (let i = 0; i < clients; i++) {
  const ws = new WebSocket(`wss://127.0.0.1:${port}/v1/destinations?ns=shop`, {ca: anchors, servername: controllerIdentityName()} as unknown as WebSocket.ClientOptions)
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject))
  ws.on('message', (d: Buffer) => {
    bytes = d.length
    const m = JSON.parse(String(d)) as {type: string; rules: Array<{backends: Array<{weight: number}>}>}
    if (m.type === 'routes') onSeen?.(i, m.rules[0]!.backends[1]!.weight)
  })
  ws.send(JSON.stringify({type: 'watchRoutes', id: 1, authority: 'books.shop.svc.cluster.local:8080', version: 1}))
  sockets.push(ws)
}
void seen

const first: number[] = []
const last: number[] = []
for (let r = 1; r <= rounds; r++) {
  const canary = r % 2 === 0 ? 0 : r
  await new Promise<void>((resolve) => {
    const got = new Set<number>()
    const t0 = process.hrtime.bigint()
    onSeen = (client, weight) => {
      if (weight !== canary || got.has(client)) return
      got.add(client)
      const ms = Number(process.hrtime.bigint() - t0) / 1e6
      if (got.size === 1) first.push(ms)
      if (got.size === clients) {
        last.push(ms)
        resolve()
      }
    }
    write(canary)
  })
  await new Promise((r2) => setTimeout(r2, 50))
}
const fmt = (xs: number[]): string => `p50 ${pct(xs, 50).toFixed(0)} ms, p90 ${pct(xs, 90).toFixed(0)} ms, max ${Math.max(...xs).toFixed(0)} ms`
console.log(`route update -> ${clients} connected clients, ${rounds} edits of the registry file (load average ${os.loadavg()[0]!.toFixed(1)})`)
console.log(`  first client: ${fmt(first)}`)
console.log(`  last client:  ${fmt(last)}`)
console.log(`  policy message: ${bytes} bytes`)
for (const ws of sockets) ws.close()
await controller.stop()
rmSync(tmp, {recursive: true, force: true})

// Matching cost with 1,000 routes on one Service (each one Exact and one PathPrefix match), the
// request matching the last-ranked prefix (the worst case: a scan of every entry before it).
const routes = Array.from({length: 1000}, (_, i) => {
  const v = validateRoute({kind: 'HTTPRoute', metadata: {name: `r${i}`, namespace: 'shop', creationTimestamp: new Date(i * 1000).toISOString()}, spec: {parentRefs: [{group: '', kind: 'Service', name: 'books'}], rules: [{matches: [{path: {type: 'Exact', value: `/exact/${i}`}}, {path: {type: 'PathPrefix', value: `/p${i}`}, headers: [{name: 'x-tenant', value: `t${i}`}]}]}]}})!
  if (!v.verdict.ok) throw new Error(v.verdict.message)
  return {...v, rules: v.verdict.rules}
})
const t0 = process.hrtime.bigint()
const policy = compilePolicy({service: {namespace: 'shop', name: 'books', port: 8080}, clusterDomain: 'cluster.local', routes, servicePorts: () => [8080]})
const compileMs = Number(process.hrtime.bigint() - t0) / 1e6
const matcher = new PolicyMatcher(policy)
const req = {method: 'GET', target: '/p999/x?y=1', header: (n: string) => (n === 'x-tenant' ? 't999' : undefined), grpc: false}
for (let i = 0; i < 2000; i++) matcher.select(req)
const n = 20_000
const t1 = process.hrtime.bigint()
for (let i = 0; i < n; i++) matcher.select(req)
const perReq = Number(process.hrtime.bigint() - t1) / n / 1000
console.log(`1,000 routes (2,000 entries): compile ${compileMs.toFixed(1)} ms, ${JSON.stringify(policy).length} bytes; worst-case select ${perReq.toFixed(1)} us per request (a scan of every entry)`)
